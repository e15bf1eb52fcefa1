//! [`WorkerPort`]: the worker's end of the channel to its parent (Node's `parentPort`).
//!
//! Mechanism: one [`AsyncHandle`] on the worker's loop. Its callback runs in the poll phase and
//! 1. stops the worker if terminate was requested (an unwind to the thread's top, see
//!    [`stop`]);
//! 2. otherwise, while a listener is set, delivers queued messages one callback each (next-ticks
//!    and microtasks drain between them), at most max(queue length, 1000) before yielding the
//!    rest of the iteration and waking itself again.
//!
//! Invariants: the handle is referenced only while a listener is set and the port is not
//! unreferenced (Node refs a `MessagePort` while it has a `'message'` listener); messages that
//! arrive while no listener is set stay queued, in order, like a port that is not started yet.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::link::{stop, Link};
use super::{message, Message, PostError};
use crate::costs;
use crate::{AsyncHandle, EventLoop};

pub(crate) type Listener = Rc<RefCell<Box<dyn FnMut(&EventLoop, Message)>>>;

/// The worker's side of its message channel, handed to the worker's main.
///
/// Cloning gives another handle to the same port (for use inside callbacks). Lives on the
/// worker's thread only (`!Send`).
#[derive(Clone)]
pub struct WorkerPort {
    core: Rc<PortCore>,
}

struct PortCore {
    link: Arc<Link>,
    handle: RefCell<Option<AsyncHandle>>,
    listener: RefCell<Option<Listener>>,
    referenced: Cell<bool>,
}

impl WorkerPort {
    /// Registers the port's wake-up on `lp` (unreferenced until a listener is set) and tells the
    /// parent side where to send wake-ups.
    pub(crate) fn attach(lp: &EventLoop, link: Arc<Link>) -> Self {
        let core = Rc::new_cyclic(|weak: &Weak<PortCore>| {
            let weak = weak.clone();
            let wake_link = Arc::clone(&link);
            let handle = lp.new_async(move |lp| {
                if wake_link.terminating() {
                    stop(1);
                }
                if let Some(core) = weak.upgrade() {
                    core.deliver(lp);
                }
            });
            handle.unref(lp);
            let sender = handle.sender();
            link.set_worker_wake(Some(sender.clone()));
            // Messages posted before the sender was known are waiting: look once.
            sender.send();
            PortCore {
                link,
                handle: RefCell::new(Some(handle)),
                listener: RefCell::new(None),
                referenced: Cell::new(true),
            }
        });
        Self { core }
    }

    /// Ends the port with the worker's loop: drops the listener and the wake-up, refuses later
    /// posts to this worker and drops the messages nobody read.
    pub(crate) fn detach(&self) {
        let listener = self.core.listener.borrow_mut().take();
        drop(listener);
        let handle = self.core.handle.borrow_mut().take();
        drop(handle);
        self.core.link.set_worker_wake(None);
        drop(self.core.link.close_inbox());
    }

    /// `parentPort.postMessage(value)`: moves `value` to the parent, where it arrives in the
    /// parent loop's poll phase. Refused (the value handed back) once terminate was requested.
    pub fn post<T: std::any::Any + Send>(&self, value: T) -> Result<(), PostError> {
        costs::charge(costs::Event::WorkerMessage);
        self.core.link.post_to_parent(message(value))
    }

    /// `parentPort.on('message', callback)`: `callback` runs for every message from the parent,
    /// in send order, in the poll phase. Replaces an earlier listener. While set, the port keeps
    /// the worker's loop alive (unless [`WorkerPort::unref`]).
    pub fn on_message(&self, lp: &EventLoop, callback: impl FnMut(&EventLoop, Message) + 'static) {
        let listener: Listener = Rc::new(RefCell::new(Box::new(callback)));
        let old = self.core.listener.borrow_mut().replace(listener);
        drop(old);
        self.core.update_ref(lp);
        // Deliver what arrived before the listener existed.
        self.core.link.wake_worker();
    }

    /// `parentPort.removeAllListeners('message')`: later messages wait in the queue, and the
    /// port no longer keeps the loop alive, so a worker with nothing else to do exits with 0.
    pub fn off_message(&self, lp: &EventLoop) {
        let old = self.core.listener.borrow_mut().take();
        drop(old);
        self.core.update_ref(lp);
    }

    /// `parentPort.unref()`: the listener no longer keeps the worker's loop alive.
    pub fn unref(&self, lp: &EventLoop) {
        self.core.referenced.set(false);
        self.core.update_ref(lp);
    }

    /// `parentPort.ref()`: undoes [`WorkerPort::unref`].
    pub fn ref_(&self, lp: &EventLoop) {
        self.core.referenced.set(true);
        self.core.update_ref(lp);
    }

    /// `process.exit(code)` inside a worker: ends the worker now with `code`. It does not
    /// return: it unwinds the worker's stack to the thread's top (destructors run; the panic hook
    /// does not), so code that catches unwinds must not wrap it. The parent's exit callback gets
    /// `code`.
    pub fn exit(&self, code: i32) -> ! {
        stop(code)
    }

    /// Whether the parent asked this worker to terminate. A long computation can poll this and
    /// return early: a running closure cannot be interrupted from outside.
    pub fn is_terminating(&self) -> bool {
        self.core.link.terminating()
    }

    /// The worker's id (`worker.threadId`; 1 for the first worker of the process).
    pub fn thread_id(&self) -> u64 {
        self.core.link.thread_id
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.core.link.name
    }
}

impl PortCore {
    fn update_ref(&self, lp: &EventLoop) {
        let wanted = self.referenced.get() && self.listener.borrow().is_some();
        if let Some(handle) = self.handle.borrow().as_ref() {
            if wanted {
                handle.ref_(lp);
            } else {
                handle.unref(lp);
            }
        }
    }

    // Never inlined: the instruction benches (runtime/benches/instructions.rs) count a worker
    // thread's share of a message round trip from this function's entry.
    #[inline(never)]
    fn deliver(&self, lp: &EventLoop) {
        let mut budget = self.link.inbox_len().max(super::link::MESSAGE_BATCH);
        loop {
            if self.link.terminating() {
                stop(1);
            }
            let Some(listener) = self.listener.borrow().clone() else {
                return;
            };
            if budget == 0 {
                self.link.wake_worker();
                return;
            }
            let Some(message) = self.link.take_for_worker() else {
                return;
            };
            budget -= 1;
            costs::charge(costs::Event::WorkerMessage);
            lp.invoke(|lp| (listener.borrow_mut())(lp, message));
        }
    }
}
