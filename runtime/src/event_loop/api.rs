//! What callbacks schedule: timers, immediates, next-ticks, microtasks, loop watchers and pool
//! work. Each call is the counterpart of a Node or libuv function, named in its doc.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use super::{Callback, EventLoop};
use crate::costs::{self, Event};
use crate::pool::{WorkClass, WorkSpec};
use crate::timers::{coerce_delay_ms, TimerCallback, TimerId};

/// Identifies one queued immediate (for [`EventLoop::clear_immediate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImmediateId(u64);

/// The immediate queue. Ids increase in queue order, so "already ran" is `id < next_to_run`
/// and clearing needs no per-immediate bookkeeping on the hot path.
#[derive(Default)]
pub(crate) struct Immediates {
    queue: VecDeque<(u64, Callback)>,
    next_id: u64,
    next_to_run: u64,
    cleared: HashSet<u64>,
    referenced: usize,
}

impl Immediates {
    pub fn referenced(&self) -> usize {
        self.referenced
    }
}

/// The three kinds of libuv loop watchers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherKind {
    /// Runs every iteration before prepare, and makes poll not block while active.
    Idle,
    /// Runs every iteration right before poll.
    Prepare,
    /// Runs every iteration right after poll, after the immediates.
    Check,
}

/// Identifies a started watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatcherId {
    kind: WatcherKind,
    id: u64,
}

type WatcherFn = Rc<RefCell<Box<dyn FnMut(&EventLoop)>>>;

struct Watcher {
    id: u64,
    callback: WatcherFn,
    referenced: bool,
}

#[derive(Default)]
pub(crate) struct Watchers {
    lists: [Vec<Watcher>; 3],
    next_id: u64,
}

impl Watchers {
    fn list(&mut self, kind: WatcherKind) -> &mut Vec<Watcher> {
        &mut self.lists[kind as usize]
    }

    pub fn any(&self, kind: WatcherKind) -> bool {
        !self.lists[kind as usize].is_empty()
    }
}

impl EventLoop {
    /// `setTimeout(callback, delay)`: runs once after `delay_ms` (0 or above 2^31 - 1 become
    /// 1 ms, as in Node). The start time is a fresh reading of the loop clock, like Node's
    /// `getLibuvNow()`.
    pub fn set_timeout(
        &self,
        delay_ms: u64,
        callback: impl FnOnce(&EventLoop) + 'static,
    ) -> TimerId {
        let now = self.update_time();
        self.timers.borrow_mut().start(
            now,
            coerce_delay_ms(delay_ms as f64),
            TimerCallback::Once(Box::new(callback)),
            None,
        )
    }

    /// `setInterval(callback, period)`: runs every `period_ms` (coerced like `set_timeout`) until
    /// cleared; re-armed after each run relative to the time the run started.
    pub fn set_interval(
        &self,
        period_ms: u64,
        callback: impl FnMut(&EventLoop) + 'static,
    ) -> TimerId {
        let period = coerce_delay_ms(period_ms as f64);
        let now = self.update_time();
        self.timers.borrow_mut().start(
            now,
            period,
            TimerCallback::Repeat(Box::new(callback)),
            Some(period),
        )
    }

    /// `clearTimeout` / `clearInterval`; returns whether the timer was still active.
    pub fn clear_timer(&self, id: TimerId) -> bool {
        self.timers.borrow_mut().clear(id)
    }

    /// `timeout.unref()`: the timer no longer keeps the loop alive.
    pub fn unref_timer(&self, id: TimerId) {
        self.timers.borrow_mut().set_ref(id, false);
    }

    /// `timeout.ref()`.
    pub fn ref_timer(&self, id: TimerId) {
        self.timers.borrow_mut().set_ref(id, true);
    }

    /// Whether a timer is still active (not fired, if one-shot, and not cleared).
    pub fn timer_active(&self, id: TimerId) -> bool {
        self.timers.borrow().is_active(id)
    }

    /// `setImmediate(callback)`: runs in the check phase. The queue is snapshotted when the phase
    /// starts, so an immediate scheduled by an immediate runs in the next iteration; while any
    /// is queued, poll does not block.
    pub fn set_immediate(&self, callback: impl FnOnce(&EventLoop) + 'static) -> ImmediateId {
        let mut imm = self.immediates.borrow_mut();
        let id = imm.next_id;
        imm.next_id += 1;
        imm.referenced += 1;
        imm.queue.push_back((id, Box::new(callback)));
        ImmediateId(id)
    }

    /// `clearImmediate`; returns whether the immediate was still queued.
    pub fn clear_immediate(&self, id: ImmediateId) -> bool {
        let mut imm = self.immediates.borrow_mut();
        if id.0 < imm.next_to_run || id.0 >= imm.next_id || !imm.cleared.insert(id.0) {
            return false;
        }
        imm.referenced -= 1;
        true
    }

    /// `process.nextTick(callback)`: runs as soon as the current callback returns, before
    /// microtasks.
    pub fn next_tick(&self, callback: impl FnOnce(&EventLoop) + 'static) {
        self.ticks.borrow_mut().push_back(Box::new(callback));
    }

    /// `queueMicrotask(callback)` (also what a resolved promise's reaction is): runs after the
    /// next-tick queue is empty.
    pub fn queue_microtask(&self, callback: impl FnOnce(&EventLoop) + 'static) {
        self.microtasks.borrow_mut().push_back(Box::new(callback));
    }

    /// Starts an idle, prepare or check watcher (`uv_idle_start` and friends). Like libuv, the
    /// most recently started watcher of a kind runs first. Referenced by default.
    pub fn start_watcher(
        &self,
        kind: WatcherKind,
        callback: impl FnMut(&EventLoop) + 'static,
    ) -> WatcherId {
        let mut watchers = self.watchers.borrow_mut();
        let id = watchers.next_id;
        watchers.next_id += 1;
        watchers.list(kind).insert(
            0,
            Watcher {
                id,
                callback: Rc::new(RefCell::new(Box::new(callback))),
                referenced: true,
            },
        );
        drop(watchers);
        self.add_active_handles(1);
        WatcherId { kind, id }
    }

    /// Stops a watcher; returns whether it was running.
    pub fn stop_watcher(&self, watcher: WatcherId) -> bool {
        let mut watchers = self.watchers.borrow_mut();
        let list = watchers.list(watcher.kind);
        let Some(pos) = list.iter().position(|w| w.id == watcher.id) else {
            return false;
        };
        let removed = list.remove(pos);
        drop(watchers);
        if removed.referenced {
            self.add_active_handles(-1);
        }
        true
    }

    /// `uv_unref` on a watcher: it keeps running but no longer keeps the loop alive.
    pub fn unref_watcher(&self, watcher: WatcherId) {
        let mut watchers = self.watchers.borrow_mut();
        let list = watchers.list(watcher.kind);
        if let Some(w) = list.iter_mut().find(|w| w.id == watcher.id) {
            if std::mem::replace(&mut w.referenced, false) {
                drop(watchers);
                self.add_active_handles(-1);
            }
        }
    }

    pub(super) fn run_watchers(&self, kind: WatcherKind) {
        if !self.watchers.borrow().any(kind) {
            return;
        }
        let batch: Vec<(u64, WatcherFn)> = self
            .watchers
            .borrow_mut()
            .list(kind)
            .iter()
            .map(|w| (w.id, Rc::clone(&w.callback)))
            .collect();
        for (id, callback) in batch {
            // A watcher stopped by an earlier one in this pass does not run.
            if !self
                .watchers
                .borrow_mut()
                .list(kind)
                .iter()
                .any(|w| w.id == id)
            {
                continue;
            }
            self.invoke(|lp| (callback.borrow_mut())(lp));
        }
    }

    /// The check phase: the snapshot of immediates, then check watchers.
    pub(super) fn run_check(&self) {
        let batch = std::mem::take(&mut self.immediates.borrow_mut().queue);
        for (id, callback) in batch {
            {
                let mut imm = self.immediates.borrow_mut();
                imm.next_to_run = id + 1;
                if !imm.cleared.is_empty() && imm.cleared.remove(&id) {
                    continue;
                }
                imm.referenced -= 1;
            }
            costs::charge(Event::Immediate);
            self.invoke(callback);
        }
        self.run_watchers(WatcherKind::Check);
    }

    /// `uv_queue_work`: runs `work` on a pool thread, then `after_work` with its result on this
    /// loop, in the poll phase. The request keeps the loop alive until `after_work` has run.
    pub fn queue_work<T, W, A>(&self, spec: WorkSpec, work: W, after_work: A)
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        A: FnOnce(&EventLoop, T) + 'static,
    {
        let after: super::AfterWork =
            Box::new(
                move |lp, value: Box<dyn Any + Send>| match value.downcast::<T>() {
                    Ok(value) => after_work(lp, *value),
                    Err(_) => {
                        unreachable!("a work result always has the type its after_work takes")
                    }
                },
            );
        costs::charge(Event::PoolSubmit);
        if spec.class == WorkClass::FastIo {
            costs::charge(Event::FileTrip);
        }
        let req = self.work.borrow_mut().insert(after);
        self.active_reqs.set(self.active_reqs.get() + 1);
        self.pool().submit(
            spec,
            req,
            Box::new(move || Box::new(work()) as Box<dyn Any + Send>),
            std::sync::Arc::clone(&self.sink),
        );
    }
}
