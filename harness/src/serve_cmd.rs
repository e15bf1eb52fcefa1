//! `lab serve`: one HTTP workload on the runtime until Ctrl-C or SIGTERM, so any load tool
//! (wrk, oha, autocannon, `lab load`) can be pointed at it.
//!
//! Shutdown order: the first signal asks the server to close gracefully (stop accepting, finish
//! in-flight requests for up to 5 s); `serve` then returns, the scratch folder is removed and
//! the process exits 0. A second signal exits at once with 130.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context, Result};
use clap::Args;
use looplab_runtime::pool::size_from_env;
use looplab_workloads::serve::{parse_mix, serve, Kind, ServeSpec, WORKLOADS};

use crate::scratch;

/// Strategies `lab serve` can run today.
const STRATEGIES: [&str; 1] = ["loop"];

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// hello, hash, hash-sync, file, busy or mix.
    #[arg(long)]
    workload: String,
    /// How the work uses the cores; `loop` (one event loop and its pool) for now.
    #[arg(long, default_value = "loop")]
    strategy: String,
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
    /// Wall-clock milliseconds `/busy` spins on the loop (the course's doWork).
    #[arg(long, default_value_t = 100)]
    busy_ms: u64,
    /// Weights for `--workload mix`, like hello:8,hash:1,file:1.
    #[arg(long, default_value = "hello:8,hash:1,file:1")]
    mix: String,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    if !STRATEGIES.contains(&args.strategy.as_str()) {
        bail!(
            "strategy `{}` is not available in `lab serve` yet; available: {}",
            args.strategy,
            STRATEGIES.join(", ")
        );
    }
    let mix = match args.workload.as_str() {
        "mix" => parse_mix(&args.mix).map_err(anyhow::Error::msg)?,
        name => match Kind::parse(name) {
            Some(kind) => vec![(kind, 1)],
            None => bail!(
                "unknown workload `{name}`; choose one of: {}",
                WORKLOADS.join(", ")
            ),
        },
    };
    let spec = ServeSpec {
        mix,
        pool: args.pool.unwrap_or_else(size_from_env),
        bind: SocketAddr::new(args.bind, args.port),
        hash_iterations: args.iterations,
        file_bytes: args.file_bytes,
        busy_ms: args.busy_ms,
    };
    let summary = serve(&spec, |addr, handle| {
        println!(
            "listening on http://{addr}/ (workload {}, strategy {}, pool {}); Ctrl-C stops",
            args.workload, args.strategy, spec.pool
        );
        scratch::on_first_signal(move || handle.shutdown());
    })
    .with_context(|| format!("lab serve --workload {}", args.workload))?;
    println!("stopped after {} requests", summary.requests);
    Ok(())
}
