//! The loop strategies: one [`EventLoop`] on a pool of its own, hashing on that pool (`loop`),
//! on the loop (`loop-blocking`) or in worker threads (`workers`); files always through the
//! pool, trip by trip as Node does them.
//!
//! A run, in order:
//! 1. snapshot the loop's utilization and pool metrics;
//! 2. submit every job, as a Node script's top level would: pool work is queued, work that
//!    belongs on the loop (`HashSync`, and every hash under `loop-blocking`) runs right there,
//!    in job order, and a hello is an immediate;
//! 3. run the loop until nothing is left (idle workers do not keep it alive);
//! 4. the differences of the snapshots are the batch's utilization and pool wait.
//!
//! Shutdown (drop): close the worker pool and run the loop until every worker has exited and
//! been joined; then the loop and, with its last handle, the pool threads go.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use looplab_runtime::worker::{self, Message, WorkerPool};
use looplab_runtime::{crypto, fs, EventLoop, RunMode, ThreadPool};

use super::jobs::{self, check_len, pool_wait_between, Tally, Work, PASSWORD, SALT};
use super::BatchReport;
use crate::deploy::{Deployment, FileMode, Strategy};
use crate::error::WorkloadError;
use crate::experiments::io_err;
use crate::serve::{Kind, HASH_KEYLEN};

/// Where the hashes of a loop strategy run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hashing {
    /// `Hash` on the pool, `HashSync` on the loop.
    Pool,
    /// Every hash on the loop.
    OnLoop,
    /// Every hash in a worker thread.
    Workers,
}

/// A worker's task: one hash of this many iterations.
struct HashTask {
    iterations: u64,
}

/// The worker threads' handler: answers a [`HashTask`] with `Result<(), String>`.
fn hash_task(task: Message) -> Message {
    let outcome = match worker::downcast::<HashTask>(task) {
        Ok(task) => jobs::hash(task.iterations),
        Err(_) => Err("a worker was sent something that is not a hash task".to_string()),
    };
    worker::message(outcome)
}

type Shared = Rc<RefCell<Tally>>;

fn finish(tally: &Shared, outcome: Result<(), String>) {
    tally.borrow_mut().record(Instant::now(), outcome);
}

pub(super) struct LoopEngine {
    // Dropped (after `Drop::drop` closed it) before the loop its workers belong to.
    workers: Option<WorkerPool>,
    lp: EventLoop,
    hashing: Hashing,
}

impl LoopEngine {
    /// The loop on a pool of `spec.pool` threads, and the worker threads if the strategy
    /// has them (each run once, so none starts up inside a measured batch).
    pub fn new(spec: &Deployment) -> Result<LoopEngine, WorkloadError> {
        let pool = ThreadPool::with_size(spec.pool)?;
        let lp = EventLoop::with_pool(pool).map_err(io_err("create the event loop"))?;
        let (hashing, workers) = match spec.strategy {
            Strategy::Workers => (
                Hashing::Workers,
                Some(WorkerPool::new(&lp, spec.workers, hash_task)?),
            ),
            Strategy::LoopBlocking => (Hashing::OnLoop, None),
            _ => (Hashing::Pool, None),
        };
        let engine = LoopEngine {
            workers,
            lp,
            hashing,
        };
        engine.warm_up()?;
        Ok(engine)
    }

    /// Starts the loop's utilization clock and gives every worker one tiny task.
    fn warm_up(&self) -> Result<(), WorkloadError> {
        let answered: Rc<RefCell<Vec<Result<(), String>>>> = Rc::default();
        if let Some(workers) = &self.workers {
            for _ in 0..workers.size() {
                let answered = Rc::clone(&answered);
                workers.run(&self.lp, HashTask { iterations: 1 }, move |_, reply| {
                    answered.borrow_mut().push(worker_outcome(reply));
                })?;
            }
        }
        self.lp.run(RunMode::Default);
        let answered = answered.take();
        let expected = self.workers.as_ref().map_or(0, WorkerPool::size);
        match answered.iter().find_map(|a| a.as_ref().err()) {
            Some(e) => Err(WorkloadError::Incomplete {
                missing: 1,
                detail: format!("a worker failed its warm-up task: {e}"),
            }),
            None if answered.len() < expected => Err(WorkloadError::Incomplete {
                missing: expected - answered.len(),
                detail: "warm-up tasks of the worker threads".into(),
            }),
            None => Ok(()),
        }
    }

    /// One batch of `jobs` jobs.
    pub fn run(&self, work: &Work, jobs: u32) -> BatchReport {
        let before_elu = self.lp.utilization();
        let before = self.lp.metrics();
        let start = Instant::now();
        let tally: Shared = Rc::new(RefCell::new(Tally::new(start)));
        for job in 0..jobs {
            self.submit(work, job, &tally);
        }
        self.lp.run(RunMode::Default);
        let end = Instant::now();
        let elu = self.lp.utilization().since(&before_elu).utilization;
        let pool_wait = pool_wait_between(&before, &self.lp.metrics());
        // Every callback has run; a late one would only count into the fresh tally.
        let tally = tally.replace(Tally::new(start));
        tally.into_report(jobs, end, Some(elu), Some(pool_wait))
    }

    fn submit(&self, work: &Work, job: u32, tally: &Shared) {
        let lp = &self.lp;
        let tally = Rc::clone(tally);
        match (work.kind(job), self.hashing) {
            (Kind::Hello | Kind::Busy, _) => {
                lp.set_immediate(move |_| finish(&tally, Ok(())));
            }
            (Kind::Hash | Kind::HashSync, Hashing::Workers) => self.hash_in_worker(work, tally),
            (Kind::Hash, Hashing::Pool) => {
                let failed = Rc::clone(&tally);
                let queued = crypto::pbkdf2(
                    lp,
                    PASSWORD,
                    SALT,
                    work.iterations,
                    HASH_KEYLEN,
                    move |_, key| finish(&tally, check_len("key", key.len(), HASH_KEYLEN)),
                );
                if let Err(e) = queued {
                    finish(&failed, Err(e.to_string()));
                }
            }
            (Kind::Hash | Kind::HashSync, _) => {
                let outcome = jobs::hash(work.iterations);
                finish(&tally, outcome);
            }
            (Kind::File, _) => submit_file(lp, work, job, tally),
        }
    }

    fn hash_in_worker(&self, work: &Work, tally: Shared) {
        let Some(workers) = &self.workers else {
            return finish(&tally, Err("no worker threads".into()));
        };
        let failed = Rc::clone(&tally);
        let task = HashTask {
            iterations: work.iterations,
        };
        let queued = workers.run(&self.lp, task, move |_, reply| {
            finish(&tally, worker_outcome(reply))
        });
        if let Err(e) = queued {
            finish(&failed, Err(e.to_string()));
        }
    }
}

/// What a worker's reply says about its task.
fn worker_outcome(reply: Result<Message, worker::WorkerError>) -> Result<(), String> {
    let message = reply.map_err(|e| e.to_string())?;
    worker::downcast::<Result<(), String>>(message)
        .unwrap_or_else(|_| Err("a worker answered with something that is not a result".into()))
}

/// A file job on the pool: `fs.readFile`, after `fs.writeFile` in write-then-read mode.
fn submit_file(lp: &EventLoop, work: &Work, job: u32, tally: Shared) {
    let path = work.file_path(job);
    let want = work.file_bytes;
    let read = move |lp: &EventLoop, path: std::path::PathBuf, tally: Shared| {
        fs::read_file(lp, path, move |_, bytes| {
            let outcome = bytes
                .map_err(|e| e.to_string())
                .and_then(|bytes| check_len("file", bytes.len(), want));
            finish(&tally, outcome);
        });
    };
    match work.mode {
        FileMode::Read => read(lp, path, tally),
        FileMode::WriteThenRead => fs::write_file(
            lp,
            path.clone(),
            work.payload(),
            move |lp, written| match written {
                Ok(()) => read(lp, path, tally),
                Err(e) => finish(&tally, Err(e.to_string())),
            },
        ),
    }
}

impl Drop for LoopEngine {
    fn drop(&mut self) {
        if let Some(workers) = &self.workers {
            workers.close(&self.lp);
            // Until every worker has exited and been joined.
            self.lp.run(RunMode::Default);
        }
    }
}
