//! Cost probes: the looplab side of `lab calibrate --costs` (the Node side is
//! `scripts/node/costs.js`, the same jobs). A probe runs one job of `n` events of one kind in
//! a fresh event loop and reports the process' CPU time (user + system, `getrusage`) spent
//! from just before the first event to just after the last, so loop creation and exit stay
//! out; run with `n = 0` it is the empty-run baseline the caller subtracts.
//!
//! Jobs (each bounded by `n` and by [`MAX_PROBE_N`]):
//! - `timer`: `n` `set_timeout(1)` scheduled at once, until the last fired;
//! - `immediate`, `tick`, `microtask`: `n` immediates, next-ticks or microtasks queued at once;
//! - `pool`: `n` empty work items submitted at once to a pool of 4, until the last completion;
//!   the 4 threads are first held by gate items (blocked, no CPU) so that the process' CPU over
//!   the synchronous submitting loop is the loop thread's alone (`submit_ns`); then the gate
//!   opens, and `loop_ns` is the loop thread's own CPU over the whole job (where a profile
//!   charges pool costs; the pool threads' share is theirs);
//! - `worker`: `n` messages posted at once to one worker thread that echoes each, until the last
//!   echo; the worker is started and answers once before the clock starts.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use looplab_runtime::costs::thread_cpu_ns;
use looplab_runtime::worker::{downcast, Worker};
use looplab_runtime::{EventLoop, RunMode, ThreadPool, WorkSpec};
use serde::Serialize;

use crate::error::WorkloadError;
use crate::experiments::io_err;

/// The probes, by name.
pub const PROBES: [&str; 6] = ["timer", "immediate", "tick", "microtask", "pool", "worker"];

/// Most events one probe runs.
pub const MAX_PROBE_N: u64 = 2_000_000;

/// What one probe measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ProbeResult {
    /// Process CPU time (user + system) over the job, ns.
    pub cpu_ns: u64,
    /// `pool` only: process CPU over the synchronous submitting loop (pool threads held), ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_ns: Option<u64>,
    /// `pool` only: the loop thread's own CPU over the job, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_ns: Option<u64>,
}

/// This process' CPU time (user + system, every thread), ns.
pub fn process_cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// Runs the probe `name` over `n` events.
pub fn probe(name: &str, n: u64) -> Result<ProbeResult, WorkloadError> {
    if n > MAX_PROBE_N {
        return Err(WorkloadError::Param {
            name: "--n",
            value: n.to_string(),
            hint: "use 0..=2000000 events",
        });
    }
    match name {
        "timer" => queued(n, |lp| {
            lp.set_timeout(1, count_one);
        }),
        "immediate" => queued(n, |lp| {
            lp.set_immediate(count_one);
        }),
        "tick" => queued(n, |lp| lp.next_tick(count_one)),
        "microtask" => queued(n, |lp| lp.queue_microtask(count_one)),
        "pool" => pool(n),
        "worker" => worker(n),
        other => Err(WorkloadError::Param {
            name: "probe",
            value: other.into(),
            hint: "use timer, immediate, tick, microtask, pool or worker",
        }),
    }
}

fn new_loop(pool: usize) -> Result<EventLoop, WorkloadError> {
    EventLoop::with_pool(ThreadPool::with_size(pool)?).map_err(io_err("create the event loop"))
}

thread_local! {
    static FIRED: Cell<u64> = const { Cell::new(0) };
}

fn count_one(_: &EventLoop) {
    FIRED.with(|f| f.set(f.get() + 1));
}

/// Fails unless `done` of `n` ran.
fn complete(done: u64, n: u64, what: &str) -> Result<(), WorkloadError> {
    if done == n {
        return Ok(());
    }
    Err(WorkloadError::Incomplete {
        missing: n.saturating_sub(done) as usize,
        detail: what.into(),
    })
}

/// `n` callbacks queued at once by `schedule`, run to the last.
fn queued(n: u64, schedule: impl Fn(&EventLoop)) -> Result<ProbeResult, WorkloadError> {
    let lp = new_loop(1)?;
    FIRED.with(|f| f.set(0));
    let start = process_cpu_ns();
    for _ in 0..n {
        schedule(&lp);
    }
    lp.run(RunMode::Default);
    let cpu_ns = process_cpu_ns() - start;
    complete(FIRED.with(Cell::get), n, "probe callbacks")?;
    Ok(ProbeResult {
        cpu_ns,
        ..ProbeResult::default()
    })
}

/// `n` empty items submitted while the pool's 4 threads are held by gate items (so the
/// submitting loop's CPU is the loop thread's alone), then the gate opens and all complete.
fn pool(n: u64) -> Result<ProbeResult, WorkloadError> {
    let lp = new_loop(4)?;
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (started, holding) = mpsc::channel();
    for _ in 0..4 {
        let (gate, started) = (Arc::clone(&gate), started.clone());
        let hold = move || {
            let _ = started.send(());
            let open = gate.0.lock().unwrap_or_else(|e| e.into_inner());
            drop(gate.1.wait_while(open, |open| !*open));
        };
        lp.queue_work(WorkSpec::cpu("gate"), hold, |_, ()| {});
    }
    for _ in 0..4 {
        holding
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| WorkloadError::Incomplete {
                missing: 1,
                detail: "a pool thread never took its gate item".into(),
            })?;
    }
    let done = Rc::new(Cell::new(0u64));
    let (start, loop_start) = (process_cpu_ns(), thread_cpu_ns());
    for _ in 0..n {
        let done = Rc::clone(&done);
        lp.queue_work(
            WorkSpec::cpu("empty"),
            || (),
            move |_, ()| done.set(done.get() + 1),
        );
    }
    let submit_ns = process_cpu_ns() - start;
    *gate.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
    gate.1.notify_all();
    lp.run(RunMode::Default);
    let (cpu_ns, loop_ns) = (process_cpu_ns() - start, thread_cpu_ns() - loop_start);
    complete(done.get(), n, "pool completions")?;
    Ok(ProbeResult {
        cpu_ns,
        submit_ns: Some(submit_ns),
        loop_ns: Some(loop_ns),
    })
}

/// One worker echoing every message; `n` messages posted at once after one untimed round trip.
fn worker(n: u64) -> Result<ProbeResult, WorkloadError> {
    let lp = new_loop(1)?;
    let w = Rc::new(Worker::spawn(&lp, "echo", |wlp, port| {
        let reply = port.clone();
        port.on_message(wlp, move |wlp, m| match downcast::<u64>(m) {
            Ok(i) if i > 0 => drop(reply.post(i)),
            _ => reply.off_message(wlp),
        });
    })?);
    // Echoes counted, and the process CPU taken from posting the n to the last echo.
    let (answered, taken) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(0u64)));
    let (a, t, w2, start) = (
        Rc::clone(&answered),
        Rc::clone(&taken),
        Rc::clone(&w),
        Cell::new(0),
    );
    w.on_message(&lp, move |_, m| {
        if downcast::<u64>(m).unwrap_or(0) == 1 {
            // The untimed trip is back: post all n at once.
            start.set(process_cpu_ns());
            (2..=n + 1).for_each(|k| drop(w2.post(k)));
        } else {
            a.set(a.get() + 1);
        }
        if a.get() == n {
            t.set(process_cpu_ns().saturating_sub(start.get()));
            let _ = w2.post(0u64);
        }
    });
    w.post(1u64).map_err(|_| worker_gone())?;
    lp.run(RunMode::Default);
    complete(answered.get(), n, "worker echoes")?;
    Ok(ProbeResult {
        cpu_ns: taken.get(),
        ..ProbeResult::default()
    })
}

fn worker_gone() -> WorkloadError {
    WorkloadError::Incomplete {
        missing: 1,
        detail: "the echo worker refused the first message".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_runs_its_events() {
        for name in PROBES {
            let r = probe(name, 50).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.submit_ns.is_some() == (name == "pool"), "{name}");
            assert!(r.loop_ns.is_some() == (name == "pool"), "{name}");
        }
        assert!(probe("nope", 1).is_err());
        assert!(probe("tick", MAX_PROBE_N + 1).is_err());
    }
}
