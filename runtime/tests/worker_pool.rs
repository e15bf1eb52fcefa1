//! Worker threads and pools of work, against NODE_MODEL.md section 3:
//!
//! - a worker's loop uses its parent's process pool: with 2 pool threads, 2 PBKDF2 from the
//!   main loop and then 2 from a worker run as two waves (`UV_THREADPOOL_SIZE=2` in
//!   `wt_pool.js`), the worker's hashes starting only as the main loop's finish;
//! - `WorkerPool` (piscina): N tasks on K workers, every answer back on the submitting loop,
//!   K distinct worker threads used, a panicking task fails alone, `close` ends every worker
//!   with code 0, and idle workers do not keep the loop alive;
//! - bad sizes and tasks after `close` are errors that say what to do.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use looplab_runtime::pool::{run_time_spread, waves, TaskRecord};
use looplab_runtime::worker::{self, downcast, Message, Worker, WorkerError, WorkerPool};
use looplab_runtime::{crypto, EventLoop, RunMode, ThreadPool};

fn watchdog(lp: &EventLoop) {
    let id = lp.set_timeout(60_000, |_| panic!("the test did not finish within 60 s"));
    lp.unref_timer(id);
}

/// Main submits 2 hashes, then a worker submits 2; returns the pool timeline (by submission)
/// and the names of the threads the worker's hash callbacks ran on.
fn main_then_worker_hashes() -> (Vec<TaskRecord>, Vec<String>) {
    let pool = ThreadPool::with_size(2).expect("valid size");
    pool.enable_timeline();
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    watchdog(&lp);
    let main_done = Rc::new(Cell::new(0));
    for _ in 0..2 {
        let d = main_done.clone();
        crypto::pbkdf2(&lp, b"a", b"b", 100_000, 64, move |_, _| d.set(d.get() + 1))
            .expect("valid arguments");
    }
    let worker = Worker::spawn(&lp, "hasher", |lp, port| {
        for _ in 0..2 {
            let reply = port.clone();
            crypto::pbkdf2(lp, b"a", b"b", 100_000, 64, move |_, key| {
                assert_eq!(key.len(), 64);
                let thread = std::thread::current().name().unwrap_or("").to_owned();
                reply.post(thread).expect("parent is listening");
            })
            .expect("valid arguments");
        }
    })
    .expect("spawn");
    let threads = Rc::new(RefCell::new(Vec::new()));
    let t = threads.clone();
    worker.on_message(&lp, move |_, msg| {
        t.borrow_mut()
            .push(downcast::<String>(msg).expect("a thread name"))
    });
    assert!(!lp.run(RunMode::Default));
    assert_eq!(main_done.get(), 2);
    assert_eq!(worker.exit_code(), Some(0));
    assert_eq!(
        pool.os_thread_ids().len(),
        2,
        "one set of pool threads for both loops"
    );
    let threads = threads.borrow().clone();
    (pool.take_timeline(), threads)
}

#[test]
fn a_worker_shares_the_process_pool_so_its_hashes_wait_for_the_main_loops() {
    // As in the pool's staircase test: FIFO facts hold on every run; the exact wave shape
    // needs both pool threads to hash at the same speed, which a busy 2-vCPU host can deny for
    // seconds, so it must show up within a bounded number of runs (a worker with a pool of its
    // own would never produce it).
    const ATTEMPTS: usize = 20;
    const BUDGET: Duration = Duration::from_secs(20);
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        if started.elapsed() > BUDGET {
            break;
        }
        let (timeline, threads) = main_then_worker_hashes();
        assert_eq!(timeline.len(), 4);
        assert_eq!(threads.len(), 2);
        assert!(
            threads.iter().all(|t| t.starts_with("worker-")),
            "the worker's callbacks ran on its own loop: {threads:?}"
        );
        // Submission order: seq 0 and 1 are the main loop's, 2 and 3 the worker's.
        let (main, work) = timeline.split_at(2);
        for (k, task) in work.iter().enumerate() {
            let finished = timeline
                .iter()
                .filter(|r| r.timing.finished <= task.timing.started)
                .count();
            assert!(
                finished > k,
                "worker hash {k} started when {finished} hashes had finished"
            );
            assert!(
                main.iter()
                    .any(|m| m.timing.finished <= task.timing.started),
                "worker hash {k} started while both main hashes ran"
            );
        }
        let wave = waves(&timeline);
        if wave == [1, 1, 2, 2] {
            return;
        }
        seen.push(format!(
            "{wave:?} (run times {:.1}x apart)",
            run_time_spread(&timeline)
        ));
    }
    panic!(
        "expected waves [1, 1, 2, 2] (main, main, worker, worker) in one of {} runs, got {}",
        seen.len(),
        seen.join(", ")
    );
}

/// A handler that squares a u64 and says which thread did it, taking a little time.
fn square(task: Message) -> Message {
    let n: u64 = downcast(task).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(2));
    let thread = std::thread::current().name().unwrap_or("").to_owned();
    worker::message((n * n, thread))
}

#[test]
fn a_worker_pool_runs_n_tasks_on_k_workers_and_closes() {
    const TASKS: u64 = 24;
    const WORKERS: usize = 3;
    let lp = EventLoop::new().expect("create loop");
    watchdog(&lp);
    let pool = WorkerPool::new(&lp, WORKERS, square).expect("valid size");
    assert_eq!(pool.size(), WORKERS);
    let results = Rc::new(RefCell::new(Vec::new()));
    for n in 0..TASKS {
        let (r, p) = (results.clone(), pool.clone());
        pool.run(&lp, n, move |lp, answer| {
            let answer = answer.expect("the task succeeded");
            let (square, thread): (u64, String) = downcast(answer).expect("(u64, String)");
            r.borrow_mut().push((n, square, thread));
            if r.borrow().len() == TASKS as usize {
                p.close(lp);
            }
        })
        .expect("the pool is open");
    }
    assert_eq!(
        pool.queued(),
        TASKS as usize - WORKERS,
        "one task per idle worker"
    );
    assert!(!lp.run(RunMode::Default));

    let results = results.borrow();
    assert_eq!(results.len(), TASKS as usize);
    assert!(results.iter().all(|(n, square, _)| n * n == *square));
    let threads: BTreeSet<&str> = results.iter().map(|(_, _, t)| t.as_str()).collect();
    let expected: BTreeSet<String> = pool
        .workers()
        .iter()
        .map(|w| format!("worker-{}", w.thread_id()))
        .collect();
    assert_eq!(threads.len(), WORKERS, "{threads:?}");
    assert!(threads.iter().all(|t| expected.contains(*t)), "{threads:?}");
    for w in pool.workers() {
        assert_eq!(w.exit_code(), Some(0), "closed workers end normally");
    }
    let err = pool.run(&lp, 1u64, |_, _| {}).expect_err("closed");
    assert!(matches!(err, WorkerError::PoolClosed), "{err}");
}

#[test]
fn a_panicking_task_fails_alone_and_idle_workers_do_not_keep_the_loop_alive() {
    let lp = EventLoop::new().expect("create loop");
    watchdog(&lp);
    let pool = WorkerPool::new(&lp, 1, |task| {
        let n: u64 = downcast(task).unwrap_or(0);
        assert!(n != 13, "unlucky task {n}");
        worker::message(n + 1)
    })
    .expect("valid size");
    let answers = Rc::new(RefCell::new(Vec::new()));
    for n in [12u64, 13, 14] {
        let a = answers.clone();
        pool.run(&lp, n, move |_, answer| {
            a.borrow_mut().push(match answer {
                Ok(value) => format!("{}", downcast::<u64>(value).unwrap_or(0)),
                Err(e) => e.to_string(),
            });
        })
        .expect("the pool is open");
    }
    // The pool is not closed: once idle, its worker no longer keeps the loop alive.
    assert!(!lp.run(RunMode::Default));
    let answers = answers.borrow();
    assert_eq!(answers[0], "13");
    assert!(answers[1].contains("unlucky task 13"), "{}", answers[1]);
    assert_eq!(answers[2], "15", "the same worker took the next task");
    assert_eq!(pool.workers()[0].exit_code(), None, "idle, not ended");

    for size in [0, 257] {
        let err = WorkerPool::new(&lp, size, |m| m)
            .err()
            .expect("size refused");
        let text = err.to_string();
        assert!(
            text.contains(&size.to_string()) && text.contains("1..=256"),
            "{text}"
        );
    }
}
