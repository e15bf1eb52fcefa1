//! The open loop (wrk2's model): `rate` requests/s in total, each of the C connections on its
//! own schedule of intended send times `start + offset + k * interval`, `interval = C / rate`,
//! offsets `i * interval / C` so the connections interleave evenly.
//!
//! Invariants:
//! - A request counts when its *intended* start is in the window. Its corrected latency runs
//!   from the intended start, so a stalled server is charged for every request it kept
//!   waiting (no coordinated omission); the uncorrected latency runs from the actual send.
//! - A connection that falls behind sends back to back until it catches up; it never skips
//!   a slot. Slots still unsent at the deadline show as `intended - attempted`.
//! - A connection still busy with its previous request at a slot's intended time was held up
//!   by the server: that request is timed from its intended time. A connection that was idle
//!   sleeps until the slot, and tokio's millisecond timer wakes it up to ~2 ms late; that slack
//!   is the generator's, not the server's, so such a request is timed from its actual send.
//!   (wrk2 charges its timer slack to the server; a stalled server is charged either way.)

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::client::Session;
use super::driver::{session_spec, Timeline};
use super::spec::Plan;
use super::stats::{ConnStats, Next};

/// The send schedule of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub first: Instant,
    pub interval: Duration,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `rate` requests/s from `start`.
    pub(crate) fn new(start: Instant, rate: f64, index: usize, connections: usize) -> Schedule {
        let interval = Duration::from_secs_f64(connections as f64 / rate);
        let offset = interval.mul_f64(index as f64 / connections as f64);
        Schedule {
            first: start + offset,
            interval,
        }
    }

    /// Slots strictly before `t`.
    fn slots_before(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.first).as_secs_f64();
        if t <= self.first {
            0
        } else {
            (since / self.interval.as_secs_f64()).ceil() as u64
        }
    }

    /// Slots in `[from, to)`.
    pub(crate) fn slots_between(&self, from: Instant, to: Instant) -> u64 {
        self.slots_before(to)
            .saturating_sub(self.slots_before(from))
    }
}

/// Runs one connection on its schedule until the deadline and returns what it counted.
pub(crate) async fn run_connection(
    plan: Arc<Plan>,
    timeline: Timeline,
    schedule: Schedule,
    mut stats: ConnStats,
) -> ConnStats {
    let mut session = Session::new(session_spec(&plan, &timeline));
    let mut pacer = Box::pin(sleep_until(schedule.first));
    let mut intended = schedule.first;
    // When the previous request finished: after `intended`, the server held this one up.
    let mut free_at = timeline.start;
    while intended < timeline.deadline {
        let held_up = free_at > intended;
        if !held_up && Instant::now() < intended {
            pacer.as_mut().reset(intended);
            pacer.as_mut().await;
        }
        let sent = Instant::now();
        if sent >= timeline.deadline {
            break;
        }
        let counted = intended >= timeline.warmup_end;
        let result = session.request(sent).await;
        let done = Instant::now();
        let from = if held_up { intended } else { sent };
        if stats.settle(counted, result, from, sent, done, timeline.deadline) == Next::Stop {
            break;
        }
        free_at = done;
        intended += schedule.interval;
    }
    stats.intended = schedule.slots_between(timeline.warmup_end, timeline.deadline);
    stats.reconnects = session.reconnects;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_interleave_and_count_slots() {
        let t0 = Instant::now();
        let a = Schedule::new(t0, 1000.0, 0, 4);
        let b = Schedule::new(t0, 1000.0, 1, 4);
        assert_eq!(a.interval, Duration::from_millis(4));
        assert_eq!(b.first - a.first, Duration::from_millis(1));
        // a: slots at 0, 4, 8 ms before 10 ms; from 1 ms on: 4 and 8.
        assert_eq!(a.slots_between(t0, t0 + Duration::from_millis(10)), 3);
        assert_eq!(
            a.slots_between(
                t0 + Duration::from_millis(1),
                t0 + Duration::from_millis(10)
            ),
            2
        );
        let total: u64 = (0..4)
            .map(|i| Schedule::new(t0, 1000.0, i, 4))
            .map(|s| s.slots_between(t0 + Duration::from_secs(1), t0 + Duration::from_secs(3)))
            .sum();
        assert!((1999..=2001).contains(&total), "{total}");
    }
}
