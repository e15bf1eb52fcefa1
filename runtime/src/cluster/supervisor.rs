//! The primary's side of each worker's life: start, frames from it, hand-offs to it, its exit,
//! and its replacement.
//!
//! A worker's life, as the primary sees it:
//! 1. spawned into a slot (one slot per configured worker); the setup frame (policy, address,
//!    and under the shared policy a copy of the listening socket) is its channel's first frame;
//! 2. `Online`, then `Listening` (round-robin: it joins the free list), then messages and acks;
//! 3. its channel ends (it closed it, or died): round-robin forgets it and closes the
//!    connection it had not acknowledged (the client sees the connection close);
//! 4. its reaper reports the exit: `Exit` is reported and, with restart on and no shutdown
//!    under way, a replacement is started in the same slot after the slot's back-off, unless
//!    this death (or failed start) is the [`RESTART_LIMIT_EXITS`]th within
//!    [`RESTART_LIMIT_WINDOW_MS`]: then restarts stop for good and `RestartLimit` follows;
//! 5. when no worker runs and no replacement is pending, the cluster finishes: every handle
//!    is closed and `AllExited` is reported.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;

use super::channel::Channel;
use super::ipc::{Frame, Kind};
use super::policy::Step;
use super::primary::{Primary, Worker};
use super::spawn::{spawn_worker, ExitReport};
use super::{ClusterError, ClusterEvent, WorkerId};
use crate::{EventLoop, TimerId};

/// Restart back-off (ms): the first delay, its ceiling, and how long a worker must have run for
/// the delay to start over.
const BACKOFF_FIRST_MS: u64 = 100;
const BACKOFF_MAX_MS: u64 = 5_000;
const BACKOFF_RESET_AFTER_MS: u64 = 10_000;

/// How long until the next restart of one slot: 100 ms, doubling to 5 s, reset after a worker
/// that ran 10 s.
#[derive(Debug)]
pub(super) struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_ms: BACKOFF_FIRST_MS,
        }
    }
}

impl Backoff {
    /// The delay before replacing a worker that ran `ran_ms`.
    pub fn delay_after(&mut self, ran_ms: u64) -> u64 {
        if ran_ms >= BACKOFF_RESET_AFTER_MS {
            self.next_ms = BACKOFF_FIRST_MS;
        }
        let delay = self.next_ms;
        self.next_ms = (delay * 2).min(BACKOFF_MAX_MS);
        delay
    }
}

/// Restarts stop after this many deaths or failed starts within [`RESTART_LIMIT_WINDOW_MS`]
/// (systemd's default `StartLimitBurst`): a worker that cannot start would otherwise be retried
/// forever, every 5 s once the back-off is at its ceiling.
pub const RESTART_LIMIT_EXITS: usize = 5;
/// The window of [`RESTART_LIMIT_EXITS`] (systemd's default `StartLimitIntervalSec`). The
/// back-off alone (100 ms doubling) brings 5 deaths of one slot within about 3 s.
pub const RESTART_LIMIT_WINDOW_MS: u64 = 10_000;

/// The deaths that would have been restarted, in the last window.
#[derive(Debug, Default)]
pub(crate) struct RestartLimit {
    deaths_ms: std::collections::VecDeque<u64>,
    reached: bool,
}

impl RestartLimit {
    /// Counts a death at `now_ms`; true once the limit is reached, and from then on.
    pub fn count(&mut self, now_ms: u64) -> bool {
        if self.reached {
            return true;
        }
        self.deaths_ms.push_back(now_ms);
        while let Some(&first) = self.deaths_ms.front() {
            if now_ms.saturating_sub(first) < RESTART_LIMIT_WINDOW_MS {
                break;
            }
            self.deaths_ms.pop_front();
        }
        self.reached = self.deaths_ms.len() >= RESTART_LIMIT_EXITS;
        self.reached
    }
}

/// One configured worker position: its back-off and its pending restart.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub backoff: Backoff,
    pub timer: Option<TimerId>,
}

impl Primary {
    /// Starts a worker in `slot`.
    pub fn spawn_into(
        self: &Rc<Self>,
        lp: &EventLoop,
        slot: usize,
    ) -> Result<WorkerId, ClusterError> {
        let Some(sender) = self.sender.borrow().clone() else {
            return Err(ClusterError::Ipc {
                cause: std::io::ErrorKind::NotConnected.into(),
            });
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let spawned = spawn_worker(&self.command, id, &self.exits, &sender)?;
        let channel = Channel::new(spawned.channel).map_err(|cause| ClusterError::Ipc { cause })?;
        let mut setup = vec![self.policy.to_byte()];
        setup.extend_from_slice(self.addr.to_string().as_bytes());
        let fds: Vec<OwnedFd> = self
            .shared
            .borrow()
            .worker_copy()
            .map_err(|cause| ClusterError::Ipc { cause })?
            .into_iter()
            .collect();
        let ipc = |cause| ClusterError::Ipc { cause };
        channel.send(lp, Kind::Setup, &setup, fds).map_err(ipc)?;
        let (on_frame, on_end) = (Rc::clone(self), Rc::clone(self));
        channel
            .start(
                lp,
                move |lp, frame| on_frame.on_frame(lp, id, frame),
                move |lp, _| on_end.on_disconnect(lp, id),
            )
            .map_err(ipc)?;
        self.handed.borrow_mut().insert(id, 0);
        let worker = Worker {
            slot,
            process: spawned.process,
            channel,
            started_ms: lp.now(),
        };
        self.workers.borrow_mut().insert(id, worker);
        Ok(id)
    }

    fn on_frame(self: &Rc<Self>, lp: &EventLoop, id: WorkerId, frame: Frame) {
        match frame.kind {
            Kind::Online => {
                let pid = self.workers.borrow().get(&id).map(|w| w.process.pid());
                if let Some(pid) = pid {
                    self.emit(lp, ClusterEvent::Online { id, pid });
                }
            }
            Kind::Listening => {
                if self.policy == super::SchedulingPolicy::RoundRobin && !self.stopping.get() {
                    let steps = self.rr.borrow_mut().add(id);
                    self.run_steps(lp, steps);
                }
                self.emit(lp, ClusterEvent::Listening { id });
            }
            Kind::Ack => {
                let accepted = frame.payload.first() == Some(&1);
                if accepted {
                    *self.handed.borrow_mut().entry(id).or_insert(0) += 1;
                    crate::costs::charge(crate::costs::Event::ClusterHandoff);
                }
                let steps = self.rr.borrow_mut().ack(id, accepted);
                self.run_steps(lp, steps);
            }
            Kind::User => {
                let bytes = frame.payload;
                self.emit(lp, ClusterEvent::Message { id, bytes });
            }
            // Frames only a primary sends: a confused peer; ignore them.
            Kind::Setup | Kind::NewConn | Kind::Shutdown => {}
        }
    }

    /// Carries out round-robin steps: close acknowledged copies, send new hand-offs. A worker
    /// whose channel refuses the hand-off is dropped from the rotation and the connection goes
    /// to the next worker.
    pub fn run_steps(self: &Rc<Self>, lp: &EventLoop, steps: Vec<Step<OwnedFd>>) {
        let mut steps = std::collections::VecDeque::from(steps);
        while let Some(step) = steps.pop_front() {
            let Step::Send(worker) = step else {
                continue; // Step::Close: dropping the descriptor closes the primary's copy.
            };
            let copy = self.rr.borrow().in_flight(worker).map(|fd| fd.try_clone());
            let channel = self
                .workers
                .borrow()
                .get(&worker)
                .map(|w| w.channel.clone());
            let sent = match (copy, channel) {
                (Some(Ok(copy)), Some(channel)) => {
                    channel.send(lp, Kind::NewConn, &[], vec![copy]).is_ok()
                }
                _ => false,
            };
            if !sent {
                let conn = self.rr.borrow_mut().remove(worker);
                if let Some(conn) = conn {
                    steps.extend(self.rr.borrow_mut().distribute(conn));
                }
            }
        }
    }

    /// A worker's channel ended (it closed it or died); its exit is reported by its reaper.
    fn on_disconnect(self: &Rc<Self>, lp: &EventLoop, id: WorkerId) {
        let unacknowledged = self.rr.borrow_mut().remove(id);
        drop(unacknowledged);
        let channel = self.workers.borrow().get(&id).map(|w| w.channel.clone());
        if let Some(channel) = channel {
            channel.close(lp);
        }
    }

    /// The reapers' wake-up: reports every exit queued since the last one.
    pub fn on_exits(self: &Rc<Self>, lp: &EventLoop) {
        let reports = std::mem::take(&mut *self.exits.lock().unwrap_or_else(|e| e.into_inner()));
        for report in reports {
            self.handle_exit(lp, report);
        }
        self.check_all_exited(lp);
    }

    fn handle_exit(self: &Rc<Self>, lp: &EventLoop, report: ExitReport) {
        let ExitReport {
            id,
            pid,
            status,
            stderr_tail,
        } = report;
        // Out of the rotation first, so nothing more is handed to the dead; then what it sent
        // before dying (still in the socket) is delivered before its Exit.
        let unacknowledged = self.rr.borrow_mut().remove(id);
        let channel = self.workers.borrow().get(&id).map(|w| w.channel.clone());
        if let Some(channel) = channel {
            channel.read_now(lp);
        }
        drop(unacknowledged);
        let worker = self.workers.borrow_mut().remove(&id);
        let Some(mut worker) = worker else { return };
        self.on_disconnect(lp, id);
        worker.channel.close(lp);
        worker.process.kill_and_reap(); // Already reaped: this joins the reaper thread.
        let would_restart = self.restart && !self.stopping.get();
        let limited = would_restart && self.restarts.borrow_mut().count(lp.now());
        let will_restart = would_restart && !limited;
        let (code, signal) = match status {
            Some(status) => (status.code(), status.signal()),
            None => (None, None),
        };
        self.emit(
            lp,
            ClusterEvent::Exit {
                id,
                pid,
                code,
                signal,
                will_restart,
                stderr_tail,
            },
        );
        if limited {
            self.emit_restart_limit(lp);
        }
        if will_restart && !self.stopping.get() {
            let ran_ms = lp.now().saturating_sub(worker.started_ms);
            self.schedule_restart(lp, worker.slot, ran_ms);
        }
    }

    fn emit_restart_limit(self: &Rc<Self>, lp: &EventLoop) {
        self.emit(
            lp,
            ClusterEvent::RestartLimit {
                exits: RESTART_LIMIT_EXITS,
                within_ms: RESTART_LIMIT_WINDOW_MS,
            },
        );
    }

    fn schedule_restart(self: &Rc<Self>, lp: &EventLoop, slot: usize, ran_ms: u64) {
        let mut slots = self.slots.borrow_mut();
        let Some(entry) = slots.get_mut(slot) else {
            return;
        };
        let delay = entry.backoff.delay_after(ran_ms);
        let primary = Rc::clone(self);
        entry.timer = Some(lp.set_timeout(delay, move |lp| primary.respawn(lp, slot)));
    }

    fn respawn(self: &Rc<Self>, lp: &EventLoop, slot: usize) {
        if let Some(entry) = self.slots.borrow_mut().get_mut(slot) {
            entry.timer = None;
        }
        if self.stopping.get() {
            return self.check_all_exited(lp);
        }
        if let Err(e) = self.spawn_into(lp, slot) {
            let limited = self.restarts.borrow_mut().count(lp.now());
            let will_retry = !self.stopping.get() && !limited;
            let reason = e.to_string();
            self.emit(lp, ClusterEvent::SpawnFailed { reason, will_retry });
            if limited {
                self.emit_restart_limit(lp);
            }
            if will_retry && !self.stopping.get() {
                self.schedule_restart(lp, slot, 0);
            } else {
                self.check_all_exited(lp);
            }
        }
    }

    /// Finishes the cluster once nothing runs and nothing will be started.
    pub fn check_all_exited(self: &Rc<Self>, lp: &EventLoop) {
        let restarting = self.slots.borrow().iter().any(|s| s.timer.is_some());
        if self.finished.get() || restarting || !self.workers.borrow().is_empty() {
            return;
        }
        self.finished.set(true);
        self.stopping.set(true);
        self.close_shared(lp);
        if let Some(timer) = self.grace_timer.take() {
            lp.clear_timer(timer);
        }
        self.sender.borrow_mut().take();
        let wake = self.reaper_wake.borrow_mut().take();
        if let Some(wake) = wake {
            wake.close(lp, |_| {});
        }
        self.emit(lp, ClusterEvent::AllExited);
    }

    /// Start failed: kill and reap every worker started so far and close every handle, so
    /// nothing outlives the error.
    pub fn tear_down(self: &Rc<Self>, lp: &EventLoop) {
        self.stopping.set(true);
        let workers = std::mem::take(&mut *self.workers.borrow_mut());
        for (_, mut worker) in workers {
            worker.channel.close(lp);
            worker.process.kill_and_reap();
        }
        self.exits.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.finished.set(true);
        self.close_shared(lp);
        self.sender.borrow_mut().take();
        let wake = self.reaper_wake.borrow_mut().take();
        if let Some(wake) = wake {
            wake.close(lp, |_| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Backoff, RestartLimit};

    #[test]
    fn restarts_stop_at_the_fifth_death_within_ten_seconds() {
        let mut limit = RestartLimit::default();
        // Four deaths, then one 10 s after the first: the window slid, no limit.
        for t in [0, 1_000, 2_000, 3_000] {
            assert!(!limit.count(t));
        }
        assert!(!limit.count(10_000), "the first death left the window");
        assert!(limit.count(10_500), "five within 10 s: 1, 2, 3, 10, 10.5 s");
        assert!(limit.count(60_000), "once reached, for good");
    }

    #[test]
    fn backoff_doubles_to_five_seconds_and_resets_after_a_long_run() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.delay_after(50)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff.delay_after(10_000), 100);
        assert_eq!(backoff.delay_after(9_999), 200);
    }
}
