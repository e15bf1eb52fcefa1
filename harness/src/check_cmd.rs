//! `lab baseline` and `lab check`: save what a comparison needs from results folders, and
//! compare new results with it; behaviour invariants are checked every time.
//!
//! `lab check` in order:
//! 1. Parse `--threshold`s and read the new folders (pooled when several: rounds of one sweep).
//! 2. With `--baseline`: read it and refuse another machine's unless `--allow-other-machine`;
//!    compare every point and metric (the rule is in `looplab_reports::check`).
//! 3. Judge the experiments each folder recorded (`experiments.json`; unless
//!    `--no-experiments`), then the results folder's invariants. Nothing is measured here.
//! 4. Print the report (table, `--markdown` or `--json`); a regression or a failed invariant
//!    becomes a [`ThresholdFailed`] error, which `main` turns into exit status 1.

use crate::output::ThresholdFailed;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use looplab_reports::check::{
    compare, experiment_invariants, folder_invariants, markdown, terminal, Baseline, CheckReport,
    Invariant, Measured, Recorded, Status, Thresholds, MIN_REPETITIONS,
};
use looplab_reports::instructions::InstructionCheck;
use looplab_reports::store::read_experiments;

/// `lab baseline` arguments.
#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// Results folders: one sweep, or several rounds of one sweep on one machine, pooled.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// The baseline file to write (JSON).
    #[arg(long, value_name = "FILE")]
    save: PathBuf,
}

/// `lab check` arguments.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Results folders to check: one sweep, or several rounds of one sweep, pooled.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Baseline to compare with: a file from `lab baseline`, or a results folder.
    #[arg(long, value_name = "FILE", conflicts_with = "invariants_only")]
    baseline: Option<PathBuf>,
    /// No baseline: check only the behaviour invariants.
    #[arg(long)]
    invariants_only: bool,
    /// Compare with a baseline measured on another machine (speeds may then differ for that
    /// reason alone).
    #[arg(long)]
    allow_other_machine: bool,
    /// Noise threshold of a metric in percent, like p99_us=10 (default 5); repeatable.
    #[arg(long = "threshold", value_name = "METRIC=PCT")]
    thresholds: Vec<String>,
    /// Leave out the recorded staircase and multitask experiments; the results folder's
    /// invariants are still checked.
    #[arg(long)]
    no_experiments: bool,
    /// Also show (and judge) the instruction-count check `lab instructions --out FILE` wrote.
    #[arg(long, value_name = "FILE")]
    instructions: Option<PathBuf>,
    /// Print Markdown (for a CI step summary) instead of tables.
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs `lab baseline`.
pub fn baseline(args: &BaselineArgs) -> Result<()> {
    let measured = Measured::load(&args.dirs)?;
    let repetitions: Vec<usize> = measured
        .points
        .values()
        .filter_map(|metrics| metrics.values().map(Vec::len).max())
        .collect();
    let (fewest, most) = (
        repetitions.iter().min().copied().unwrap_or(0),
        repetitions.iter().max().copied().unwrap_or(0),
    );
    let (points, machine) = (measured.points.len(), measured.machine.clone());
    Baseline::new(measured).save(&args.save)?;
    println!(
        "baseline: {points} points, {fewest}..{most} repetitions each, measured on {} ({} cores), saved to {}",
        machine.hostname,
        machine.cores,
        args.save.display()
    );
    if fewest < MIN_REPETITIONS {
        eprintln!(
            "lab baseline: note: a check judges a point only with at least {MIN_REPETITIONS} repetitions per side; run sweeps with --repetitions 5 (or scripts/ab.sh)"
        );
    }
    Ok(())
}

/// Runs `lab check`.
pub fn check(args: &CheckArgs) -> Result<()> {
    if args.baseline.is_none() && !args.invariants_only {
        bail!(
            "lab check needs --baseline FILE (make one with `lab baseline DIR --save FILE`) or --invariants-only"
        );
    }
    let thresholds = Thresholds::parse(&args.thresholds)?;
    let new = Measured::load(&args.dirs)?;
    let mut report = CheckReport {
        folders: new.folders.clone(),
        instructions: args
            .instructions
            .as_deref()
            .map(InstructionCheck::load)
            .transpose()?,
        ..CheckReport::default()
    };
    if let Some(path) = &args.baseline {
        compare_with_baseline(path, &new, args, &thresholds, &mut report)?;
    }
    if new.failed_repetitions > 0 {
        report.warnings.push(format!(
            "{} failed repetition(s) in the results were left out",
            new.failed_repetitions
        ));
    }
    for folder in &new.unfinished_folders {
        report
            .warnings
            .push(format!("{folder}: the sweep did not finish"));
    }
    report.invariants = if args.no_experiments {
        skipped_experiments()
    } else {
        recorded_invariants(&args.dirs)
    };
    report.invariants.extend(folder_invariants(
        &new.points,
        &new.coords,
        new.machine.cores,
    ));
    if args.json {
        println!("{}", report.to_json());
    } else if args.markdown {
        print!("{}", markdown(&report));
    } else {
        print!("{}", terminal(&report));
    }
    if report.passed() {
        return Ok(());
    }
    // Regressions, failed invariants or instruction counts above their baseline.
    Err(ThresholdFailed(format!(
        "check failed: {} regression(s), {} failed invariant(s), {} instruction benchmark(s) above the baseline; see the report above",
        report.regressions(),
        report.failed_invariants(),
        report.instruction_failures()
    ))
    .into())
}

/// Step 2: the comparison, refused for another machine's baseline unless allowed, and for a
/// baseline that shares no point with the results (a wrong file, not a clean bill).
fn compare_with_baseline(
    path: &Path,
    new: &Measured,
    args: &CheckArgs,
    thresholds: &Thresholds,
    report: &mut CheckReport,
) -> Result<()> {
    let baseline = load_baseline(path)?;
    if let Some(warning) = baseline.same_machine_as(path, new, args.allow_other_machine)? {
        report.warnings.push(warning);
    }
    let (base_id, new_id) = (&baseline.measured.sweep_id, &new.sweep_id);
    if !new
        .points
        .keys()
        .any(|p| baseline.measured.points.contains_key(p))
    {
        bail!(
            "the baseline {} (sweep {base_id}) and the results (sweep {new_id}) share no point; compare results of the same sweep configuration",
            path.display(),
        );
    }
    if base_id != new_id {
        report.warnings.push(format!(
            "the baseline is sweep {base_id} and the results sweep {new_id}: their configurations differ, only the points they share are compared"
        ));
    }
    report.baseline = Some(describe(path, &baseline));
    report.comparison = Some(compare(&baseline.measured.points, &new.points, thresholds));
    Ok(())
}

/// A baseline file, or a results folder taken as one.
fn load_baseline(path: &Path) -> Result<Baseline> {
    if path.is_dir() {
        return Ok(Baseline::new(Measured::load(&[path.to_path_buf()])?));
    }
    Ok(Baseline::load(path)?)
}

fn describe(path: &Path, baseline: &Baseline) -> String {
    let m = &baseline.measured;
    format!(
        "{} (git {}, saved {}, from {})",
        path.display(),
        m.git_revision
            .as_deref()
            .map_or("unknown", |r| r.get(..12).unwrap_or(r)),
        baseline.created_at,
        m.folders.join(", ")
    )
}

/// The experiments of NODE_MODEL.md 5 (a) and (b) the folders recorded, each judged by its
/// own Node-shape checks.
fn recorded_invariants(dirs: &[PathBuf]) -> Vec<Invariant> {
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let files: Vec<_> = dirs.iter().map(|d| read_experiments(d)).collect();
    let recorded: Vec<Recorded<'_>> = names
        .iter()
        .zip(&files)
        .map(|(folder, file)| Recorded { folder, file })
        .collect();
    experiment_invariants(&recorded)
}

fn skipped_experiments() -> Vec<Invariant> {
    ["staircase", "multitask"]
        .into_iter()
        .map(|name| Invariant {
            rule: format!("{name} experiments"),
            status: Status::NotApplicable,
            detail: "skipped by --no-experiments".into(),
            attempts: 0,
        })
        .collect()
}
