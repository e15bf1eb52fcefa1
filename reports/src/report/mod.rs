//! `lab report`: a results folder becomes a report a person would rather look at than read.
//!
//! ```no_run
//! use std::path::Path;
//!
//! let dir = Path::new("lab-results/2024-05-01T12-00-00Z");
//! let rendered = looplab_reports::report::render(dir, dir)?;
//! println!("report: {}", rendered.html.display());
//! # Ok::<(), looplab_reports::report::ReportError>(())
//! ```
//!
//! What [`render`] writes into the output folder:
//! - `report.html`: self-contained (charts inline as SVG, no network). It opens with the answer
//!   (per workload: the best configuration, its speed-up over the plain loop, the runner-up and
//!   whether the difference is beyond the noise), then the charts, every point, the calibration
//!   against Node.js when `calibration.json` exists, the machine, versions and configuration,
//!   and the warnings.
//! - `charts/NAME.png` and `charts/NAME.svg` for every chart.
//! - `summary.md`: the answer as a Markdown table (for CI step summaries).
//! - `points.csv`: one row per point, every metric's median, min and max.
//!
//! The steps, in order: [`data::load`] (the store validates the folder and gives each record
//! its coordinates),
//! [`figures::all`] then [`charts::write`] for each, [`warnings::warnings`],
//! [`analysis::answers`], then the three text files. The rules behind every choice are
//! written at the top of `analysis`, `stats` and `figures`, and stated in the report itself.

pub mod analysis;
pub mod charts;
pub mod data;
pub mod figures;
pub mod format;
mod html;
pub mod noise_floor;
pub mod runtimes;
pub mod slo;
pub mod stats;
mod tables;
pub mod warnings;
pub mod words;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::store::{check_owner, write_file, FolderLock, StoreError};
use data::SweepData;

/// File name of the HTML report.
pub const HTML_FILE: &str = "report.html";
/// File name of the Markdown summary.
pub const SUMMARY_FILE: &str = "summary.md";
/// File name of the per-point CSV.
pub const CSV_FILE: &str = "points.csv";
/// Folder of the chart files.
pub const CHARTS_DIR: &str = "charts";

/// Everything that stops a report; each message is one line naming what is at fault.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The results folder is missing, incomplete or corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chart could not be drawn.
    #[error("chart {name}: {message}")]
    Chart {
        /// The chart's file stem.
        name: String,
        /// What plotters said.
        message: String,
    },
    /// A file of the report could not be written.
    // The cause is part of the message, not an error `source` (a field named `source` would
    // be one), so chains print it once.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
}

/// What [`render`] wrote.
#[derive(Debug)]
pub struct Rendered {
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.md`.
    pub summary: PathBuf,
    /// `points.csv`.
    pub csv: PathBuf,
    /// Every chart file, PNG and SVG.
    pub charts: Vec<PathBuf>,
    /// How many warnings the report lists.
    pub warnings: usize,
    /// The answers, one per workload and flavour, each with its sentence ([`words::record`]).
    pub answers: Vec<words::AnswerRecord>,
}

/// Renders the report of the results folder `input` into the folder `out` (created if needed;
/// the same folder is fine), holding `out`'s lock while it writes. Chart files left by an
/// earlier render of `out` are replaced.
pub fn render(input: &Path, out: &Path) -> Result<Rendered, ReportError> {
    let data = data::load(input)?;
    let charts_dir = out.join(CHARTS_DIR);
    std::fs::create_dir_all(&charts_dir).map_err(|cause| ReportError::Io {
        action: "create",
        path: charts_dir.clone(),
        cause,
    })?;
    check_owner(out)?;
    check_owner(&charts_dir)?;
    let _lock = FolderLock::acquire(out)?;
    clear_old_charts(&charts_dir)?;
    let views: Vec<SweepData> = data.flavours().iter().map(|f| data.view(f)).collect();
    let mut rendered = Vec::new();
    for view in &views {
        for (section, figure) in figures::all(view) {
            rendered.push((section, charts::write(figure, &charts_dir)?));
        }
    }
    let warnings = warnings::warnings(&data);
    let answers: Vec<_> = views.iter().flat_map(analysis::answers).collect();
    let open: Vec<_> = views.iter().flat_map(slo::answers).collect();
    let said = Said::new(&answers, &open);
    let twins = runtimes::compare(&data, &answers);
    let page = html::page(&data, &said, &rendered, &warnings, &twins);
    write_file(out, HTML_FILE, page.as_bytes())?;
    let mut summary = tables::summary_markdown(&data, &said, &warnings);
    for twins in &twins {
        summary.push_str(&twins.markdown());
    }
    write_file(out, SUMMARY_FILE, summary.as_bytes())?;
    write_file(out, CSV_FILE, tables::points_csv(&data).as_bytes())?;
    Ok(Rendered {
        html: out.join(HTML_FILE),
        summary: out.join(SUMMARY_FILE),
        csv: out.join(CSV_FILE),
        charts: rendered
            .iter()
            .flat_map(|(_, r)| [r.png.clone(), r.svg_path.clone()])
            .collect(),
        warnings: warnings.len(),
        answers: said.records,
    })
}

/// What the report says for each answer: the throughput answers, the open-loop answers, and
/// per answer its sentence and record (an open-loop workload's are its objective's).
pub(crate) struct Said<'s, 'a> {
    pub answers: &'s [analysis::Answer<'a>],
    pub open: &'s [slo::SloAnswer<'a>],
    pub sentences: Vec<String>,
    pub records: Vec<words::AnswerRecord>,
}

impl<'s, 'a> Said<'s, 'a> {
    fn new(answers: &'s [analysis::Answer<'a>], open: &'s [slo::SloAnswer<'a>]) -> Self {
        let (sentences, records) = answers
            .iter()
            .map(|a| match slo::matching(open, a) {
                Some(s) => (
                    words::slo_sentence(s),
                    words::slo_record(s).unwrap_or_else(|| words::record(a)),
                ),
                None => (words::sentence(a), words::record(a)),
            })
            .unzip();
        Said {
            answers,
            open,
            sentences,
            records,
        }
    }
}

/// Removes the PNG and SVG files of an earlier render, so a chart the data no longer has does
/// not linger beside the new ones.
fn clear_old_charts(dir: &Path) -> Result<(), ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| ReportError::Io {
        action: "list",
        path: dir.to_path_buf(),
        cause,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("png" | "svg")
        ) {
            std::fs::remove_file(&path).map_err(|cause| ReportError::Io {
                action: "remove",
                path: path.clone(),
                cause,
            })?;
        }
    }
    Ok(())
}
