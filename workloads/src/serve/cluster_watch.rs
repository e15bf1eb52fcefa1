//! What the primary of `lab serve --strategy cluster` makes of each cluster event: when to say
//! it listens, what to print about a worker's exit, and when to give up.
//!
//! Rules, in the order events come:
//! 1. `Listening`: once as many workers listened as were asked for, the address is announced
//!    (load starts at full capacity);
//! 2. `Exit`: one line on stderr, saying whether the worker died before it listened and the last
//!    line of its stderr (its full stderr was forwarded as it came); a worker that dies before
//!    listening and will not be replaced means the cluster cannot start: a failure;
//! 3. `RestartLimit`: workers died 5 times within 10 s (the runtime's
//!    [`RESTART_LIMIT_EXITS`](looplab_runtime::cluster::RESTART_LIMIT_EXITS) and
//!    [`RESTART_LIMIT_WINDOW_MS`](looplab_runtime::cluster::RESTART_LIMIT_WINDOW_MS)): a
//!    failure, naming the last exit;
//! 4. `AllExited` without a shutdown asked for: every worker died and none will be replaced
//!    (no `--restart`): a failure; the primary must not linger with its port closed.
//!
//! A failure is recorded (the first one, or the restart limit, which explains the others) and
//! stops the primary as a Ctrl-C would (the remaining workers drain); `primary` then returns it
//! as an error, one line, and `lab` exits 2.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::net::SocketAddr;

use looplab_runtime::cluster::{ClusterEvent, WorkerId};
use looplab_runtime::AsyncSender;

/// Called once, with the address, when every worker listens.
pub(super) type Announce = Box<dyn FnOnce(SocketAddr)>;

/// The primary's view of its workers (see the module documentation).
pub(super) struct Watch {
    children: usize,
    listened: RefCell<BTreeSet<WorkerId>>,
    announce: RefCell<Option<Announce>>,
    /// Wakes the primary's shutdown (the same as Ctrl-C's).
    stop: RefCell<Option<AsyncSender>>,
    /// A shutdown was asked for (by a signal, the handle, or a failure).
    stopping: Cell<bool>,
    last_exit: RefCell<Option<String>>,
    failure: RefCell<Option<String>>,
}

impl Watch {
    pub fn new(children: usize) -> Self {
        Self {
            children,
            listened: RefCell::default(),
            announce: RefCell::default(),
            stop: RefCell::default(),
            stopping: Cell::new(false),
            last_exit: RefCell::default(),
            failure: RefCell::default(),
        }
    }

    /// What to call when every worker listens, and how to stop the primary on a failure.
    pub fn arm(&self, announce: Announce, stop: AsyncSender) {
        *self.announce.borrow_mut() = Some(announce);
        *self.stop.borrow_mut() = Some(stop);
    }

    /// The primary's shutdown has begun; the workers' exits from now on are expected.
    pub fn stopping(&self) {
        self.stopping.set(true);
    }

    /// Why the cluster failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Applies the rules to one event; `addr` is the cluster's address.
    pub fn on_event(&self, event: &ClusterEvent, addr: SocketAddr) {
        match event {
            ClusterEvent::Listening { id } => self.on_listening(*id, addr),
            ClusterEvent::Exit { .. } => self.on_exit(event),
            ClusterEvent::SpawnFailed { reason, will_retry } => {
                let retry = if *will_retry { "; retrying" } else { "" };
                eprintln!("lab serve: cannot start a worker: {reason}{retry}");
                *self.last_exit.borrow_mut() = Some(format!("a worker could not start: {reason}"));
            }
            ClusterEvent::RestartLimit { exits, within_ms } => {
                let last = self.last_exit.borrow().clone().unwrap_or_default();
                self.fail(
                    format!(
                        "cluster workers died {exits} times within {} s (the last: {last}); \
                         restarts stopped; expected workers that start: fix what their stderr \
                         says above",
                        within_ms / 1000
                    ),
                    true,
                );
            }
            ClusterEvent::AllExited if !self.stopping.get() => {
                let last = self.last_exit.borrow().clone().unwrap_or_default();
                self.fail(
                    format!(
                        "every worker has exited (the last: {last}) and none will be replaced, so \
                         nothing serves the port any more; expected --restart to replace workers \
                         that die"
                    ),
                    false,
                );
            }
            _ => {}
        }
    }

    fn on_listening(&self, id: WorkerId, addr: SocketAddr) {
        let mut listened = self.listened.borrow_mut();
        listened.insert(id);
        if listened.len() >= self.children {
            drop(listened);
            let announce = self.announce.borrow_mut().take();
            if let Some(announce) = announce {
                announce(addr);
            }
        }
    }

    fn on_exit(&self, event: &ClusterEvent) {
        let ClusterEvent::Exit {
            id,
            pid,
            code,
            signal,
            will_restart,
            stderr_tail,
        } = event
        else {
            return;
        };
        let how = match (code, signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            _ => "ended".to_string(),
        };
        let early = !self.listened.borrow().contains(id);
        let when = if early { " before listening" } else { "" };
        let said = match stderr_tail.last() {
            Some(line) if early => format!(" (its stderr ended: {line})"),
            _ => String::new(),
        };
        let exit = format!("worker {id} (pid {pid}) {how}{when}{said}");
        let restarting = if *will_restart { "; restarting" } else { "" };
        eprintln!("lab serve: {exit}{restarting}");
        *self.last_exit.borrow_mut() = Some(exit.clone());
        if early && !will_restart && !self.stopping.get() {
            self.fail(
                format!(
                    "{exit}; without --restart the cluster cannot start; expected workers that \
                     start: fix what their stderr says above"
                ),
                false,
            );
        }
    }

    /// Records `reason` (over an earlier one if `overrides`) and stops the primary.
    fn fail(&self, reason: String, overrides: bool) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() || overrides {
            *failure = Some(reason);
        }
        drop(failure);
        if let Some(stop) = self.stop.borrow().as_ref() {
            stop.send();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use looplab_runtime::cluster::{RESTART_LIMIT_EXITS, RESTART_LIMIT_WINDOW_MS};

    #[test]
    fn the_documented_restart_limit_is_the_runtime_s() {
        assert_eq!((RESTART_LIMIT_EXITS, RESTART_LIMIT_WINDOW_MS), (5, 10_000));
    }

    fn exit(id: WorkerId, will_restart: bool, tail: &[&str]) -> ClusterEvent {
        ClusterEvent::Exit {
            id,
            pid: 100 + id,
            code: Some(2),
            signal: None,
            will_restart,
            stderr_tail: tail.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_worker_dying_before_listening_without_restart_is_a_failure_naming_its_stderr() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let watch = Watch::new(2);
        watch.on_event(&ClusterEvent::Listening { id: 1 }, addr);
        watch.on_event(&exit(2, false, &["starting", "boom"]), addr);
        let failure = watch.failure().unwrap_or_default();
        assert!(failure.contains("worker 2 (pid 102) exited with code 2 before listening"));
        assert!(failure.contains("its stderr ended: boom"), "{failure}");
        // After listening, an exit is news, not a failure.
        let watch = Watch::new(1);
        watch.on_event(&ClusterEvent::Listening { id: 1 }, addr);
        watch.on_event(&exit(1, false, &["boom"]), addr);
        assert_eq!(watch.failure(), None);
        // ... until nothing is left.
        watch.on_event(&ClusterEvent::AllExited, addr);
        assert!(watch
            .failure()
            .unwrap_or_default()
            .contains("every worker has exited"));
    }

    #[test]
    fn the_restart_limit_explains_the_failure_and_a_shutdown_is_no_failure() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let watch = Watch::new(1);
        watch.on_event(&exit(5, false, &["boom"]), addr);
        let limit = ClusterEvent::RestartLimit {
            exits: 5,
            within_ms: 10_000,
        };
        watch.on_event(&limit, addr);
        let failure = watch.failure().unwrap_or_default();
        assert!(
            failure.starts_with("cluster workers died 5 times within 10 s"),
            "{failure}"
        );
        assert!(failure.contains("its stderr ended: boom"), "{failure}");
        let watch = Watch::new(1);
        watch.on_event(&ClusterEvent::Listening { id: 1 }, addr);
        watch.stopping();
        watch.on_event(&exit(1, false, &[]), addr);
        watch.on_event(&ClusterEvent::AllExited, addr);
        assert_eq!(watch.failure(), None);
    }
}
