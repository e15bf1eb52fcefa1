//! `lab scenario --gantt PNG`: the completions as a Gantt chart.
//!
//! One row per label (in looplab's completion order, top down), one bar per op from when it
//! was issued to when it completed, coloured by where its work ran (main thread, pool,
//! worker), with a dot at the completion so instant ops show too. With `--node` a second
//! panel below shows Node's run on the same rows and the same time axis.
//!
//! This file only builds the [`Figure`]; the report's Gantt chart draws it
//! (`looplab_reports::report::charts`) and the lab's one atomic writer
//! (`looplab_reports::store::write_file`) writes the PNG.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use looplab_reports::report::charts::{
    nice_ticks, palette, png_bytes, Axis, Body, Figure, Gantt, GanttBar, GanttPanel,
};
use looplab_reports::report::format::sig3;
use looplab_reports::store::write_file;
use looplab_workloads::scenario::{Completion, Timeline};

const WIDTH: u32 = 1100;
/// Height of one row, in pixels.
const ROW_PX: u32 = 26;
/// Height of a panel besides its rows: title, margins and the time axis.
const PANEL_PX: u32 = 100;
/// The figure's title and note.
const FRAME_PX: u32 = 44 + 28;

/// Where an op's work ran, in the order of [`Gantt::kinds`].
#[derive(Clone, Copy)]
enum Ran {
    Main = 0,
    Pool = 1,
    Worker = 2,
}

impl Ran {
    /// From a completion's `thread` (`main`, `pool-N`, `pool`, `worker-N`).
    fn of(completion: &Completion) -> Self {
        if completion.thread.starts_with("pool") {
            Ran::Pool
        } else if completion.thread.starts_with("worker") {
            Ran::Worker
        } else {
            Ran::Main
        }
    }
}

/// The chart of `panels` (a name and a timeline each, looplab first), or `None` when there
/// is no panel. The rows are the first panel's labels in completion order.
pub fn figure(scenario: &str, panels: &[(&str, &Timeline)]) -> Option<Figure> {
    let (_, first) = panels.first()?;
    let rows: Vec<String> = first.completions.iter().map(|c| c.label.clone()).collect();
    let height = FRAME_PX + panels.len() as u32 * (PANEL_PX + ROW_PX * rows.len().max(1) as u32);
    let end_ms = panels.iter().map(|(_, t)| t.total_ms()).fold(1.0, f64::max) * 1.05;
    let panels = panels
        .iter()
        .map(|(name, timeline)| panel(name, timeline, &rows))
        .collect();
    Some(Figure {
        name: format!("scenario-{scenario}"),
        title: format!("scenario {scenario}"),
        note: "Bars: from when each op was issued to when it completed (the dot).".into(),
        caption: String::new(),
        size: (WIDTH, height),
        body: Body::Gantt(Gantt {
            rows,
            row_label: String::new(),
            x: Axis {
                label: "ms since start".into(),
                min: 0.0,
                max: end_ms,
                ticks: nice_ticks(0.0, end_ms, 8, sig3),
            },
            kinds: vec![
                ("main".into(), palette::BLUE),
                ("pool".into(), palette::ORANGE),
                ("worker".into(), palette::GREEN),
            ],
            end_dots: true,
            panels,
        }),
    })
}

/// One run's bars on `rows`; a label not among the rows is left out.
fn panel(name: &str, timeline: &Timeline, rows: &[String]) -> GanttPanel {
    let bars = timeline
        .completions
        .iter()
        .filter_map(|c| {
            let row = rows.iter().position(|r| *r == c.label)?;
            Some(GanttBar {
                label: String::new(),
                row,
                queued: None,
                start: c.start_ms,
                end: c.ms,
                kind: Ran::of(c) as usize,
            })
        })
        .collect();
    GanttPanel {
        title: name.to_string(),
        bars,
    }
}

/// Draws `figure` as a PNG into `path`.
pub fn write_png(path: &Path, figure: &Figure) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        anyhow!(
            "{} names no file; give a path like gantt.png",
            path.display()
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let bytes = png_bytes(figure)?;
    write_file(dir, name, &bytes).with_context(|| format!("write {}", path.display()))
}
