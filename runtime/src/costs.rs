//! Node's costs in the model: CPU time the thread that would run JavaScript spends per event,
//! on top of what looplab itself spends, so that a loop can be as costly as Node's.
//!
//! A process installs one [`Costs`] before it serves ([`install`]); from then on every event of
//! a kind ([`Event`]) charges its cost where it happens, on the loop or worker thread that runs
//! it, as busy work. Busy work, not sleep, so it shows in the loop's utilization, its delay and
//! the process' CPU time exactly as Node's JavaScript would. A cost of at least
//! [`THREAD_CLOCK_FROM_NS`] spins until the thread's own CPU clock (`CLOCK_THREAD_CPUTIME_ID`)
//! has advanced by it, so a preempted thread still pays the whole cost when it runs again; a
//! shorter one spins on the monotonic clock. Why: reading the thread's CPU clock is a system
//! call (about 0.8 µs on a virtual machine), and a spin overshoots by about one read, so a
//! 400 ns charge cost 1,050 ns of CPU on the thread clock and 430 ns on the monotonic one
//! (`vDSO`, ~20 ns a read); a sub-50 µs spin is rarely preempted.
//!
//! Without an installed profile nothing is paid: [`charge`] is one load of a `OnceLock` and a
//! branch (the criterion bench `scheduling` measures the loop with and without the hook).

use std::sync::OnceLock;

/// A kind of event that costs Node more than looplab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// An HTTP request parsed, handed to its handler and answered (the handler's own work
    /// apart).
    HttpRequest,
    /// A timer callback run from the timers phase.
    Timer,
    /// An immediate run from the check phase.
    Immediate,
    /// A pool task's completion callback run on the loop.
    PoolCompletion,
    /// An I/O callback (a socket became readable or writable).
    Io,
    /// A `process.nextTick` callback.
    Tick,
    /// A microtask (a promise reaction).
    Microtask,
    /// A pool task submitted from the loop (its JavaScript side: argument checks, the request
    /// object).
    PoolSubmit,
    /// One file operation's trip (open, read, close each count once).
    FileTrip,
    /// Per KiB read from a file (the buffer handed to JavaScript).
    FileKib,
    /// A message posted to or received from a worker thread.
    WorkerMessage,
    /// A connection handed from the cluster primary to a worker.
    ClusterHandoff,
    /// A `crypto.pbkdf2` completion (its key handed to JavaScript), as Node pays it while the
    /// pool hashes: measured in situ, a hashing server's JavaScript thread under load, because
    /// the thread pays far more per event then than an idle micro-benchmark shows.
    CryptoCompletion,
    /// A worker pool task's answer (`piscina`'s `run()` settling) handled on the thread that
    /// submitted it, as Node pays it while the workers compute: measured in situ, like
    /// [`Event::CryptoCompletion`]; the two messages of the round trip are paid apart.
    WorkerTask,
    /// The loop woke from a blocking wait in its poll phase (it slept in `epoll_wait` until an
    /// event or its timeout): what Node's thread pays per iteration of a loop that goes idle
    /// between events, beyond looplab's. Measured as hello requests on one connection (one
    /// wake-up each) less [`Event::HttpRequest`].
    Wakeup,
}

impl Event {
    /// Every event, in profile order.
    pub const ALL: [Event; 15] = [
        Event::HttpRequest,
        Event::Timer,
        Event::Immediate,
        Event::PoolCompletion,
        Event::Io,
        Event::Tick,
        Event::Microtask,
        Event::PoolSubmit,
        Event::FileTrip,
        Event::FileKib,
        Event::WorkerMessage,
        Event::ClusterHandoff,
        Event::CryptoCompletion,
        Event::WorkerTask,
        Event::Wakeup,
    ];

    /// The name used in profile files.
    pub fn name(self) -> &'static str {
        match self {
            Event::HttpRequest => "http_request",
            Event::Timer => "timer",
            Event::Immediate => "immediate",
            Event::PoolCompletion => "pool_completion",
            Event::Io => "io",
            Event::Tick => "tick",
            Event::Microtask => "microtask",
            Event::PoolSubmit => "pool_submit",
            Event::FileTrip => "file_trip",
            Event::FileKib => "file_kib",
            Event::WorkerMessage => "worker_message",
            Event::ClusterHandoff => "cluster_handoff",
            Event::CryptoCompletion => "crypto_completion",
            Event::WorkerTask => "worker_task",
            Event::Wakeup => "wakeup",
        }
    }

    /// Parses a profile name.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// Nanoseconds of CPU per event, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Costs {
    ns: [u64; Event::ALL.len()],
}

impl Costs {
    /// No cost for anything.
    pub fn none() -> Self {
        Self::default()
    }

    /// These costs with `event` costing `ns`.
    pub fn with(mut self, event: Event, ns: u64) -> Self {
        self.ns[event as usize] = ns;
        self
    }

    /// What one `event` costs, ns.
    pub fn of(&self, event: Event) -> u64 {
        self.ns[event as usize]
    }

    /// Whether every cost is zero.
    pub fn is_zero(&self) -> bool {
        self.ns.iter().all(|&ns| ns == 0)
    }
}

static INSTALLED: OnceLock<Costs> = OnceLock::new();

/// Installs the process' costs; every later event pays them. Once per process: a second
/// install with other costs is refused (the costs of a running loop never change).
pub fn install(costs: Costs) -> Result<(), Costs> {
    match INSTALLED.set(costs) {
        Ok(()) => Ok(()),
        Err(_) if INSTALLED.get() == Some(&costs) => Ok(()),
        Err(_) => Err(*INSTALLED.get().unwrap_or(&costs)),
    }
}

/// The installed costs, if any.
pub fn installed() -> Option<&'static Costs> {
    INSTALLED.get()
}

/// Pays one `event`'s cost on this thread (nothing without installed costs).
#[inline]
pub fn charge(event: Event) {
    if let Some(costs) = INSTALLED.get() {
        spin(costs.of(event));
    }
}

/// Pays `n` times `event`'s cost on this thread.
#[inline]
pub fn charge_n(event: Event, n: u64) {
    if let Some(costs) = INSTALLED.get() {
        spin(costs.of(event).saturating_mul(n));
    }
}

/// Costs from this many ns spin on the thread's CPU clock, shorter ones on the monotonic clock.
pub const THREAD_CLOCK_FROM_NS: u64 = 50_000;

/// Spins for `ns` of this thread's CPU (see the module doc for which clock measures it).
fn spin(ns: u64) {
    if ns == 0 {
        return;
    }
    if ns < THREAD_CLOCK_FROM_NS {
        let start = std::time::Instant::now();
        let ns = std::time::Duration::from_nanos(ns);
        while start.elapsed() < ns {
            std::hint::spin_loop();
        }
        return;
    }
    let start = thread_cpu_ns();
    while thread_cpu_ns().saturating_sub(start) < ns {
        std::hint::spin_loop();
    }
}

/// This thread's CPU time, ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_costs_are_per_event() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.name()), Some(e));
        }
        let c = Costs::none().with(Event::Timer, 5_000);
        assert_eq!((c.of(Event::Timer), c.of(Event::Tick)), (5_000, 0));
        assert!(!c.is_zero() && Costs::none().is_zero());
    }

    #[test]
    fn a_spin_spends_at_least_its_cpu_time_on_this_thread() {
        let start = thread_cpu_ns();
        spin(2_000_000);
        assert!(thread_cpu_ns() - start >= 2_000_000);
        // A short spin (monotonic clock): at least its time, unless preempted; 1000 of them
        // are checked together with a generous bound.
        let start = thread_cpu_ns();
        for _ in 0..1000 {
            spin(5_000);
        }
        assert!(thread_cpu_ns() - start >= 2_500_000);
    }
}
