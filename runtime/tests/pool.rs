//! The thread pool against NODE_MODEL.md section 2 and experiment 5 (a):
//!
//! - one strict FIFO queue (pool of 1: submission order, all on thread 0);
//! - the slow-IO limit of `(n + 1) / 2` concurrent name lookups, and other work overtaking slow
//!   work that the limit holds back;
//! - one pool shared by loops on different threads, each completion delivered to its own loop;
//! - explicit sizes outside 1..=1024 are errors;
//! - per-class task counts and queue wait in the loop metrics;
//! - the "staircase": 6 PBKDF2 jobs complete in waves the size of the pool (FIFO facts on every
//!   run, the exact waves in one of a bounded number of runs).
//!
//! Assertions are about order and shape; durations only appear as generous lower bounds.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use looplab_runtime::pool::{current_thread, run_time_spread, wave_sizes, waves, TaskRecord};
use looplab_runtime::{crypto, EventLoop, RunMode, ThreadPool, WorkClass, WorkSpec};

fn pool(threads: usize) -> Arc<ThreadPool> {
    ThreadPool::with_size(threads).expect("valid pool size")
}

#[test]
fn one_thread_runs_work_in_submission_order() {
    let pool = pool(1);
    pool.enable_timeline();
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let done = Rc::new(RefCell::new(Vec::new()));
    for i in 0..10u64 {
        let d = done.clone();
        lp.queue_work(
            WorkSpec::cpu("job"),
            move || {
                std::thread::sleep(Duration::from_millis(2));
                (i, current_thread())
            },
            move |_, result| d.borrow_mut().push(result),
        );
    }
    assert!(!lp.run(RunMode::Default));
    let done = done.borrow();
    let order: Vec<u64> = done.iter().map(|&(i, _)| i).collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    assert!(done.iter().all(|&(_, thread)| thread == Some(0)));

    let timeline = pool.take_timeline();
    assert_eq!(timeline.len(), 10);
    for (i, record) in timeline.iter().enumerate() {
        assert_eq!(record.seq, i as u64);
        assert_eq!(record.name, "job");
        assert_eq!(record.timing.thread, 0);
        assert_eq!(record.timing.class, WorkClass::Cpu);
    }
    for pair in timeline.windows(2) {
        assert!(
            pair[1].timing.started >= pair[0].timing.finished,
            "one thread: job {} started before job {} finished",
            pair[1].seq,
            pair[0].seq
        );
    }
    assert!(pool.take_timeline().is_empty(), "take empties the timeline");
}

/// Runs 6 slow-IO items of 150 ms on a pool of `threads`; returns the peak concurrency.
fn slow_io_peak(threads: usize) -> usize {
    let lp = EventLoop::with_pool(pool(threads)).expect("create loop");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let completed = Rc::new(RefCell::new(0));
    for _ in 0..6 {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        let c = completed.clone();
        lp.queue_work(
            WorkSpec::slow_io("lookup"),
            move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
                running.fetch_sub(1, Ordering::SeqCst);
            },
            move |_, ()| *c.borrow_mut() += 1,
        );
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(*completed.borrow(), 6);
    peak.load(Ordering::SeqCst)
}

#[test]
fn slow_io_runs_on_at_most_half_the_threads_rounded_up() {
    assert_eq!(slow_io_peak(4), 2, "pool of 4: (4 + 1) / 2 = 2");
    assert_eq!(slow_io_peak(3), 2, "pool of 3: (3 + 1) / 2 = 2");
    assert_eq!(slow_io_peak(1), 1, "pool of 1: (1 + 1) / 2 = 1");
}

#[test]
fn cpu_work_overtakes_slow_io_held_back_by_the_limit() {
    // Pool of 2 → slow limit 1: the second lookup waits, the CPU job behind it does not.
    let pool = pool(2);
    pool.enable_timeline();
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let done = Rc::new(RefCell::new(Vec::new()));
    for (spec, ms) in [
        (WorkSpec::slow_io("slow-1"), 150),
        (WorkSpec::slow_io("slow-2"), 150),
        (WorkSpec::cpu("cpu"), 1),
    ] {
        let d = done.clone();
        lp.queue_work(
            spec,
            move || std::thread::sleep(Duration::from_millis(ms)),
            move |_, ()| d.borrow_mut().push(spec.name),
        );
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(*done.borrow(), ["cpu", "slow-1", "slow-2"]);

    let timeline = pool.take_timeline();
    let by_name = |name: &str| timeline.iter().find(|r| r.name == name).unwrap().timing;
    let (slow1, slow2, cpu) = (by_name("slow-1"), by_name("slow-2"), by_name("cpu"));
    assert_eq!(slow1.class, WorkClass::SlowIo);
    assert!(cpu.started < slow2.started, "CPU work overtook slow-2");
    assert!(
        slow2.started >= slow1.finished,
        "slow-2 waited for the slow slot, not for a thread"
    );
}

#[test]
fn one_pool_is_shared_by_two_loops_on_two_threads() {
    let pool = pool(2);
    pool.enable_timeline();
    let handles: Vec<_> = (0..2)
        .map(|loop_index| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let lp = EventLoop::with_pool(pool).expect("create loop");
                let me = std::thread::current().id();
                let results = Rc::new(RefCell::new(Vec::new()));
                for job in 0..5 {
                    let r = results.clone();
                    lp.queue_work(
                        WorkSpec::cpu("shared"),
                        move || {
                            std::thread::sleep(Duration::from_millis(5));
                            (job, current_thread())
                        },
                        move |_, (job, ran_on)| {
                            // after_work runs on the loop that submitted the work.
                            assert_eq!(std::thread::current().id(), me);
                            r.borrow_mut().push((job, ran_on));
                        },
                    );
                }
                assert!(!lp.run(RunMode::Default));
                let results = results.borrow().clone();
                (loop_index, me, results)
            })
        })
        .collect();
    for handle in handles {
        let (loop_index, _, results) = handle.join().expect("loop thread");
        let mut jobs: Vec<_> = results.iter().map(|&(job, _)| job).collect();
        jobs.sort();
        assert_eq!(jobs, [0, 1, 2, 3, 4], "loop {loop_index}");
        for (_, ran_on) in results {
            assert!(matches!(ran_on, Some(0 | 1)), "ran on a pool thread");
        }
    }
    assert_eq!(pool.os_thread_ids().len(), 2, "one set of threads");
    let timeline = pool.take_timeline();
    assert_eq!(timeline.len(), 10);
    let seqs: Vec<u64> = timeline.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "one submission sequence");
}

#[test]
fn pool_size_out_of_range_is_an_error() {
    for size in [0, 1025] {
        let err = ThreadPool::with_size(size)
            .err()
            .unwrap_or_else(|| panic!("size {size} accepted"));
        let message = err.to_string();
        assert!(message.contains("1..=1024"), "{message}");
        assert!(message.contains(&size.to_string()), "{message}");
    }
    assert_eq!(pool(1).size(), 1);
    assert_eq!(pool(1024).size(), 1024);
}

#[test]
fn metrics_count_pool_tasks_per_class_and_their_queue_wait() {
    let lp = EventLoop::with_pool(pool(1)).expect("create loop");
    // The first job holds the only thread for 60 ms, so the next one waits at least that long.
    lp.queue_work(
        WorkSpec::cpu("hold"),
        || std::thread::sleep(Duration::from_millis(60)),
        |_, ()| {},
    );
    for _ in 0..2 {
        lp.queue_work(WorkSpec::cpu("cpu"), || (), |_, ()| {});
    }
    for _ in 0..2 {
        lp.queue_work(WorkSpec::fast_io("fs"), || (), |_, ()| {});
    }
    lp.queue_work(WorkSpec::slow_io("dns"), || (), |_, ()| {});
    assert!(!lp.run(RunMode::Default));

    let metrics = lp.metrics();
    let tasks: Vec<u64> = metrics.pool.iter().map(|c| c.tasks).collect();
    assert_eq!(tasks, [3, 2, 1], "cpu, fast-io, slow-io");
    assert_eq!(metrics.pool_wait_us.len(), 6, "one wait sample per task");
    let cpu = metrics.pool[0];
    assert!(
        cpu.max_wait_ns >= 40_000_000,
        "a job queued behind the 60 ms one waited {} ns",
        cpu.max_wait_ns
    );
    assert!(cpu.run_ns >= 50_000_000, "run time includes the 60 ms job");
    assert!(cpu.wait_ns >= cpu.max_wait_ns);
    for class in &metrics.pool[1..] {
        assert!(class.max_wait_ns >= 40_000_000, "{class:?}");
    }
}

/// Runs 6 × PBKDF2 on a fresh pool of `threads`; returns the timeline (by seq = job index) and
/// the job indices in the order their callbacks ran on the loop.
fn six_hashes(threads: usize) -> (Vec<TaskRecord>, Vec<usize>) {
    let pool = pool(threads);
    pool.enable_timeline();
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let completions = Rc::new(RefCell::new(Vec::new()));
    for job in 0..6 {
        let c = completions.clone();
        crypto::pbkdf2(&lp, b"a", b"b", 50_000, 64, move |_, key| {
            assert_eq!(key.len(), 64);
            c.borrow_mut().push(job);
        })
        .expect("valid pbkdf2 arguments");
    }
    assert!(!lp.run(RunMode::Default));
    let timeline = pool.take_timeline();
    assert_eq!(timeline.len(), 6);
    assert!(timeline.iter().all(|r| r.name == "pbkdf2"));
    let completions = completions.borrow().clone();
    (timeline, completions)
}

/// What FIFO with `threads` threads guarantees however fast each CPU happens to be: exactly
/// `threads` jobs at the peak, never more, and job `s >= threads` starts only once
/// `s - threads + 1` jobs have finished (a thread frees up for the queue head).
fn assert_fifo_staircase(threads: usize, timeline: &[TaskRecord]) {
    let running_at = |t| {
        timeline
            .iter()
            .filter(|r| r.timing.started <= t && t < r.timing.finished)
            .count()
    };
    let peak = timeline
        .iter()
        .map(|r| running_at(r.timing.started))
        .max()
        .unwrap();
    assert_eq!(peak, threads, "pool of {threads}: peak concurrency");
    for (s, record) in timeline.iter().enumerate() {
        assert!(record.timing.thread < threads);
        let finished = timeline
            .iter()
            .filter(|r| r.timing.finished <= record.timing.started)
            .count();
        assert!(
            finished + threads > s,
            "pool of {threads}: job {s} started when only {finished} had finished"
        );
    }
}

/// Every completion of wave k is seen on the loop before the last one of wave k + 1.
fn assert_completions_follow_waves(threads: usize, wave: &[usize], completions: &[usize]) {
    let count = wave.iter().copied().max().unwrap_or(0);
    let position = |job: usize| completions.iter().position(|&j| j == job).unwrap();
    let last_of = |w: usize| {
        (0..wave.len())
            .filter(|&job| wave[job] == w)
            .map(position)
            .max()
            .unwrap()
    };
    for (job, &k) in wave.iter().enumerate() {
        if k < count {
            assert!(
                position(job) < last_of(k + 1),
                "pool of {threads}: job {job} of wave {k} completed after wave {}: \
                 {completions:?}",
                k + 1
            );
        }
    }
}

#[test]
fn pbkdf2_jobs_complete_in_waves_the_size_of_the_pool() {
    // The waves (Node's threads.js: 4 then 2 with the default pool) need the pool threads to
    // hash at about the same speed. On this 2-vCPU host the kernel often leaves one thread alone
    // on a core while the others share the other one; a fast thread then runs ahead into the
    // next wave (Node 20 does the same here: in 4 of 8 runs of 6 hashes at pool 4, one hash
    // finished well before the other three of its wave). On a busy CI runner that can last for
    // seconds (it gave [2, 2, 1, 1] five runs in a row once). So the FIFO facts (peak
    // concurrency exactly the pool size, each later job started by a completion) are checked on
    // every run, and the wave shape must show up within a bounded number of runs (a pool of the
    // wrong size or order never produces it).
    const ATTEMPTS: usize = 40;
    const BUDGET: Duration = Duration::from_secs(20);
    for (threads, expected) in [(2, vec![2, 2, 2]), (1, vec![1; 6]), (4, vec![4, 2])] {
        let started = std::time::Instant::now();
        let mut seen = Vec::new();
        let matched = (0..ATTEMPTS)
            .take_while(|_| started.elapsed() < BUDGET)
            .find_map(|_| {
                let (timeline, completions) = six_hashes(threads);
                assert_fifo_staircase(threads, &timeline);
                let wave = waves(&timeline);
                let sizes = wave_sizes(&wave);
                let spread = run_time_spread(&timeline);
                seen.push(format!("{sizes:?} (run times {spread:.1}x apart)"));
                (sizes == expected).then_some((wave, completions))
            });
        let Some((wave, completions)) = matched else {
            panic!(
                "pool of {threads}: expected waves {expected:?} in one of {} runs, got {}",
                seen.len(),
                seen.join(", ")
            );
        };
        assert_completions_follow_waves(threads, &wave, &completions);
    }
}
