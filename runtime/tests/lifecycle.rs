//! Loop and pool lifecycle, against NODE_MODEL.md 1.3, 2.1 and 6:
//!
//! - liveness: the loop exits when nothing referenced is left; unreferenced timers and async
//!   handles do not keep it alive, a referenced async handle does; `stop()` ends `run`;
//! - `AsyncHandle`: sends from other threads coalesce, sends after close are ignored, the close
//!   callback runs;
//! - calling `run` from one of the loop's own callbacks panics;
//! - shutdown: no pool thread survives dropping the loop and the pool;
//! - the pool starts lazily, at the first submission;
//! - a panic in pool work unwinds out of `run` on the loop, and the pool thread survives it;
//! - metrics: the loop-delay monitor and event-loop utilization, with generous bounds.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use looplab_runtime::pool::current_thread;
use looplab_runtime::{EventLoop, RunMode, ThreadPool, WatcherKind, WorkSpec};

fn pool(threads: usize) -> Arc<ThreadPool> {
    ThreadPool::with_size(threads).expect("valid pool size")
}

fn new_loop() -> EventLoop {
    EventLoop::with_pool(pool(1)).expect("create loop")
}

fn flag() -> Rc<Cell<bool>> {
    Rc::new(Cell::new(false))
}

/// Spins on the wall clock, like the course's `doWork(ms)`.
fn busy_wait(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// The OS thread id of the calling thread, from `/proc/thread-self` (a link to
/// `<pid>/task/<tid>`).
fn gettid() -> i32 {
    let link = std::fs::read_link("/proc/thread-self").expect("read /proc/thread-self");
    link.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .expect("numeric tid")
}

fn thread_exists(tid: i32) -> bool {
    Path::new(&format!("/proc/self/task/{tid}")).exists()
}

#[test]
fn the_loop_exits_when_nothing_is_referenced() {
    let lp = new_loop();
    let start = Instant::now();
    assert!(!lp.run(RunMode::Default), "an empty loop is not alive");
    assert_eq!(lp.iteration(), 0);

    // A referenced timer keeps it alive until it fired.
    let fired = flag();
    let f = fired.clone();
    lp.set_timeout(5, move |_| f.set(true));
    assert!(!lp.run(RunMode::Default));
    assert!(fired.get());
    assert!(start.elapsed() < Duration::from_secs(5));

    // An unreferenced watcher keeps running but does not keep the loop alive.
    let lp = new_loop();
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    let check = lp.start_watcher(WatcherKind::Check, move |_| r.set(r.get() + 1));
    assert!(lp.run(RunMode::NoWait), "a started watcher is referenced");
    lp.unref_watcher(check);
    assert!(!lp.run(RunMode::Default));
    lp.set_timeout(1, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(
        runs.get() >= 2,
        "it still ran while the timer kept the loop alive"
    );
}

#[test]
fn an_unreferenced_timer_does_not_keep_the_loop_alive() {
    let lp = new_loop();
    let fired = flag();
    let f = fired.clone();
    let timer = lp.set_timeout(10_000, move |_| f.set(true));
    lp.unref_timer(timer);
    let start = Instant::now();
    assert!(!lp.run(RunMode::Default));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "run returned without waiting for the 10 s timer"
    );
    assert!(!fired.get(), "the unreferenced timer never ran");
    assert!(
        lp.timer_active(timer),
        "it is still pending, just not counted"
    );

    // It still fires while something else keeps the loop alive (like Node's unref'd timers).
    let lp = new_loop();
    let fired = flag();
    let f = fired.clone();
    let short = lp.set_timeout(5, move |_| f.set(true));
    lp.unref_timer(short);
    lp.set_timeout(60, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(fired.get());

    // ref_timer makes it count again.
    let lp = new_loop();
    let fired = flag();
    let f = fired.clone();
    let timer = lp.set_timeout(5, move |_| f.set(true));
    lp.unref_timer(timer);
    lp.ref_timer(timer);
    assert!(!lp.run(RunMode::Default));
    assert!(fired.get());
}

#[test]
fn an_async_handle_keeps_the_loop_alive_only_while_referenced() {
    let lp = new_loop();
    let handle = lp.new_async(|_| {});
    // Referenced: alive. NoWait so that the test cannot hang.
    assert!(lp.run(RunMode::NoWait));
    handle.unref(&lp);
    let start = Instant::now();
    assert!(
        !lp.run(RunMode::Default),
        "an unreferenced handle lets run return"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    handle.ref_(&lp);
    assert!(lp.run(RunMode::NoWait));
    let closed = flag();
    let c = closed.clone();
    handle.close(&lp, move |_| c.set(true));
    assert!(!closed.get(), "the close callback never runs synchronously");
    assert!(!lp.run(RunMode::Default));
    assert!(closed.get());
}

#[test]
fn stop_makes_run_return_while_the_loop_is_still_alive() {
    let lp = new_loop();
    let handle = lp.new_async(|_| {}); // would keep Default running forever
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    lp.set_timeout(5, move |lp| {
        t.set(t.get() + 1);
        lp.stop();
    });
    assert!(
        lp.run(RunMode::Default),
        "stopped, not finished: still alive"
    );
    assert_eq!(ticks.get(), 1);

    // The stop flag is cleared when run returns: the next run iterates normally.
    let before = lp.iteration();
    assert!(lp.run(RunMode::NoWait));
    assert_eq!(lp.iteration(), before + 1);

    // stop() from an immediate.
    lp.set_immediate(|lp| lp.stop());
    assert!(lp.run(RunMode::Default));

    // stop() before run: no iteration at all (and no timers pass), then the flag is cleared.
    let fired = flag();
    let f = fired.clone();
    lp.set_timeout(0, move |_| f.set(true));
    std::thread::sleep(Duration::from_millis(5));
    lp.stop();
    let before = lp.iteration();
    assert!(lp.run(RunMode::Default));
    assert_eq!(lp.iteration(), before);
    assert!(!fired.get());

    handle.close(&lp, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(fired.get());
}

#[test]
fn run_from_one_of_the_loops_own_callbacks_panics() {
    let lp = new_loop();
    lp.set_immediate(|lp| {
        lp.run(RunMode::NoWait);
    });
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = outcome.expect_err("nested run panics");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("EventLoop::run"), "{message:?}");
    // The loop is usable afterwards.
    let ran = flag();
    let r = ran.clone();
    lp.set_immediate(move |_| r.set(true));
    assert!(!lp.run(RunMode::Default));
    assert!(ran.get());
}

#[test]
fn async_sends_coalesce_and_sends_after_close_are_ignored() {
    let lp = new_loop();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let handle = lp.new_async(move |_| c.set(c.get() + 1));
    let sender = handle.sender();

    let send_many = |sender: &looplab_runtime::AsyncSender| {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for _ in 0..1000 {
                sender.send();
            }
        })
        .join()
        .expect("sender thread");
    };

    // 1000 sends before the loop runs: one callback.
    send_many(&sender);
    assert!(lp.run(RunMode::NoWait), "the handle is referenced");
    assert_eq!(calls.get(), 1);
    // Nothing sent: no callback.
    assert!(lp.run(RunMode::NoWait));
    assert_eq!(calls.get(), 1);
    // Another burst: one more.
    send_many(&sender);
    assert!(lp.run(RunMode::NoWait));
    assert_eq!(calls.get(), 2);

    // A send that arrives while the loop is blocked in poll wakes it.
    let s = sender.clone();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        s.send();
    });
    assert!(lp.run(RunMode::Once), "Once blocks until the send arrives");
    assert_eq!(calls.get(), 3);
    late.join().expect("sender thread");

    let closed = flag();
    let cl = closed.clone();
    handle.close(&lp, move |_| cl.set(true));
    send_many(&sender);
    sender.send();
    // Keep the loop alive for a while so a stray callback would have had its chance.
    lp.set_timeout(30, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(closed.get(), "the close callback ran");
    assert_eq!(calls.get(), 3, "sends after close are ignored");
}

#[test]
fn no_pool_thread_is_left_after_the_loop_and_pool_are_dropped() {
    let pool = pool(3);
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let ran = Rc::new(Cell::new(0));
    for _ in 0..6 {
        let r = ran.clone();
        lp.queue_work(
            WorkSpec::cpu("short"),
            || std::thread::sleep(Duration::from_millis(5)),
            move |_, ()| r.set(r.get() + 1),
        );
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(ran.get(), 6);
    let tids = pool.os_thread_ids();
    assert_eq!(tids.len(), 3);
    for &tid in &tids {
        assert!(
            thread_exists(tid),
            "pool thread {tid} is running before the drop"
        );
    }

    drop(lp);
    assert_eq!(
        Arc::strong_count(&pool),
        1,
        "the loop held the other reference"
    );
    drop(pool); // joins the threads

    // A joined thread's /proc entry disappears as the kernel reaps it: allow a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tids.iter().any(|&tid| thread_exists(tid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let alive: Vec<i32> = tids.into_iter().filter(|&tid| thread_exists(tid)).collect();
    assert!(alive.is_empty(), "pool threads still running: {alive:?}");
}

#[test]
fn the_pool_starts_at_its_first_submission() {
    let pool = pool(2);
    assert!(!pool.is_started());
    assert!(pool.os_thread_ids().is_empty());
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    // Loop use without pool work does not start it.
    lp.set_timeout(1, |_| {});
    lp.set_immediate(|_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(!pool.is_started());

    let done = flag();
    let d = done.clone();
    lp.queue_work(WorkSpec::cpu("first"), || (), move |_, ()| d.set(true));
    // All threads exist as soon as the submission returns (libuv's init waits for each).
    assert!(pool.is_started());
    assert_eq!(pool.os_thread_ids().len(), 2);
    assert!(!lp.run(RunMode::Default));
    assert!(done.get());
}

#[test]
fn a_panic_in_pool_work_unwinds_out_of_run_and_the_pool_thread_survives() {
    let pool = pool(1);
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let panicked_on = Arc::new(AtomicI32::new(0));
    let p = Arc::clone(&panicked_on);
    let after_ran = flag();
    let a = after_ran.clone();
    lp.queue_work(
        WorkSpec::cpu("boom"),
        move || -> u32 {
            p.store(gettid(), Ordering::SeqCst);
            panic!("boom in pool work");
        },
        move |_, _| a.set(true),
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = outcome.expect_err("the panic is re-raised on the loop");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("boom in pool work"),
        "payload: {message:?}"
    );
    assert!(
        !after_ran.get(),
        "after_work of the panicked job never runs"
    );

    // The same pool thread is still there and runs the next job; the loop is usable again.
    let tids = pool.os_thread_ids();
    assert_eq!(tids.len(), 1);
    assert_eq!(tids[0], panicked_on.load(Ordering::SeqCst));
    assert!(thread_exists(tids[0]));
    let result = Rc::new(Cell::new(None));
    let r = result.clone();
    lp.queue_work(
        WorkSpec::cpu("after"),
        || (gettid(), current_thread()),
        move |_, ran_on| r.set(Some(ran_on)),
    );
    assert!(!lp.run(RunMode::Default));
    assert_eq!(result.get(), Some((tids[0], Some(0))));
    assert_eq!(pool.os_thread_ids(), tids, "no thread was replaced");
}

#[test]
fn delay_monitor_samples_about_the_resolution_when_idle_and_large_when_blocked() {
    // Idle: samples are the resolution (10 ms) plus a little (Node: min 9.2, mean 10.4 ms).
    let lp = new_loop();
    let monitor = lp.monitor_delay(10);
    lp.set_timeout(200, |_| {});
    assert!(
        !lp.run(RunMode::Default),
        "the monitor's timer is unreferenced"
    );
    let idle = monitor.histogram();
    assert!(idle.len() >= 5, "{} samples in 200 ms", idle.len());
    assert!(idle.min() >= 5_000_000, "min {} ns", idle.min());
    assert!(
        idle.value_at_quantile(0.5) <= 40_000_000,
        "median {} ns",
        idle.value_at_quantile(0.5)
    );

    // Blocked: a callback that busy-waits 100 ms shows up as a sample of at least 100 ms.
    let lp = new_loop();
    let monitor = lp.monitor_delay(10);
    lp.set_timeout(50, |_| busy_wait(Duration::from_millis(100)));
    lp.set_timeout(250, |_| {});
    assert!(!lp.run(RunMode::Default));
    let blocked = monitor.histogram();
    assert!(
        blocked.max() >= 95_000_000,
        "max {} ns while blocked for 100 ms",
        blocked.max()
    );
    assert!(blocked.max() > 2 * idle.value_at_quantile(0.5));

    // Disabled: no more samples, the old ones stay readable.
    monitor.disable(&lp);
    let count = monitor.histogram().len();
    lp.set_timeout(50, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert_eq!(monitor.histogram().len(), count);
}

#[test]
fn utilization_is_low_when_idle_and_high_when_busy() {
    let lp = new_loop();
    let before = lp.utilization();
    assert_eq!(before.utilization, 0.0, "zero before the loop has started");
    assert_eq!(before.idle_ms + before.active_ms, 0.0);
    lp.set_timeout(200, |_| {});
    assert!(!lp.run(RunMode::Default));
    let idle = lp.utilization();
    assert!(idle.utilization < 0.5, "{idle:?}");
    assert!(idle.idle_ms >= 100.0, "{idle:?}");

    // Busy-wait 200 ms in a callback: almost all of the time since the last sample is active.
    lp.set_timeout(1, |_| busy_wait(Duration::from_millis(200)));
    assert!(!lp.run(RunMode::Default));
    let busy = lp.utilization().since(&idle);
    assert!(busy.utilization > 0.5, "{busy:?}");
    assert!(busy.active_ms >= 150.0, "{busy:?}");

    // A fresh loop that only busy-waits is busy overall.
    let lp = new_loop();
    lp.set_timeout(1, |_| busy_wait(Duration::from_millis(200)));
    assert!(!lp.run(RunMode::Default));
    let busy = lp.utilization();
    assert!(busy.utilization > 0.5, "{busy:?}");
}
