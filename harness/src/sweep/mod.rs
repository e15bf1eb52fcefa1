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

//!
//! This file is the front door: the arguments and [`run`], which reads as the list of steps.
//! Each step lives in a file of its own:
//!
//! - `flags.rs`: the axis flags as a config layer, and the three layers resolved into a plan.
//! - `folder.rs`: the results folder (its name, `--out`, `meta.json`) and the sweep id.
//! - `session.rs`: running a plan into a folder, the closing summary, [`Interrupted`].
//! - `show.rs`: the `--plan` text.

mod app;
mod auto_shard;
mod checks;
mod child;
mod config;
mod error;
mod flags;
mod folder;
pub(crate) mod node;
mod order;
mod plan;
mod procs;
mod record;
mod run;
mod session;
mod show;
mod spec;
mod window;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use config::{DEFAULT_TOML, QUICK_TOML};

pub use config::node_profile_path;
pub use session::Interrupted;

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
    /// One JSON object on stdout instead of text: with --plan, the points with their
    /// coordinates and repetitions, what was pruned and why, the estimate; after a sweep, the
    /// answers as data, the warning count and the files.
    #[arg(long)]
    json: bool,
    /// Shuffle the points' order with this seed (a whole number).
    #[arg(long)]
    seed: Option<String>,
    /// Runtimes: looplab, node (Node.js 20 running each point's twin), command (your app).
    #[arg(long, value_name = "LIST")]
    runtimes: Option<String>,
    /// Cost profiles looplab's points charge: native, node (costs/node.toml) or a profile file.
    #[arg(long, value_name = "LIST")]
    costs: Option<String>,
    /// Your app's command line, for runtime `command` (run by `sh -c`), like "node server.js".
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
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
    /// The Node twins' warm-up per repetition, like 2s (default: the config's node_warmup).
    #[arg(long)]
    node_warmup: Option<String>,
    /// Repetitions of each point (a number; checked with the config's rules).
    #[arg(long)]
    repetitions: Option<String>,
    /// A/A noise run: each point twice --repetitions times, in interleaved halves; the report
    /// gives the false-alarm rate between the halves and the smallest detectable change.
    #[arg(long)]
    aa: bool,
    /// Run shard I of N (1-based): every N-th point of the plan. `auto`: I and N from the
    /// scheduler's environment (Slurm array, Kubernetes Indexed Job, GitLab parallel, or
    /// LAB_SHARD_INDEX and LAB_SHARDS); its folder is then lab-results/<sweep id>-shard-I-of-N
    /// unless --out or --out-parent says otherwise.
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<String>,
    /// Results folder to create (new or empty); default: a new folder under lab-results/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Put the results folder in DIR, named by the sweep and shard (<sweep id>-shard-I-of-N,
    /// or <sweep id> without a shard):
    /// running the same sweep and shard again (a scheduler's retry) resumes that folder.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    out_parent: Option<PathBuf>,
    /// Finish the interrupted sweep in DIR: its own configuration, only the points missing.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// No progress display (results and errors are still printed).
    #[arg(long)]
    quiet: bool,
}

/// Runs `lab sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    if args.print_config {
        print!("{}", if args.quick { QUICK_TOML } else { DEFAULT_TOML });
        return Ok(());
    }
    if let Some(dir) = &args.resume {
        return resume(args, dir);
    }
    let sweep = flags::resolve(args)?;
    if args.plan {
        if args.json {
            println!("{}", serde_json::to_string(&show::json(&sweep.plan))?);
        } else {
            print!("{}", show::render(&sweep.plan));
        }
        return Ok(());
    }
    needs_node(&sweep.plan)?;
    let (results, sweep) = folder::open_or_create(args, sweep)?;
    session::execute(results, &sweep.plan, args.quiet, args.json)
}

/// When the plan has points on Node, checks that they can run here (one line otherwise).
fn needs_node(plan: &plan::Plan) -> Result<()> {
    let on_node = plan
        .points
        .iter()
        .any(|p| p.coords.runtime == spec::Runtime::Node);
    if on_node {
        node::preflight()?;
    }
    Ok(())
}

/// `--resume DIR`: the folder's own configuration and shard, only what is missing.
fn resume(args: &SweepArgs, path: &Path) -> Result<()> {
    flags::check_resume_alone(args, path)?;
    let (results, sweep) = folder::reopen(path)?;
    needs_node(&sweep.plan)?;
    session::execute(results, &sweep.plan, args.quiet, args.json)
}
