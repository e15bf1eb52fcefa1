//! Worker threads against NODE_MODEL.md section 3:
//!
//! - messages arrive in send order both ways, in the receiver's poll phase (between its prepare
//!   and check watchers of one iteration), one callback each (next-ticks drain between them);
//! - a worker's port keeps messages queued until it has a listener, and an unreferenced port
//!   does not keep the worker alive;
//! - a 64 MiB `Vec` moves by pointer; a `SharedBuffer` is seen by both sides (1 + 41 = 42);
//! - `online` comes before the first message and start-up time is measured.
//!
//! How workers end is in `worker_exit.rs`.
//!
//! Each test is bounded by a watchdog timer; time only appears as generous upper bounds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use looplab_runtime::worker::{self, downcast, SharedBuffer, Worker, WorkerPort};
use looplab_runtime::{EventLoop, RunMode, ThreadPool, WatcherKind};

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

/// What a loop saw, in order, with `lp.iteration()` at that moment.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Prepare(u64),
    Check(u64),
    Message(u32, u64),
    Tick(u32),
}

type Log = Rc<RefCell<Vec<Seen>>>;

/// Logs every prepare and check phase (unreferenced watchers: they do not keep `lp` alive).
fn watch_phases(lp: &EventLoop, log: &Log) {
    let l = log.clone();
    let prepare = lp.start_watcher(WatcherKind::Prepare, move |lp| {
        l.borrow_mut().push(Seen::Prepare(lp.iteration()))
    });
    let l = log.clone();
    let check = lp.start_watcher(WatcherKind::Check, move |lp| {
        l.borrow_mut().push(Seen::Check(lp.iteration()))
    });
    lp.unref_watcher(prepare);
    lp.unref_watcher(check);
}

/// Logs a received number, and a next-tick that must run before the next message.
fn record(lp: &EventLoop, log: &Log, n: u32) {
    log.borrow_mut().push(Seen::Message(n, lp.iteration()));
    let l = log.clone();
    lp.next_tick(move |_| l.borrow_mut().push(Seen::Tick(n)));
}

/// Messages 0..count in order, each followed at once by its tick, each between the prepare
/// (iteration i - 1, counted before poll) and the check (iteration i) of its iteration: the
/// poll phase.
fn assert_delivered_in_poll(side: &str, log: &[Seen], count: u32) {
    let messages: Vec<(usize, u32, u64)> = log
        .iter()
        .enumerate()
        .filter_map(|(at, seen)| match *seen {
            Seen::Message(n, iteration) => Some((at, n, iteration)),
            _ => None,
        })
        .collect();
    let order: Vec<u32> = messages.iter().map(|&(_, n, _)| n).collect();
    assert_eq!(order, (0..count).collect::<Vec<_>>(), "{side}: send order");
    for &(at, n, iteration) in &messages {
        assert_eq!(log.get(at + 1), Some(&Seen::Tick(n)), "{side}: tick of {n}");
        let before = log[..at]
            .iter()
            .rev()
            .find(|s| matches!(s, Seen::Prepare(_) | Seen::Check(_)));
        assert_eq!(before, Some(&Seen::Prepare(iteration - 1)), "{side}: {n}");
        let after = log[at..]
            .iter()
            .find(|s| matches!(s, Seen::Prepare(_) | Seen::Check(_)));
        if let Some(after) = after {
            assert_eq!(after, &Seen::Check(iteration), "{side}: {n}");
        }
    }
}

/// The echo worker's script: records each number, echoes it, and on "done" sends its log.
fn echo(lp: &EventLoop, port: WorkerPort) {
    let log = Log::default();
    watch_phases(lp, &log);
    let reply = port.clone();
    port.on_message(lp, move |lp, msg| match downcast::<u32>(msg) {
        Ok(n) => {
            record(lp, &log, n);
            reply.post(n).expect("parent is listening");
        }
        Err(_) => {
            let seen = log.borrow().clone();
            reply.post(seen).expect("parent is listening");
            reply.off_message(lp);
        }
    });
}

#[test]
fn messages_arrive_in_order_in_the_poll_phase_both_ways() {
    const COUNT: u32 = 300;
    let lp = new_loop();
    watchdog(&lp);
    let log = Log::default();
    watch_phases(&lp, &log);
    let worker = Worker::spawn(&lp, "echo", echo).expect("spawn");
    let worker_log = Rc::new(RefCell::new(None));
    let (l, w) = (log.clone(), worker_log.clone());
    worker.on_message(&lp, move |lp, msg| match downcast::<u32>(msg) {
        Ok(n) => record(lp, &l, n),
        Err(msg) => *w.borrow_mut() = downcast::<Vec<Seen>>(msg).ok(),
    });
    for n in 0..COUNT {
        worker.post(n).expect("worker is running");
    }
    worker.post("done").expect("worker is running");
    let exit = Rc::new(Cell::new(None));
    let e = exit.clone();
    worker.on_exit(&lp, move |_, code| e.set(Some(code)));

    assert!(!lp.run(RunMode::Default));
    assert_eq!(
        exit.get(),
        Some(0),
        "no listener left: the worker's loop ran out"
    );
    let worker_log = worker_log
        .borrow_mut()
        .take()
        .expect("the worker sent its log");
    assert_delivered_in_poll("worker", &worker_log, COUNT);
    assert_delivered_in_poll("parent", &log.borrow(), COUNT);
}

#[test]
fn a_port_keeps_messages_until_it_listens_and_unref_lets_the_worker_end() {
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "late", |lp, port| {
        // Listens only 30 ms after the parent's messages were posted.
        lp.set_timeout(30, move |lp| {
            let reply = port.clone();
            port.on_message(lp, move |lp, msg| {
                let last = worker::downcast_ref::<&str>(&msg) == Some(&"c");
                reply.post(msg).expect("parent is listening");
                if last {
                    // The listener stays, but no longer keeps this loop alive: it ends.
                    reply.unref(lp);
                }
            });
        });
    })
    .expect("spawn");
    for word in ["a", "b", "c"] {
        worker.post(word).expect("worker is running");
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    worker.on_message(&lp, move |_, msg| {
        g.borrow_mut().push(downcast::<&str>(msg).expect("a word"))
    });
    let exit = Rc::new(Cell::new(None));
    let e = exit.clone();
    worker.on_exit(&lp, move |_, code| e.set(Some(code)));
    assert!(!lp.run(RunMode::Default));
    assert_eq!(exit.get(), Some(0));
    assert_eq!(*got.borrow(), ["a", "b", "c"]);
}

#[test]
fn a_64_mib_vec_moves_by_pointer_both_ways() {
    const SIZE: usize = 64 << 20;
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "mover", |lp, port| {
        let reply = port.clone();
        port.on_message(lp, move |lp, msg| {
            let data: Vec<u8> = downcast(msg).expect("a Vec<u8>");
            let seen_at = data.as_ptr() as usize;
            reply.post((seen_at, data)).expect("parent is listening");
            reply.off_message(lp);
        });
    })
    .expect("spawn");
    let mut data = vec![0u8; SIZE];
    data[SIZE - 1] = 7;
    let sent_at = data.as_ptr() as usize;
    worker.post(data).expect("worker is running"); // `data` is gone from here on
    let back = Rc::new(RefCell::new(None));
    let b = back.clone();
    worker.on_message(&lp, move |_, msg| {
        let (seen_at, data): (usize, Vec<u8>) = downcast(msg).expect("(address, Vec<u8>)");
        *b.borrow_mut() = Some((seen_at, data.as_ptr() as usize, data));
    });
    assert!(!lp.run(RunMode::Default));
    let (seen_at, back_at, data) = back.borrow_mut().take().expect("the Vec came back");
    assert_eq!(seen_at, sent_at, "the worker got the same heap buffer");
    assert_eq!(back_at, sent_at, "and the parent got it back");
    assert_eq!(data.len(), SIZE);
    assert_eq!(data[SIZE - 1], 7);
}

#[test]
fn a_shared_buffer_is_seen_by_both_sides() {
    let lp = new_loop();
    watchdog(&lp);
    let shared = SharedBuffer::new(4);
    shared.store(0, 1);
    let theirs = shared.clone();
    let worker = Worker::spawn(&lp, "adder", move |_, port| {
        theirs.fetch_add(0, 41);
        port.post(theirs).expect("parent is listening");
    })
    .expect("spawn");
    let same = Rc::new(Cell::new(false));
    let (s, mine) = (same.clone(), shared.clone());
    worker.on_message(&lp, move |_, msg| {
        let theirs: SharedBuffer = downcast(msg).expect("a SharedBuffer");
        s.set(theirs.same_buffer(&mine));
    });
    assert!(!lp.run(RunMode::Default));
    assert_eq!(shared.load(0), 42);
    assert!(same.get(), "the worker's handle views the same memory");
    assert_eq!(worker.exit_code(), Some(0));
}

#[test]
fn online_comes_before_the_first_message_and_startup_is_measured() {
    let lp = new_loop();
    watchdog(&lp);
    let worker = Worker::spawn(&lp, "greeter", |_, port| {
        port.post("hello").expect("parent is listening");
    })
    .expect("spawn");
    assert!(worker.thread_id() >= 1);
    assert_eq!(worker.name(), "greeter");
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l, w) = (log.clone(), worker.clone());
    worker.on_online(&lp, move |_| {
        let startup = w.startup().expect("known when online");
        l.borrow_mut().push(format!("online after {startup:?}"));
    });
    let l = log.clone();
    worker.on_message(&lp, move |_, _| l.borrow_mut().push("message".to_owned()));
    assert!(!lp.run(RunMode::Default));
    let log = log.borrow();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].starts_with("online after"), "{log:?}");
    assert_eq!(log[1], "message");
    let startup = worker.startup().expect("measured");
    assert!(startup > Duration::ZERO && startup < PROMPT, "{startup:?}");
}
