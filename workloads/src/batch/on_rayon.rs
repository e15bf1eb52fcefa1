//! The rayon reference: a pool of `threads` threads runs the batch as one parallel iteration
//! over the job indices, each job doing its work directly (`std::fs` for files) and noting its
//! own completion time.
//!
//! rayon's `ThreadPool` only signals its threads to stop when dropped, so the engine spawns them
//! itself (`spawn_handler`) and keeps their handles. Drop order:
//! 1. drop the rayon pool (its threads finish what they run and leave);
//! 2. join every thread.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use rayon::prelude::*;

use super::jobs::{Tally, Work};
use super::BatchReport;
use crate::error::WorkloadError;
use crate::experiments::io_err;

pub(super) struct RayonEngine {
    pool: Option<rayon::ThreadPool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl RayonEngine {
    /// Starts `threads` rayon threads.
    pub fn new(threads: usize) -> Result<RayonEngine, WorkloadError> {
        let handles: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let spawned = Arc::clone(&handles);
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("batch-rayon-{i}"))
            .spawn_handler(move |thread| {
                let mut builder = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    builder = builder.name(name.to_owned());
                }
                if let Some(size) = thread.stack_size() {
                    builder = builder.stack_size(size);
                }
                let handle = builder.spawn(move || thread.run())?;
                spawned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(handle);
                Ok(())
            })
            .build();
        match built {
            Ok(pool) => Ok(RayonEngine {
                pool: Some(pool),
                threads: handles,
            }),
            Err(e) => {
                // rayon terminates a half-built pool; join what it had started.
                join_all(&handles);
                Err(io_err("start the rayon pool")(std::io::Error::other(e)))
            }
        }
    }

    /// One batch of `jobs` jobs.
    pub fn run(&self, work: &Arc<Work>, jobs: u32) -> BatchReport {
        let start = Instant::now();
        let run_all = || -> Vec<(Instant, Result<(), String>)> {
            (0..jobs)
                .into_par_iter()
                .map(|job| {
                    let outcome = work.run_here(job);
                    (Instant::now(), outcome)
                })
                .collect()
        };
        let ended = match &self.pool {
            Some(pool) => pool.install(run_all),
            None => Vec::new(),
        };
        let end = Instant::now();
        let mut tally = Tally::new(start);
        for (at, outcome) in ended {
            tally.record(at, outcome);
        }
        tally.into_report(jobs, end, None, None)
    }
}

fn join_all(threads: &Mutex<Vec<JoinHandle<()>>>) {
    let handles: Vec<_> = threads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
        .collect();
    for handle in handles {
        // A rayon thread ends by returning; a panic in a job surfaced in `run` already.
        let _ = handle.join();
    }
}

impl Drop for RayonEngine {
    fn drop(&mut self) {
        drop(self.pool.take());
        join_all(&self.threads);
    }
}
