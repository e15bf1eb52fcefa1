//! `lab sweep`: a sweep of strategies x workloads x pool sizes x counts, configured, planned and
//! (later) run. Two typed stages, each with its rule at the top of its file:
//!
//! 1. [`config`]: the built-in sweep, the `--config` file and the flags, overlaid in that order,
//!    then validated into a [`spec::SweepSpec`].
//! 2. [`plan`]: the product of the axes, pruned by documented rules, ordered (or shuffled with
//!    a seed), sliced by `--shard`, with an estimated duration.
//!
//! Running the points (the executor) is not written yet: `lab sweep` without `--plan` or
//! `--print-config` says so and exits 2.

mod checks;
mod config;
mod error;
mod order;
mod plan;
mod spec;

use anyhow::{bail, Context, Result};
use clap::Args;

use config::SweepConfig;
use plan::Plan;

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
}

/// Runs `lab sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    if args.print_config {
        print!("{}", if args.quick { QUICK_TOML } else { DEFAULT_TOML });
        return Ok(());
    }
    let plan = resolve(args)?;
    if !args.plan {
        bail!("running sweeps is not implemented yet; use --plan to see what would run");
    }
    print!("{}", render(&plan));
    Ok(())
}

/// Built-in sweep, then the file, then the flags; validated and planned.
fn resolve(args: &SweepArgs) -> Result<Plan> {
    let mut config = SweepConfig::builtin(args.quick);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read sweep file {}", path.display()))?;
        config = config.overlay(SweepConfig::parse(&path.display().to_string(), &text)?);
    }
    config = config.overlay(overrides(args)?);
    let spec = config.resolve()?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    Ok(plan::plan(&spec, shard)?)
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
            p.mode.name()
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
        .is_some_and(|p| p.mode == spec::Mode::Batch)
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
