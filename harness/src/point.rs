//! `lab point` (hidden): one point of a sweep, in a process of its own, driven by the sweep
//! executor over stdin and stdout. Not for people: `lab sweep` starts it and talks to it.
//!
//! The protocol, one line each way, JSON from the point ([`Reply`]), plain words to it:
//! 1. The point starts its server (service mode) or prepares its batch (batch mode), then
//!    says `{"ready":{"addr":...}}` (the address in service mode, `null` in batch mode), or
//!    `{"error":"..."}` and exits 2.
//! 2. Service mode: `sample` answers `{"sample":{...}}`, what the serving loops did since the
//!    previous `sample` ([`LoopSample`]). The executor sends one when its measured window opens
//!    and one when it closes.
//! 3. Batch mode: `warmup MS` runs unmeasured batches for at least MS milliseconds (at least
//!    one batch when MS > 0) and answers `{"warmed":{"batches":N}}`; `run` runs one measured
//!    batch and answers `{"batch":{...}}` ([`BatchLine`]).
//! 4. `stop`, or the end of stdin (the executor is gone), ends the point: the server closes
//!    gracefully (cluster workers included) or the batch state is dropped; then the process
//!    exits 0. Every temp file lives in this process' own scratch folder and goes with it.
//!
//! A cluster point's workers are this same program re-executed with the same arguments; they
//! find their role through the cluster module and serve instead of reading stdin.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use looplab_runtime::cluster::{worker_role, SchedulingPolicy};
use looplab_workloads::batch::{Batch, BatchReport, BatchSpec, BatchStrategy, FileMode};
use looplab_workloads::serve::{
    serve, serve_cluster_worker, Kind, LoopSample, ServeSpec, ShutdownHandle, Strategy,
};
use serde::{Deserialize, Serialize};

/// How long a `sample` may take before the point is declared stuck.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

/// `lab point --spec JSON`.
#[derive(Args, Debug)]
pub struct PointArgs {
    /// The point, as the executor serialized it ([`ChildSpec`]).
    #[arg(long)]
    spec: String,
}

/// Service or batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildMode {
    /// An HTTP server, loaded from outside.
    Service,
    /// Batches of jobs, timed inside.
    Batch,
}

/// What one point process runs. Built by the executor from a plan point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildSpec {
    /// Service or batch.
    pub mode: ChildMode,
    /// `loop`, `loop-blocking`, `workers`, `cluster` (service only), `tokio`, `rayon` (batch only).
    pub strategy: String,
    /// Pool threads per process.
    pub pool: usize,
    /// Worker threads (`workers`).
    pub workers: usize,
    /// Worker processes (`cluster`, service mode).
    pub cluster: usize,
    /// How cluster workers share the port.
    pub policy: String,
    /// Threads of the `tokio` and `rayon` references.
    pub threads: usize,
    /// Kinds of work by weight: `hello`, `hash`, `file`.
    pub mix: Vec<(String, u32)>,
    /// PBKDF2 iterations per hash.
    pub hash_iterations: u64,
    /// Bytes per file job or request.
    pub file_bytes: usize,
    /// Jobs per batch.
    pub jobs: u32,
    /// Batch file jobs: `read`, or `write-read` (write a file, then read it back).
    pub file_mode: String,
}

/// One measured batch, as the point reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchLine {
    /// Jobs submitted.
    pub jobs: u32,
    /// Jobs that completed correctly.
    pub completed: u32,
    /// Jobs that failed or answered wrongly.
    pub errors: u64,
    /// First submission to last completion, seconds.
    pub makespan_s: f64,
    /// Per-job latency (µs), encoded by `looplab_reports::histogram`.
    pub histogram_base64: String,
    /// Event-loop utilization over the batch, where there is a loop.
    pub loop_utilization: Option<f64>,
    /// Pool tasks of the batch, where there is a libuv-style pool.
    pub pool_tasks: Option<u64>,
    /// Their mean queue wait, µs.
    pub pool_wait_mean_us: Option<f64>,
    /// Their 99th percentile queue wait, µs.
    pub pool_wait_p99_us: Option<f64>,
    /// Their longest queue wait, µs.
    pub pool_wait_max_us: Option<f64>,
}

/// A line from the point to the executor.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Ready; the address served (service mode).
    Ready {
        /// `127.0.0.1:PORT` in service mode.
        addr: Option<String>,
    },
    /// The serving loops since the previous sample.
    Sample(LoopSample),
    /// Warm-up done.
    Warmed {
        /// Unmeasured batches run.
        batches: u32,
    },
    /// A measured batch.
    Batch(BatchLine),
    /// Something failed; the text says what.
    Error(String),
}

/// Runs `lab point`.
pub fn run(args: &PointArgs) -> Result<()> {
    let spec: ChildSpec = serde_json::from_str(&args.spec)
        .context("`lab point` is started by `lab sweep`; its --spec was not valid")?;
    match spec.mode {
        ChildMode::Service => service(&spec),
        ChildMode::Batch => batch(&spec),
    }
}

fn say(reply: &Reply) {
    // The executor reads lines; one write per line, flushed, so lines never interleave.
    let mut line = serde_json::to_string(reply).unwrap_or_else(|e| {
        serde_json::to_string(&Reply::Error(format!("cannot encode a reply: {e}")))
            .unwrap_or_default()
    });
    line.push('\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

fn kinds(spec: &ChildSpec) -> Result<Vec<(Kind, u32)>> {
    spec.mix
        .iter()
        .map(|(name, weight)| {
            Kind::parse(name)
                .map(|kind| (kind, *weight))
                .ok_or_else(|| anyhow!("unknown kind of work `{name}`"))
        })
        .collect()
}

/// The serve strategy of a point.
fn serve_strategy(spec: &ChildSpec) -> Result<Strategy> {
    Ok(match spec.strategy.as_str() {
        "loop" => Strategy::Loop,
        "loop-blocking" => Strategy::LoopBlocking,
        "workers" => Strategy::Workers {
            workers: spec.workers,
        },
        "cluster" => Strategy::Cluster {
            children: spec.cluster,
            policy: Some(
                SchedulingPolicy::parse(&spec.policy)
                    .ok_or_else(|| anyhow!("unknown cluster policy `{}`", spec.policy))?,
            ),
            restart: false,
        },
        "tokio" => Strategy::Tokio {
            threads: spec.threads,
        },
        other => bail!("strategy `{other}` does not serve HTTP"),
    })
}

fn service(spec: &ChildSpec) -> Result<()> {
    let serve_spec = ServeSpec {
        mix: kinds(spec)?,
        strategy: serve_strategy(spec)?,
        pool: spec.pool,
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        hash_iterations: spec.hash_iterations,
        file_bytes: spec.file_bytes,
        busy_ms: 0,
    };
    if let Some(role) = worker_role() {
        serve_cluster_worker(&serve_spec, role)?;
        return Ok(());
    }
    let controller = std::thread::Builder::new().name("lab-point-control".into());
    let result = serve(&serve_spec, move |addr, handle| {
        say(&Reply::Ready {
            addr: Some(addr.to_string()),
        });
        // Reads commands until `stop` or the end of stdin; the thread ends with the process.
        if let Err(e) = controller.spawn(move || control_service(handle)) {
            say(&Reply::Error(format!(
                "cannot start the control thread: {e}"
            )));
        }
    });
    if let Err(e) = result {
        say(&Reply::Error(format!("{e}")));
        return Err(e.into());
    }
    Ok(())
}

fn control_service(handle: ShutdownHandle) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "sample" => match handle.sample(SAMPLE_TIMEOUT) {
                Ok(sample) => say(&Reply::Sample(sample)),
                Err(e) => say(&Reply::Error(format!("sample the loops: {e}"))),
            },
            "stop" => break,
            other => say(&Reply::Error(format!("unknown command `{other}`"))),
        }
    }
    handle.shutdown();
}

fn batch(spec: &ChildSpec) -> Result<()> {
    let strategy = match spec.strategy.as_str() {
        "loop" => BatchStrategy::Loop,
        "loop-blocking" => BatchStrategy::LoopBlocking,
        "workers" => BatchStrategy::Workers {
            workers: spec.workers,
        },
        "tokio" => BatchStrategy::Tokio {
            threads: spec.threads,
        },
        "rayon" => BatchStrategy::Rayon {
            threads: spec.threads,
        },
        other => bail!("strategy `{other}` has no batch mode in one process"),
    };
    let batch_spec = BatchSpec {
        strategy,
        pool: spec.pool,
        mix: kinds(spec)?,
        jobs: spec.jobs,
        hash_iterations: spec.hash_iterations,
        file_bytes: spec.file_bytes,
        file_mode: match spec.file_mode.as_str() {
            "read" => FileMode::Read,
            "write-read" => FileMode::WriteThenRead,
            other => bail!("unknown file mode `{other}`"),
        },
    };
    let mut batch = match Batch::new(&batch_spec) {
        Ok(batch) => batch,
        Err(e) => {
            say(&Reply::Error(format!("{e}")));
            return Err(e.into());
        }
    };
    say(&Reply::Ready { addr: None });
    // Commands come from a reader thread so that the batch runs on this (the main) thread.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("lab-point-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .context("start the stdin reader")?;
    while let Ok(line) = rx.recv() {
        let line = line.trim();
        if line == "stop" {
            break;
        } else if line == "run" {
            match batch.run() {
                Ok(report) => say(&batch_line(&report)),
                Err(e) => say(&Reply::Error(format!("{e}"))),
            }
        } else if let Some(ms) = line.strip_prefix("warmup ") {
            let Ok(ms) = ms.trim().parse::<u64>() else {
                say(&Reply::Error(format!("bad warm-up `{ms}`")));
                continue;
            };
            match warm_up(&mut batch, Duration::from_millis(ms)) {
                Ok(batches) => say(&Reply::Warmed { batches }),
                Err(e) => say(&Reply::Error(format!("{e}"))),
            }
        } else {
            say(&Reply::Error(format!("unknown command `{line}`")));
        }
    }
    Ok(())
}

/// Unmeasured batches until `time` has passed (none when it is zero).
fn warm_up(batch: &mut Batch, time: Duration) -> Result<u32> {
    let start = Instant::now();
    let mut batches = 0;
    while start.elapsed() < time {
        batch.run()?;
        batches += 1;
    }
    Ok(batches)
}

fn batch_line(report: &BatchReport) -> Reply {
    let histogram_base64 = match looplab_reports::histogram::encode(&report.latency_us) {
        Ok(text) => text,
        Err(e) => return Reply::Error(e),
    };
    Reply::Batch(BatchLine {
        jobs: report.jobs,
        completed: report.completed,
        errors: report.errors,
        makespan_s: report.makespan.as_secs_f64(),
        histogram_base64,
        loop_utilization: report.loop_utilization,
        pool_tasks: report.pool_wait.as_ref().map(|w| w.tasks),
        pool_wait_mean_us: report.pool_wait.as_ref().map(|w| w.mean_us),
        pool_wait_p99_us: report.pool_wait.as_ref().map(|w| w.p99_us),
        pool_wait_max_us: report.pool_wait.as_ref().map(|w| w.max_us),
    })
}
