//! The event loop: one per thread, libuv 1.46's `uv_run` with Node 20's layer on top.
//!
//! # Example
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use looplab_runtime::{EventLoop, RunMode};
//!
//! let lp = EventLoop::new().unwrap();
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let l = log.clone();
//! lp.set_timeout(0, move |_| l.borrow_mut().push("timeout"));
//! let l = log.clone();
//! lp.set_immediate(move |lp| {
//!     l.borrow_mut().push("immediate");
//!     let l2 = l.clone();
//!     lp.next_tick(move |_| l2.borrow_mut().push("tick after immediate"));
//! });
//! let l = log.clone();
//! lp.next_tick(move |_| l.borrow_mut().push("tick"));
//! assert!(!lp.run(RunMode::Default), "the loop ran until nothing was left");
//! assert_eq!(log.borrow()[0], "tick");
//! assert_eq!(log.borrow().len(), 4);
//! ```
//!
//! # Caveats
//!
//! - Callbacks receive `&EventLoop` and may schedule anything on it, but must not call
//!   [`EventLoop::run`] on the same loop (libuv forbids it too; it panics).
//! - `set_timeout(0)` against `set_immediate` from outside any callback is a race, exactly as in
//!   Node: it depends on whether the millisecond clock ticked before the loop started.
//! - A panic in a callback (or in pool work, re-raised on the loop) unwinds out of `run`, like an
//!   uncaught exception ends a Node process.
//!
//! # Implementation notes
//!
//! One call of [`EventLoop::run`] (NODE_MODEL.md 1.1):
//! 1. drain next-ticks and microtasks left by code that ran outside the loop (the main program);
//! 2. `Default` mode only, if alive: update time, run due timers;
//! 3. while alive and not stopped, iterate:
//!    1. `can_sleep` = no pending callbacks and no active idle watcher (sampled first);
//!    2. pending callbacks; 3. idle watchers; 4. prepare watchers;
//!    5. poll for I/O with the timeout of [`EventLoop::backend_timeout`] (`Default`, or `Once` when
//!       it can sleep; otherwise 0); I/O, async and pool-completion callbacks run here;
//!    6. pending callbacks again, at most 8 rounds; 7. check: immediates, then check watchers;
//!    8. close callbacks; 9. update time, run due timers; `Once`/`NoWait` stop here.
//!
//! After every callback the loop drains the whole next-tick queue, then the microtask queue,
//! repeating until both are empty (Node's `processTicksAndRejections`).

mod api;

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use slab::Slab;

use crate::clock;
use crate::costs::{self, Event};
use crate::io::{Io, Ready, EVENTS_CAPACITY, WAKE_TOKEN};
use crate::metrics::{LoopMetrics, Phase};
use crate::pool::{Completion, CompletionSink, ThreadPool};
use crate::remote::{AsyncState, Remote};
use crate::timers::{TimerCallback, TimerHeap};

pub use api::{ImmediateId, WatcherId, WatcherKind};
use api::{Immediates, Watchers};

/// A callback run once by the loop.
pub type Callback = Box<dyn FnOnce(&EventLoop)>;
type AfterWork = Box<dyn FnOnce(&EventLoop, Box<dyn Any + Send>)>;

/// How long [`EventLoop::run`] runs (libuv's `uv_run_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Until nothing keeps the loop alive or [`EventLoop::stop`] is called.
    Default,
    /// One iteration, blocking in poll only if nothing is pending.
    Once,
    /// One iteration, never blocking.
    NoWait,
}

/// A single-threaded event loop (see the module documentation).
pub struct EventLoop {
    time_ms: Cell<u64>,
    stop_flag: Cell<bool>,
    running: Cell<bool>,
    phase_timing: Cell<bool>,
    active_handles: Cell<isize>,
    active_reqs: Cell<usize>,
    pub(crate) timers: RefCell<TimerHeap>,
    due: RefCell<Vec<(u32, u64)>>,
    immediates: RefCell<Immediates>,
    ticks: RefCell<VecDeque<Callback>>,
    microtasks: RefCell<VecDeque<Callback>>,
    pending: RefCell<VecDeque<Callback>>,
    closing: RefCell<VecDeque<Callback>>,
    watchers: RefCell<Watchers>,
    pub(crate) asyncs: RefCell<Vec<Rc<AsyncState>>>,
    pub(crate) remote: Arc<Remote>,
    sink: Arc<dyn CompletionSink>,
    pub(crate) io: Io,
    ready: RefCell<Vec<(mio::Token, Ready)>>,
    pool: OnceCell<Arc<ThreadPool>>,
    work: RefCell<Slab<AfterWork>>,
    completions: RefCell<Vec<Completion>>,
    /// The pool thread that ran the work whose `after_work` is running, if one is.
    completing_thread: Cell<Option<usize>>,
    pub(crate) metrics: RefCell<LoopMetrics>,
    /// Objects whose owner is the loop itself (a running worker): dropped with the loop.
    held: RefCell<Slab<Box<dyn Any>>>,
}

thread_local! {
    /// The loop whose `run` is on this thread's stack (innermost), for code that must reach it
    /// without being handed it, such as a `Drop` impl.
    static CURRENT: Cell<*const EventLoop> = const { Cell::new(std::ptr::null()) };
}

/// Marks the loop as running on this thread; undone on return and on unwind.
struct RunningGuard<'a> {
    running: &'a Cell<bool>,
    previous: *const EventLoop,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.running.set(false);
        CURRENT.with(|c| c.set(self.previous));
    }
}

impl EventLoop {
    /// A loop that submits pool work to the process pool ([`ThreadPool::global`]).
    pub fn new() -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let remote = Arc::new(Remote::new(waker));
        Ok(Self {
            time_ms: Cell::new(clock::now_ms()),
            stop_flag: Cell::new(false),
            running: Cell::new(false),
            phase_timing: Cell::new(false),
            active_handles: Cell::new(0),
            active_reqs: Cell::new(0),
            timers: RefCell::new(TimerHeap::default()),
            due: RefCell::new(Vec::new()),
            immediates: RefCell::new(Immediates::default()),
            ticks: RefCell::new(VecDeque::new()),
            microtasks: RefCell::new(VecDeque::new()),
            pending: RefCell::new(VecDeque::new()),
            closing: RefCell::new(VecDeque::new()),
            watchers: RefCell::new(Watchers::default()),
            asyncs: RefCell::new(Vec::new()),
            sink: Arc::clone(&remote) as Arc<dyn CompletionSink>,
            remote,
            io: Io::new(poll),
            ready: RefCell::new(Vec::with_capacity(EVENTS_CAPACITY)),
            pool: OnceCell::new(),
            work: RefCell::new(Slab::new()),
            completions: RefCell::new(Vec::new()),
            completing_thread: Cell::new(None),
            metrics: RefCell::new(LoopMetrics::new()),
            held: RefCell::new(Slab::new()),
        })
    }

    /// A loop that submits pool work to `pool` (share one pool between loops by cloning the Arc).
    pub fn with_pool(pool: Arc<ThreadPool>) -> io::Result<Self> {
        let lp = Self::new()?;
        let _ = lp.pool.set(pool);
        Ok(lp)
    }

    /// The pool this loop submits to (the process pool unless built with another).
    pub fn pool(&self) -> &Arc<ThreadPool> {
        self.pool.get_or_init(ThreadPool::global)
    }

    /// Runs the loop in `mode`; returns whether it is still alive (more work would run).
    pub fn run(&self, mode: RunMode) -> bool {
        assert!(
            !self.running.replace(true),
            "EventLoop::run called from a callback of the same loop"
        );
        let previous = CURRENT.with(|c| c.replace(self as *const EventLoop));
        let _running = RunningGuard {
            running: &self.running,
            previous,
        };
        self.metrics
            .borrow_mut()
            .start_ns
            .get_or_insert_with(clock::hrtime_ns);
        self.drain_ticks();

        let mut alive = self.alive();
        if !alive {
            self.update_time();
        }
        if mode == RunMode::Default && alive && !self.stop_flag.get() {
            self.update_time();
            self.run_timers();
        }
        while alive && !self.stop_flag.get() {
            let can_sleep = self.pending.borrow().is_empty() && !self.idle_active();
            self.phase(Phase::Pending, Self::run_pending);
            self.phase(Phase::Idle, |lp| lp.run_watchers(WatcherKind::Idle));
            self.phase(Phase::Prepare, |lp| lp.run_watchers(WatcherKind::Prepare));
            let timeout = match mode {
                RunMode::Default => self.backend_timeout(),
                RunMode::Once if can_sleep => self.backend_timeout(),
                _ => Some(0),
            };
            self.metrics.borrow_mut().iterations += 1;
            self.phase(Phase::Poll, |lp| lp.poll_io(timeout));
            self.phase(Phase::Pending, |lp| {
                for _ in 0..8 {
                    if lp.pending.borrow().is_empty() {
                        break;
                    }
                    lp.run_pending();
                }
            });
            self.phase(Phase::Check, Self::run_check);
            self.phase(Phase::Closing, Self::run_closing);
            self.phase(Phase::Timers, |lp| {
                lp.update_time();
                lp.run_timers();
            });
            alive = self.alive();
            if mode != RunMode::Default {
                break;
            }
        }
        self.stop_flag.set(false);
        alive
    }

    /// Calls `f` with the loop currently running on this thread (the innermost one), if any.
    /// For code that holds no `&EventLoop`, like a `Drop` impl of a handle.
    pub fn with_current<R>(f: impl FnOnce(&EventLoop) -> R) -> Option<R> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only between the start and the end of `run(&self)` on this
        // thread (RunningGuard restores it on return and unwind), so the loop it points to is
        // alive and borrowed shared for as long as `f` runs; EventLoop is !Sync and !Send, so
        // only this thread can see it.
        (!ptr.is_null()).then(|| f(unsafe { &*ptr }))
    }

    /// Makes [`EventLoop::run`] return after the current iteration (`uv_stop`).
    pub fn stop(&self) {
        self.stop_flag.set(true);
    }

    /// Whether anything keeps the loop alive: referenced active handles or requests, pending
    /// callbacks, or handles being closed (`uv__loop_alive`).
    pub fn alive(&self) -> bool {
        self.has_active_handles()
            || self.active_reqs.get() > 0
            || !self.pending.borrow().is_empty()
            || !self.closing.borrow().is_empty()
    }

    fn has_active_handles(&self) -> bool {
        self.active_handles.get() > 0
            || self.timers.borrow().referenced() > 0
            || self.immediates.borrow().referenced() > 0
    }

    /// Node keeps a `uv_idle` handle active while referenced immediates are queued.
    fn idle_active(&self) -> bool {
        self.immediates.borrow().referenced() > 0 || self.watchers.borrow().any(WatcherKind::Idle)
    }

    /// The poll timeout in ms (`None` = block until an event): `uv__backend_timeout`.
    pub fn backend_timeout(&self) -> Option<u64> {
        if self.stop_flag.get()
            || (!self.has_active_handles() && self.active_reqs.get() == 0)
            || !self.pending.borrow().is_empty()
            || self.idle_active()
            || !self.closing.borrow().is_empty()
        {
            return Some(0);
        }
        let next = self.timers.borrow_mut().next_due();
        next.map(|due| due.saturating_sub(self.time_ms.get()))
    }

    /// Inside the `after_work` callback of pool work (and what it calls, such as the callback of
    /// `fs::read_file` after its last trip): the index of the pool thread that ran that work.
    /// `None` in any other callback. For timelines that say where each operation ran.
    pub fn completing_pool_thread(&self) -> Option<usize> {
        self.completing_thread.get()
    }

    /// How many iterations have started (libuv's `loop_count`); cheap, unlike [`Self::metrics`].
    pub fn iteration(&self) -> u64 {
        self.metrics.borrow().iterations
    }

    /// The cached loop time in milliseconds (libuv's `loop->time`).
    pub fn now(&self) -> u64 {
        self.time_ms.get()
    }

    /// Refreshes the cached time (`uv_update_time`) and returns it.
    pub fn update_time(&self) -> u64 {
        let now = clock::now_ms();
        self.time_ms.set(now);
        now
    }

    /// Keeps `value` alive until [`EventLoop::release`] or until the loop is dropped, for
    /// things the loop itself owns, such as a worker that must be joined when its parent loop
    /// goes away. Returns the key to release it with.
    pub(crate) fn hold(&self, value: Box<dyn Any>) -> usize {
        self.held.borrow_mut().insert(value)
    }

    /// Drops what [`EventLoop::hold`] kept (outside the borrow, so its `Drop` may use the loop).
    pub(crate) fn release(&self, key: usize) {
        let value = self.held.borrow_mut().try_remove(key);
        drop(value);
    }

    pub(crate) fn add_active_handles(&self, delta: isize) {
        self.active_handles.set(self.active_handles.get() + delta);
    }

    pub(crate) fn push_pending(&self, callback: Callback) {
        self.pending.borrow_mut().push_back(callback);
    }

    pub(crate) fn push_closing(&self, callback: Callback) {
        self.closing.borrow_mut().push_back(callback);
    }

    fn phase(&self, phase: Phase, f: impl FnOnce(&Self)) {
        if !self.phase_timing.get() {
            return f(self);
        }
        let start = clock::hrtime_ns();
        f(self);
        let spent = clock::hrtime_ns() - start;
        self.metrics.borrow_mut().add_phase(phase, spent);
    }

    /// Runs one callback the way Node runs any callback from the loop: then the tick queues.
    pub(crate) fn invoke(&self, callback: impl FnOnce(&Self)) {
        callback(self);
        self.drain_ticks();
    }

    /// Runs the whole next-tick queue, then the microtask queue, until both are empty.
    pub(crate) fn drain_ticks(&self) {
        loop {
            loop {
                let tick = self.ticks.borrow_mut().pop_front();
                match tick {
                    Some(tick) => {
                        costs::charge(Event::Tick);
                        tick(self)
                    }
                    None => break,
                }
            }
            loop {
                let task = self.microtasks.borrow_mut().pop_front();
                match task {
                    Some(task) => {
                        costs::charge(Event::Microtask);
                        task(self)
                    }
                    None => break,
                }
            }
            if self.ticks.borrow().is_empty() {
                return;
            }
        }
    }

    fn run_pending(&self) {
        let batch = std::mem::take(&mut *self.pending.borrow_mut());
        for callback in batch {
            self.invoke(callback);
        }
    }

    fn run_closing(&self) {
        let batch = std::mem::take(&mut *self.closing.borrow_mut());
        for callback in batch {
            self.invoke(callback);
        }
    }

    fn run_timers(&self) {
        let now = self.time_ms.get();
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        self.timers.borrow_mut().collect_due(now, &mut due);
        for &(slot, seq) in &due {
            let Some(timer) = self.timers.borrow_mut().take_due(slot, seq) else {
                continue;
            };
            costs::charge(Event::Timer);
            match timer.callback {
                TimerCallback::Once(callback) => callback(self),
                TimerCallback::Repeat(mut callback) => {
                    // Node re-inserts an interval relative to the time before its callback ran.
                    let start = self.update_time();
                    callback(self);
                    let repeat_ms = timer.repeat_ms.unwrap_or(1);
                    self.timers.borrow_mut().rearm(
                        timer.id,
                        TimerCallback::Repeat(callback),
                        start,
                        repeat_ms,
                    );
                }
            }
            self.drain_ticks();
        }
        due.clear();
        *self.due.borrow_mut() = due;
    }

    /// The poll phase as libuv runs it with `UV_METRICS_IDLE_TIME` on, as Node configures its
    /// loops: a poll with timeout 0 first; only when nothing was waiting, the blocking wait,
    /// whose time is the loop's idle time and whose wake-up costs Node's thread
    /// [`Event::Wakeup`]. While the event buffer comes back full, polls again with timeout 0,
    /// 48 polls at most.
    fn poll_io(&self, timeout_ms: Option<u64>) {
        let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
        let mut n = self.io.wait(Some(Duration::ZERO), &mut ready);
        self.update_time();
        if n == 0 && timeout_ms != Some(0) {
            let entered_ns = clock::hrtime_ns();
            n = self
                .io
                .wait(timeout_ms.map(Duration::from_millis), &mut ready);
            self.update_time();
            self.metrics.borrow_mut().idle_ns += clock::hrtime_ns() - entered_ns;
            costs::charge(Event::Wakeup);
        }
        let mut polls = 1;
        loop {
            self.dispatch_ready(&mut ready);
            if n < EVENTS_CAPACITY || polls == 48 {
                break;
            }
            n = self.io.wait(Some(Duration::ZERO), &mut ready);
            self.update_time();
            polls += 1;
        }
        *self.ready.borrow_mut() = ready;
    }

    /// Runs the watchers of one poll's events, in order, and empties `ready`.
    fn dispatch_ready(&self, ready: &mut Vec<(mio::Token, Ready)>) {
        self.metrics.borrow_mut().events += ready.len() as u64;
        for (token, readiness) in ready.drain(..) {
            if token == WAKE_TOKEN {
                self.process_wakeups();
            } else if let Some(watcher) = self.io.watcher(token) {
                costs::charge(Event::Io);
                watcher.ready(self, readiness);
                self.drain_ticks();
            }
        }
    }

    fn process_wakeups(&self) {
        self.remote.begin_scan();
        self.run_completions();
        if self.asyncs.borrow().is_empty() {
            return;
        }
        let handles: Vec<Rc<AsyncState>> = self.asyncs.borrow().clone();
        for handle in handles {
            if handle.take_pending() {
                self.invoke(|lp| handle.call(lp));
            }
        }
    }

    fn run_completions(&self) {
        let mut batch = std::mem::take(&mut *self.completions.borrow_mut());
        self.remote.take_completions(&mut batch);
        for completion in batch.drain(..) {
            let after = self.work.borrow_mut().try_remove(completion.req);
            self.active_reqs.set(self.active_reqs.get() - 1);
            self.metrics.borrow_mut().record_task(&completion.timing);
            match completion.result {
                Ok(value) => {
                    if let Some(after) = after {
                        costs::charge(Event::PoolCompletion);
                        self.completing_thread.set(Some(completion.timing.thread));
                        self.invoke(|lp| {
                            after(lp, value);
                            // Next-ticks and microtasks drained after it are not pool work.
                            lp.completing_thread.set(None);
                        });
                    }
                }
                // Work that panicked on a pool thread fails on the loop that submitted it.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        *self.completions.borrow_mut() = batch;
    }
}
