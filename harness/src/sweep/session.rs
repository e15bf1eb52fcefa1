//! Running a plan into a results folder, from the first line on stderr to the report.
//!
//! The order, each a step below:
//! 1. Leave out the points the folder already holds whole (`--resume`), and say what is left.
//! 2. Make the first Ctrl-C or SIGTERM stop the executor and terminate the point processes.
//! 3. Run the points ([`super::run`]), each repetition recorded as it is measured.
//! 4. Unless interrupted, mark the folder finished in `meta.json`.
//! 5. Print the summary line (repetitions, failures, harness overhead), interrupted or not.
//! 6. Interrupted: return [`Interrupted`]; every repetition failed: an error (exit 2).
//!    Otherwise record the classic experiments (the
//!    recorded set of `looplab_workloads::experiments::recorded`, about 5 s) in a fresh point
//!    process, as every point runs, into `experiments.json`: after a long sweep the sweep's own
//!    process is no quiet place for timing-sensitive shapes (recorded there at the end of a
//!    190 s default sweep, multitask at pool 4 missed all 3 attempts; in 5 other recordings,
//!    3 in fresh `lab experiment classic` processes and 2 after quick sweeps, it held at the
//!    first). A failure here is a warning: the sweep's results are complete without it.
//! 7. Render the report and print both paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use looplab_reports::report::format::count;
use looplab_reports::store::{rfc3339_utc, ResultsDir};

use super::child::{self, PointProcess};
use super::plan::Plan;
use super::run::{self, Outcome};
use super::show::human;
use super::spec::{PointSpec, Runtime};
use crate::point::{Reply, Task};
use crate::progress::{Progress, ProgressMode};
use crate::scratch;

/// How long the recorded experiments may take: 8 configurations of at most 3 attempts of
/// about a second each, with room for a busy machine.
const EXPERIMENTS_TIMEOUT: Duration = Duration::from_secs(180);

/// A sweep stopped by Ctrl-C or SIGTERM; what was measured is kept. `main` exits 130.
#[derive(Debug)]
pub struct Interrupted {
    /// The results folder, for `--resume`.
    pub dir: PathBuf,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted; everything measured so far is in {0}; finish it with `lab sweep --resume {0}`",
            self.dir.display()
        )
    }
}

impl std::error::Error for Interrupted {}

/// Runs the plan into the folder, then closes the folder's metadata and says where it is.
pub fn execute(mut results: ResultsDir, plan: &Plan, quiet: bool, json: bool) -> Result<()> {
    let lab = std::env::current_exe().context("find this program to start the points")?;
    let done = results.done_points()?;
    let left = left_to_run(plan, &done);
    let repetitions = repetitions_left(&left, &done);
    announce(plan, &left, repetitions, &results);
    stop_on_signal();
    let progress = progress(&left, repetitions, quiet);
    let outcome = run::execute(&lab, &left, &done, &mut results, &progress)?;
    if !outcome.interrupted {
        let mut meta = results.meta().clone();
        meta.finished_at = Some(rfc3339_utc(SystemTime::now()));
        results.write_meta(&meta)?;
    }
    if outcome.interrupted {
        return Err(Interrupted {
            dir: results.path().to_path_buf(),
        }
        .into());
    }
    eprintln!("{}", summary(&outcome));
    all_failed(&outcome, results.path())?;
    if let Err(e) = record_experiments(&lab, &results, quiet) {
        eprintln!("lab: warning: the classic experiments were not recorded ({e:#}); the report and `lab check` say so");
    }
    let dir = results.path().to_path_buf();
    let rendered = crate::report_cmd::after_sweep(results)?;
    crate::report_cmd::finish(true, &dir, &rendered, json)
}

/// A sweep in which every repetition that ran failed measured nothing: an error (exit 2)
/// saying how many and the first reason, rather than a report of nothing.
fn all_failed(outcome: &Outcome, dir: &Path) -> Result<()> {
    if outcome.recorded == 0 || outcome.failed < outcome.recorded {
        return Ok(());
    }
    let first = outcome
        .first_error
        .as_deref()
        .unwrap_or("no reason recorded");
    anyhow::bail!(
        "every one of the {} repetitions failed, the first with: {first}; their records are in {}",
        outcome.recorded,
        dir.display()
    )
}

/// Step 6: the recorded experiments, from a point process of their own.
fn record_experiments(lab: &Path, results: &ResultsDir, quiet: bool) -> Result<()> {
    if !quiet {
        eprintln!("lab: recording the classic experiments (staircase and multitask, about 5 s)");
    }
    let (mut process, _) = PointProcess::start(lab, Runtime::Looplab, &Task::Experiments)?;
    let reply = process.request("run", EXPERIMENTS_TIMEOUT);
    process.stop();
    match reply? {
        Reply::Experiments(file) => Ok(results.write_experiments(&file)?),
        other => Err(anyhow::anyhow!("the experiments answered {other:?}")),
    }
}

/// The plan without the points whose every repetition is in `done`.
fn left_to_run(plan: &Plan, done: &BTreeSet<(String, u32)>) -> Plan {
    let points = plan
        .points
        .iter()
        .filter(|p| (0..p.repetitions).any(|r| !done.contains(&(p.id.clone(), r))))
        .cloned()
        .collect();
    Plan {
        points,
        ..plan.clone()
    }
}

/// Repetitions of `left`'s points that `done` does not hold.
fn repetitions_left(left: &Plan, done: &BTreeSet<(String, u32)>) -> u64 {
    let todo = |p: &PointSpec| {
        (0..p.repetitions)
            .filter(|r| !done.contains(&(p.id.clone(), *r)))
            .count() as u64
    };
    left.points.iter().map(todo).sum()
}

/// The opening line: how many points will run, how many are already measured, how long.
fn announce(plan: &Plan, left: &Plan, repetitions: u64, results: &ResultsDir) {
    let measured = plan.points.len() - left.points.len();
    eprintln!(
        "lab sweep: {} to run ({}, interleaved in rounds){}, estimated {}; results in {}",
        count(left.points.len() as u64, "point", "points"),
        count(repetitions, "repetition", "repetitions"),
        if measured > 0 {
            format!(" ({measured} already measured)")
        } else {
            String::new()
        },
        human(left.estimated_ms()),
        results.path().display()
    );
}

/// The first signal stops the executor before its next point and ends the point processes.
fn stop_on_signal() {
    scratch::on_first_signal(|| {
        run::STOP.store(true, Ordering::SeqCst);
        child::terminate_all();
    });
}

/// The progress display over the repetitions left, quiet with `--quiet`.
fn progress(left: &Plan, repetitions: u64, quiet: bool) -> Progress {
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    };
    Progress::new(
        mode,
        repetitions,
        Duration::from_millis(left.estimated_ms()),
    )
}

/// The closing line: repetitions recorded and failed, wall time, harness overhead per
/// repetition.
fn summary(outcome: &Outcome) -> String {
    let mut overheads = outcome.overheads.clone();
    overheads.sort();
    let median = overheads
        .get(overheads.len() / 2)
        .copied()
        .unwrap_or_default();
    let total: Duration = outcome.point_times.iter().sum();
    format!(
        "lab sweep: {} repetitions recorded ({} failed) in {:.1} s; harness overhead per repetition: median {} ms, max {} ms",
        outcome.recorded,
        outcome.failed,
        total.as_secs_f64(),
        median.as_millis(),
        overheads.last().copied().unwrap_or_default().as_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_that_measured_nothing_is_an_error_naming_the_first_reason() {
        let dir = Path::new("lab-results/x");
        let outcome = |recorded, failed| Outcome {
            recorded,
            failed,
            first_error: (failed > 0).then(|| "the point did not start".to_string()),
            ..Outcome::default()
        };
        let message = all_failed(&outcome(3, 3), dir).unwrap_err().to_string();
        assert_eq!(
            message,
            "every one of the 3 repetitions failed, the first with: the point did not start; \
             their records are in lab-results/x"
        );
        assert!(all_failed(&outcome(3, 2), dir).is_ok());
        // Resuming a finished sweep runs nothing: nothing failed.
        assert!(all_failed(&outcome(0, 0), dir).is_ok());
    }
}
