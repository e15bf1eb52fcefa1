//! `lab sweep`: a sweep of strategies x workloads x pool sizes x counts, configured, planned and
//! run. Three typed stages, each with its rule at the top of its file:
//!
//! 1. [`config`]: the built-in sweep, the `--config` file and the flags, overlaid in that order,
//!    then validated into a [`spec::SweepSpec`].
//! 2. [`plan`]: the product of the axes, pruned by documented rules, ordered (or shuffled with
//!    a seed), sliced by `--shard`, with an estimated duration.
//! 3. [`run`]: every point in a process of its own, each repetition recorded as it is measured
//!    into a new results folder under `lab-results/` (or `--out`), which `--resume` finishes.
//!
//! The results folder's `meta.json` holds the overlaid configuration (so `--resume` rebuilds
//! the same plan), the shard, and the sweep id: a hash of the configuration without its seed,
//! equal for every shard of one sweep and different for any other sweep, which is what
//! `lab merge` checks.

mod checks;
mod child;
mod config;
mod error;
mod order;
mod plan;
mod procs;
mod record;
mod run;
mod spec;
mod window;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use looplab_reports::store::{rfc3339_utc, Meta, ResultsDir};

use crate::progress::{Progress, ProgressMode};

use config::SweepConfig;
use plan::Plan;

use crate::scratch;

use config::{parse_name_list, parse_number_list, DEFAULT_TOML, QUICK_TOML};
use order::Shard;
use plan::POINT_OVERHEAD_MS;
use spec::{format_duration_ms, Load};

/// `lab sweep` arguments. Axis flags take comma-separated lists and replace that axis.
#[derive(Args, Debug, Default)]
pub struct SweepArgs {
    /// Sweep file (TOML); keys it leaves out come from the built-in sweep.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Start from the smaller built-in sweep.
    #[arg(long)]
    quick: bool,
    /// Print the built-in sweep (with --quick, the quick one) as TOML, and exit.
    #[arg(long)]
    print_config: bool,
    /// Print the plan (points, count, estimated duration) and exit without running.
    #[arg(long)]
    plan: bool,
    /// Run shard I of N (1-based): every N-th point of the plan.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Shuffle the points' order with this seed (a whole number).
    #[arg(long)]
    seed: Option<String>,
    /// Strategies: loop, loop-blocking, workers, cluster, tokio, rayon.
    #[arg(long, value_name = "LIST")]
    strategies: Option<String>,
    /// Workloads: hash, file, net, or mixes named in the sweep file.
    #[arg(long, value_name = "LIST")]
    workloads: Option<String>,
    /// Pool sizes, like 1,2,4,8.
    #[arg(long, value_name = "LIST")]
    pool_sizes: Option<String>,
    /// Cluster process counts.
    #[arg(long, value_name = "LIST")]
    cluster_counts: Option<String>,
    /// Worker thread counts.
    #[arg(long, value_name = "LIST")]
    worker_counts: Option<String>,
    /// Load generator connections.
    #[arg(long, value_name = "LIST")]
    connections: Option<String>,
    /// Open-loop rates in requests/s.
    #[arg(long, value_name = "LIST")]
    rates: Option<String>,
    /// batch or service.
    #[arg(long)]
    mode: Option<String>,
    /// Measured window per repetition, like 5s.
    #[arg(long)]
    duration: Option<String>,
    /// Warm-up per repetition, like 500ms.
    #[arg(long)]
    warmup: Option<String>,
    /// Repetitions of each point (a number; checked with the config's rules).
    #[arg(long)]
    repetitions: Option<String>,
    /// Results folder to create (new or empty); default: a new folder under lab-results/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Finish the interrupted sweep in DIR: its own configuration, only the points missing.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// No progress display (results and errors are still printed).
    #[arg(long)]
    quiet: bool,
}

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

/// Runs `lab sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    if args.print_config {
        print!("{}", if args.quick { QUICK_TOML } else { DEFAULT_TOML });
        return Ok(());
    }
    if let Some(dir) = &args.resume {
        return resume(args, dir);
    }
    let (config, shard, plan) = resolve(args)?;
    if args.plan {
        print!("{}", render(&plan));
        return Ok(());
    }
    let dir = match &args.out {
        Some(out) => {
            let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
            let name = out
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("--out {}: give a folder name", out.display()))?;
            (
                parent.unwrap_or(Path::new(".")).to_path_buf(),
                name.to_string(),
            )
        }
        None => (PathBuf::from(RESULTS_PARENT), fresh_name(args.quick, shard)),
    };
    let mut meta = Meta::new(sweep_id(&config)?, serde_json::to_value(&config)?);
    meta.git_revision = crate::version::git_revision().map(str::to_string);
    meta.rustc_version = crate::version::rustc_version().map(str::to_string);
    meta.shard = shard.map(|s| format!("{}/{}", s.index, s.count));
    let results = ResultsDir::create(&dir.0, &dir.1, &meta)?;
    execute(results, &plan, args.quiet)
}

/// Where results folders go by default, relative to the working directory.
pub const RESULTS_PARENT: &str = "lab-results";

/// Built-in sweep, then the file, then the flags; validated and planned.
fn resolve(args: &SweepArgs) -> Result<(SweepConfig, Option<Shard>, Plan)> {
    let mut config = SweepConfig::builtin(args.quick);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read sweep file {}", path.display()))?;
        config = config.overlay(SweepConfig::parse(&path.display().to_string(), &text)?);
    }
    config = config.overlay(overrides(args)?);
    let spec = config.resolve()?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let plan = plan::plan(&spec, shard)?;
    Ok((config, shard, plan))
}

/// `--resume DIR`: the folder's own configuration and shard, only what is missing.
fn resume(args: &SweepArgs, path: &Path) -> Result<()> {
    let given_elsewhere = args.config.is_some()
        || args.quick
        || args.plan
        || args.shard.is_some()
        || args.out.is_some()
        || overrides(args)? != SweepConfig::default();
    if given_elsewhere {
        bail!(
            "--resume takes the sweep from {}/meta.json; drop the other sweep options (only --quiet may go with it)",
            path.display()
        );
    }
    let results = ResultsDir::open_to_write(path)?;
    let meta = results.meta().clone();
    let config: SweepConfig = serde_json::from_value(meta.config.clone()).with_context(|| {
        format!(
            "{}/meta.json: its configuration is not one this lab can resume; start a new sweep",
            path.display()
        )
    })?;
    if sweep_id(&config)? != meta.sweep_id {
        bail!(
            "{}/meta.json: its configuration does not match its sweep id {}; the file was edited or written by another version, start a new sweep",
            path.display(),
            meta.sweep_id
        );
    }
    let spec = config.resolve()?;
    let shard = meta.shard.as_deref().map(Shard::parse).transpose()?;
    let plan = plan::plan(&spec, shard)?;
    execute(results, &plan, args.quiet)
}

/// Runs the plan into the folder, then closes the folder's metadata and says where it is.
fn execute(mut results: ResultsDir, plan: &Plan, quiet: bool) -> Result<()> {
    let lab = std::env::current_exe().context("find this program to start the points")?;
    let done = results.done_points()?;
    let left: Vec<_> = plan
        .points
        .iter()
        .filter(|p| (0..p.repetitions).any(|r| !done.contains(&(p.id.clone(), r))))
        .cloned()
        .collect();
    let left_plan = Plan {
        points: left.clone(),
        ..plan.clone()
    };
    eprintln!(
        "lab sweep: {} points to run{}, estimated {}; results in {}",
        left.len(),
        if left.len() < plan.points.len() {
            format!(" ({} already measured)", plan.points.len() - left.len())
        } else {
            String::new()
        },
        human(left_plan.estimated_ms()),
        results.path().display()
    );
    scratch::on_first_signal(|| {
        run::STOP.store(true, Ordering::SeqCst);
        child::terminate_all();
    });
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    };
    let progress = Progress::new(
        mode,
        left.len() as u64,
        Duration::from_millis(left_plan.estimated_ms()),
    );
    let outcome = run::execute(&lab, &left_plan, &done, &mut results, &progress)?;
    let mut meta = results.meta().clone();
    if !outcome.interrupted {
        meta.finished_at = Some(rfc3339_utc(SystemTime::now()));
        results.write_meta(&meta)?;
    }
    let mut overheads = outcome.overheads.clone();
    overheads.sort();
    let median = overheads
        .get(overheads.len() / 2)
        .copied()
        .unwrap_or_default();
    let total: Duration = outcome.point_times.iter().sum();
    eprintln!(
        "lab sweep: {} repetitions recorded ({} failed) in {:.1} s; harness overhead per point: median {} ms, max {} ms",
        outcome.recorded,
        outcome.failed,
        total.as_secs_f64(),
        median.as_millis(),
        overheads.last().copied().unwrap_or_default().as_millis(),
    );
    if outcome.interrupted {
        return Err(Interrupted {
            dir: results.path().to_path_buf(),
        }
        .into());
    }
    let dir = results.path().to_path_buf();
    let report = crate::report_cmd::after_sweep(results, quiet);
    println!("results: {}", dir.display());
    println!("report: {}", report?.display());
    Ok(())
}

/// `sweep-` and 16 hex digits: FNV-1a of the configuration as JSON, seed left out (a seed
/// only orders the points; shards run with different seeds still make one sweep).
fn sweep_id(config: &SweepConfig) -> Result<String> {
    let unseeded = SweepConfig {
        seed: None,
        ..config.clone()
    };
    let json = serde_json::to_string(&unseeded)?;
    let hash = json.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Ok(format!("sweep-{hash:016x}"))
}

/// A new folder name: the UTC start time, `-quick`, `-shard-I-of-N`; `-2`, `-3`... if taken.
fn fresh_name(quick: bool, shard: Option<Shard>) -> String {
    let stamp = rfc3339_utc(SystemTime::now()).replace(':', "-");
    let mut base = stamp;
    if quick {
        base.push_str("-quick");
    }
    if let Some(s) = shard {
        base.push_str(&format!("-shard-{}-of-{}", s.index, s.count));
    }
    let parent = Path::new(RESULTS_PARENT);
    let mut name = base.clone();
    let mut n = 2;
    while parent.join(&name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// The flags as a config layer.
fn overrides(args: &SweepArgs) -> Result<SweepConfig, error::ConfigError> {
    let numbers = |flag, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| parse_number_list(flag, v))
            .transpose()
    };
    let repetitions = single("--repetitions", &args.repetitions)?;
    let seed = single("--seed", &args.seed)?;
    Ok(SweepConfig {
        mode: args.mode.clone(),
        duration: args.duration.clone(),
        warmup: args.warmup.clone(),
        repetitions,
        seed,
        strategies: args.strategies.as_deref().map(parse_name_list),
        workloads: args.workloads.as_deref().map(parse_name_list),
        pool_sizes: numbers("--pool-sizes", &args.pool_sizes)?,
        cluster_counts: numbers("--cluster-counts", &args.cluster_counts)?,
        worker_counts: numbers("--worker-counts", &args.worker_counts)?,
        connections: numbers("--connections", &args.connections)?,
        rates: numbers("--rates", &args.rates)?,
        ..SweepConfig::default()
    })
}

/// A flag that takes one whole number, like `--repetitions 3`.
fn single(flag: &'static str, value: &Option<String>) -> Result<Option<i64>, error::ConfigError> {
    value
        .as_deref()
        .map(|text| {
            text.trim()
                .parse()
                .map_err(|_| error::ConfigError::BadFlag {
                    flag,
                    value: text.to_string(),
                    expected: "one whole number, like 3",
                })
        })
        .transpose()
}

/// The plan as text: one line per point, what was pruned, then the count and the estimate.
fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(p) = plan.points.first() {
        out.push_str(&format!(
            "sweep plan ({} mode), in run order:\n",
            p.coords.mode.name()
        ));
    }
    let width = plan.points.len().to_string().len();
    for (i, p) in plan.points.iter().enumerate() {
        let load = match p.load {
            Load::Batch { jobs } => format!("{jobs} jobs"),
            Load::Closed { connections } => format!("{connections} connections, closed loop"),
            Load::Open {
                connections,
                rate_per_s,
            } => {
                format!("{connections} connections, open loop at {rate_per_s}/s")
            }
        };
        out.push_str(&format!("{:>width$}  {:<32} {load}\n", i + 1, p.id));
    }
    for d in &plan.dropped {
        out.push_str(&format!("dropped {}: {}\n", d.pair, d.reason));
    }
    for d in &plan.pool_not_swept {
        out.push_str(&format!(
            "pool size not swept for {}: {}\n",
            d.pair, d.reason
        ));
    }
    if plan
        .points
        .first()
        .is_some_and(|p| p.coords.mode == spec::Mode::Batch)
    {
        out.push_str(
            "connections and rates do not apply in batch mode: each point submits its jobs\n",
        );
    }
    if plan.points.len() != plan.total_points {
        out.push_str(&format!(
            "this shard: {} of the plan's {} points\n",
            plan.points.len(),
            plan.total_points
        ));
    }
    let (reps, timing) = plan
        .points
        .first()
        .map(|p| (p.repetitions, p.timing))
        .unwrap_or_default();
    out.push_str(&format!(
        "{} points, estimated duration {} ({} points x {reps} repetitions x ({} warm-up + {} measured + {} per-point overhead))\n",
        plan.points.len(),
        human(plan.estimated_ms()),
        plan.points.len(),
        format_duration_ms(timing.warmup_ms),
        format_duration_ms(timing.duration_ms),
        format_duration_ms(POINT_OVERHEAD_MS),
    ));
    out
}

/// "3m 50s", "45s", "1h 2m".
fn human(ms: u64) -> String {
    let s = ms.div_ceil(1_000);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}
