//! The part of a loop other threads may touch: its wake-up and its pool completion queue, plus
//! [`AsyncHandle`], the counterpart of libuv's `uv_async_t`.
//!
//! Mechanism (libuv `src/unix/async.c`): a send sets the handle's atomic `pending` flag and only
//! the sender that flips it from false to true writes to the loop's eventfd (here a `mio::Waker`),
//! so any number of sends before the loop reacts cost one wake-up and one callback. The loop
//! clears `woken` *before* scanning the flags, so a send racing with the scan wakes it again.
//! Pool completions use the same path through an internal, unreferenced flag (libuv's
//! `wq_async`), which is scanned first because libuv creates it first.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::pool::{Completion, CompletionSink};
use crate::posix_sync::PosixMutex;
use crate::EventLoop;

pub(crate) struct Remote {
    waker: mio::Waker,
    woken: AtomicBool,
    completions_pending: AtomicBool,
    completions: PosixMutex<Vec<Completion>>,
}

impl Remote {
    pub fn new(waker: mio::Waker) -> Self {
        Self {
            waker,
            woken: AtomicBool::new(false),
            completions_pending: AtomicBool::new(false),
            completions: PosixMutex::new(Vec::new()),
        }
    }

    fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            // Failing to write an eventfd means the loop's fds are gone; nothing to wake.
            let _ = self.waker.wake();
        }
    }

    /// Called by the loop when its waker fired, before it scans the pending flags.
    pub fn begin_scan(&self) {
        self.woken.store(false, Ordering::Release);
    }

    /// Moves the finished pool jobs into `into` (which must be empty), if any arrived.
    pub fn take_completions(&self, into: &mut Vec<Completion>) {
        if self.completions_pending.swap(false, Ordering::AcqRel) {
            let mut queue = self.completions.lock();
            std::mem::swap(&mut *queue, into);
        }
    }
}

impl CompletionSink for Remote {
    /// libuv's worker (`src/threadpool.c`) pushes onto `loop->wq` and calls
    /// `uv_async_send(&loop->wq_async)` while it holds `loop->wq_mutex`, and so does this: the
    /// wake-up is sent with the lock held. On a machine with more busy threads than cores, the
    /// woken loop can then find the lock held by a pool thread that lost its core, and wait for
    /// it, as Node's main thread does (strace of Node 20: `futex` waits of 10 to 20 ms on
    /// `default_loop_struct.wq_mutex` with 4 hashing pool threads on 2 cores). Sending after
    /// the unlock would hide that wait and make the model's loop look idler than Node's.
    fn deliver(&self, completion: Completion) {
        let mut queue = self.completions.lock();
        queue.push(completion);
        if !self.completions_pending.swap(true, Ordering::AcqRel) {
            self.wake();
        }
        drop(queue);
    }
}

type AsyncCallback = RefCell<Box<dyn FnMut(&EventLoop)>>;

pub(crate) struct AsyncState {
    pending: Arc<AtomicBool>,
    callback: AsyncCallback,
    referenced: Cell<bool>,
    closed: Cell<bool>,
}

impl AsyncState {
    /// Clears the pending flag; true if a send arrived since the last check.
    pub fn take_pending(&self) -> bool {
        !self.closed.get() && self.pending.swap(false, Ordering::AcqRel)
    }

    pub fn call(&self, lp: &EventLoop) {
        (self.callback.borrow_mut())(lp);
    }
}

/// A loop-side wake-up handle (`uv_async_t`): [`AsyncSender::send`] from any thread makes its
/// callback run once in the loop's poll phase, however many sends arrived meanwhile.
/// Referenced (keeps the loop alive) until [`AsyncHandle::unref`] or [`AsyncHandle::close`].
pub struct AsyncHandle {
    state: Rc<AsyncState>,
    remote: Arc<Remote>,
}

/// The sending side of an [`AsyncHandle`]; `Send + Sync + Clone`.
#[derive(Clone)]
pub struct AsyncSender {
    pending: Arc<AtomicBool>,
    remote: Arc<Remote>,
}

impl AsyncSender {
    /// Requests one run of the handle's callback. Sends coalesce; never blocks.
    pub fn send(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            self.remote.wake();
        }
    }
}

impl EventLoop {
    /// Creates a referenced async handle whose callback runs in this loop's poll phase.
    pub fn new_async(&self, callback: impl FnMut(&EventLoop) + 'static) -> AsyncHandle {
        let state = Rc::new(AsyncState {
            pending: Arc::new(AtomicBool::new(false)),
            callback: RefCell::new(Box::new(callback)),
            referenced: Cell::new(true),
            closed: Cell::new(false),
        });
        self.asyncs.borrow_mut().push(Rc::clone(&state));
        self.add_active_handles(1);
        AsyncHandle {
            state,
            remote: Arc::clone(&self.remote),
        }
    }
}

impl AsyncHandle {
    /// A sender other threads can use.
    pub fn sender(&self) -> AsyncSender {
        AsyncSender {
            pending: Arc::clone(&self.state.pending),
            remote: Arc::clone(&self.remote),
        }
    }

    /// Lets the loop exit even while this handle is open (`uv_unref`).
    pub fn unref(&self, lp: &EventLoop) {
        if !self.state.closed.get() && self.state.referenced.replace(false) {
            lp.add_active_handles(-1);
        }
    }

    /// Makes the handle keep the loop alive again (`uv_ref`).
    pub fn ref_(&self, lp: &EventLoop) {
        if !self.state.closed.get() && !self.state.referenced.replace(true) {
            lp.add_active_handles(1);
        }
    }

    /// Closes the handle; `on_close` runs in the closing phase. Later sends are ignored.
    pub fn close(self, lp: &EventLoop, on_close: impl FnOnce(&EventLoop) + 'static) {
        if self.state.closed.replace(true) {
            return;
        }
        if self.state.referenced.get() {
            lp.add_active_handles(-1);
        }
        lp.asyncs
            .borrow_mut()
            .retain(|s| !Rc::ptr_eq(s, &self.state));
        lp.push_closing(Box::new(on_close));
    }
}
