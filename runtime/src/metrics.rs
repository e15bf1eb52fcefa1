//! Loop and pool instrumentation, cheap enough to be always on.
//!
//! Always counted: iterations, I/O events, time blocked in poll (libuv's `UV_METRICS_IDLE_TIME`:
//! only polls with a non-zero timeout count as idle), and per pool class the number of tasks,
//! queue wait and run time. Per-phase time costs two clock reads per phase and is opt-in
//! ([`crate::EventLoop::enable_phase_timing`]). Event-loop utilization follows Node's
//! `performance.eventLoopUtilization()`: `active = (now - loop start) - idle`,
//! `utilization = active / (active + idle)`. [`DelayMonitor`] is `monitorEventLoopDelay`.

use std::cell::RefCell;
use std::rc::Rc;

use hdrhistogram::Histogram;

use crate::pool::{TaskTiming, WorkClass};
use crate::{clock, EventLoop, TimerId};

/// The phases of one loop iteration, in libuv 1.46's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Deferred I/O callbacks.
    Pending,
    /// Idle watchers (and Node's immediate-keepalive).
    Idle,
    /// Prepare watchers.
    Prepare,
    /// Waiting for and dispatching I/O, async wake-ups and pool completions.
    Poll,
    /// Immediates, then check watchers.
    Check,
    /// Close callbacks.
    Closing,
    /// Due timers.
    Timers,
}

impl Phase {
    /// Every phase in iteration order.
    pub const ALL: [Phase; 7] = [
        Phase::Pending,
        Phase::Idle,
        Phase::Prepare,
        Phase::Poll,
        Phase::Check,
        Phase::Closing,
        Phase::Timers,
    ];

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Idle => "idle",
            Phase::Prepare => "prepare",
            Phase::Poll => "poll",
            Phase::Check => "check",
            Phase::Closing => "closing",
            Phase::Timers => "timers",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Pool statistics for the tasks one class submitted from one loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClassStats {
    /// Completed tasks.
    pub tasks: u64,
    /// Sum of time spent queued.
    pub wait_ns: u64,
    /// Longest time spent queued.
    pub max_wait_ns: u64,
    /// Sum of time spent running on a pool thread.
    pub run_ns: u64,
}

/// Counters of one loop.
#[derive(Clone, Debug)]
pub struct LoopMetrics {
    /// Loop iterations started (libuv's `loop_count`).
    pub iterations: u64,
    /// I/O events dispatched (libuv's `events`).
    pub events: u64,
    /// Time blocked in poll with a non-zero timeout.
    pub idle_ns: u64,
    /// Time per phase, if phase timing is on, indexed like [`Phase::ALL`].
    pub phase_ns: Option<[u64; 7]>,
    /// Pool tasks by class: CPU, fast IO, slow IO.
    pub pool: [ClassStats; 3],
    /// Queue wait of every pool task from this loop, in microseconds.
    pub pool_wait_us: Histogram<u64>,
    /// When the loop first ran (Node's `LOOP_START` milestone), `clock::hrtime_ns`.
    pub(crate) start_ns: Option<u64>,
}

impl LoopMetrics {
    pub(crate) fn new() -> Self {
        Self {
            iterations: 0,
            events: 0,
            idle_ns: 0,
            phase_ns: None,
            pool: [ClassStats::default(); 3],
            pool_wait_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            start_ns: None,
        }
    }

    pub(crate) fn add_phase(&mut self, phase: Phase, ns: u64) {
        if let Some(phases) = &mut self.phase_ns {
            phases[phase.index()] += ns;
        }
    }

    pub(crate) fn record_task(&mut self, timing: &TaskTiming) {
        let slot = match timing.class {
            WorkClass::Cpu => 0,
            WorkClass::FastIo => 1,
            WorkClass::SlowIo => 2,
        };
        let wait = timing.started.duration_since(timing.queued);
        let run = timing.finished.duration_since(timing.started);
        let stats = &mut self.pool[slot];
        stats.tasks += 1;
        stats.wait_ns += wait.as_nanos() as u64;
        stats.max_wait_ns = stats.max_wait_ns.max(wait.as_nanos() as u64);
        stats.run_ns += run.as_nanos() as u64;
        self.pool_wait_us
            .saturating_record((wait.as_micros() as u64).max(1));
    }
}

/// Event-loop utilization, as `performance.eventLoopUtilization()` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Utilization {
    /// Milliseconds blocked in poll.
    pub idle_ms: f64,
    /// Milliseconds not blocked in poll since the loop started.
    pub active_ms: f64,
    /// `active / (active + idle)`; 0 before the loop started.
    pub utilization: f64,
}

impl Utilization {
    /// The change between an earlier sample and this one (ELU with one argument).
    pub fn since(&self, earlier: &Utilization) -> Utilization {
        let idle_ms = self.idle_ms - earlier.idle_ms;
        let active_ms = self.active_ms - earlier.active_ms;
        let total = idle_ms + active_ms;
        Utilization {
            idle_ms,
            active_ms,
            utilization: if total > 0.0 { active_ms / total } else { 0.0 },
        }
    }
}

/// `perf_hooks.monitorEventLoopDelay`: an unreferenced interval timer every `resolution` ms
/// records the time since its previous firing, in nanoseconds, so the samples include the
/// resolution itself and a blocked loop shows up as large samples.
pub struct DelayMonitor {
    timer: TimerId,
    histogram: Rc<RefCell<Histogram<u64>>>,
}

impl DelayMonitor {
    /// A copy of the samples so far.
    pub fn histogram(&self) -> Histogram<u64> {
        self.histogram.borrow().clone()
    }

    /// Stops sampling; the samples stay readable.
    pub fn disable(&self, lp: &EventLoop) {
        lp.clear_timer(self.timer);
    }
}

impl EventLoop {
    /// Starts a loop-delay monitor sampling every `resolution_ms` (at least 1), like
    /// `monitorEventLoopDelay({ resolution }).enable()`.
    pub fn monitor_delay(&self, resolution_ms: u64) -> DelayMonitor {
        let histogram = Rc::new(RefCell::new(
            Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("static histogram bounds are valid"),
        ));
        let samples = Rc::clone(&histogram);
        let mut previous_ns = clock::hrtime_ns();
        let timer = self.set_interval(resolution_ms.max(1), move |_| {
            let now = clock::hrtime_ns();
            samples
                .borrow_mut()
                .saturating_record(now.saturating_sub(previous_ns).max(1));
            previous_ns = now;
        });
        self.unref_timer(timer);
        DelayMonitor { timer, histogram }
    }

    /// Event-loop utilization since the loop first ran.
    pub fn utilization(&self) -> Utilization {
        let metrics = self.metrics.borrow();
        let Some(start) = metrics.start_ns else {
            return Utilization::default();
        };
        let elapsed_ns = clock::hrtime_ns().saturating_sub(start);
        let idle_ms = metrics.idle_ns as f64 / 1e6;
        let active_ms = elapsed_ns.saturating_sub(metrics.idle_ns) as f64 / 1e6;
        let total = idle_ms + active_ms;
        Utilization {
            idle_ms,
            active_ms,
            utilization: if total > 0.0 { active_ms / total } else { 0.0 },
        }
    }

    /// A snapshot of this loop's counters.
    pub fn metrics(&self) -> LoopMetrics {
        self.metrics.borrow().clone()
    }

    /// Starts measuring time per phase (two clock reads per phase per iteration).
    pub fn enable_phase_timing(&self) {
        let mut metrics = self.metrics.borrow_mut();
        if metrics.phase_ns.is_none() {
            metrics.phase_ns = Some([0; 7]);
        }
    }
}
