//! The command line's side of stage 1: [`SweepArgs`]' axis flags become the top config layer,
//! and the three layers (built-in sweep, `--config` file, flags) are resolved into a plan.
//!
//! Flags arrive as text and are parsed here with the config's own list parsers, so a flag and
//! the same key in a sweep file are refused with the same message.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::auto_shard;
use super::config::{parse_name_list, parse_number_list, SweepConfig};
use super::error::ConfigError;
use super::order::Shard;
use super::plan::{self, Plan};
use super::SweepArgs;

/// A sweep ready to run: the overlaid configuration (what `meta.json` keeps), its shard and
/// the plan made of both.
pub struct Resolved {
    /// The built-in sweep, the file and the flags, overlaid, as written (it has validated).
    pub config: SweepConfig,
    /// `--shard I/N`, if given.
    pub shard: Option<Shard>,
    /// The shard's points, in run order.
    pub plan: Plan,
}

impl Resolved {
    /// Validates `config`, then plans its `shard`: the first mistake wins.
    pub fn new(config: SweepConfig, shard: Option<Shard>) -> Result<Self> {
        let spec = config.resolve()?;
        let plan = plan::plan(&spec, shard)?;
        Ok(Self {
            config,
            shard,
            plan,
        })
    }
}

/// Built-in sweep, then the file, then the flags; validated and planned.
pub fn resolve(args: &SweepArgs) -> Result<Resolved> {
    let mut config = SweepConfig::builtin(args.quick);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read sweep file {}", path.display()))?;
        config = config.overlay(SweepConfig::parse(&path.display().to_string(), &text)?);
    }
    config = config.overlay(overrides(args)?);
    config.resolve()?;
    Resolved::new(config, shard(args)?)
}

/// `--shard I/N`, or `--shard auto` read from the scheduler's environment (said on stderr
/// unless `--quiet`).
pub fn shard(args: &SweepArgs) -> Result<Option<Shard>> {
    match args.shard.as_deref().map(str::trim) {
        None => Ok(None),
        Some("auto") => {
            let found = auto_shard::from_env(|name| std::env::var(name).ok())
                .map_err(anyhow::Error::msg)?;
            if !args.quiet {
                eprintln!(
                    "lab: shard {}/{} from {}",
                    found.shard.index, found.shard.count, found.from
                );
            }
            Ok(Some(found.shard))
        }
        Some(text) => Ok(Some(Shard::parse(text)?)),
    }
}

/// `--resume` takes everything from the folder: refuses any other sweep option but `--quiet`.
pub fn check_resume_alone(args: &SweepArgs, path: &Path) -> Result<()> {
    let given_elsewhere = args.config.is_some()
        || args.quick
        || args.plan
        || args.shard.is_some()
        || args.out.is_some()
        || args.out_parent.is_some()
        || overrides(args)? != SweepConfig::default();
    if given_elsewhere {
        bail!(
            "--resume takes the sweep from {}/meta.json; drop the other sweep options (only --quiet may go with it)",
            path.display()
        );
    }
    Ok(())
}

/// The flags as a config layer.
fn overrides(args: &SweepArgs) -> Result<SweepConfig, ConfigError> {
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
        node_warmup: args.node_warmup.clone(),
        repetitions,
        aa: args.aa.then_some(true),
        seed,
        runtimes: args.runtimes.as_deref().map(parse_name_list),
        command: args.command.clone(),
        costs: args.costs.as_deref().map(parse_name_list),
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
fn single(flag: &'static str, value: &Option<String>) -> Result<Option<i64>, ConfigError> {
    value
        .as_deref()
        .map(|text| {
            text.trim().parse().map_err(|_| ConfigError::BadFlag {
                flag,
                value: text.to_string(),
                expected: "one whole number, like 3",
            })
        })
        .transpose()
}
