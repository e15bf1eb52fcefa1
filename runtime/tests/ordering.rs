//! Ordering inside the event loop, checked against NODE_MODEL.md sections 1.1-1.5:
//!
//! - next-ticks drain before microtasks after every callback, and ticks queued by a microtask
//!   wait for the current microtask drain (Node's `nested.js`);
//! - inside an I/O (pool completion) callback an immediate always beats a `setTimeout(0)`, while
//!   from the main program the two race;
//! - ticks and microtasks drain between two timers that are due together;
//! - the immediate queue is snapshotted per check phase;
//! - equal due times fire in start order; intervals, `clear_timer` and `clear_immediate`;
//! - pending, idle, prepare, poll, pending again, check, closing, timers: libuv 1.46's phase
//!   order (a local TCP connection supplies the poll, pending and closing callbacks); watchers
//!   of one kind run most recently started first; an idle watcher keeps poll from blocking;
//! - run modes (`Default`, `Once`, `NoWait`) and the liveness they report, and libuv 1.45+'s
//!   `Default`-only timers pass before the first iteration;
//! - Node's delay coercion (`setTimeout(0)` is 1 ms).
//!
//! - a late timers pass runs each duration list in turn, like Node's `listOnTimeout`.
//!
//! Every assertion is about order or about what ran; time is only used with generous bounds.

use std::cell::{Cell, RefCell};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use looplab_runtime::tcp::TcpStream;
use looplab_runtime::{
    coerce_delay_ms, EventLoop, ImmediateId, RunMode, ThreadPool, TimerId, WatcherId, WatcherKind,
    WorkSpec, TIMEOUT_MAX_MS,
};

/// A shared, append-only log of what ran, in order.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// A callback that only logs `entry`.
    fn cb(&self, entry: &'static str) -> impl FnOnce(&EventLoop) + 'static {
        let log = self.clone();
        move |_| log.push(entry)
    }
}

fn pool(threads: usize) -> Arc<ThreadPool> {
    ThreadPool::with_size(threads).expect("valid pool size")
}

fn new_loop() -> EventLoop {
    EventLoop::with_pool(pool(1)).expect("create loop")
}

#[test]
fn inside_a_pool_completion_tick_then_microtask_then_immediate_then_timeout() {
    // race_io.js: from the poll phase the check phase comes before the next timers phase, so the
    // immediate always wins (200 of 200 runs in Node). Scheduled in the "wrong" order on purpose.
    let pool = pool(1);
    for run in 0..20 {
        let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
        let log = Log::default();
        let l = log.clone();
        lp.queue_work(
            WorkSpec::cpu("noop"),
            || (),
            move |lp, ()| {
                l.push("io");
                lp.set_timeout(0, l.cb("timeout0"));
                lp.set_immediate(l.cb("immediate"));
                lp.queue_microtask(l.cb("microtask"));
                lp.next_tick(l.cb("tick"));
            },
        );
        assert!(!lp.run(RunMode::Default), "run {run}: loop should finish");
        assert_eq!(
            log.entries(),
            ["io", "tick", "microtask", "immediate", "timeout0"],
            "run {run}"
        );
    }
}

#[test]
fn main_program_tick_before_microtask_and_timeout_vs_immediate_both_run() {
    let lp = new_loop();
    let log = Log::default();
    lp.set_timeout(0, log.cb("timeout0"));
    lp.set_immediate(log.cb("immediate"));
    lp.queue_microtask(log.cb("microtask"));
    lp.next_tick(log.cb("tick"));
    log.push("sync");
    assert!(!lp.run(RunMode::Default));
    let entries = log.entries();
    assert_eq!(entries[..3], ["sync", "tick", "microtask"], "{entries:?}");
    // From the main program timeout(0) against immediate is a race (race.js: TI 98 / IT 102):
    // only assert that both ran, after the tick queues.
    let mut rest = entries[3..].to_vec();
    rest.sort();
    assert_eq!(rest, ["immediate", "timeout0"], "{entries:?}");
}

/// Node's `nested.js` (CommonJS):
///
/// ```js
/// process.nextTick(() => {
///   log('t1');
///   process.nextTick(() => log('t2-from-t1'));
///   Promise.resolve().then(() => log('p-from-t1'));
/// });
/// Promise.resolve().then(() => {
///   log('p1');
///   process.nextTick(() => log('tick-from-p1'));
///   Promise.resolve().then(() => log('p2-from-p1'));
/// });
/// ```
fn nested_js(lp: &EventLoop, log: &Log) {
    let l = log.clone();
    lp.next_tick(move |lp| {
        l.push("t1");
        lp.next_tick(l.cb("t2-from-t1"));
        lp.queue_microtask(l.cb("p-from-t1"));
    });
    let l = log.clone();
    lp.queue_microtask(move |lp| {
        l.push("p1");
        lp.next_tick(l.cb("tick-from-p1"));
        lp.queue_microtask(l.cb("p2-from-p1"));
    });
}

const NESTED_ORDER: [&str; 6] = [
    "t1",
    "t2-from-t1",
    "p1",
    "p-from-t1",
    "p2-from-p1",
    "tick-from-p1",
];

#[test]
fn ticks_before_microtasks_and_ticks_from_a_microtask_wait_for_the_microtask_drain() {
    // As the main program.
    let lp = new_loop();
    let log = Log::default();
    nested_js(&lp, &log);
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), NESTED_ORDER);

    // The same program from inside a timer callback drains the same way.
    let lp = new_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_timeout(1, move |lp| {
        l.push("timer");
        nested_js(lp, &l);
    });
    assert!(!lp.run(RunMode::Default));
    let entries = log.entries();
    assert_eq!(entries[0], "timer");
    assert_eq!(entries[1..], NESTED_ORDER);
}

#[test]
fn ticks_and_microtasks_drain_between_two_timers_due_together() {
    // Both timers must get the same due time: retry (with a fresh loop) in the rare case the
    // millisecond clock ticked between the two `set_timeout` calls.
    for _attempt in 0..100 {
        let lp = new_loop();
        let log = Log::default();
        let iterations = Rc::new(RefCell::new(Vec::new()));
        let t = lp.update_time();
        let (l, it) = (log.clone(), iterations.clone());
        lp.set_timeout(5, move |lp| {
            l.push("T1");
            it.borrow_mut().push(lp.iteration());
            lp.queue_microtask(l.cb("T1.promise"));
            lp.next_tick(l.cb("T1.tick"));
        });
        let (l, it) = (log.clone(), iterations.clone());
        lp.set_timeout(5, move |lp| {
            l.push("T2");
            it.borrow_mut().push(lp.iteration());
        });
        if lp.now() != t {
            continue;
        }
        assert!(!lp.run(RunMode::Default));
        assert_eq!(log.entries(), ["T1", "T1.tick", "T1.promise", "T2"]);
        let it = iterations.borrow();
        assert_eq!(it[0], it[1], "both timers fired in the same timers phase");
        return;
    }
    panic!("the millisecond clock ticked during every attempt");
}

#[test]
fn immediate_scheduled_by_an_immediate_runs_in_the_next_iteration() {
    let lp = new_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_immediate(move |lp| {
        l.push(format!("I1@{}", lp.iteration()));
        lp.queue_microtask(l.cb("I1.promise"));
        let l2 = l.clone();
        lp.set_immediate(move |lp| l2.push(format!("I1.nested@{}", lp.iteration())));
    });
    let l = log.clone();
    lp.set_immediate(move |lp| l.push(format!("I2@{}", lp.iteration())));
    assert!(!lp.run(RunMode::Default));

    let entries = log.entries();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e.split('@').next().unwrap())
        .collect();
    // The microtask of I1 drains before I2 (runNextTicks between immediates); the nested
    // immediate is not part of the snapshot, so it runs after I2.
    assert_eq!(names, ["I1", "I1.promise", "I2", "I1.nested"]);
    let iteration = |i: usize| -> u64 { entries[i].split('@').nth(1).unwrap().parse().unwrap() };
    assert_eq!(iteration(0), iteration(2), "I1 and I2 share a check phase");
    assert!(
        iteration(3) > iteration(2),
        "I1.nested ran in a later iteration: {entries:?}"
    );
}

#[test]
fn timers_with_equal_due_times_fire_in_start_order() {
    let lp = new_loop();
    let fired = Rc::new(RefCell::new(Vec::new()));
    for i in 0..100 {
        let f = fired.clone();
        lp.set_timeout(3, move |_| f.borrow_mut().push(i));
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(*fired.borrow(), (0..100).collect::<Vec<_>>());
}

#[test]
fn set_interval_repeats_until_cleared_from_its_own_callback() {
    let lp = new_loop();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let id: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    let (r, own_id) = (runs.clone(), id.clone());
    let interval = lp.set_interval(2, move |lp| {
        r.borrow_mut().push(lp.now());
        if r.borrow().len() == 5 {
            assert!(lp.clear_timer(own_id.get().expect("id stored")));
        }
    });
    id.set(Some(interval));
    assert!(lp.timer_active(interval));
    // The loop ends by itself once the interval is cleared.
    assert!(!lp.run(RunMode::Default));
    let runs = runs.borrow();
    assert_eq!(runs.len(), 5, "ran exactly until cleared");
    for pair in runs.windows(2) {
        assert!(
            pair[1] >= pair[0] + 2,
            "runs at least a period apart: {runs:?}"
        );
    }
    assert!(!lp.timer_active(interval));
    assert!(!lp.clear_timer(interval), "already cleared");
}

#[test]
fn clear_timer_prevents_a_pending_timeout() {
    let lp = new_loop();
    let log = Log::default();
    // Cleared before the loop runs: it neither fires nor keeps the loop alive.
    let long = lp.set_timeout(10_000, log.cb("long"));
    assert!(lp.clear_timer(long));
    assert!(!lp.timer_active(long));
    assert!(!lp.clear_timer(long), "clearing twice reports false");
    // Cleared by an earlier timer.
    let later = lp.set_timeout(10_000, log.cb("later"));
    let l = log.clone();
    lp.set_timeout(1, move |lp| {
        l.push("first");
        assert!(lp.clear_timer(later));
    });
    let start = Instant::now();
    assert!(!lp.run(RunMode::Default));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the cleared 10 s timers did not keep the loop alive"
    );
    assert_eq!(log.entries(), ["first"]);

    // Cleared by a timer that fires in the same timers phase, just before it.
    let lp = new_loop();
    let log = Log::default();
    let victim: Rc<Cell<Option<TimerId>>> = Rc::new(Cell::new(None));
    let (l, v) = (log.clone(), victim.clone());
    lp.set_timeout(5, move |lp| {
        l.push("killer");
        assert!(lp.clear_timer(v.get().expect("id stored")));
    });
    victim.set(Some(lp.set_timeout(5, log.cb("victim"))));
    std::thread::sleep(Duration::from_millis(10)); // both due when the loop starts
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), ["killer"]);
}

#[test]
fn clear_immediate_cancels_including_a_later_immediate_from_an_earlier_one() {
    let lp = new_loop();
    let log = Log::default();
    let i0 = lp.set_immediate(log.cb("I0"));
    let i2: Rc<Cell<Option<ImmediateId>>> = Rc::new(Cell::new(None));
    let (l, target) = (log.clone(), i2.clone());
    let i1 = lp.set_immediate(move |lp| {
        l.push("I1");
        // I2 is in the same check-phase snapshot, after I1.
        assert!(lp.clear_immediate(target.get().expect("id stored")));
    });
    i2.set(Some(lp.set_immediate(log.cb("I2"))));
    lp.set_immediate(log.cb("I3"));
    assert!(lp.clear_immediate(i0));
    assert!(!lp.clear_immediate(i0), "clearing twice reports false");
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), ["I1", "I3"]);
    assert!(
        !lp.clear_immediate(i1),
        "an immediate that ran cannot be cleared"
    );
    assert!(!lp.clear_immediate(i2.get().unwrap()));
}

#[test]
fn loop_watchers_run_in_libuv_phase_order() {
    // One iteration: pending, idle, prepare, poll (I/O callbacks), pending again (at most 8
    // rounds), check (immediates, then check watchers), closing, timers. Deferred write
    // callbacks of a TCP stream provide the pending callbacks, its connect callback the poll
    // one and its close callback the closing one.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local listener");
    let addr = listener.local_addr().unwrap();
    let lp = new_loop();
    let log = Log::default();
    let watchers: Rc<RefCell<Vec<WatcherId>>> = Rc::default();
    let closed = Rc::new(Cell::new(false));
    for (kind, name) in [
        (WatcherKind::Idle, "idle"),
        (WatcherKind::Prepare, "prepare"),
        (WatcherKind::Check, "check"),
    ] {
        let (l, all, done) = (log.clone(), watchers.clone(), closed.clone());
        let id = lp.start_watcher(kind, move |lp| {
            l.push(name);
            if kind == WatcherKind::Check && done.get() {
                for id in all.borrow().iter() {
                    assert!(lp.stop_watcher(*id));
                }
            }
        });
        watchers.borrow_mut().push(id);
    }
    let (l, done) = (log.clone(), closed.clone());
    TcpStream::connect(&lp, addr, move |lp, stream| {
        let stream = stream.expect("connect to the local listener");
        l.push("poll");
        // Completes at once: its callback is deferred to the pending re-run right after poll.
        let l2 = l.clone();
        stream.write(lp, b"a".to_vec(), move |_, r| {
            r.unwrap();
            l2.push("pending-after-poll");
        });
        lp.set_immediate(l.cb("immediate"));
        let l2 = l.clone();
        lp.set_timeout(0, move |lp| {
            l2.push("timer");
            // Deferred from the timers phase: runs in the next iteration's pending phase.
            let (l3, s) = (l2.clone(), stream.clone());
            stream.write(lp, b"b".to_vec(), move |lp, r| {
                r.unwrap();
                l3.push("pending");
                let l4 = l3.clone();
                s.close(lp, move |_| {
                    l4.push("closing");
                    done.set(true);
                });
            });
        });
    });
    assert!(
        !lp.run(RunMode::Default),
        "stopping the watchers ends the loop"
    );
    drop(listener);

    let order = [
        "pending",
        "idle",
        "prepare",
        "poll",
        "pending-after-poll",
        "immediate",
        "check",
        "closing",
        "timer",
    ];
    let rank = |name: &str| order.iter().position(|o| *o == name).unwrap();
    let entries = log.entries();
    // Cut the log into iterations wherever the phase order starts over; if any phase ran out of
    // order, some piece would lack the idle, prepare and check that every iteration runs.
    let mut iterations: Vec<Vec<&str>> = Vec::new();
    for e in &entries {
        match iterations.last_mut() {
            Some(it) if rank(it.last().unwrap()) < rank(e) => it.push(e),
            _ => iterations.push(vec![e]),
        }
    }
    for it in &iterations {
        assert!(
            ["idle", "prepare", "check"].iter().all(|p| it.contains(p)),
            "not one iteration in libuv order: {it:?} (all: {entries:?})"
        );
    }
    for once in &order {
        if !["idle", "prepare", "check"].contains(once) {
            assert_eq!(
                entries.iter().filter(|e| e == once).count(),
                1,
                "{once}: {entries:?}"
            );
        }
    }
    assert!(iterations.len() >= 3, "{entries:?}");
}

#[test]
fn an_active_idle_watcher_keeps_poll_from_blocking() {
    let lp = new_loop();
    let idle_runs = Rc::new(Cell::new(0u64));
    let runs = idle_runs.clone();
    let idle = lp.start_watcher(WatcherKind::Idle, move |_| runs.set(runs.get() + 1));
    lp.set_timeout(100, move |lp| {
        assert!(lp.stop_watcher(idle));
    });
    assert!(!lp.run(RunMode::Default));
    // Poll ran with timeout 0 while the idle watcher was active: the loop spun.
    assert!(
        lp.iteration() >= 50 && idle_runs.get() >= 50,
        "iterations {}, idle runs {}",
        lp.iteration(),
        idle_runs.get()
    );

    // Without the idle watcher the same timer costs about one (blocking) iteration.
    let lp = new_loop();
    lp.set_timeout(100, |_| {});
    assert!(!lp.run(RunMode::Default));
    assert!(lp.iteration() <= 5, "iterations {}", lp.iteration());
}

#[test]
fn run_modes_nowait_and_once_do_one_iteration_and_report_liveness() {
    let lp = new_loop();
    // Nothing alive: every mode returns false without iterating.
    assert!(!lp.run(RunMode::NoWait));
    assert!(!lp.run(RunMode::Once));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(lp.iteration(), 0);

    // NoWait never blocks: the pool work is still running, so the loop is still alive.
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    lp.queue_work(
        WorkSpec::cpu("sleep"),
        || std::thread::sleep(Duration::from_millis(300)),
        move |_, ()| d.set(true),
    );
    assert!(lp.run(RunMode::NoWait), "work in flight keeps it alive");
    assert_eq!(lp.iteration(), 1);
    assert!(!done.get());

    // Once with nothing pending blocks in poll until the completion arrives, runs it, and
    // reports that nothing is left.
    assert!(!lp.run(RunMode::Once));
    assert!(done.get());
    assert_eq!(lp.iteration(), 2);

    // Once with an immediate queued does not block on the far timer, and reports liveness.
    let log = Log::default();
    let far = lp.set_timeout(10_000, log.cb("far"));
    lp.set_immediate(log.cb("immediate"));
    let start = Instant::now();
    assert!(lp.run(RunMode::Once), "the far timer keeps it alive");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(log.entries(), ["immediate"]);
    assert_eq!(lp.iteration(), 3);

    // Default returns false once there is nothing left.
    assert!(lp.clear_timer(far));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), ["immediate"]);

    // Once with only a timer blocks in poll up to it and runs it at the end of the iteration.
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.set_timeout(30, move |_| f.set(true));
    let start = Instant::now();
    let before = lp.iteration();
    let mut alive = lp.run(RunMode::Once);
    assert!(
        start.elapsed() >= Duration::from_millis(25),
        "Once blocked in poll for the timer: {:?}",
        start.elapsed()
    );
    // With a coarse millisecond clock poll can wake a hair before the timer is due (libuv too).
    if alive {
        alive = lp.run(RunMode::Once);
    }
    assert!(!alive && fired.get());
    assert!(lp.iteration() - before <= 2);
}

#[test]
fn set_timeout_zero_is_coerced_to_one_millisecond() {
    assert_eq!(coerce_delay_ms(0.0), 1);
    let lp = new_loop();
    let log = Log::default();
    lp.set_timeout(50, log.cb("50"));
    let start = lp.update_time();
    let fired_at = Rc::new(Cell::new(0));
    let (l, at) = (log.clone(), fired_at.clone());
    lp.set_timeout(0, move |lp| {
        l.push("0");
        at.set(lp.now());
    });
    lp.set_timeout(1, log.cb("1"));
    // Above TIMEOUT_MAX (2^31 - 1) becomes 1 ms too (Node's TimeoutOverflowWarning case).
    lp.set_timeout(TIMEOUT_MAX_MS + 1, log.cb("overflow"));
    assert!(!lp.run(RunMode::Default));
    // 0, 1 and 2^31 ms all land in the 1 ms list: scheduling order, all before the 50 ms timer.
    assert_eq!(log.entries(), ["0", "1", "overflow", "50"]);
    assert!(
        fired_at.get() > start,
        "a 0 ms timer is due 1 ms after it started (started {start}, fired {})",
        fired_at.get()
    );
}

#[test]
fn ticks_and_microtasks_queued_before_run_drain_first() {
    let lp = new_loop();
    let log = Log::default();
    lp.set_immediate(log.cb("immediate"));
    lp.set_timeout(0, log.cb("timeout0"));
    lp.queue_microtask(log.cb("microtask"));
    lp.next_tick(log.cb("tick"));
    assert!(!lp.run(RunMode::Default));
    let entries = log.entries();
    assert_eq!(entries[..2], ["tick", "microtask"], "{entries:?}");
    assert_eq!(entries.len(), 4);

    // They drain even when nothing else keeps the loop alive, without an iteration.
    let lp = new_loop();
    let log = Log::default();
    lp.queue_microtask(log.cb("microtask"));
    lp.next_tick(log.cb("tick"));
    assert!(!lp.run(RunMode::NoWait));
    assert_eq!(log.entries(), ["tick", "microtask"]);
    assert_eq!(lp.iteration(), 0);
}

#[test]
fn watchers_of_one_kind_run_most_recently_started_first() {
    // libuv inserts started watchers at the head of their queue.
    let lp = new_loop();
    let log = Log::default();
    let mut ids = Vec::new();
    for name in ["check-a", "check-b", "check-c"] {
        let l = log.clone();
        ids.push(lp.start_watcher(WatcherKind::Check, move |_| l.push(name)));
    }
    assert!(lp.run(RunMode::NoWait));
    assert_eq!(log.entries(), ["check-c", "check-b", "check-a"]);
    for id in ids {
        assert!(lp.stop_watcher(id));
        assert!(!lp.stop_watcher(id), "already stopped");
    }
    assert!(!lp.run(RunMode::Default));
}

#[test]
fn a_timer_already_due_when_run_starts_fires_before_the_first_iteration_in_default_mode() {
    // libuv 1.45+: Default mode runs due timers once before the first iteration, so once the
    // millisecond clock has moved on, timeout(0) from the main program beats the immediate
    // (the "TI" outcome of race.js, made certain).
    let lp = new_loop();
    let log = Log::default();
    let l = log.clone();
    lp.set_timeout(0, move |lp| l.push(format!("timeout0@{}", lp.iteration())));
    lp.set_immediate(log.cb("immediate"));
    std::thread::sleep(Duration::from_millis(5));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), ["timeout0@0", "immediate"]);

    // Once and NoWait have no such pass: timers run at the end of the iteration, after check.
    for mode in [RunMode::Once, RunMode::NoWait] {
        let lp = new_loop();
        let log = Log::default();
        let l = log.clone();
        lp.set_timeout(0, move |lp| l.push(format!("timeout0@{}", lp.iteration())));
        lp.set_immediate(log.cb("immediate"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!lp.run(mode), "{mode:?}");
        assert_eq!(log.entries(), ["immediate", "timeout0@1"], "{mode:?}");
    }
}

#[test]
fn pool_completions_run_before_async_callbacks_of_the_same_wake_up() {
    // libuv creates the loop's internal wq_async first, so uv__async_io runs the pool
    // completions before user async handles, whatever order the wake-ups came in.
    let pool = pool(1);
    pool.enable_timeline();
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let log = Log::default();
    let l = log.clone();
    let handle = lp.new_async(move |_| l.push("async"));
    handle.sender().send();
    let l = log.clone();
    lp.queue_work(WorkSpec::cpu("noop"), || (), move |_, ()| l.push("work"));
    // Wait (generously) until the work has finished, so both are pending before the loop polls.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut timeline = Vec::new();
    while timeline.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        timeline = pool.take_timeline();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        lp.run(RunMode::NoWait),
        "the async handle is still referenced"
    );
    assert_eq!(log.entries(), ["work", "async"]);
    handle.close(&lp, |_| {});
    assert!(!lp.run(RunMode::Default));
}

#[test]
fn a_late_timer_run_fires_each_duration_list_in_turn_like_node() {
    // Node keeps one FIFO list per duration and runs every due timer of the earliest-expiring
    // list before the next list. Checked with node v20.20.2 (busy-waits instead of sleeps):
    //   setTimeout(X, 5); setTimeout(Z, 8); sleep(4); setTimeout(Y, 5); sleep(15)
    //   → X, Y, Z   (Y is due at 9, after Z at 8, but it is in the 5 ms list with X)
    let lp = new_loop();
    let log = Log::default();
    lp.set_timeout(5, log.cb("X"));
    lp.set_timeout(8, log.cb("Z"));
    std::thread::sleep(Duration::from_millis(4));
    lp.set_timeout(5, log.cb("Y"));
    std::thread::sleep(Duration::from_millis(15));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(log.entries(), ["X", "Y", "Z"]);
}
