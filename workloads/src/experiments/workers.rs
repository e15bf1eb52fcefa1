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

use looplab_runtime::worker::{self, Worker};
use looplab_runtime::{crypto, RunMode};

use super::child::{timed_get, ServerProcess};
use super::cluster::calibrate_iterations;
use super::{
    loop_with_timeline, ms_since, waves, Completion, ExperimentError, ExperimentReport, ShapeCheck,
};

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

/// Latency of `/hello` sent 50 ms after a slow `/hash-sync`, under `strategy`.
fn fast_latency(
    lab: &Path,
    strategy: &str,
    iterations: u64,
) -> Result<(Duration, Duration), ExperimentError> {
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
        Err(ExperimentError::Incomplete {
            missing: 1,
            detail: "the slow request's thread panicked".into(),
        })
    });
    server.stop();
    Ok((fast?, slow?))
}

/// Main loop and one worker, 2 async hashes each, on one pool of 2 threads.
fn shared_pool(
    config: &WorkersExperimentConfig,
) -> Result<(Vec<Completion>, Vec<usize>), ExperimentError> {
    let (pool, lp) = loop_with_timeline(2)?;
    let log: Rc<RefCell<Vec<Completion>>> = Rc::default();
    let start = Instant::now();
    for n in 1..=2 {
        let log = Rc::clone(&log);
        crypto::pbkdf2(
            &lp,
            b"a",
            b"b",
            config.pool_hash_iterations,
            64,
            move |_, _| {
                log.borrow_mut().push(Completion {
                    label: format!("main#{n}"),
                    ms: ms_since(start),
                    thread: "main loop".into(),
                    note: String::new(),
                });
            },
        )?;
    }
    let iterations = config.pool_hash_iterations;
    let child = Worker::spawn(&lp, "hasher", move |lp, port| {
        for n in 1..=2u32 {
            let port = port.clone();
            // Checked by the main loop's identical calls above.
            let _ = crypto::pbkdf2(lp, b"a", b"b", iterations, 64, move |_, _| {
                let _ = port.post((n, ms_since(start)));
            });
        }
    })?;
    let worker_log = Rc::clone(&log);
    child.on_message(&lp, move |_, message| {
        if let Ok((n, ms)) = worker::downcast::<(u32, f64)>(message) {
            worker_log.borrow_mut().push(Completion {
                label: format!("worker#{n}"),
                ms,
                thread: "worker loop".into(),
                note: String::new(),
            });
        }
    });
    lp.run(RunMode::Default);
    if let Some(startup) = child.startup() {
        log.borrow_mut().push(Completion {
            label: "worker start-up (spawn to online)".into(),
            ms: startup.as_secs_f64() * 1e3,
            thread: "worker loop".into(),
            note: "Node: a full isolate bootstrap, ~138 ms on the loaded reference box".into(),
        });
    }
    let timeline = pool.take_timeline();
    let wave = waves(&timeline);
    let mut sizes = vec![0; wave.iter().copied().max().unwrap_or(0)];
    for w in &wave {
        sizes[w - 1] += 1;
    }
    Ok((log.take(), sizes))
}

/// Runs both parts with the `lab` executable at `lab`.
pub fn workers(
    lab: &Path,
    config: &WorkersExperimentConfig,
) -> Result<ExperimentReport, ExperimentError> {
    super::in_range(
        "work-ms",
        config.work_ms,
        (1, super::MAX_WORK_MS),
        "use 1..=60000 ms of work, like 500",
    )?;
    super::check_hash(config.pool_hash_iterations, 64)?;
    let iterations = calibrate_iterations(config.work_ms)?;
    let (fast_main, slow_main) = fast_latency(lab, "loop", iterations)?;
    let (fast_worker, slow_worker) = fast_latency(lab, "workers", iterations)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut completions = vec![
        Completion {
            label: "/hello during /hash-sync on the loop".into(),
            ms: ms(fast_main),
            thread: "main loop".into(),
            note: format!("the slow request took {:.0} ms", ms(slow_main)),
        },
        Completion {
            label: "/hello during /hash-sync in a worker".into(),
            ms: ms(fast_worker),
            thread: "worker thread".into(),
            note: format!("the slow request took {:.0} ms", ms(slow_worker)),
        },
    ];
    let (pool_completions, wave_sizes) = shared_pool(config)?;
    completions.extend(pool_completions);
    let worker_after_main = {
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
        first_worker > last_main
    };
    let checks = vec![
        ShapeCheck {
            rule: "with CPU work on the loop, a fast request waits for it".into(),
            holds: ms(fast_main) > 0.5 * ms(slow_main) - 50.0,
            observed: format!(
                "/hello took {:.0} ms of the slow request's {:.0} ms",
                ms(fast_main),
                ms(slow_main)
            ),
        },
        ShapeCheck {
            rule: "with the CPU work in a worker, the loop stays responsive".into(),
            holds: ms(fast_worker) < 0.25 * ms(slow_worker),
            observed: format!(
                "/hello took {:.1} ms while the worker hashed for {:.0} ms",
                ms(fast_worker),
                ms(slow_worker)
            ),
        },
        ShapeCheck {
            rule:
                "a worker's hashes queue behind the main loop's on the shared pool of 2: two waves"
                    .into(),
            holds: wave_sizes == [2, 2] && worker_after_main,
            observed: format!(
                "wave sizes {wave_sizes:?}; worker hashes after main's: {worker_after_main}"
            ),
        },
    ];
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
