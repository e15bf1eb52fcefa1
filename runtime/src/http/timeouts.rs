//! The per-connection timeouts, checked by the server's one unreferenced sweep timer (Node 20
//! checks `headersTimeout` and `requestTimeout` the same way, from one interval per server,
//! `connectionsCheckingInterval`).
//!
//! Rules, in the order they apply:
//! 1. a connection still writing an answer is not idle and not late: its clock restarts when
//!    the kernel has taken the last byte;
//! 2. a request whose first bytes were parsed at `since` gets `408` (after the answers owed
//!    before it, then a close) when its head is not complete `headers_timeout_ms` after
//!    `since`, or the whole request (head and body) not `request_timeout_ms` after; `0`
//!    disables either, as in Node;
//! 3. otherwise, a connection that owes nothing and has been quiet `keep_alive_timeout_ms` is
//!    closed, unless it is waiting for the rest of a head (rule 2 covers that).
//!
//! A request held back unparsed by the pipeline bound has not started its clock: the client
//! already sent it, and the server is the one waiting.

use std::rc::Rc;

use super::conn::{Conn, State};
use super::server::ServerOptions;
use crate::EventLoop;

enum Verdict {
    Fine,
    Late,
    Idle,
}

fn verdict(st: &State, limits: &ServerOptions, now_ms: u64) -> Verdict {
    if st.closed {
        return Verdict::Fine;
    }
    let arriving = st.arriving.filter(|_| !st.stop_parsing);
    if let Some(arriving) = arriving {
        let waited = now_ms.saturating_sub(arriving.since_ms);
        let expired = |limit_ms: u64| limit_ms > 0 && waited >= limit_ms;
        if (!arriving.head_done && expired(limits.headers_timeout_ms))
            || expired(limits.request_timeout_ms)
        {
            return Verdict::Late;
        }
    }
    let quiet = now_ms.saturating_sub(st.last_active_ms) >= limits.keep_alive_timeout_ms;
    let mid_head = arriving.is_some_and(|a| !a.head_done);
    if st.waiting() && quiet && !mid_head {
        Verdict::Idle
    } else {
        Verdict::Fine
    }
}

impl Conn {
    /// Called by the server's sweep timer.
    pub fn check_timeouts(self: &Rc<Self>, lp: &EventLoop) {
        let now_ms = lp.now();
        if self.stream.write_queue_size() > 0 {
            self.state.borrow_mut().last_active_ms = now_ms;
            return;
        }
        let verdict = verdict(&self.state.borrow(), &self.options, now_ms);
        match verdict {
            Verdict::Fine => {}
            Verdict::Late => self.time_out_request(lp),
            Verdict::Idle => self.abort(lp),
        }
    }
}

/// How often the sweep runs: often enough for the shortest timeout set, at most once a second
/// and at least every 10 ms.
pub(super) fn sweep_period_ms(limits: &ServerOptions) -> u64 {
    [
        limits.keep_alive_timeout_ms,
        limits.headers_timeout_ms,
        limits.request_timeout_ms,
    ]
    .into_iter()
    .filter(|&ms| ms > 0)
    .min()
    .unwrap_or(1_000)
    .clamp(10, 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::conn::Arriving;

    fn limits() -> ServerOptions {
        ServerOptions {
            keep_alive_timeout_ms: 100,
            headers_timeout_ms: 200,
            request_timeout_ms: 300,
            ..ServerOptions::default()
        }
    }

    fn arriving(since_ms: u64, head_done: bool) -> State {
        let mut st = State::default();
        st.last_active_ms = 1_000;
        st.arriving = Some(Arriving {
            since_ms,
            head_done,
            need: 0,
        });
        st
    }

    #[test]
    fn heads_and_whole_requests_have_their_own_deadlines() {
        let l = limits();
        assert!(matches!(
            verdict(&arriving(0, false), &l, 199),
            Verdict::Fine
        ));
        assert!(matches!(
            verdict(&arriving(0, false), &l, 200),
            Verdict::Late
        ));
        // The head is in: only the request timeout applies, not the idle one.
        assert!(matches!(
            verdict(&arriving(0, true), &l, 299),
            Verdict::Fine
        ));
        assert!(matches!(
            verdict(&arriving(0, true), &l, 300),
            Verdict::Late
        ));
        let off = ServerOptions {
            headers_timeout_ms: 0,
            request_timeout_ms: 0,
            ..l
        };
        assert!(matches!(
            verdict(&arriving(0, false), &off, 1_000_000),
            Verdict::Fine
        ));
    }

    #[test]
    fn only_quiet_connections_that_owe_nothing_are_idle() {
        let l = limits();
        let mut quiet = State::default();
        quiet.last_active_ms = 1_000;
        assert!(matches!(verdict(&quiet, &l, 1_099), Verdict::Fine));
        assert!(matches!(verdict(&quiet, &l, 1_100), Verdict::Idle));
        assert_eq!(sweep_period_ms(&l), 100);
        let slow = ServerOptions {
            keep_alive_timeout_ms: 0,
            headers_timeout_ms: 0,
            request_timeout_ms: 0,
            ..l
        };
        assert_eq!(sweep_period_ms(&slow), 1_000);
    }
}
