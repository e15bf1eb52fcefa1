//! The tokio reference: a multi-thread runtime of `threads` workers. Hash and file jobs go to
//! `spawn_blocking` (tokio's default blocking pool, `std::fs` inside), `HashSync` hashes inside
//! an async task (blocking that runtime worker, as a sync hash blocks a loop), a hello is a
//! trivial task. Each job notes its own completion time; the run then awaits every handle, so
//! nothing it spawned is still running when it returns. Dropping the engine shuts the runtime
//! down, which joins its worker and blocking threads.

use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::jobs::{self, Tally, Work};
use super::BatchReport;
use crate::error::WorkloadError;
use crate::experiments::io_err;
use crate::serve::Kind;

type Ended = (Instant, Result<(), String>);

pub(super) struct TokioEngine {
    runtime: Runtime,
}

impl TokioEngine {
    /// Starts the runtime's `threads` worker threads.
    pub fn new(threads: usize) -> Result<TokioEngine, WorkloadError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("batch-tokio")
            .build()
            .map_err(io_err("start the tokio runtime"))?;
        Ok(TokioEngine { runtime })
    }

    /// One batch of `jobs` jobs.
    pub fn run(&self, work: &Arc<Work>, jobs: u32) -> BatchReport {
        let start = Instant::now();
        let handles: Vec<JoinHandle<Ended>> = (0..jobs).map(|job| self.spawn(work, job)).collect();
        let ended = self.runtime.block_on(async move {
            let mut ended = Vec::with_capacity(handles.len());
            for handle in handles {
                ended.push(match handle.await {
                    Ok(done) => done,
                    Err(e) => (Instant::now(), Err(format!("a tokio task failed: {e}"))),
                });
            }
            ended
        });
        let end = Instant::now();
        let mut tally = Tally::new(start);
        for (at, outcome) in ended {
            tally.record(at, outcome);
        }
        tally.into_report(jobs, end, None, None)
    }

    fn spawn(&self, work: &Arc<Work>, job: u32) -> JoinHandle<Ended> {
        let work = Arc::clone(work);
        match work.kind(job) {
            Kind::Hello | Kind::Busy => self.runtime.spawn(async { (Instant::now(), Ok(())) }),
            Kind::HashSync => self.runtime.spawn(async move {
                let outcome = jobs::hash(work.iterations);
                (Instant::now(), outcome)
            }),
            Kind::Hash | Kind::File => self.runtime.spawn_blocking(move || {
                let outcome = work.run_here(job);
                (Instant::now(), outcome)
            }),
        }
    }
}
