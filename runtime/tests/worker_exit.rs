//! How worker threads end, against NODE_MODEL.md section 3 and Node's `worker_threads` docs:
//!
//! - exit codes: 0 when the worker's loop runs out of work, 1 on terminate (also of a worker
//!   stuck in an endless chain of immediates or timers, or blocked on a long timer), the code
//!   given to `port.exit`, 1 after a panic, which is reported as an error event while the
//!   parent loop keeps running;
//! - an exit callback registered after the exit still runs;
//! - an unreferenced worker does not keep the parent alive, and dropping the parent loop
//!   terminates and joins it; posts to an ended worker are refused and hand the value back.
//!
//! Each test is bounded by a watchdog timer; time only appears as generous upper bounds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use looplab_runtime::worker::{self, Worker};
use looplab_runtime::{EventLoop, RunMode, ThreadPool};

/// Generous bound for anything that should take milliseconds.
const PROMPT: Duration = Duration::from_secs(10);

fn new_loop() -> EventLoop {
    EventLoop::with_pool(ThreadPool::with_size(1).expect("valid size")).expect("create loop")
}

/// Fails the test instead of hanging it: an unreferenced timer that panics if the loop is still
/// running after 30 s.
fn watchdog(lp: &EventLoop) {
    let id = lp.set_timeout(30_000, |_| panic!("the test did not finish within 30 s"));
    lp.unref_timer(id);
}

/// Spawns a worker running `busy`, terminates it once it said it started; returns the exit
/// code and how long terminate took.
fn terminate_after_start(busy: fn(&EventLoop)) -> (i32, Duration) {
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "busy", move |lp, port| {
        busy(lp);
        port.post("started").expect("parent is listening");
    })
    .expect("spawn");
    let asked = Rc::new(Cell::new(None));
    let (a, w) = (asked.clone(), worker.clone());
    worker.on_message(&lp, move |_, _| {
        a.set(Some(Instant::now()));
        w.terminate();
    });
    let exit = Rc::new(Cell::new(None));
    let e = exit.clone();
    worker.on_exit(&lp, move |_, code| e.set(Some((code, Instant::now()))));
    assert!(!lp.run(RunMode::Default));
    let (code, at) = exit.get().expect("exit event");
    let asked = asked.get().expect("terminate was asked");
    assert!(worker.post(1u8).is_err(), "an ended worker refuses posts");
    (code, at - asked)
}

fn immediates_forever(lp: &EventLoop) {
    lp.set_immediate(immediates_forever);
}

fn timers_forever(lp: &EventLoop) {
    lp.set_timeout(0, timers_forever);
}

fn one_long_timer(lp: &EventLoop) {
    lp.set_timeout(600_000, |_| {});
}

#[test]
fn terminate_stops_a_busy_or_sleeping_worker_with_code_1() {
    for (what, busy) in [
        ("immediates", immediates_forever as fn(&EventLoop)),
        ("timers", timers_forever),
        ("a 10-minute timer", one_long_timer),
    ] {
        let (code, took) = terminate_after_start(busy);
        assert_eq!(code, 1, "{what}");
        assert!(took < PROMPT, "{what}: terminate took {took:?}");
    }
}

#[test]
fn a_panic_is_an_error_event_then_exit_1_and_the_parent_keeps_running() {
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "panicker", |lp, _| {
        lp.set_timeout(5, |_| panic!("boom {}", 42));
    })
    .expect("spawn");
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    worker.on_error(&lp, move |_, message| {
        l.borrow_mut().push(format!("error: {message}"))
    });
    let l = log.clone();
    worker.on_exit(&lp, move |lp, code| {
        l.borrow_mut().push(format!("exit {code}"));
        let l = l.clone();
        lp.set_timeout(5, move |_| l.borrow_mut().push("parent timer".to_owned()));
    });
    assert!(!lp.run(RunMode::Default));
    assert_eq!(*log.borrow(), ["error: boom 42", "exit 1", "parent timer"]);

    // A panic in the worker's main itself is reported the same way.
    let worker = Worker::spawn(&lp, "bad-main", |_, _| panic!("no script")).expect("spawn");
    let error = Rc::new(RefCell::new(String::new()));
    let e = error.clone();
    worker.on_error(&lp, move |_, message| *e.borrow_mut() = message);
    assert!(!lp.run(RunMode::Default));
    assert_eq!(*error.borrow(), "no script");
    assert_eq!(worker.exit_code(), Some(1));
}

#[test]
fn exit_codes_0_when_done_and_the_code_given_to_exit() {
    let lp = new_loop();
    watchdog(&lp);
    let done = Worker::spawn(&lp, "done", |lp, port| {
        lp.set_timeout(5, move |_| port.post("tick").expect("parent is listening"));
    })
    .expect("spawn");
    let exiter = Worker::spawn(&lp, "exiter", |lp, port| {
        lp.set_timeout(5, move |_| {
            port.exit(7);
        });
        lp.set_timeout(60_000, |_| unreachable!("exit ends the worker's loop"));
    })
    .expect("spawn");
    let errors = Rc::new(Cell::new(0));
    for w in [&done, &exiter] {
        let e = errors.clone();
        w.on_error(&lp, move |_, _| e.set(e.get() + 1));
    }
    assert!(!lp.run(RunMode::Default));
    assert_eq!(done.exit_code(), Some(0));
    assert_eq!(exiter.exit_code(), Some(7));
    assert_eq!(errors.get(), 0, "exit is not an error");

    // Registered after the fact, the exit callback still runs (as an immediate).
    let late = Rc::new(Cell::new(None));
    let l = late.clone();
    exiter.on_exit(&lp, move |_, code| l.set(Some(code)));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(late.get(), Some(7));
}

#[test]
fn an_unreferenced_worker_lets_the_parent_end_and_dropping_the_loop_joins_it() {
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "sleeper", |lp, _| one_long_timer(lp)).expect("spawn");
    worker.unref(&lp);
    let start = Instant::now();
    assert!(!lp.run(RunMode::Default), "nothing referenced is left");
    assert!(start.elapsed() < PROMPT);
    assert_eq!(worker.exit_code(), None, "still running");
    assert!(worker.post(1u8).is_ok());

    drop(lp); // terminates and joins the worker
    assert_eq!(worker.exit_code(), Some(1));
    let refused = worker.post(5u8).expect_err("the worker has ended");
    assert_eq!(
        worker::downcast::<u8>(refused.0).ok(),
        Some(5),
        "the value comes back"
    );
    assert!(start.elapsed() < PROMPT);
}
