//! Command-line arguments and what each command does: the default run (the default sweep),
//! `sweep`, `merge`, `report`, `baseline`, `check`, `experiment`, `bench`, `serve`, `load`,
//! `scenario`, `calibrate` and `list`, plus the hidden `point` that `sweep` runs in a child
//! process per point.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use looplab_workloads::bench::{self, BenchParams, BENCHES};
use std::path::{Path, PathBuf};

use looplab_reports::store::{
    check_owner, write_experiments, ExperimentsFile, FolderLock, EXPERIMENTS_FILE,
};
use looplab_workloads::experiments::{
    cluster, multitask, ordering, recorded, staircase, workers, ClusterExperimentConfig,
    ExperimentReport, MultitaskConfig, StaircaseConfig, WorkersExperimentConfig, EXPERIMENTS,
};

use looplab_runtime::pool::size_from_env;
use looplab_workloads::deploy::Strategy;

use crate::output;

/// looplab: Node.js's event loop, thread pool, workers and cluster rebuilt in Rust, and a lab
/// that measures them. Without a command, runs the default sweep and says where its results are.
#[derive(Parser, Debug)]
#[command(name = "lab", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a classic experiment (staircase, multitask, ordering, cluster, workers) and check Node's shape.
    Experiment(ExperimentArgs),
    /// Run a micro-benchmark of the runtime (pool-roundtrip, timers, immediates, ticks, pbkdf2,
    /// fs-read).
    Bench(BenchArgs),
    /// Serve an HTTP workload until Ctrl-C (hello, hash, hash-sync, file, busy, mix).
    Serve(crate::serve_cmd::ServeArgs),
    /// Load an HTTP server: closed loop, or open loop at --rate, with checked answers.
    Load(crate::load_cmd::LoadArgs),
    /// Run a sweep into a new results folder and render its report (--plan: only show the
    /// points; --print-config: the built-in sweep; --resume DIR: finish one; --shard auto: a
    /// scheduler's shard).
    Sweep(Box<crate::sweep::SweepArgs>),
    /// Merge the results folders of one sweep's shards, or the parent folder holding them, into
    /// one (--out DIR); missing shards are named.
    Merge(crate::merge::MergeArgs),
    /// Save what `lab check` compares with from results folders (--save FILE).
    Baseline(crate::check_cmd::BaselineArgs),
    /// Check results against a baseline (exit 1 on a regression) and the behaviour invariants.
    Check(crate::check_cmd::CheckArgs),
    /// Compare the instruction benches' counts per operation with the committed baseline (exit 1
    /// above it by more than 2%; --update rewrites it). scripts/instructions runs the benches.
    Instructions(crate::instructions_cmd::InstructionsArgs),
    /// Render report.html, summary.md, points.csv and PNG/SVG charts from a results folder.
    Report(crate::report_cmd::ReportArgs),
    /// Run a scenario file on the runtime (--node: also on real Node.js, compared).
    Scenario(crate::scenario_cmd::ScenarioArgs),
    /// Run the scenarios and benches on looplab and on Node.js; --out DIR writes calibration.json.
    Calibrate(crate::scenario_cmd::CalibrateArgs),
    /// List runtimes, cost profiles, strategies, workloads, experiments and benches (--json).
    List(ListArgs),
    /// Print a shell completion script: `lab completions bash > /etc/bash_completion.d/lab`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `lab man > lab.1 && man ./lab.1`.
    Man,
    /// One point of a sweep in a process of its own (started by `lab sweep`, not by people).
    #[command(hide = true)]
    Point(crate::point::PointArgs),
    /// One cost probe in a process of its own (started by `lab calibrate --costs`).
    #[command(hide = true)]
    CostProbe(CostProbeArgs),
}

#[derive(Args, Debug)]
struct ExperimentArgs {
    /// staircase, multitask, ordering, cluster, workers, or classic (the first three at several
    /// pool sizes, with a summary).
    name: String,
    /// Pool threads (1..=1024); default: UV_THREADPOOL_SIZE as libuv reads it, else 4.
    #[arg(long)]
    pool: Option<usize>,
    /// Number of hashes (staircase).
    #[arg(long)]
    calls: Option<usize>,
    /// PBKDF2 iterations per hash.
    #[arg(long)]
    iterations: Option<u64>,
    /// PBKDF2 key length in bytes.
    #[arg(long)]
    keylen: Option<usize>,
    /// Cluster scheduling policy: rr, none or reuseport (cluster).
    #[arg(long, value_parser = crate::serve_cmd::policy_names())]
    policy: Option<String>,
    /// Work per request, like 100ms (cluster, workers).
    #[arg(long, value_name = "DURATION")]
    work: Option<String>,
    /// The measured window per point, like 3s (cluster).
    #[arg(long, value_name = "DURATION")]
    duration: Option<String>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// classic only: also record the staircase and multitask runs into DIR/experiments.json,
    /// where `lab report` draws them and `lab check` judges them (DIR is created if needed).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// One JSON array of {kind, name, what} objects instead of the table.
    #[arg(long)]
    json: bool,
}

/// The sweep's workloads (the report's names); `lab serve` takes them too.
const SWEEP_WORKLOADS: [(&str, &str); 4] = [
    (
        "hash",
        "one PBKDF2 per request on the pool (crypto.pbkdf2); pbkdf2Sync under loop-blocking",
    ),
    (
        "file",
        "read a file of file_bytes bytes through the pool (fs.readFile)",
    ),
    ("net", "a fixed 12-byte body, no pool (lab serve's hello)"),
    (
        "web",
        "a mix: hello 8, hash 1, file 1 (lab serve's default mix)",
    ),
];

/// The runtimes a sweep can run points on.
const RUNTIMES: [(&str, &str); 3] = [
    (
        "looplab",
        "looplab's Rust model of Node's loop, pool, workers and cluster",
    ),
    (
        "node",
        "real Node.js 20 running each point's twin (node/point.js)",
    ),
    (
        "command",
        "your own server, started from the sweep's command (README: bring your own app)",
    ),
];

/// The cost profiles looplab's points can charge.
const COSTS: [(&str, &str); 3] = [
    ("native", "nothing charged: looplab's own costs"),
    (
        "node",
        "costs/node.toml: Node's CPU per event, measured by lab calibrate --costs",
    ),
    (
        "FILE",
        "a profile file written by lab calibrate --costs --out FILE",
    ),
];

fn list(args: &ListArgs) -> Result<()> {
    let strategies = Strategy::ALL.map(|s| (s.name(), s.help()));
    let serve_only: Vec<(&str, &str)> = looplab_workloads::serve::WORKLOAD_HELP
        .into_iter()
        .filter(|(name, _)| !["hash", "file"].contains(name))
        .collect();
    let groups: [(&str, &[(&str, &str)]); 7] = [
        ("runtime", &RUNTIMES[..]),
        ("costs", &COSTS[..]),
        ("strategy", &strategies[..]),
        ("workload", &SWEEP_WORKLOADS[..]),
        ("serve kind", &serve_only[..]),
        ("experiment", &EXPERIMENTS[..]),
        ("bench", &BENCHES[..]),
    ];
    if args.json {
        let rows: Vec<serde_json::Value> = groups
            .iter()
            .flat_map(|(kind, rows)| {
                rows.iter()
                    .map(move |(name, what)| serde_json::json!({"kind": kind, "name": name, "what": what}))
            })
            .collect();
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        print!("{}", output::list(&groups));
    }
    Ok(())
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Bench name (see `lab list`).
    name: String,
    /// Operations.
    #[arg(long)]
    n: Option<u64>,
    /// Items in flight (pool-roundtrip) or concurrent reads (fs-read).
    #[arg(long, alias = "concurrency")]
    inflight: Option<u64>,
    /// Pool threads (1..=1024).
    #[arg(long)]
    pool: Option<usize>,
    /// PBKDF2 iterations.
    #[arg(long)]
    iterations: Option<u64>,
    /// PBKDF2 key length.
    #[arg(long)]
    keylen: Option<usize>,
    /// Repetitions of single-shot benches.
    #[arg(long)]
    runs: Option<usize>,
    /// File size in bytes (fs-read).
    #[arg(long)]
    size: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[arg(long, value_name = "native|node|FILE", help = crate::costs_flag::HELP)]
    costs: Option<String>,
}

#[derive(Args, Debug)]
struct CostProbeArgs {
    /// timer, immediate, tick, microtask, pool or worker.
    probe: String,
    /// Events (0: the empty run).
    #[arg(long, default_value_t = 10_000)]
    n: u64,
    /// A cost profile file to charge while probing.
    #[arg(long)]
    costs: Option<String>,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => default_run(),
        Some(Command::Experiment(args)) => experiment(&args),
        Some(Command::Bench(args)) => run_bench(&args),
        Some(Command::Serve(args)) => crate::serve_cmd::run(&args),
        Some(Command::Load(args)) => crate::load_cmd::run(&args),
        Some(Command::Sweep(args)) => crate::sweep::run(&args),
        Some(Command::Merge(args)) => crate::merge::run(&args),
        Some(Command::Baseline(args)) => crate::check_cmd::baseline(&args),
        Some(Command::Check(args)) => crate::check_cmd::check(&args),
        Some(Command::Instructions(args)) => crate::instructions_cmd::run(&args),
        Some(Command::Report(args)) => crate::report_cmd::run(&args),
        Some(Command::Scenario(args)) => crate::scenario_cmd::run(&args),
        Some(Command::Calibrate(args)) => crate::scenario_cmd::calibrate(&args),
        Some(Command::Point(args)) => crate::point::run(&args),
        Some(Command::CostProbe(args)) => cost_probe(&args),
        Some(Command::List(args)) => list(&args),
        Some(Command::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "lab", &mut std::io::stdout());
            Ok(())
        }
        Some(Command::Man) => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

/// The flags each experiment takes (a flag it would ignore is refused).
fn experiment_flags(name: &str) -> &'static [&'static str] {
    match name {
        "classic" => &["out", "json"],
        "staircase" => &["pool", "calls", "iterations", "keylen", "json"],
        "multitask" => &["pool", "iterations", "keylen", "json"],
        "ordering" => &["json"],
        "cluster" => &["policy", "work", "duration", "json"],
        "workers" => &["work", "iterations", "json"],
        _ => &[],
    }
}

fn experiment(args: &ExperimentArgs) -> Result<()> {
    let mut names = vec!["classic"];
    names.extend(EXPERIMENTS.map(|e| e.0));
    known("experiment", &args.name, &names)?;
    let given = [
        ("pool", args.pool.is_some()),
        ("calls", args.calls.is_some()),
        ("iterations", args.iterations.is_some()),
        ("keylen", args.keylen.is_some()),
        ("policy", args.policy.is_some()),
        ("work", args.work.is_some()),
        ("duration", args.duration.is_some()),
        ("json", args.json),
        ("out", args.out.is_some()),
    ];
    strict(
        "experiment",
        &args.name,
        &given,
        experiment_flags(&args.name),
    )?;
    let report = match args.name.as_str() {
        "classic" => return classic(args.out.as_deref(), args.json),
        "staircase" | "multitask" => pool_experiment(args)?,
        "ordering" => ordering()?,
        "workers" | "cluster" => process_experiment(args)?,
        other => bail!(
            "unknown experiment `{other}`; choose one of: {}",
            EXPERIMENTS.map(|e| e.0).join(", ")
        ),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&output::experiment_json(&report))?
        );
    } else {
        print!("{}", output::experiment_text(&report));
    }
    Ok(())
}

/// The staircase or multitask, on a pool of `--pool` threads (else as libuv sizes it).
fn pool_experiment(args: &ExperimentArgs) -> Result<ExperimentReport> {
    let pool = args.pool.unwrap_or_else(size_from_env);
    if args.name == "staircase" {
        let d = StaircaseConfig::default();
        return Ok(staircase(&StaircaseConfig {
            pool,
            calls: args.calls.unwrap_or(d.calls),
            iterations: args.iterations.unwrap_or(d.iterations),
            keylen: args.keylen.unwrap_or(d.keylen),
        })?);
    }
    let d = MultitaskConfig::default();
    Ok(multitask(&MultitaskConfig {
        pool,
        iterations: args.iterations.unwrap_or(d.iterations),
        keylen: args.keylen.unwrap_or(d.keylen),
    })?)
}

/// The workers or cluster experiment, which start this program again as their workers.
fn process_experiment(args: &ExperimentArgs) -> Result<ExperimentReport> {
    let lab = std::env::current_exe().context("find the lab executable")?;
    let work_ms = duration_flag("work", args.work.as_deref())?.map(|d| d.as_millis() as u64);
    if args.name == "workers" {
        let d = WorkersExperimentConfig::default();
        let config = WorkersExperimentConfig {
            work_ms: work_ms.unwrap_or(d.work_ms),
            pool_hash_iterations: args.iterations.unwrap_or(d.pool_hash_iterations),
        };
        return Ok(workers(&lab, &config)?);
    }
    let d = ClusterExperimentConfig::default();
    let config = ClusterExperimentConfig {
        policy: args.policy.clone().unwrap_or(d.policy),
        work_ms: work_ms.unwrap_or(d.work_ms),
        seconds: duration_flag("duration", args.duration.as_deref())?
            .map_or(d.seconds, |d| d.as_secs_f64()),
        children: d.children,
    };
    Ok(cluster(&lab, &config)?)
}

/// A duration flag's value in the lab's one grammar (humantime: `100ms`, `3s`), if given.
fn duration_flag(flag: &str, value: Option<&str>) -> Result<Option<std::time::Duration>> {
    value
        .map(|text| {
            looplab_workloads::load::parse_duration(text)
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
        })
        .transpose()
}

/// The flags each bench takes beyond `--json` and `--costs` (a flag it would ignore is
/// refused).
fn bench_flags(name: &str) -> &'static [&'static str] {
    match name {
        "pool-roundtrip" => &["n", "inflight", "pool"],
        "timers" | "immediates" | "ticks" => &["n"],
        "pbkdf2" => &["iterations", "keylen", "runs"],
        "fs-read" => &["n", "inflight", "pool", "size"],
        _ => &[],
    }
}

fn run_bench(args: &BenchArgs) -> Result<()> {
    known("bench", &args.name, &BENCHES.map(|b| b.0))?;
    let given = [
        ("n", args.n.is_some()),
        ("inflight", args.inflight.is_some()),
        ("pool", args.pool.is_some()),
        ("iterations", args.iterations.is_some()),
        ("keylen", args.keylen.is_some()),
        ("runs", args.runs.is_some()),
        ("size", args.size.is_some()),
    ];
    strict("bench", &args.name, &given, bench_flags(&args.name))
        .map_err(|e| anyhow::anyhow!("{e} (and --json, --costs)"))?;
    let d = BenchParams::defaults(&args.name);
    let params = BenchParams {
        n: args.n.unwrap_or(d.n),
        inflight: args.inflight.unwrap_or(d.inflight),
        pool: args.pool.unwrap_or(d.pool),
        iterations: args.iterations.unwrap_or(d.iterations),
        keylen: args.keylen.unwrap_or(d.keylen),
        runs: args.runs.unwrap_or(d.runs),
        size: args.size.unwrap_or(d.size),
    };
    crate::costs_flag::install(args.costs.as_deref())?;
    let result = bench::run(&args.name, &params).with_context(|| format!("bench {}", args.name))?;
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print!("{}", output::bench_text(&result));
    }
    Ok(())
}

/// `lab cost-probe PROBE --n N [--costs FILE]`: one probe, its JSON on stdout.
fn cost_probe(args: &CostProbeArgs) -> Result<()> {
    if let Some(file) = &args.costs {
        let profile = looplab_reports::store::costs::CostProfile::read(Path::new(file))?;
        profile.table().install()?;
    }
    let result = looplab_workloads::costs_probe::probe(&args.probe, args.n)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// `lab` alone: the default sweep, into a new folder under `lab-results/`.
fn default_run() -> Result<()> {
    crate::sweep::run(&crate::sweep::SweepArgs::default())
}

/// `lab experiment classic`: the recorded set (the staircase at pools 1, 2 and 4, multitask at
/// pools 1 to 5, each until it has Node's shape, at most three times) and ordering, each
/// printed, then a summary; `--out DIR` writes the recorded set to `DIR/experiments.json`.
fn classic(out: Option<&Path>, json: bool) -> Result<()> {
    let recorded = recorded::record()?;
    let mut reports: Vec<ExperimentReport> = recorded
        .iter()
        .flat_map(|a| a.runs.iter().map(|run| run.report.clone()))
        .collect();
    reports.push(ordering()?);
    let recorded_at = match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            check_owner(dir)?;
            let _lock = FolderLock::acquire(dir)?;
            write_experiments(dir, &ExperimentsFile::of(&recorded))?;
            Some(dir.join(EXPERIMENTS_FILE))
        }
        None => None,
    };
    let mismatches = reports.iter().filter(|r| !r.matches_node()).count();
    if json {
        let value = serde_json::json!({
            "experiments": reports.iter().map(output::experiment_json).collect::<Vec<_>>(),
            "runs": reports.len(),
            "mismatches": mismatches,
            "recorded": recorded_at.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string(&value)?);
    } else {
        for report in &reports {
            println!("{}", output::experiment_text(report));
        }
        print!("{}", output::summary(&reports));
        if let Some(path) = &recorded_at {
            println!("recorded: {}", path.display());
        }
    }
    if mismatches > 0 {
        eprintln!("lab: {mismatches} experiment run(s) did not have Node's shape (see above)");
    }
    Ok(())
}

/// Refuses a name that is not one of `names`, suggesting the closest (as clap does for flags).
fn known(what: &str, name: &str, names: &[&str]) -> Result<()> {
    if names.contains(&name) {
        return Ok(());
    }
    let close =
        output::closest(name, names).map_or(String::new(), |n| format!("did you mean `{n}`? "));
    bail!(
        "unknown {what} `{name}`; {close}choose one of: {}",
        names.join(", ")
    )
}

/// Refuses a flag given to a `what` (experiment or bench) called `name` that does not use it.
fn strict(what: &str, name: &str, given: &[(&str, bool)], takes: &[&str]) -> Result<()> {
    let ignored: Vec<String> = given
        .iter()
        .filter(|(flag, set)| *set && !takes.contains(flag))
        .map(|(flag, _)| format!("--{flag}"))
        .collect();
    if ignored.is_empty() {
        return Ok(());
    }
    let takes = if takes.is_empty() {
        "no flags".to_string()
    } else {
        takes
            .iter()
            .map(|f| format!("--{f}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "lab {what} {name} does not use {}; it takes {takes}",
        ignored.join(", ")
    )
}
