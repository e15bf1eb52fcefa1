//! The primary: [`Cluster`], the handle a program uses to run workers (NODE_MODEL.md 4).
//!
//! Invariants:
//! 1. every worker process is owned by a `ProcessHandle` in `workers` until its reaper reported
//!    its exit; the loop learns of exits through one async handle (coalesced wake-ups);
//! 2. events reach the callback one at a time, in the order they happened; an event raised
//!    while the callback runs (from a call it makes) is queued and delivered after it returns;
//! 3. the cluster's handles (async, channels, acceptor, timers) keep the loop alive until
//!    [`ClusterEvent::AllExited`], and are all closed by then, so the loop can end;
//! 4. dropping the last [`Cluster`] clone kills (`SIGKILL`) and reaps every worker still running
//!    before returning; the loop then tidies up the handles the next time it runs. (A clone
//!    kept inside the event callback would keep itself alive: use the `&Cluster` the callback
//!    is given instead.)
//!
//! Shutdown order ([`Cluster::shutdown`]):
//! 1. stop restarting (pending restarts are cancelled);
//! 2. close the shared address (round-robin: queued connections are closed too);
//! 3. send every worker `Shutdown`: it closes its server, runs its `on_shutdown`, closes its
//!    channel and exits once its own handles are done (code 0);
//! 4. after `grace_ms`, `SIGKILL` whoever is left (by pid, never a reaped one);
//! 5. when the last exit is reaped: close the cluster's handles, report `AllExited`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use super::channel::Channel;
use super::ipc::{Kind, MAX_MESSAGE_BYTES};
use super::policy::RoundRobin;
use super::server::{self, SharedAddress};
use super::spawn::{ExitQueue, ProcessHandle, WorkerCommand};
use super::supervisor::{RestartLimit, Slot};
use super::{ClusterError, ClusterEvent, ClusterSpec, SchedulingPolicy, WorkerId, MAX_WORKERS};
use crate::{AsyncHandle, AsyncSender, EventLoop, TimerId};

type EventCb = Box<dyn FnMut(&EventLoop, &Cluster, ClusterEvent)>;

/// One running worker, as the primary sees it.
pub(super) struct Worker {
    pub slot: usize,
    pub process: ProcessHandle,
    pub channel: Channel,
    pub started_ms: u64,
}

pub(super) struct Primary {
    pub policy: SchedulingPolicy,
    pub addr: SocketAddr,
    pub restart: bool,
    pub command: WorkerCommand,
    events: RefCell<Option<EventCb>>,
    queued_events: RefCell<VecDeque<ClusterEvent>>,
    owner: RefCell<Weak<Owner>>,
    pub workers: RefCell<BTreeMap<WorkerId, Worker>>,
    pub next_id: Cell<WorkerId>,
    pub slots: RefCell<Vec<Slot>>,
    pub restarts: RefCell<RestartLimit>,
    pub rr: RefCell<RoundRobin<std::os::fd::OwnedFd>>,
    pub shared: RefCell<SharedAddress>,
    pub handed: RefCell<BTreeMap<WorkerId, u64>>,
    pub exits: ExitQueue,
    pub reaper_wake: RefCell<Option<AsyncHandle>>,
    pub sender: RefCell<Option<AsyncSender>>,
    pub stopping: Cell<bool>,
    pub grace_timer: Cell<Option<TimerId>>,
    pub finished: Cell<bool>,
}

/// Held only by the caller's clones: when the last one goes, the workers go.
struct Owner {
    primary: Weak<Primary>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(primary) = self.primary.upgrade() {
            primary.abandon();
        }
    }
}

/// A running cluster: N worker processes sharing one listening address (see the module doc of
/// `cluster` for an example). Clones share it.
#[derive(Clone)]
pub struct Cluster {
    primary: Rc<Primary>,
    _owner: Rc<Owner>,
}

impl Cluster {
    /// Binds the shared address, starts `spec.workers` workers and reports what happens to
    /// `events` (called with the loop, this cluster and the event). On error no worker is left
    /// running and nothing is left on the loop.
    pub fn start(
        lp: &EventLoop,
        spec: ClusterSpec,
        events: impl FnMut(&EventLoop, &Cluster, ClusterEvent) + 'static,
    ) -> Result<Cluster, ClusterError> {
        if spec.workers == 0 || spec.workers > MAX_WORKERS {
            return Err(ClusterError::Workers(spec.workers));
        }
        let policy = SchedulingPolicy::resolve(spec.policy);
        let (shared, addr) = server::open(policy, spec.bind)?;
        let primary = Rc::new(Primary {
            policy,
            addr,
            restart: spec.restart,
            command: WorkerCommand {
                exe: spec.exe,
                args: spec.args,
                discard_stdout: spec.discard_stdout,
                stderr_tail_lines: spec.stderr_tail_lines,
                temp_root: spec.temp_root,
            },
            events: RefCell::new(Some(Box::new(events))),
            queued_events: RefCell::new(VecDeque::new()),
            owner: RefCell::new(Weak::new()),
            workers: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(1),
            slots: RefCell::new((0..spec.workers).map(|_| Slot::default()).collect()),
            restarts: RefCell::new(RestartLimit::default()),
            rr: RefCell::new(RoundRobin::default()),
            shared: RefCell::new(shared),
            handed: RefCell::new(BTreeMap::new()),
            exits: Arc::new(Mutex::new(Vec::new())),
            reaper_wake: RefCell::new(None),
            sender: RefCell::new(None),
            stopping: Cell::new(false),
            grace_timer: Cell::new(None),
            finished: Cell::new(false),
        });
        let owner = Rc::new(Owner {
            primary: Rc::downgrade(&primary),
        });
        *primary.owner.borrow_mut() = Rc::downgrade(&owner);
        let cluster = Cluster {
            primary: Rc::clone(&primary),
            _owner: owner,
        };
        let p = Rc::clone(&primary);
        let wake = lp.new_async(move |lp| p.on_exits(lp));
        *primary.sender.borrow_mut() = Some(wake.sender());
        *primary.reaper_wake.borrow_mut() = Some(wake);
        let started = primary.start_accepting(lp).and_then(|()| {
            (0..spec.workers).try_for_each(|slot| primary.spawn_into(lp, slot).map(drop))
        });
        if let Err(e) = started {
            primary.tear_down(lp);
            return Err(e);
        }
        Ok(cluster)
    }

    /// The policy in force.
    pub fn policy(&self) -> SchedulingPolicy {
        self.primary.policy
    }

    /// The shared address, with the concrete port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.primary.addr
    }

    /// The workers whose processes run now, as (id, pid), by id.
    pub fn worker_pids(&self) -> Vec<(WorkerId, u32)> {
        let workers = self.primary.workers.borrow();
        workers
            .iter()
            .map(|(id, w)| (*id, w.process.pid()))
            .collect()
    }

    /// Round-robin: how many connections each worker ever started has accepted, by id
    /// (0 under the other policies, where the primary sees no connection).
    pub fn connections_handed(&self) -> Vec<(WorkerId, u64)> {
        let handed = self.primary.handed.borrow();
        handed.iter().map(|(id, n)| (*id, *n)).collect()
    }

    /// Sends `bytes` to worker `id` (its `on_message`), after everything sent to it before.
    pub fn send(&self, lp: &EventLoop, id: WorkerId, bytes: &[u8]) -> Result<(), ClusterError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ClusterError::MessageTooLarge { bytes: bytes.len() });
        }
        let channel = match self.primary.workers.borrow().get(&id) {
            Some(worker) if worker.channel.is_open() => worker.channel.clone(),
            _ => return Err(ClusterError::UnknownWorker(id)),
        };
        channel
            .send(lp, Kind::User, bytes, Vec::new())
            .map_err(|_| ClusterError::UnknownWorker(id))
    }

    /// Sends `signal` to worker `id`'s process (Node's `worker.kill`); an exited worker is never
    /// signalled, even if its pid was reused.
    pub fn kill(&self, id: WorkerId, signal: i32) -> Result<(), ClusterError> {
        match self.primary.workers.borrow().get(&id) {
            Some(worker) if worker.process.signal(signal) => Ok(()),
            _ => Err(ClusterError::UnknownWorker(id)),
        }
    }

    /// Stops the cluster gracefully (see the module doc for the order); workers still running
    /// after `grace_ms` are killed. `AllExited` is reported when every worker is reaped.
    pub fn shutdown(&self, lp: &EventLoop, grace_ms: u64) {
        self.primary.shutdown(lp, grace_ms);
    }

    /// Whether `AllExited` was reported.
    pub fn is_finished(&self) -> bool {
        self.primary.finished.get()
    }
}

impl Primary {
    /// Reports `event` (queued if the callback is running; see invariant 2).
    pub fn emit(self: &Rc<Self>, lp: &EventLoop, event: ClusterEvent) {
        self.queued_events.borrow_mut().push_back(event);
        let Some(owner) = self.owner.borrow().upgrade() else {
            self.queued_events.borrow_mut().clear();
            return;
        };
        let cluster = Cluster {
            primary: Rc::clone(self),
            _owner: owner,
        };
        let Some(mut callback) = self.events.borrow_mut().take() else {
            return; // The callback is running: it is delivered when that call returns.
        };
        loop {
            let next = self.queued_events.borrow_mut().pop_front();
            let Some(event) = next else { break };
            callback(lp, &cluster, event);
            lp.drain_ticks();
        }
        *self.events.borrow_mut() = Some(callback);
    }

    fn start_accepting(self: &Rc<Self>, lp: &EventLoop) -> Result<(), ClusterError> {
        let shared = self.shared.borrow();
        let SharedAddress::RoundRobin(acceptor) = &*shared else {
            return Ok(());
        };
        let primary = Rc::clone(self);
        acceptor
            .start(lp, move |lp, conn| {
                let steps = primary.rr.borrow_mut().distribute(conn);
                primary.run_steps(lp, steps);
            })
            .map_err(|cause| ClusterError::Bind {
                addr: self.addr,
                cause,
            })
    }

    fn shutdown(self: &Rc<Self>, lp: &EventLoop, grace_ms: u64) {
        if self.stopping.replace(true) || self.finished.get() {
            return;
        }
        for slot in self.slots.borrow_mut().iter_mut() {
            if let Some(timer) = slot.timer.take() {
                lp.clear_timer(timer);
            }
        }
        self.close_shared(lp);
        let channels: Vec<Channel> = (self.workers.borrow().values())
            .map(|w| w.channel.clone())
            .collect();
        for channel in channels {
            // A worker whose channel is gone is already exiting.
            let _ = channel.send(lp, Kind::Shutdown, &[], Vec::new());
        }
        let primary = Rc::clone(self);
        let timer = lp.set_timeout(grace_ms, move |_| {
            primary.grace_timer.set(None);
            for worker in primary.workers.borrow().values() {
                worker.process.signal(libc::SIGKILL);
            }
        });
        self.grace_timer.set(Some(timer));
        // Nothing may be running: decide in the check phase, not inside this call.
        let primary = Rc::clone(self);
        lp.set_immediate(move |lp| primary.check_all_exited(lp));
    }

    /// Closes the shared address; round-robin connections not yet accepted by a worker close.
    pub fn close_shared(&self, lp: &EventLoop) {
        self.shared.borrow_mut().close(lp);
        let conns = self.rr.borrow_mut().clear();
        drop(conns);
    }

    /// The last `Cluster` clone is gone: kill and reap every worker now.
    fn abandon(&self) {
        self.stopping.set(true);
        let mut workers = self.workers.borrow_mut();
        for worker in workers.values_mut() {
            worker.process.kill_and_reap();
        }
    }
}
