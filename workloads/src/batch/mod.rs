//! Batch mode: submit N jobs at once to a strategy, run them to completion, and measure the
//! makespan, the throughput and every job's latency.
//!
//! ```
//! use looplab_workloads::batch::Batch;
//! use looplab_workloads::deploy::{Deployment, Kind, Strategy};
//!
//! let mix = vec![(Kind::Hello, 8), (Kind::Hash, 1), (Kind::File, 1)];
//! let spec = Deployment {
//!     hash_iterations: 1_000,
//!     file_bytes: 4096,
//!     ..Deployment::new(Strategy::Loop, mix)
//! };
//! let mut batch = Batch::new(&spec, 64)?;
//! let report = batch.run()?;
//! assert_eq!(report.completed, 64);
//! assert_eq!(report.latency_us.len(), 64);
//! let dir = batch.dir().to_path_buf();
//! drop(batch); // joins the pool threads, removes the files
//! assert!(!dir.exists());
//! # Ok::<(), looplab_workloads::error::WorkloadError>(())
//! ```
//!
//! Rules:
//! 1. A job is one unit of work of one [`Kind`]: `Hello` does nothing but complete, `Hash` and
//!    `HashSync` derive one PBKDF2-SHA512 key ([`HASH_KEYLEN`](crate::serve::HASH_KEYLEN)
//!    bytes, `hash_iterations` rounds), `File` reads a file of `file_bytes` bytes (after
//!    writing it, with [`FileMode::WriteThenRead`]) and checks its length. `Busy` needs a
//!    duration a batch spec does not carry, so it is refused. Job `i` takes the kind at
//!    `i mod total weight` of the mix expanded in order (weights 8:1:1 give 8 hellos, 1 hash
//!    and 1 file per 10 jobs), as `lab serve`'s mix does.
//! 2. Where a job runs is the strategy's business (any [`Strategy`] but `cluster`, which runs
//!    one batch per process); what it computes is the
//!    same everywhere.
//! 3. Every job is submitted at the batch start, in job order (on the loop as a script's top
//!    level would: work that belongs on the loop runs right as it is submitted, so what comes
//!    after it waits). A job's latency runs from the start to the job's own completion (on the
//!    loop: when its callback runs there; under tokio and rayon: when the job's code returns),
//!    so it includes all queueing. The makespan runs from the
//!    start until the run saw every job finished, so it is at least the largest latency.
//! 4. A job that fails (an I/O error, a wrong length, a worker that died) is counted in
//!    [`BatchReport::errors`] and is never a latency sample; `completed + errors == jobs`.
//! 5. [`Batch`] owns everything it starts: a private temp dir (`looplab-batch-*`) with the
//!    files, the libuv-style pool, the loop, worker threads, the tokio runtime or the rayon
//!    threads. Dropping it stops and joins those threads, then removes the dir; a failing
//!    [`Batch::new`] cleans up what it had made.

mod jobs;
mod on_loop;
mod on_rayon;
mod on_tokio;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use looplab_runtime::worker::{WorkerError, MAX_POOL_WORKERS};
use looplab_runtime::{crypto, ThreadPool};

pub use crate::deploy::FileMode;
use crate::deploy::{Deployment, Kind, Strategy};
use crate::error::WorkloadError;
use crate::experiments::io_err;
use jobs::Work;

/// The largest thread count accepted for the tokio and rayon references (the pool's limit).
pub const MAX_THREADS: usize = 1024;

/// Queue wait of the libuv-style pool tasks one batch submitted (a file read is 4 or more
/// tasks: open, fstat, reads, close).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolWait {
    /// Pool tasks completed in the batch; 0 when no job used the pool (then all figures are 0).
    pub tasks: u64,
    /// Mean time queued, microseconds.
    pub mean_us: f64,
    /// 99th percentile of time queued, microseconds (3 significant digits).
    pub p99_us: f64,
    /// Longest time queued, microseconds (3 significant digits).
    pub max_us: f64,
}

/// What one batch measured.
#[derive(Clone, Debug)]
pub struct BatchReport {
    /// Jobs submitted.
    pub jobs: u32,
    /// Jobs that finished without error.
    pub completed: u32,
    /// Jobs that failed.
    pub errors: u64,
    /// The first failure's message, if any job failed.
    pub first_error: Option<String>,
    /// From the batch start until every job had finished.
    pub makespan: Duration,
    /// Per completed job: microseconds from the batch start to its completion (3 significant
    /// digits, 1 µs to 1 hour).
    pub latency_us: Histogram<u64>,
    /// Event-loop utilization over this batch (loop strategies), `None` for tokio and rayon.
    pub loop_utilization: Option<f64>,
    /// Queue wait of this batch's pool tasks (loop strategies), `None` for tokio and rayon.
    pub pool_wait: Option<PoolWait>,
}

impl BatchReport {
    /// Completed jobs per second of makespan.
    pub fn throughput_per_s(&self) -> f64 {
        let secs = self.makespan.as_secs_f64();
        if secs > 0.0 {
            f64::from(self.completed) / secs
        } else {
            0.0
        }
    }
}

/// The strategy's machinery, started once and reused by every run.
enum Engine {
    // Boxed: the loop is large, and a batch holds one engine.
    Loop(Box<on_loop::LoopEngine>),
    Tokio(on_tokio::TokioEngine),
    Rayon(on_rayon::RayonEngine),
}

/// A prepared batch point: files written, threads started, ready to [`run`](Batch::run) any
/// number of times. Not `Send`: the loop strategies' loop belongs to the thread that made it,
/// so create, run and drop a batch on one thread.
pub struct Batch {
    // Field order is drop order: threads stop before the dir they may use is removed.
    engine: Engine,
    work: Arc<Work>,
    jobs: u32,
    strategy: Strategy,
    dir: tempfile::TempDir,
}

impl Batch {
    /// Checks `spec`, creates the temp dir and its files, and starts the strategy's threads;
    /// each [`run`](Batch::run) then submits `jobs` jobs.
    pub fn new(spec: &Deployment, jobs: u32) -> Result<Batch, WorkloadError> {
        validate(spec, jobs)?;
        spec.costs.install()?;
        let dir = crate::experiments::private_tempdir("looplab-batch-")
            .map_err(io_err("create a temp dir for the batch files"))?;
        let work = Arc::new(Work::new(spec, dir.path())?);
        let engine = match spec.strategy {
            Strategy::Loop | Strategy::LoopBlocking | Strategy::Workers => {
                Engine::Loop(Box::new(on_loop::LoopEngine::new(spec)?))
            }
            Strategy::Tokio => Engine::Tokio(on_tokio::TokioEngine::new(spec.threads)?),
            Strategy::Rayon => Engine::Rayon(on_rayon::RayonEngine::new(spec.threads)?),
            Strategy::Cluster => {
                return Err(WorkloadError::Param {
                    name: "strategy",
                    value: spec.strategy.name().into(),
                    hint: "a batch runs in one process; run a cluster batch as one batch per \
                           process, each with the loop strategy",
                })
            }
        };
        Ok(Batch {
            engine,
            work,
            jobs,
            strategy: spec.strategy,
            dir,
        })
    }

    /// Runs one batch of `spec.jobs` jobs to completion.
    pub fn run(&mut self) -> Result<BatchReport, WorkloadError> {
        let report = match &mut self.engine {
            Engine::Loop(engine) => engine.run(&self.work, self.jobs),
            Engine::Tokio(engine) => engine.run(&self.work, self.jobs),
            Engine::Rayon(engine) => engine.run(&self.work, self.jobs),
        };
        let ended = u64::from(report.completed) + report.errors;
        if ended < u64::from(self.jobs) {
            return Err(WorkloadError::Incomplete {
                missing: (u64::from(self.jobs) - ended) as usize,
                detail: format!("jobs of a {} batch", self.strategy.name()),
            });
        }
        Ok(report)
    }

    /// The private temp dir holding the batch's files (gone once the batch is dropped).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Checks the spec before anything starts.
fn validate(spec: &Deployment, jobs: u32) -> Result<(), WorkloadError> {
    ThreadPool::with_size(spec.pool)?;
    if spec.mix.iter().all(|&(_, weight)| weight == 0) {
        return Err(WorkloadError::Param {
            name: "mix",
            value: "empty".into(),
            hint: "give at least one kind a weight, like hello:8,hash:1,file:1",
        });
    }
    if spec
        .mix
        .iter()
        .any(|&(kind, w)| kind == Kind::Busy && w > 0)
    {
        return Err(WorkloadError::Param {
            name: "mix kind",
            value: "busy".into(),
            hint: "batch jobs are hello, hash, hash-sync or file (busy needs a duration a batch \
                   does not have)",
        });
    }
    if jobs == 0 {
        return Err(WorkloadError::Param {
            name: "jobs",
            value: "0".into(),
            hint: "submit at least 1 job per batch",
        });
    }
    crypto::pbkdf2_sync(b"a", b"b", spec.hash_iterations, 1)?;
    match spec.strategy {
        Strategy::Workers if !(1..=MAX_POOL_WORKERS).contains(&spec.workers) => {
            Err(WorkerError::PoolSize(spec.workers).into())
        }
        Strategy::Tokio | Strategy::Rayon if !(1..=MAX_THREADS).contains(&spec.threads) => {
            Err(WorkloadError::Param {
                name: "reference threads",
                value: spec.threads.to_string(),
                hint: "use 1 to 1024 threads, like the number of CPU cores",
            })
        }
        _ => Ok(()),
    }
}
