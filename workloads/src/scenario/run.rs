//! Runs a scenario on the runtime: a fresh pool of `pool_size` threads and a fresh loop, every
//! top-level op scheduled by the "main program", then the loop runs until nothing is left.
//!
//! Each op maps to the runtime call Node's would make (`set_timeout`, `crypto::pbkdf2`,
//! `fs::read_file`, `Worker::spawn`, ...). When it completes, its label is recorded with the
//! milliseconds since the start and the thread its work ran on (`main`, `worker-N`, or
//! `pool-N` for pool work), then its `then` ops are scheduled from inside that callback.
//!
//! Completions from every thread go to one log under one mutex, and the time is read under that
//! mutex, so the log's order is the order in time. Workers are numbered 1, 2, ... in the order
//! this run starts them, as Node's `threadId` is in a fresh process.
//!
//! A run never hangs. It ends, as the generated Node program does (`process.exit(3)`), at the
//! first failed op: in a worker, the worker exits with 1 (`WorkerPort::exit`); on the main
//! thread, or when a worker exits after a failure, every worker is terminated and the loop
//! stopped. Whatever else waits forever (the structure cannot show every message sent to a
//! worker not running: see `order.rs`) is cut by [`LOOPLAB_TIME_LIMIT`], an unreferenced
//! timer, so it does not keep a finished run alive.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use looplab_runtime::{crypto, dns, fs, EventLoop, RunMode, ThreadPool};
use serde::{Deserialize, Serialize};

use super::error::io_err;
use super::fixture::Fixture;
use super::model::{Op, OpKind, Scenario};
use super::{http, workers, ScenarioError};

/// How long a run on the runtime may take before it is stopped, as
/// [`NODE_TIME_LIMIT`](super::node::NODE_TIME_LIMIT) for Node.
pub const LOOPLAB_TIME_LIMIT: Duration = Duration::from_secs(120);

/// One completion, as both runners record it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The op's label (`label#k` for an interval's k-th tick).
    pub label: String,
    /// Milliseconds from the start to when the op was issued (the previous tick, for a tick).
    pub start_ms: f64,
    /// Milliseconds from the start to its completion.
    pub ms: f64,
    /// Where its work ran: `main`, `worker-N`, `pool-N` (looplab) or `pool` (Node, which does
    /// not say which pool thread).
    pub thread: String,
}

/// The completions of one run, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Completions, ordered by time.
    pub completions: Vec<Completion>,
}

impl Timeline {
    /// The labels in completion order.
    pub fn order(&self) -> Vec<&str> {
        self.completions.iter().map(|c| c.label.as_str()).collect()
    }

    /// Milliseconds from the start to the last completion.
    pub fn total_ms(&self) -> f64 {
        self.completions.iter().map(|c| c.ms).fold(0.0, f64::max)
    }

    /// Checks that every label of `scenario` completed exactly once.
    pub fn check_complete(
        &self,
        scenario: &Scenario,
        side: &'static str,
    ) -> Result<(), ScenarioError> {
        let missing = self.missing(scenario);
        if missing.is_empty() {
            return Ok(());
        }
        Err(ScenarioError::Unfinished {
            side,
            missing: missing.join(", "),
        })
    }

    /// The completion labels of `scenario` not in this timeline, in file order. Linear: one
    /// hash set of the completed labels, one look-up per label.
    pub fn missing(&self, scenario: &Scenario) -> Vec<String> {
        let done: HashSet<&str> = self.completions.iter().map(|c| c.label.as_str()).collect();
        scenario
            .completion_labels()
            .into_iter()
            .filter(|l| !done.contains(l.as_str()))
            .collect()
    }
}

/// What every thread of one run shares.
pub(crate) struct Shared {
    start: Instant,
    log: Mutex<Vec<Completion>>,
    errors: Mutex<Vec<(String, String)>>,
    /// Message ops by label, for the receivers.
    pub(crate) messages: HashMap<String, Arc<Op>>,
    /// How many messages the main thread sends each worker, by the worker's label.
    pub(crate) expected: HashMap<String, usize>,
    files: HashMap<String, PathBuf>,
    server: Option<SocketAddr>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e3
    }
}

/// One thread's view of the run: the main thread's, or a worker's.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    /// `main` or `worker-N`.
    pub(crate) thread: String,
    /// Inside a worker: the port to its parent.
    pub(crate) port: Option<looplab_runtime::WorkerPort>,
    /// On the main thread: the workers started so far, by label.
    pub(crate) workers: RefCell<HashMap<String, looplab_runtime::Worker>>,
    pub(crate) workers_started: Cell<usize>,
}

impl Ctx {
    pub(crate) fn new(
        shared: Arc<Shared>,
        thread: String,
        port: Option<looplab_runtime::WorkerPort>,
    ) -> Rc<Self> {
        Rc::new(Ctx {
            shared,
            thread,
            port,
            workers: RefCell::new(HashMap::new()),
            workers_started: Cell::new(0),
        })
    }

    pub(crate) fn record(&self, label: String, start_ms: f64, thread: String) {
        let mut log = lock(&self.shared.log);
        let ms = self.shared.now_ms();
        log.push(Completion {
            label,
            start_ms,
            ms,
            thread,
        });
    }

    /// Records that `label` failed and ends the run (see the module documentation).
    pub(crate) fn fail(&self, lp: &EventLoop, label: &str, cause: impl ToString) {
        lock(&self.shared.errors).push((label.to_string(), cause.to_string()));
        self.abort(lp);
    }

    pub(crate) fn failed(&self) -> bool {
        !lock(&self.shared.errors).is_empty()
    }

    /// Ends the run: inside a worker, exits it (its parent sees the failure at the exit);
    /// on the main thread, terminates every worker and stops the loop.
    pub(crate) fn abort(&self, lp: &EventLoop) {
        if let Some(port) = &self.port {
            port.exit(1);
        }
        for worker in self.workers.borrow().values() {
            worker.terminate();
        }
        lp.stop();
    }

    /// Records `op` as complete, then schedules its `then` ops from inside this callback.
    pub(crate) fn complete(
        self: &Rc<Self>,
        lp: &EventLoop,
        op: &Op,
        start_ms: f64,
        thread: String,
    ) {
        self.record(op.label.clone(), start_ms, thread);
        self.schedule_all(lp, &op.then);
    }

    pub(crate) fn schedule_all(self: &Rc<Self>, lp: &EventLoop, ops: &[Arc<Op>]) {
        for op in ops {
            schedule(lp, self, op);
        }
    }

    /// The thread a pool op's work ran on, read in its completion callback.
    fn pool_thread(&self, lp: &EventLoop) -> String {
        lp.completing_pool_thread()
            .map_or_else(|| self.thread.clone(), |n| format!("pool-{n}"))
    }
}

/// Runs `scenario` once on the runtime, with the files and server of `fixture`.
pub fn run_looplab(scenario: &Arc<Scenario>, fixture: &Fixture) -> Result<Timeline, ScenarioError> {
    run_within(scenario, fixture, LOOPLAB_TIME_LIMIT)
}

/// [`run_looplab`] with a time limit of `limit`.
fn run_within(
    scenario: &Arc<Scenario>,
    fixture: &Fixture,
    limit: Duration,
) -> Result<Timeline, ScenarioError> {
    let pool =
        ThreadPool::with_size(scenario.pool_size).map_err(crate::error::WorkloadError::from)?;
    let lp = EventLoop::with_pool(pool).map_err(io_err("create the event loop"))?;
    let shared = Arc::new(Shared::new(scenario, fixture));
    let ctx = Ctx::new(Arc::clone(&shared), "main".into(), None);
    let timed_out = Rc::new(Cell::new(false));
    let (flag, limiter) = (Rc::clone(&timed_out), Rc::clone(&ctx));
    let timer = lp.set_timeout(limit.as_millis() as u64, move |lp| {
        flag.set(true);
        limiter.abort(lp);
    });
    lp.unref_timer(timer);
    ctx.schedule_all(&lp, &scenario.ops);
    lp.run(RunMode::Default);
    ctx.workers.borrow_mut().clear();
    drop(ctx);
    // Dropping the loop terminates and joins any worker still running.
    drop(lp);
    let timeline = Timeline {
        completions: std::mem::take(&mut *lock(&shared.log)),
    };
    if let Some((label, cause)) = lock(&shared.errors).first().cloned() {
        return Err(ScenarioError::OpFailed { label, cause });
    }
    if timed_out.get() {
        return Err(ScenarioError::TimedOut {
            side: "looplab",
            limit_s: limit.as_secs_f64(),
            missing: timeline.missing(scenario).join(", "),
        });
    }
    timeline.check_complete(scenario, "looplab")?;
    Ok(timeline)
}

impl Shared {
    fn new(scenario: &Arc<Scenario>, fixture: &Fixture) -> Self {
        let messages = scenario
            .all_ops()
            .into_iter()
            .filter(|op| matches!(op.kind, OpKind::Message { .. }))
            .map(|op| (op.label.clone(), Arc::clone(op)))
            .collect();
        Shared {
            start: Instant::now(),
            log: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            messages,
            expected: scenario.messages_per_worker(),
            files: fixture.files().clone(),
            server: fixture.server(),
        }
    }
}

/// Issues `op` on `lp` in the context `ctx`.
pub(crate) fn schedule(lp: &EventLoop, ctx: &Rc<Ctx>, op: &Arc<Op>) {
    let start = ctx.shared.now_ms();
    let (ctx, op, this) = (Rc::clone(ctx), Arc::clone(op), Arc::clone(op));
    match &this.kind {
        OpKind::Timeout { ms } => {
            lp.set_timeout(*ms, move |lp| {
                ctx.complete(lp, &op, start, ctx.thread.clone())
            });
        }
        OpKind::Interval { ms, times } => interval(lp, ctx, op, *ms, *times, start),
        OpKind::Immediate => {
            lp.set_immediate(move |lp| ctx.complete(lp, &op, start, ctx.thread.clone()));
        }
        OpKind::NextTick => {
            lp.next_tick(move |lp| ctx.complete(lp, &op, start, ctx.thread.clone()))
        }
        OpKind::Microtask => {
            lp.queue_microtask(move |lp| ctx.complete(lp, &op, start, ctx.thread.clone()))
        }
        OpKind::Block { ms } => {
            let end = Instant::now() + Duration::from_millis(*ms);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
            ctx.complete(lp, &op, start, ctx.thread.clone());
        }
        OpKind::Pbkdf2Sync { iterations, keylen } => {
            match crypto::pbkdf2_sync(b"a", b"b", *iterations, *keylen) {
                Ok(_) => ctx.complete(lp, &op, start, ctx.thread.clone()),
                Err(e) => ctx.fail(lp, &op.label, e),
            }
        }
        OpKind::Pbkdf2 { iterations, keylen } => {
            let (c, o) = (Rc::clone(&ctx), Arc::clone(&op));
            let issued = crypto::pbkdf2(lp, b"a", b"b", *iterations, *keylen, move |lp, _| {
                c.complete(lp, &o, start, c.pool_thread(lp));
            });
            if let Err(e) = issued {
                ctx.fail(lp, &op.label, e);
            }
        }
        OpKind::ReadFile { .. } | OpKind::WriteFile { .. } | OpKind::Stat => {
            file_op(lp, ctx, op, start)
        }
        OpKind::Lookup { host } => {
            let host = host.clone();
            dns::lookup(lp, &host, move |lp, result| match result {
                Ok(_) => ctx.complete(lp, &op, start, ctx.pool_thread(lp)),
                Err(e) => ctx.fail(lp, &op.label, e),
            });
        }
        OpKind::HttpGet { path } => http_get(lp, ctx, op.clone(), path, start),
        OpKind::Worker { .. } => workers::start(lp, &ctx, &op, start),
        OpKind::Message { to } => workers::send(lp, &ctx, &op, to.as_deref(), start),
    }
}

fn interval(lp: &EventLoop, ctx: Rc<Ctx>, op: Arc<Op>, ms: u64, times: u32, start: f64) {
    let id = Rc::new(Cell::new(None));
    let timer = Rc::clone(&id);
    let ticks = Cell::new(0u32);
    let previous = Cell::new(start);
    let timer_id = lp.set_interval(ms, move |lp| {
        let k = ticks.get() + 1;
        ticks.set(k);
        let label = super::model::tick_label(&op.label, k);
        ctx.record(label, previous.get(), ctx.thread.clone());
        previous.set(ctx.shared.now_ms());
        if k == times {
            if let Some(id) = timer.get() {
                lp.clear_timer(id);
            }
            ctx.schedule_all(lp, &op.then);
        }
    });
    id.set(Some(timer_id));
}

fn file_op(lp: &EventLoop, ctx: Rc<Ctx>, op: Arc<Op>, start: f64) {
    let Some(path) = ctx.shared.files.get(&op.label).cloned() else {
        return ctx.fail(lp, &op.label, "internal: no file was prepared for this op");
    };
    match op.kind {
        OpKind::ReadFile { .. } => fs::read_file(lp, path, move |lp, result| match result {
            Ok(_) => ctx.complete(lp, &op, start, ctx.pool_thread(lp)),
            Err(e) => ctx.fail(lp, &op.label, e),
        }),
        OpKind::WriteFile { bytes } => {
            let data = vec![b'x'; bytes as usize];
            fs::write_file(lp, path, data, move |lp, result| match result {
                Ok(()) => ctx.complete(lp, &op, start, ctx.pool_thread(lp)),
                Err(e) => ctx.fail(lp, &op.label, e),
            })
        }
        _ => fs::stat(lp, path, move |lp, result| match result {
            Ok(_) => ctx.complete(lp, &op, start, ctx.pool_thread(lp)),
            Err(e) => ctx.fail(lp, &op.label, e),
        }),
    }
}

fn http_get(lp: &EventLoop, ctx: Rc<Ctx>, op: Arc<Op>, path: &str, start: f64) {
    let Some(addr) = ctx.shared.server else {
        return ctx.fail(
            lp,
            &op.label,
            "internal: no server was started for http_get",
        );
    };
    http::get(lp, addr, path, move |lp, result| match result {
        Ok(200) => ctx.complete(lp, &op, start, ctx.thread.clone()),
        Ok(status) => ctx.fail(lp, &op.label, format!("the server answered {status}")),
        Err(e) => ctx.fail(lp, &op.label, e),
    });
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
