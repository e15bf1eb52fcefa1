//! The state a worker and its parent share across threads: the worker's inbox, the parent's
//! event queue, a wake-up for each side, the terminate flag and the start-up time.
//!
//! Invariants:
//! 1. Each queue has its own mutex, and no code holds two of this file's locks at once.
//! 2. A value is queued first and the receiver woken second ([`AsyncSender::send`]), so a
//!    wake-up always finds what caused it; extra wake-ups find an empty queue and do nothing.
//! 3. The inbox is closed (flag set, queue drained, under its lock) when the worker's loop has
//!    ended; a post after that is refused and gets its message back.
//! 4. The worker pushes its events in the order they happen (`Online`, messages, at most one
//!    `Error`, then `Exit`); `Exit` is the last, after which the worker thread only returns.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{Message, PostError};
use crate::posix_sync::PosixMutex;
use crate::AsyncSender;

/// At least this many queued values are delivered per wake-up before yielding to the rest of
/// the loop (Node's `MessagePort::OnMessage` uses max(queue length, 1000)).
pub(crate) const MESSAGE_BATCH: usize = 1000;

/// What the parent's loop hears from a worker.
pub(crate) enum Event {
    /// The worker's loop exists and its main is about to run (Node's `'online'`).
    Online,
    /// A message posted by the worker.
    Message(Message),
    /// The worker panicked; the panic message.
    Error(String),
    /// The worker has ended with this code; its thread is about to return.
    Exit(i32),
}

struct Inbox {
    queue: VecDeque<Message>,
    closed: bool,
}

pub(crate) struct Link {
    pub thread_id: u64,
    pub name: String,
    // Node's `MessagePort` queues are behind a `uv_mutex_t` (`node::Mutex`): POSIX mutexes.
    inbox: PosixMutex<Inbox>,
    worker_wake: PosixMutex<Option<AsyncSender>>,
    events: PosixMutex<VecDeque<Event>>,
    parent_wake: AsyncSender,
    terminate: AtomicBool,
    startup: OnceLock<Duration>,
}

impl Link {
    pub fn new(thread_id: u64, name: &str, parent_wake: AsyncSender) -> Self {
        Self {
            thread_id,
            name: name.to_owned(),
            inbox: PosixMutex::new(Inbox {
                queue: VecDeque::new(),
                closed: false,
            }),
            worker_wake: PosixMutex::new(None),
            events: PosixMutex::new(VecDeque::new()),
            parent_wake,
            terminate: AtomicBool::new(false),
            startup: OnceLock::new(),
        }
    }

    /// Parent side: queues a message for the worker and wakes it.
    pub fn post_to_worker(&self, message: Message) -> Result<(), PostError> {
        if self.terminating() {
            return Err(PostError(message));
        }
        {
            let mut inbox = self.inbox.lock();
            if inbox.closed {
                return Err(PostError(message));
            }
            inbox.queue.push_back(message);
        }
        self.wake_worker();
        Ok(())
    }

    /// Worker side: the oldest message for the worker.
    pub fn take_for_worker(&self) -> Option<Message> {
        self.inbox.lock().queue.pop_front()
    }

    pub fn inbox_len(&self) -> usize {
        self.inbox.lock().queue.len()
    }

    /// Worker side, once its loop has ended: refuses later posts; returns what was never read
    /// (for the caller to drop outside the lock).
    pub fn close_inbox(&self) -> VecDeque<Message> {
        let mut inbox = self.inbox.lock();
        inbox.closed = true;
        std::mem::take(&mut inbox.queue)
    }

    /// Worker side: where wake-ups for the worker's loop go (`None` once it has ended).
    pub fn set_worker_wake(&self, sender: Option<AsyncSender>) {
        *self.worker_wake.lock() = sender;
    }

    pub fn wake_worker(&self) {
        if let Some(sender) = self.worker_wake.lock().as_ref() {
            sender.send();
        }
    }

    /// Worker side: a message for the parent.
    pub fn post_to_parent(&self, message: Message) -> Result<(), PostError> {
        if self.terminating() {
            return Err(PostError(message));
        }
        self.push_event(Event::Message(message));
        Ok(())
    }

    pub fn push_event(&self, event: Event) {
        self.events.lock().push_back(event);
        self.parent_wake.send();
    }

    /// Parent side: the oldest event.
    pub fn take_event(&self) -> Option<Event> {
        self.events.lock().pop_front()
    }

    pub fn events_len(&self) -> usize {
        self.events.lock().len()
    }

    pub fn wake_parent(&self) {
        self.parent_wake.send();
    }

    /// Asks the worker to stop at its next poll phase.
    pub fn request_terminate(&self) {
        self.terminate.store(true, Ordering::Release);
        self.wake_worker();
    }

    pub fn terminating(&self) -> bool {
        self.terminate.load(Ordering::Acquire)
    }

    pub fn set_startup(&self, startup: Duration) {
        let _ = self.startup.set(startup);
    }

    pub fn startup(&self) -> Option<Duration> {
        self.startup.get().copied()
    }
}

/// The unwind payload that ends a worker on purpose (terminate, or `exit(code)`), told apart
/// from a panic when the worker thread catches it.
pub(crate) struct Stop {
    pub code: i32,
}

/// Unwinds the worker's stack to its thread's top with `code`. `resume_unwind` does not run the
/// panic hook, so nothing is printed.
pub(crate) fn stop(code: i32) -> ! {
    std::panic::resume_unwind(Box::new(Stop { code }))
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}
