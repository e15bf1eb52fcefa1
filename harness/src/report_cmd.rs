//! `lab report DIR [--out DIR2]`, and what every successful sweep does at its end:
//!
//! 1. the sweep records the classic experiments into `experiments.json` (in a point process
//!    of their own, see `sweep::session`);
//! 2. then the report is rendered into the results folder (`looplab_reports::report::render`).
//!
//! `lab report` and `lab check` only read: they never run anything, so they can be pointed at
//! any results folder, including one copied from another machine.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use clap::Args;
use looplab_reports::report;
use looplab_reports::store::ResultsDir;

/// `lab report` arguments.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The results folder (holds meta.json and results.jsonl).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Where to write report.html, summary.md, points.csv and charts/; default: DIR itself.
    #[arg(long, value_name = "DIR2")]
    out: Option<PathBuf>,
    /// Print one JSON object (the answers as data, the warning count, the files) instead of
    /// the answers in words.
    #[arg(long)]
    json: bool,
}

/// Runs `lab report`: prints the answers and where the report is.
pub fn run(args: &ReportArgs) -> Result<()> {
    let out = args.out.as_deref().unwrap_or(&args.dir);
    let rendered = report::render(&args.dir, out)?;
    finish(false, &args.dir, &rendered, args.json)
}

/// The end of `lab report` and, with `sweep`, of a sweep: the answers in words, the warning
/// count and the paths (a sweep also says where its results are); with `json`, one JSON object
/// holding the same on stdout.
pub fn finish(sweep: bool, results: &Path, rendered: &report::Rendered, json: bool) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "results": results.display().to_string(),
            "report": rendered.html.display().to_string(),
            "summary": rendered.summary.display().to_string(),
            "csv": rendered.csv.display().to_string(),
            "warnings": rendered.warnings,
            "answers": rendered.answers,
        });
        println!("{}", serde_json::to_string(&value)?);
        return Ok(());
    }
    for answer in &rendered.answers {
        println!("{}", answer.sentence);
    }
    if rendered.warnings > 0 {
        eprintln!(
            "{}: {} warning(s) about these results, listed at the end of the report",
            if sweep { "lab" } else { "lab report" },
            rendered.warnings
        );
    }
    if sweep {
        println!("results: {}", results.display());
    }
    println!("report: {}", rendered.html.display());
    Ok(())
}

/// The end of a successful sweep: the report, rendered into the results folder once the
/// sweep has let go of it. Returns the path of `report.html`; the error says the results are
/// safe and how to render again.
pub fn after_sweep(results: ResultsDir) -> Result<report::Rendered> {
    let dir = results.path().to_path_buf();
    // The report takes the folder's lock itself.
    drop(results);
    report::render(&dir, &dir).map_err(|e| {
        anyhow!(
            "report: {e}; the results are safe in {0}, render them again with `lab report {0}`",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use looplab_reports::store::Meta;

    #[test]
    fn a_report_failure_after_a_sweep_says_the_results_are_safe() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = Meta::new("sweep-1", serde_json::json!({}));
        let results = ResultsDir::create(tmp.path(), "run", &meta).unwrap();
        let dir = results.path().to_path_buf();
        // A results file that cannot be read makes the report fail after the folder exists.
        std::fs::write(dir.join("results.jsonl"), "not json\n").unwrap();
        let message = format!("{:#}", after_sweep(results).unwrap_err());
        assert!(message.starts_with("report: "), "{message}");
        assert!(
            message.contains(&format!("the results are safe in {}", dir.display())),
            "{message}"
        );
        assert!(message.contains("`lab report "), "{message}");
    }
}
