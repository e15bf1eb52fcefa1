//! `lab report DIR [--out DIR2]`, and what every successful sweep does at its end:
//!
//! 1. run the classic experiments whose pool timelines the report draws as Gantt charts
//!    (staircase at pool sizes 1, 2 and 4, multitask at 4; about a second) and write them to
//!    `experiments.json` in the results folder; a failure here is a warning, not an error,
//!    since the sweep's own results are complete without it;
//! 2. render the report into the results folder (`looplab_reports::report::render`).
//!
//! `lab report` only renders: it never runs anything, so it can be pointed at any results
//! folder, including one copied from another machine.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use clap::Args;
use looplab_reports::report::{
    self, write_experiments, CheckLine, ExperimentRun, ExperimentsFile, TaskSpan,
    EXPERIMENTS_SCHEMA,
};
use looplab_workloads::experiments::{
    multitask_timed, staircase_timed, MultitaskConfig, StaircaseConfig, TimedReport,
};

/// `lab report` arguments.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The results folder (holds meta.json and results.jsonl).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Where to write report.html, summary.md, points.csv and charts/; default: DIR itself.
    #[arg(long, value_name = "DIR2")]
    out: Option<PathBuf>,
}

/// Runs `lab report`: prints where the report is.
pub fn run(args: &ReportArgs) -> Result<()> {
    let out = args.out.as_deref().unwrap_or(&args.dir);
    let rendered = report::render(&args.dir, out)?;
    if rendered.warnings > 0 {
        eprintln!(
            "lab report: {} warning(s) about these results, listed at the end of the report",
            rendered.warnings
        );
    }
    println!("report: {}", rendered.html.display());
    Ok(())
}

/// The end of a successful sweep: `experiments.json`, then the report. Returns the path of
/// `report.html`; the error says the results are safe and how to render again.
pub fn after_sweep(dir: &Path) -> Result<PathBuf> {
    if let Err(e) = write_timelines(dir) {
        eprintln!("lab: warning: the experiments' timelines were not recorded ({e:#}); the report leaves them out");
    }
    report::render(dir, dir).map(|r| r.html).map_err(|e| {
        anyhow!(
            "report: {e}; the results are safe in {0}, render them again with `lab report {0}`",
            dir.display()
        )
    })
}

/// The key length of the timelines' hashes: 64 bytes (one SHA-512 block) instead of the
/// course's 512 (eight blocks, eight times the work), so the four runs take about a second
/// rather than eight; the shapes depend on how many hashes share the pool, not on their length.
const TIMELINE_KEYLEN: usize = 64;

/// Runs the experiments and writes `experiments.json`.
fn write_timelines(dir: &Path) -> Result<()> {
    let mut runs = Vec::new();
    for pool in [1, 2, 4] {
        let config = StaircaseConfig {
            pool,
            keylen: TIMELINE_KEYLEN,
            ..StaircaseConfig::default()
        };
        runs.push(run_of(pool, staircase_timed(&config)?));
    }
    let config = MultitaskConfig {
        pool: 4,
        keylen: TIMELINE_KEYLEN,
        ..MultitaskConfig::default()
    };
    runs.push(run_of(4, multitask_timed(&config)?));
    write_experiments(
        dir,
        &ExperimentsFile {
            schema: EXPERIMENTS_SCHEMA,
            runs,
        },
    )?;
    Ok(())
}

/// The workloads' report as the reports crate's file format.
fn run_of(pool: usize, timed: TimedReport) -> ExperimentRun {
    let report = &timed.report;
    ExperimentRun {
        experiment: report.experiment.clone(),
        pool: u32::try_from(pool).unwrap_or(u32::MAX),
        params: report
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        matches_node: report.matches_node(),
        checks: report
            .checks
            .iter()
            .map(|c| CheckLine {
                rule: c.rule.clone(),
                holds: c.holds,
                observed: c.observed.clone(),
            })
            .collect(),
        spans: timed
            .spans
            .iter()
            .map(|s| TaskSpan {
                label: s.label.clone(),
                thread: u32::try_from(s.thread).unwrap_or(u32::MAX),
                queued_ms: s.queued_ms,
                started_ms: s.started_ms,
                ended_ms: s.ended_ms,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_failure_after_a_sweep_says_the_results_are_safe() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gone");
        let message = format!("{:#}", after_sweep(&dir).unwrap_err());
        assert!(message.starts_with("report: "), "{message}");
        assert!(
            message.contains(&format!("the results are safe in {}", dir.display())),
            "{message}"
        );
        assert!(message.contains("`lab report "), "{message}");
    }
}
