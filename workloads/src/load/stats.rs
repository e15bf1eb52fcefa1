//! What one connection (then one thread, then the run) counts: latency histograms, requests,
//! errors by kind, abandoned requests, reconnects; and the CPU time the generator used.
//!
//! Invariants: each connection owns its [`ConnStats`] (no sharing, no locks on the hot path)
//! and they are merged only after the connection stopped; histograms are in microseconds with
//! 3 significant digits and grow as larger values arrive (small while latencies are small).

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use super::client::Failure;
use super::LoadError;

/// What a connection does after [`ConnStats::settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send the next request.
    Continue,
    /// The connect failed: the closed loop backs off before trying again.
    ConnectFailed,
    /// The window is over.
    Stop,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Connect,
    Timeout,
    /// With the status the answer had.
    Status(u16),
    ShortBody,
    Io,
}

/// Failed requests in the window, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// Connecting failed (refused, unreachable, timed out, out of file descriptors).
    pub connect: u64,
    /// No complete answer within the timeout after sending.
    pub timeout: u64,
    /// An answer with another status than the expected one.
    pub status: u64,
    /// A body cut short (closed before Content-Length or the last chunk), or with another
    /// length than `expect_body_bytes`.
    pub short_body: u64,
    /// Reset, a malformed or oversized head, closed before the head, other I/O errors.
    pub io: u64,
    /// All of the above.
    pub total: u64,
    /// The status of an answer counted in `status` (the last one seen), to say what came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected_status: Option<u16>,
}

impl ErrorCounts {
    pub(crate) fn add(&mut self, kind: ErrorKind) {
        let slot = match kind {
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Status(status) => {
                self.unexpected_status = Some(status);
                &mut self.status
            }
            ErrorKind::ShortBody => &mut self.short_body,
            ErrorKind::Io => &mut self.io,
        };
        *slot += 1;
        self.total += 1;
    }

    fn merge(&mut self, other: &ErrorCounts) {
        self.connect += other.connect;
        self.timeout += other.timeout;
        self.status += other.status;
        self.short_body += other.short_body;
        self.io += other.io;
        self.total += other.total;
        self.unexpected_status = other.unexpected_status.or(self.unexpected_status);
    }
}

/// A latency histogram in microseconds, 3 significant digits, growing as needed.
pub(crate) fn new_histogram() -> Result<Histogram<u64>, LoadError> {
    let mut histogram =
        Histogram::new_with_bounds(1, 10_000, 3).map_err(|e| LoadError::Histogram {
            reason: e.to_string(),
        })?;
    histogram.auto(true);
    Ok(histogram)
}

/// Records `micros`, growing the histogram if needed (`saturating_record` would not grow it);
/// clamps only values beyond what any histogram can hold.
fn record(histogram: &mut Histogram<u64>, micros: u64) {
    if histogram.record(micros).is_err() {
        histogram.saturating_record(micros);
    }
}

/// Everything one connection (or a merge of several) counted in the window.
#[derive(Debug, Clone)]
pub(crate) struct ConnStats {
    /// Closed loop: from the actual send. Open loop: from the intended send (corrected).
    pub latency: Histogram<u64>,
    /// Open loop only: from the actual send.
    pub uncorrected: Option<Histogram<u64>>,
    /// Requests started in the window.
    pub attempted: u64,
    /// Good answers.
    pub ok: u64,
    pub errors: ErrorCounts,
    /// Outstanding at the deadline.
    pub abandoned: u64,
    pub reconnects: u64,
    /// Open loop: schedule slots in the window.
    pub intended: u64,
}

impl ConnStats {
    pub(crate) fn new(open_loop: bool) -> Result<ConnStats, LoadError> {
        Ok(ConnStats {
            latency: new_histogram()?,
            uncorrected: open_loop.then(new_histogram).transpose()?,
            attempted: 0,
            ok: 0,
            errors: ErrorCounts::default(),
            abandoned: 0,
            reconnects: 0,
            intended: 0,
        })
    }

    /// A good answer: `corrected_from` is the intended send (the actual one in a closed loop).
    /// Accounts for one finished request, the same way in both loops: in the window
    /// (`counted`) it is attempted; it is then abandoned if it ended at or after `deadline`,
    /// else recorded (latency from `latency_from`, uncorrected from `sent`) or counted as an
    /// error. Returns what the connection does next.
    pub(crate) fn settle(
        &mut self,
        counted: bool,
        result: Result<(), Failure>,
        latency_from: Instant,
        sent: Instant,
        done: Instant,
        deadline: Instant,
    ) -> Next {
        if counted {
            self.attempted += 1;
        }
        // Answered (or failed) only after the deadline: as good as unanswered.
        if done >= deadline || matches!(result, Err(Failure::Deadline)) {
            self.abandoned += u64::from(counted);
            return Next::Stop;
        }
        match result {
            Ok(()) if counted => self.record_ok(latency_from, sent, done),
            Ok(()) | Err(Failure::Deadline) => {}
            Err(Failure::Error(kind)) => {
                if counted {
                    self.errors.add(kind);
                }
                if kind == ErrorKind::Connect {
                    return Next::ConnectFailed;
                }
            }
        }
        Next::Continue
    }

    pub(crate) fn record_ok(&mut self, corrected_from: Instant, sent: Instant, done: Instant) {
        self.ok += 1;
        let micros = |from: Instant| done.saturating_duration_since(from).as_micros() as u64;
        record(&mut self.latency, micros(corrected_from));
        if let Some(uncorrected) = self.uncorrected.as_mut() {
            record(uncorrected, micros(sent));
        }
    }

    pub(crate) fn merge(&mut self, other: &ConnStats) -> Result<(), LoadError> {
        let failed = |e: hdrhistogram::AdditionError| LoadError::Histogram {
            reason: format!("{e:?}"),
        };
        self.latency.add(&other.latency).map_err(failed)?;
        if let (Some(mine), Some(theirs)) = (self.uncorrected.as_mut(), other.uncorrected.as_ref())
        {
            mine.add(theirs).map_err(failed)?;
        }
        self.attempted += other.attempted;
        self.ok += other.ok;
        self.errors.merge(&other.errors);
        self.abandoned += other.abandoned;
        self.reconnects += other.reconnects;
        self.intended += other.intended;
        Ok(())
    }
}

/// User and system CPU time, in seconds, and for a thread the time it waited for a core.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuTime {
    pub user_s: f64,
    pub sys_s: f64,
    /// Time runnable but waiting on a run queue (Linux schedstat; 0 where unknown): the CPU
    /// the thread wanted and the machine did not give it.
    pub wait_s: f64,
}

impl CpuTime {
    /// This thread's CPU time (Linux); the whole process's elsewhere.
    pub(crate) fn thread() -> CpuTime {
        #[cfg(target_os = "linux")]
        let who = libc::RUSAGE_THREAD;
        #[cfg(not(target_os = "linux"))]
        let who = libc::RUSAGE_SELF;
        CpuTime {
            wait_s: runqueue_wait_s(),
            ..rusage(who)
        }
    }

    /// The whole process's CPU time (every thread, the generator's and any other).
    pub(crate) fn process() -> CpuTime {
        rusage(libc::RUSAGE_SELF)
    }

    pub(crate) fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
            wait_s: (self.wait_s - earlier.wait_s).max(0.0),
        }
    }

    pub(crate) fn plus(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user_s: self.user_s + other.user_s,
            sys_s: self.sys_s + other.sys_s,
            wait_s: self.wait_s + other.wait_s,
        }
    }
}

/// This thread's time waiting on a run queue so far, seconds: the second field of
/// `/proc/thread-self/schedstat` (ns). 0 where the file is missing (not Linux, or a kernel
/// without schedstats), which leaves the generator's capacity at its threads' wall time.
fn runqueue_wait_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// getrusage; zero if it fails (it cannot with these arguments, and a zero shows in the report).
fn rusage(who: libc::c_int) -> CpuTime {
    // SAFETY: getrusage only writes the struct we pass, which is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return CpuTime::default();
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    CpuTime {
        user_s: seconds(usage.ru_utime),
        sys_s: seconds(usage.ru_stime),
        wait_s: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn merging_adds_counts_and_histograms() {
        let t0 = Instant::now();
        let mut a = ConnStats::new(true).unwrap();
        a.record_ok(
            t0,
            t0 + Duration::from_millis(1),
            t0 + Duration::from_millis(3),
        );
        a.errors.add(ErrorKind::Status(404));
        let mut b = ConnStats::new(true).unwrap();
        b.record_ok(t0, t0, t0 + Duration::from_secs(20));
        b.errors.add(ErrorKind::Io);
        a.merge(&b).unwrap();
        assert_eq!(a.ok, 2);
        assert_eq!((a.errors.status, a.errors.io, a.errors.total), (1, 1, 2));
        assert_eq!(a.errors.unexpected_status, Some(404));
        assert_eq!(a.latency.len(), 2);
        assert!(a.latency.max() >= 19_990_000, "{}", a.latency.max());
        let uncorrected = a.uncorrected.unwrap();
        assert!((1_999..=2_001).contains(&uncorrected.min()));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = CpuTime::thread();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let used = CpuTime::thread().since(before);
        assert!(used.user_s + used.sys_s > 0.0, "{used:?} {x}");
    }
}
