//! `lab serve`: one HTTP workload on the runtime until Ctrl-C or SIGTERM, so any load tool
//! (wrk, oha, autocannon, `lab load`) can be pointed at it.
//!
//! Shutdown order: the first signal asks the server to close gracefully (stop accepting, finish
//! in-flight requests for up to 5 s); `serve` then returns, the scratch folder is removed and
//! the process exits 0. A second signal exits at once with 130. The graceful stop is registered
//! before the listening line is printed, so a caller may signal as soon as it reads it.
//!
//! A cluster whose workers fail makes `serve` return an error (exit 2, one line); see
//! `looplab_workloads::serve`'s cluster supervision. A non-loopback `--bind` gets a warning.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context, Result};
use clap::Args;
use looplab_runtime::cluster::{worker_role, SchedulingPolicy};
use looplab_runtime::pool::size_from_env;
use looplab_workloads::deploy::{Deployment, Kind, Strategy};
use looplab_workloads::serve::{parse_mix, serve, serve_cluster_worker, WORKLOAD_HELP};

use crate::scratch;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// hash, file, net, web (the sweep's names), or hello, hash-sync, busy, mix; net is
    /// hello, web is the default mix.
    #[arg(long, value_parser = workload_names())]
    workload: String,
    /// How the work uses the cores: loop (one event loop and its pool), loop-blocking (hashes
    /// on the loop), workers (CPU work in worker threads), cluster (worker processes) or tokio
    /// (a reference server on a tokio runtime).
    #[arg(long, default_value = "loop", value_parser = strategy_names())]
    strategy: String,
    /// Worker threads for --strategy workers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Tokio worker threads for --strategy tokio (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Worker processes for --strategy cluster (default: the number of cores).
    #[arg(long)]
    cluster: Option<usize>,
    /// How cluster workers share the port: rr (Node's default), none, reuseport.
    #[arg(long, value_parser = policy_names())]
    policy: Option<String>,
    /// Restart cluster workers that die (with back-off).
    #[arg(long)]
    restart: bool,
    /// Pool threads (1..=1024); default: UV_THREADPOOL_SIZE as libuv reads it, else 4.
    #[arg(long)]
    pool: Option<usize>,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind; loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// PBKDF2 iterations per hash request.
    #[arg(long, default_value_t = 10_000)]
    iterations: u64,
    /// Size in bytes of the file `/file` reads.
    #[arg(long, default_value_t = 65_536)]
    file_bytes: usize,
    /// Wall-clock time `/busy` spins on the loop (the course's doWork), like 100ms.
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    busy: String,
    /// Weights for `--workload mix`, like hello:8,hash:1,file:1.
    #[arg(long, default_value = "hello:8,hash:1,file:1")]
    mix: String,
    #[arg(long, value_name = "native|node|FILE", help = crate::costs_flag::HELP)]
    costs: Option<String>,
}

/// `--workload`'s choices: the sweep's names (hash, file, net, web), then serve's own.
fn workload_names() -> clap::builder::PossibleValuesParser {
    let sweep = ["hash", "file", "net", "web"];
    let own = WORKLOAD_HELP
        .map(|w| w.0)
        .into_iter()
        .filter(|w| !sweep.contains(w));
    clap::builder::PossibleValuesParser::new(sweep.into_iter().chain(own))
}

/// `--strategy`'s choices: the strategies that serve HTTP.
fn strategy_names() -> clap::builder::PossibleValuesParser {
    let serving = Strategy::ALL.into_iter().filter(|s| s.serves_http());
    clap::builder::PossibleValuesParser::new(serving.map(Strategy::name))
}

/// `--policy`'s choices (serve and the cluster experiment).
pub fn policy_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(SchedulingPolicy::ALL.map(SchedulingPolicy::name))
}

/// The deployment the flags describe.
fn deployment(args: &ServeArgs) -> Result<Deployment> {
    let Some(strategy) = Strategy::parse(&args.strategy).filter(|s| s.serves_http()) else {
        bail!(
            "unknown strategy `{}`; choose one of: loop, loop-blocking, workers, cluster, tokio",
            args.strategy
        );
    };
    let mix = match args.workload.as_str() {
        // The sweep's names, so a report point can be served by hand: net is hello, web the
        // default mix.
        "mix" | "web" => parse_mix(&args.mix).map_err(anyhow::Error::msg)?,
        "net" => vec![(Kind::Hello, 1)],
        name => match Kind::parse(name) {
            Some(kind) => vec![(kind, 1)],
            None => bail!(
                "unknown workload `{name}`; choose one of: hash, file, net, web, {}",
                WORKLOAD_HELP
                    .map(|w| w.0)
                    .into_iter()
                    .filter(|w| !["hash", "file"].contains(w))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let policy = match &args.policy {
        Some(name) => Some(SchedulingPolicy::parse(name).ok_or_else(|| {
            anyhow::anyhow!("unknown policy `{name}`; choose rr, none or reuseport")
        })?),
        None => None,
    };
    Ok(Deployment {
        pool: args.pool.unwrap_or_else(size_from_env),
        workers: args.workers,
        processes: args.cluster.unwrap_or(cores),
        threads: args.threads.unwrap_or(cores),
        policy,
        restart: args.restart,
        hash_iterations: args.iterations,
        file_bytes: args.file_bytes,
        busy_ms: looplab_workloads::load::parse_duration(&args.busy)
            .map_err(|e| anyhow::anyhow!("--busy: {e}"))?
            .as_millis() as u64,
        costs: crate::costs_flag::table(args.costs.as_deref())?,
        ..Deployment::new(strategy, mix)
    })
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let spec = deployment(args)?;
    if let (Strategy::Cluster, Some(role)) = (spec.strategy, worker_role()) {
        // This process is a cluster worker started by a `lab serve --strategy cluster` primary.
        serve_cluster_worker(&spec, role).context("lab serve cluster worker")?;
        return Ok(());
    }
    if !args.bind.is_loopback() {
        // Once, here: cluster workers returned above, so they do not repeat it.
        eprintln!(
            "lab serve: warning: --bind {} makes the server reachable from the network, not only \
             from this machine; use --bind 127.0.0.1 to keep it local",
            args.bind
        );
    }
    let detail = match spec.strategy {
        Strategy::Loop | Strategy::LoopBlocking | Strategy::Rayon => String::new(),
        Strategy::Tokio => format!(", {} tokio threads", spec.threads),
        Strategy::Workers => format!(", {} worker threads", spec.workers),
        Strategy::Cluster => format!(", {} processes", spec.processes),
    };
    let what = format!(
        "workload {}, strategy {}{detail}, pool {}",
        args.workload, args.strategy, spec.pool
    );
    let bind = SocketAddr::new(args.bind, args.port);
    let summary = serve(&spec, bind, move |addr, handle| {
        // The graceful stop first: whoever reads the line may signal at once.
        scratch::on_first_signal(move || handle.shutdown());
        let _ = writeln!(
            std::io::stdout(),
            "listening on http://{addr}/ ({what}); Ctrl-C stops"
        );
    })
    .with_context(|| format!("lab serve --workload {}", args.workload))?;
    let mut lines = summary.cluster.clone();
    lines.push(if spec.strategy == Strategy::Cluster {
        "stopped; every worker exited".to_string()
    } else {
        format!("stopped after {} requests", summary.requests)
    });
    // Whoever started us may have stopped reading (a closed pipe): that is not an error.
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    Ok(())
}
