//! What `lab serve` serves: the HTTP workloads, under one of the strategies
//! ([`Strategy`](crate::deploy::Strategy)).
//!
//! Every server answers the same paths, so a client can ask for one kind of work by name:
//! `/hello` (fixed small body, no pool), `/hash` (one PBKDF2 on the pool, like `crypto.pbkdf2`),
//! `/hash-sync` (the same on the loop, like `pbkdf2Sync`), `/file` (read a file of S bytes through
//! the pool, like `fs.readFile`), `/busy` (the course's `doWork`: spin on the loop until a
//! wall-clock deadline, so its duration does not stretch when cores are shared). Any other path
//! gets the server's workload; for `mix` that is a weighted, deterministic rotation over those
//! kinds (weights 8:1:1 serve 8 hellos, 1 hash and 1 file read in every 10 requests). Under the
//! `workers` and `cluster` strategies every answer names who answered in `X-Worker`.
//!
//! Strategies: `loop` (one loop, its pool), `loop-blocking` (the same, but `/hash` runs on the
//! loop like `pbkdf2Sync`), `workers` (CPU work in worker threads), `cluster` (worker
//! processes), and `tokio`, a reference server on a tokio multi-thread runtime with the same
//! paths and bodies (`tokio_server`).
//!
//! # Measuring a window
//!
//! [`serve`] hands its caller a [`ShutdownHandle`]; from any other thread,
//! [`ShutdownHandle::sample`] returns a [`LoopSample`] of what the serving loops did since the
//! previous call: event-loop utilization, loop delay (a 10 ms `monitorEventLoopDelay`, started
//! when the server listens), pool tasks and their queue wait, requests answered. Call it once
//! when a measured window opens (discarding the result) and once when it closes. A cluster
//! primary asks each worker over the cluster IPC and merges their answers (`cluster_probe`);
//! the tokio server has no loop and reports only requests.
//!
//! ```
//! use std::time::Duration;
//! use looplab_workloads::deploy::{Deployment, Kind, Strategy};
//! use looplab_workloads::serve::serve;
//!
//! let spec = Deployment {
//!     pool: 2,
//!     hash_iterations: 1_000,
//!     file_bytes: 16,
//!     busy_ms: 1,
//!     ..Deployment::new(Strategy::Loop, vec![(Kind::Hello, 1)])
//! };
//! let summary = serve(&spec, "127.0.0.1:0".parse().unwrap(), |_addr, handle| {
//!     std::thread::spawn(move || {
//!         let sample = handle.sample(Duration::from_secs(10)).unwrap();
//!         assert_eq!((sample.loops, sample.requests), (1, 0));
//!         handle.shutdown();
//!     });
//! })
//! .unwrap();
//! assert_eq!(summary.requests, 0);
//! ```

mod app;
mod cluster;
mod cluster_probe;
mod cluster_watch;
mod handle;
mod probe;
mod tokio_http;
mod tokio_server;

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use looplab_runtime::http::{HttpServer, ServerOptions};
use looplab_runtime::worker::{WorkerPool, MAX_POOL_WORKERS};
use looplab_runtime::{AsyncHandle, AsyncSender, EventLoop, RunMode, ThreadPool};

pub use crate::deploy::Kind;
use crate::deploy::{Deployment, Strategy, MAX_PROCESSES};
use crate::error::WorkloadError;
use crate::experiments::{in_range, io_err, MAX_HASH_ITERATIONS, MAX_WORK_MS};
use app::App;
pub use cluster::serve_cluster_worker;
use handle::ProbeEndpoint;
pub use handle::ShutdownHandle;
pub use probe::LoopSample;
use probe::{LoopProbe, LoopWindow};

/// The body of `/hello`.
pub const HELLO_BODY: &str = "hello world\n";
/// Key length of the hash workloads; the body is its hex form.
pub const HASH_KEYLEN: usize = 32;

/// The workloads `lab serve --workload` accepts, and what each does.
pub const WORKLOAD_HELP: [(&str, &str); 6] = [
    ("hello", "a fixed 12-byte body, no pool"),
    ("hash", "one PBKDF2 per request on the pool (crypto.pbkdf2)"),
    ("hash-sync", "the same hash on the loop (pbkdf2Sync)"),
    (
        "file",
        "read a file of S bytes through the pool (fs.readFile)",
    ),
    (
        "busy",
        "spin on the loop until a wall-clock deadline (the course's doWork)",
    ),
    (
        "mix",
        "a weighted rotation over the kinds, like hello:8,hash:1,file:1",
    ),
];

/// What a server did, for its exit message.
#[derive(Clone, Debug, Default)]
pub struct ServeSummary {
    /// Requests answered by this process (0 for a cluster primary, which answers none).
    pub requests: u64,
    /// Cluster only: connections handed to each worker (round-robin), and exits seen.
    pub cluster: Vec<String>,
}

/// The course's `doWork(ms)`: spin until the wall clock says `ms` passed. Unlike a fixed amount
/// of CPU work, it takes `ms` however the cores are shared.
pub fn busy_wait(ms: u64) {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Largest file `/file` serves: 64 MiB. It is written once at start-up, and every request
/// in flight holds a copy while it is read.
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Largest weight of one kind in a mix: 1,000.
pub const MAX_MIX_WEIGHT: u32 = 1_000;
/// Largest sum of a mix's weights: 10,000 (the rotation holds one slot per unit of weight).
pub const MAX_MIX_TOTAL: u32 = 10_000;

/// Checks the spec before anything starts, against the bounds above and
/// [`MAX_HASH_ITERATIONS`](crate::experiments::MAX_HASH_ITERATIONS): no value is used to
/// allocate or hash before it passed here.
fn validate(spec: &Deployment) -> Result<(), WorkloadError> {
    let total: u64 = spec.mix.iter().map(|&(_, w)| u64::from(w)).sum();
    if total == 0 {
        return Err(WorkloadError::Param {
            name: "mix",
            value: "empty".into(),
            hint: "give at least one kind a weight, like hello:8,hash:1,file:1",
        });
    }
    let weight_hint = "give each kind a weight of 0..=1000, 10000 in all, like hello:8,hash:1";
    for &(kind, weight) in &spec.mix {
        let name = kind.name();
        if weight > MAX_MIX_WEIGHT {
            return Err(WorkloadError::Param {
                name: "mix weight",
                value: format!("{name}:{weight}"),
                hint: weight_hint,
            });
        }
    }
    in_range(
        "mix weights' sum",
        total,
        (1, MAX_MIX_TOTAL.into()),
        weight_hint,
    )?;
    in_range(
        "--file-bytes",
        spec.file_bytes as u64,
        (0, MAX_FILE_BYTES as u64),
        "use 0..=67108864 bytes (64 MiB), like 65536",
    )?;
    in_range(
        "--iterations",
        spec.hash_iterations,
        (1, MAX_HASH_ITERATIONS),
        "use 1..=10000000 iterations, like 10000",
    )?;
    in_range(
        "--busy",
        spec.busy_ms,
        (0, MAX_WORK_MS),
        "use 0ms..=60s, like 100ms (a value is in whole milliseconds)",
    )?;
    ThreadPool::with_size(spec.pool)?;
    validate_counts(spec)
}

/// The worker threads and processes of the strategy that has them, against their bounds.
fn validate_counts(spec: &Deployment) -> Result<(), WorkloadError> {
    match spec.strategy {
        Strategy::Workers => in_range(
            "--workers",
            spec.workers as u64,
            (1, MAX_POOL_WORKERS as u64),
            "use 1..=256 worker threads, like 2",
        )?,
        Strategy::Cluster => in_range(
            "--cluster",
            spec.processes as u64,
            (1, MAX_PROCESSES as u64),
            "use 1..=1024 worker processes, like the number of cores",
        )?,
        _ => 0,
    };
    Ok(())
}

/// The file `/file` serves, in a temp dir that lives as long as the returned guard.
fn served_file(spec: &Deployment) -> Result<(tempfile::TempDir, PathBuf), WorkloadError> {
    let dir = crate::experiments::private_tempdir("looplab-serve-")
        .map_err(io_err("create a temp dir"))?;
    let file = dir.path().join("served.bin");
    std::fs::write(&file, vec![b'x'; spec.file_bytes])
        .map_err(io_err(format!("write {}", file.display())))?;
    Ok((dir, file))
}

/// A loop on a pool of its own, and the application state with the file `/file` serves (in a
/// temp dir that lives as long as the returned guard).
fn app_on_loop(
    spec: &Deployment,
    tag: Option<String>,
) -> Result<(EventLoop, Rc<App>, tempfile::TempDir), WorkloadError> {
    let pool: Arc<ThreadPool> = ThreadPool::with_size(spec.pool)?;
    let lp = EventLoop::with_pool(pool).map_err(io_err("create the event loop"))?;
    let (dir, file) = served_file(spec)?;
    let offload = match spec.strategy {
        Strategy::Workers => Some(WorkerPool::new(&lp, spec.workers, app::run_cpu_task)?),
        _ => None,
    };
    let app = Rc::new(App {
        mix: spec
            .mix
            .iter()
            .flat_map(|&(kind, weight)| std::iter::repeat_n(kind, weight as usize))
            .collect(),
        next: Cell::new(0),
        iterations: spec.hash_iterations,
        busy_ms: spec.busy_ms,
        file,
        answered: Cell::new(0),
        tag,
        offload,
        hash_on_loop: spec.strategy == Strategy::LoopBlocking,
    });
    Ok((lp, app, dir))
}

/// An async handle other threads use (through the returned sender) to run `stop` once on the
/// loop; it closes itself after.
fn on_shutdown(lp: &EventLoop, stop: impl FnOnce(&EventLoop) + 'static) -> AsyncSender {
    let slot: Rc<Cell<Option<AsyncHandle>>> = Rc::default();
    let own = Rc::clone(&slot);
    let mut stop = Some(stop);
    let handle = lp.new_async(move |lp| {
        if let Some(stop) = stop.take() {
            stop(lp);
        }
        if let Some(h) = own.take() {
            h.close(lp, |_| {});
        }
    });
    let sender = handle.sender();
    slot.set(Some(handle));
    sender
}

/// Serves until shut down. `listening` is called once the socket is bound (for a cluster: once
/// every worker listens), on the thread that called `serve`, with the address and a handle that
/// stops the server and samples its loops (from other threads). In-flight requests get up to
/// 5 s to finish; everything the server started (loops, worker threads and processes, the tokio
/// runtime) has ended when `serve` returns.
pub fn serve(
    spec: &Deployment,
    bind: SocketAddr,
    listening: impl FnOnce(SocketAddr, ShutdownHandle) + 'static,
) -> Result<ServeSummary, WorkloadError> {
    validate(spec)?;
    spec.costs.install()?;
    match spec.strategy {
        Strategy::Cluster => return cluster::primary(spec, bind, listening),
        Strategy::Tokio => return tokio_server::serve_tokio(spec, bind, listening),
        Strategy::Rayon => {
            return Err(WorkloadError::Param {
                name: "strategy",
                value: spec.strategy.name().into(),
                hint: "rayon runs batch CPU work only; serve with loop, loop-blocking, workers, \
                       cluster or tokio",
            })
        }
        Strategy::Loop | Strategy::LoopBlocking | Strategy::Workers => {}
    }
    let tag = (spec.strategy == Strategy::Workers).then(|| "main".to_string());
    let (lp, app, _dir) = app_on_loop(spec, tag)?;
    let handler_app = Rc::clone(&app);
    let server = Rc::new(
        HttpServer::bind(&lp, bind, ServerOptions::default(), move |lp, req, res| {
            handler_app.handle(lp, req, res)
        })
        .map_err(io_err(
            "start the HTTP server (is the port free? --port 0 picks one)",
        ))?,
    );
    let addr = server
        .local_addr()
        .map_err(io_err("read the bound address"))?;
    let probe = LoopProbe::start(&lp, Rc::clone(&app));
    let answering = Rc::clone(&probe);
    let endpoint = Rc::new(ProbeEndpoint::open(&lp, move |lp, reply| {
        // The caller may have given up (timed out); nobody to tell then.
        let _ = reply.send(LoopWindow::merge(&[answering.window(lp)]));
    }));
    let (stopping, stopping_app, closing) =
        (Rc::clone(&server), Rc::clone(&app), Rc::clone(&endpoint));
    let stop = on_shutdown(&lp, move |lp| {
        stopping.close(lp, 5_000, |_| {});
        if let Some(pool) = &stopping_app.offload {
            pool.close(lp);
        }
        closing.close(lp);
        probe.stop(lp);
    });
    listening(addr, ShutdownHandle::for_loop(stop, &endpoint));
    lp.run(RunMode::Default);
    endpoint.close(&lp);
    Ok(ServeSummary {
        requests: app.answered.get(),
        cluster: Vec::new(),
    })
}

/// Parses `hello:8,hash:1,file:1` (or one workload name) into weights.
pub fn parse_mix(text: &str) -> Result<Vec<(Kind, u32)>, String> {
    text.split(',')
        .map(|part| {
            let (name, weight) = part.split_once(':').unwrap_or((part, "1"));
            let kind = Kind::parse(name.trim()).ok_or_else(|| {
                format!("unknown kind `{name}` in mix; use hello, hash, hash-sync, file or busy")
            })?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("weight `{weight}` of `{name}` is not a whole number"))?;
            Ok((kind, weight))
        })
        .collect()
}
