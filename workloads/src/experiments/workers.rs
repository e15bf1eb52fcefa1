//! NODE_MODEL.md 5 (d) and 3: what worker threads buy, and what they share.
//!
//! 1. Responsiveness: a server answers `/hash-sync` (CPU work of about `work_ms`) either on its
//!    loop (`--strategy loop`, like counting on the main thread) or in a worker thread
//!    (`--strategy workers`). 50 ms after a slow request is sent, a `/hello` is sent; its
//!    latency shows whether the loop was free. Node: 10-13 ms with the worker, 684-869 ms when
//!    the main thread did the work.
//! 2. The shared pool: with a pool of 2 threads, the main loop and a worker each start 2 async
//!    hashes. The worker's loop submits to the same process pool, so its hashes queue behind the
//!    main loop's: two waves (Node, `UV_THREADPOOL_SIZE=2`: main 1278, 1279 | worker 2399, 2708).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use looplab_runtime::pool::wave_sizes;
use looplab_runtime::worker::{self, Worker};
use looplab_runtime::{crypto, EventLoop, RunMode};

use super::child::{timed_get, ServerProcess};
use super::cluster::calibrate_iterations;
use super::{loop_with_timeline, ms_since, waves, Completion, ExperimentReport, ShapeCheck};
use crate::error::WorkloadError;

/// Parameters of the workers experiment.
#[derive(Clone, Debug)]
pub struct WorkersExperimentConfig {
    /// Milliseconds of CPU work in the slow request.
    pub work_ms: u64,
    /// PBKDF2 iterations (64-byte key) of each hash in the shared-pool part.
    pub pool_hash_iterations: u64,
}

impl Default for WorkersExperimentConfig {
    fn default() -> Self {
        Self {
            work_ms: 500,
            pool_hash_iterations: 200_000,
        }
    }
}

/// What one strategy gave: `/hello`'s latency and the slow `/hash-sync`'s, in ms.
#[derive(Clone, Copy, Debug)]
struct Latency {
    fast_ms: f64,
    slow_ms: f64,
}

/// Latency of `/hello` sent 50 ms after a slow `/hash-sync`, under `strategy`.
fn fast_latency(lab: &Path, strategy: &str, iterations: u64) -> Result<Latency, WorkloadError> {
    let args: Vec<String> = [
        "--strategy",
        strategy,
        "--workers",
        "1",
        "--port",
        "0",
        "--workload",
        "hello",
        "--iterations",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([iterations.to_string()])
    .collect();
    let server = ServerProcess::start(lab, &args)?;
    let addr = server.addr.clone();
    let slow = std::thread::spawn(move || timed_get(&addr, "/hash-sync"));
    std::thread::sleep(Duration::from_millis(50));
    let fast = timed_get(&server.addr, "/hello");
    let slow = slow.join().unwrap_or_else(|_| {
        Err(WorkloadError::Incomplete {
            missing: 1,
            detail: "the slow request's thread panicked".into(),
        })
    });
    server.stop();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(Latency {
        fast_ms: ms(fast?),
        slow_ms: ms(slow?),
    })
}

/// Runs both parts with the `lab` executable at `lab`.
pub fn workers(
    lab: &Path,
    config: &WorkersExperimentConfig,
) -> Result<ExperimentReport, WorkloadError> {
    super::in_range(
        "work",
        config.work_ms,
        (1, super::MAX_WORK_MS),
        "use 1ms..=60s of work per request, like 500ms (a value is in whole milliseconds)",
    )?;
    super::check_hash(config.pool_hash_iterations, 64)?;
    let iterations = calibrate_iterations(config.work_ms)?;
    let on_loop = fast_latency(lab, "loop", iterations)?;
    let in_worker = fast_latency(lab, "workers", iterations)?;
    let mut completions = responsiveness_completions(on_loop, in_worker);
    let (pool_completions, wave_sizes) = shared_pool(config)?;
    completions.extend(pool_completions);
    let mut checks = responsiveness_checks(on_loop, in_worker);
    checks.push(shared_pool_check(&completions, &wave_sizes));
    Ok(ExperimentReport {
        experiment: "workers".into(),
        params: vec![
            ("work_ms", config.work_ms.to_string()),
            ("hash_sync_iterations", iterations.to_string()),
            (
                "pool_hash_iterations",
                config.pool_hash_iterations.to_string(),
            ),
        ],
        completions,
        checks,
    })
}

/// Part 1 as completions: `/hello` with the work on the loop, then in a worker.
fn responsiveness_completions(on_loop: Latency, in_worker: Latency) -> Vec<Completion> {
    vec![
        Completion {
            label: "/hello during /hash-sync on the loop".into(),
            ms: on_loop.fast_ms,
            thread: "main loop".into(),
            note: format!("the slow request took {:.0} ms", on_loop.slow_ms),
        },
        Completion {
            label: "/hello during /hash-sync in a worker".into(),
            ms: in_worker.fast_ms,
            thread: "worker thread".into(),
            note: format!("the slow request took {:.0} ms", in_worker.slow_ms),
        },
    ]
}

/// Part 1's shape: the loop's own CPU work delays `/hello`; a worker's does not.
fn responsiveness_checks(on_loop: Latency, in_worker: Latency) -> Vec<ShapeCheck> {
    vec![
        ShapeCheck {
            rule: "with CPU work on the loop, a fast request waits for it".into(),
            holds: on_loop.fast_ms > 0.5 * on_loop.slow_ms - 50.0,
            observed: format!(
                "/hello took {:.0} ms of the slow request's {:.0} ms",
                on_loop.fast_ms, on_loop.slow_ms
            ),
        },
        ShapeCheck {
            rule: "with the CPU work in a worker, the loop stays responsive".into(),
            holds: in_worker.fast_ms < 0.25 * in_worker.slow_ms,
            observed: format!(
                "/hello took {:.1} ms while the worker hashed for {:.0} ms",
                in_worker.fast_ms, in_worker.slow_ms
            ),
        },
    ]
}

/// Part 2's shape: two waves of 2, every worker hash after every main-loop hash.
fn shared_pool_check(completions: &[Completion], wave_sizes: &[usize]) -> ShapeCheck {
    let last_main = completions
        .iter()
        .filter(|c| c.label.starts_with("main#"))
        .map(|c| c.ms)
        .fold(0.0, f64::max);
    let first_worker = completions
        .iter()
        .filter(|c| c.label.starts_with("worker#"))
        .map(|c| c.ms)
        .fold(f64::MAX, f64::min);
    let worker_after_main = first_worker > last_main;
    ShapeCheck {
        rule: "a worker's hashes queue behind the main loop's on the shared pool of 2: two waves"
            .into(),
        holds: wave_sizes == [2, 2] && worker_after_main,
        observed: format!(
            "wave sizes {}; the worker's hashes finished {} the main loop's",
            super::list(wave_sizes),
            if worker_after_main { "after" } else { "before" }
        ),
    }
}

/// The shared-pool part's completions, in the order they happened.
type Log = Rc<RefCell<Vec<Completion>>>;

/// Main loop and one worker, 2 async hashes each, on one pool of 2 threads.
fn shared_pool(
    config: &WorkersExperimentConfig,
) -> Result<(Vec<Completion>, Vec<usize>), WorkloadError> {
    let (pool, lp) = loop_with_timeline(2)?;
    let log: Log = Rc::default();
    let start = Instant::now();
    main_hashes(&lp, config.pool_hash_iterations, &log, start)?;
    let child = worker_hashes(&lp, config.pool_hash_iterations, &log, start)?;
    lp.run(RunMode::Default);
    if let Some(startup) = child.startup() {
        log.borrow_mut().push(Completion {
            label: "worker start-up (spawn to online)".into(),
            ms: startup.as_secs_f64() * 1e3,
            thread: "worker loop".into(),
            note: "Node: a full isolate bootstrap, ~138 ms on the loaded reference box".into(),
        });
    }
    let sizes = wave_sizes(&waves(&pool.take_timeline()));
    Ok((log.take(), sizes))
}

/// The main loop's two hashes, logged as `main#1`, `main#2`.
fn main_hashes(
    lp: &EventLoop,
    iterations: u64,
    log: &Log,
    start: Instant,
) -> Result<(), WorkloadError> {
    for n in 1..=2 {
        let log = Rc::clone(log);
        crypto::pbkdf2(lp, b"a", b"b", iterations, 64, move |_, _| {
            log.borrow_mut().push(Completion {
                label: format!("main#{n}"),
                ms: ms_since(start),
                thread: "main loop".into(),
                note: String::new(),
            });
        })?;
    }
    Ok(())
}

/// A worker whose loop starts two hashes on the same pool and posts each completion back,
/// logged as `worker#1`, `worker#2`.
fn worker_hashes(
    lp: &EventLoop,
    iterations: u64,
    log: &Log,
    start: Instant,
) -> Result<Worker, WorkloadError> {
    let child = Worker::spawn(lp, "hasher", move |lp, port| {
        for n in 1..=2u32 {
            let port = port.clone();
            // Checked by the main loop's identical calls.
            let _ = crypto::pbkdf2(lp, b"a", b"b", iterations, 64, move |_, _| {
                let _ = port.post((n, ms_since(start)));
            });
        }
    })?;
    let worker_log = Rc::clone(log);
    child.on_message(lp, move |_, message| {
        if let Ok((n, ms)) = worker::downcast::<(u32, f64)>(message) {
            worker_log.borrow_mut().push(Completion {
                label: format!("worker#{n}"),
                ms,
                thread: "worker loop".into(),
                note: String::new(),
            });
        }
    });
    Ok(child)
}
