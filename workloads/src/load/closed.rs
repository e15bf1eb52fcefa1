//! The closed loop: a connection sends its next request as soon as the previous answer
//! arrived, so the server's speed sets the rate (as wrk does).
//!
//! Invariants: a request counts when its actual start is in the window; its latency runs from
//! that start (connect included when it needed one) to the last byte of the answer. After a
//! failed connect the connection waits [`CONNECT_BACKOFF`] so a closed port does not turn the
//! generator into a busy loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::client::Session;
use super::driver::{session_spec, Timeline};
use super::spec::Plan;
use super::stats::{ConnStats, Next};

/// Pause after a failed connect before the next attempt.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Runs one connection until the deadline and returns what it counted.
pub(crate) async fn run_connection(
    plan: Arc<Plan>,
    timeline: Timeline,
    mut stats: ConnStats,
) -> ConnStats {
    let mut session = Session::new(session_spec(&plan, &timeline));
    loop {
        let started = Instant::now();
        if started >= timeline.deadline {
            break;
        }
        let counted = started >= timeline.warmup_end;
        let result = session.request(started).await;
        let done = Instant::now();
        match stats.settle(counted, result, started, started, done, timeline.deadline) {
            Next::Continue => {}
            Next::ConnectFailed => {
                sleep_until((done + CONNECT_BACKOFF).min(timeline.deadline)).await;
            }
            Next::Stop => break,
        }
    }
    stats.reconnects = session.reconnects;
    stats
}
