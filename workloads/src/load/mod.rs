//! The HTTP/1.1 load generator: keep-alive connections on small tokio runtimes, closed loop
//! (each connection sends its next request when the previous answer arrives) or open loop
//! (`rate` requests/s spread over the connections, each on its own schedule of intended send
//! times, as wrk2 does), with latency in HdrHistograms and every answer checked.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use std::time::Duration;
//! use looplab_workloads::load::{run, LoadSpec};
//!
//! // A tiny keep-alive server: one thread, one connection, a fixed answer per request.
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let url = format!("http://{}/", listener.local_addr().unwrap());
//! std::thread::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 1024];
//!     while let Ok(n) = conn.read(&mut buf) {
//!         if n == 0 || conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
//!             break;
//!         }
//!     }
//! });
//!
//! let spec = LoadSpec {
//!     connections: 1,
//!     duration: Duration::from_millis(300),
//!     warmup: Duration::from_millis(50),
//!     expect_body_bytes: Some(2),
//!     ..LoadSpec::new(url)
//! };
//! let report = run(&spec).unwrap();
//! assert!(report.requests > 0);
//! assert_eq!(report.errors.total, 0);
//! assert!(report.latency_us.p50 <= report.latency_us.max);
//! ```
//!
//! # The timeline of a run
//! 1. `start`: the runtimes are built (one current-thread runtime per generator thread,
//!    connections dealt round-robin over them), threads start, connections open; the warm-up
//!    runs and nothing of it is recorded.
//! 2. `warmup_end`: the measured window opens. A request counts when its start (open loop: its
//!    *intended* start) falls in the window; CPU time is sampled.
//! 3. `deadline = warmup_end + duration`: every connection stops at once. A request still
//!    outstanding is abandoned (counted in `abandoned`, never waited for); CPU time is sampled.
//! 4. `hard_stop = deadline + GRACE`: any connection task still running is cancelled and
//!    counted in `unfinished_connections`; runtimes are dropped and every thread joined before
//!    [`run`] returns. Every await of a connection is bounded by the deadline, so this is a
//!    safety net, not the usual way out.
//!
//! # Invariants
//! - Statistics: `attempted = requests + errors.total + abandoned`, all counted in the window.
//! - A wrong answer (status, body length) is an error, never a latency sample.
//! - The hot path allocates nothing per request: the request bytes are encoded once, each
//!   connection reuses one read buffer, heads are parsed by httparse into a stack array, and
//!   each connection owns its histograms (merged at the end, so no locks).

mod client;
mod closed;
mod driver;
mod open;
mod report;
mod response;
mod spec;
mod stats;

use thiserror::Error;

pub use report::{CpuReport, LatencySummary, LoadParams, LoadReport};
pub use spec::{default_warmup, parse_duration, LoadSpec};
pub use stats::ErrorCounts;

/// What can go wrong before or around a load run. Failed requests are not errors of the run:
/// they are counted in [`LoadReport::errors`].
#[derive(Debug, Error)]
pub enum LoadError {
    /// The URL is not an `http://` URL with an IP literal or `localhost`.
    #[error("bad url `{url}`: {reason}; use a form like http://127.0.0.1:8080/path")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration that is not a number with a unit.
    #[error(
        "duration `{value}` is not understood; write a number and a unit, like 10s, 500ms or 2m"
    )]
    BadDuration {
        /// The text as given.
        value: String,
    },
    /// A parameter outside its range.
    #[error("{name} {value} is out of range; {fix}")]
    OutOfRange {
        /// The parameter (as the CLI spells it).
        name: &'static str,
        /// The value given.
        value: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// The OS refused a runtime (an epoll instance, an eventfd).
    // The cause is part of the message, not an error `source`, so chains print it once.
    #[error("could not start a generator runtime: {cause}; raise the open-file limit (ulimit -n) or use fewer --threads")]
    Runtime {
        /// The OS error.
        cause: std::io::Error,
    },
    /// The OS refused a thread.
    #[error("could not start generator thread {index}: {cause}; use fewer --threads")]
    Spawn {
        /// Which generator thread.
        index: usize,
        /// The OS error.
        cause: std::io::Error,
    },
    /// A generator thread panicked (a bug).
    #[error("generator thread {index} panicked; this is a bug in looplab, please report it")]
    Panicked {
        /// Which generator thread.
        index: usize,
    },
    /// A histogram could not be created, merged or serialised (a bug).
    #[error("latency histogram: {reason}; this is a bug in looplab, please report it")]
    Histogram {
        /// The library's message.
        reason: String,
    },
}

/// Runs one bounded load run and returns its report.
///
/// Blocking: builds its own runtimes and threads and joins them all before returning, at the
/// latest about `GRACE` after `warmup + duration`. Fails only on a bad [`LoadSpec`] or when
/// the OS refuses threads; failed requests are counted in the report instead.
pub fn run(spec: &LoadSpec) -> Result<LoadReport, LoadError> {
    run_with_window(spec, &mut |_| {})
}

/// An edge of the measured window, as [`run_with_window`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEdge {
    /// The warm-up just ended: the measured window opens.
    Open,
    /// The deadline: the measured window closes.
    Close,
}

/// [`run`], calling `on_edge` on the calling thread when the measured window opens and when
/// it closes (each right after the generator's own CPU sample), so a caller can sample the
/// server over the same window. A slow `on_edge` does not move the window: its instants are
/// fixed when the run starts.
pub fn run_with_window(
    spec: &LoadSpec,
    on_edge: &mut dyn FnMut(WindowEdge),
) -> Result<LoadReport, LoadError> {
    let plan = spec::resolve(spec)?;
    let measured = driver::drive(&plan, on_edge)?;
    report::build(spec, &plan, measured)
}
