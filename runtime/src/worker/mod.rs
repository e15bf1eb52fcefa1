//! Worker threads: Node's `worker_threads` (NODE_MODEL.md section 3).
//!
//! A [`Worker`] is an OS thread running its own [`EventLoop`](crate::EventLoop), built on the
//! *same* [`ThreadPool`](crate::ThreadPool) as the loop that spawned it, so a worker's file
//! reads and hashes queue behind the parent's on the one process pool. Parent and worker talk
//! through message ports ([`Worker::post`] / [`Worker::on_message`] on the parent,
//! [`WorkerPort::post`] / [`WorkerPort::on_message`] in the worker). [`SharedBuffer`] is memory
//! both see, and [`WorkerPool`] spreads tasks over K workers like `piscina`.
//!
//! # Example
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use looplab_runtime::worker::{self, Worker};
//! use looplab_runtime::{EventLoop, RunMode};
//!
//! let lp = EventLoop::new().unwrap();
//! let doubler = Worker::spawn(&lp, "doubler", |lp, port| {
//!     let reply = port.clone();
//!     port.on_message(lp, move |lp, msg| {
//!         let n: u64 = worker::downcast(msg).unwrap_or(0);
//!         reply.post(n * 2).unwrap();
//!         reply.off_message(lp); // nothing left to do: the worker exits with code 0
//!     });
//! })
//! .unwrap();
//! let answer = Rc::new(Cell::new(0));
//! let a = answer.clone();
//! doubler.on_message(&lp, move |_, msg| a.set(worker::downcast::<u64>(msg).unwrap()));
//! doubler.post(21u64).unwrap();
//! lp.run(RunMode::Default); // the running worker keeps the loop alive until it exits
//! assert_eq!(answer.get(), 42);
//! assert_eq!(doubler.exit_code(), Some(0));
//! ```
//!
//! # Caveats
//!
//! - Messages move instead of being cloned: a [`Message`] is a `Box<dyn Any + Send>`, so a
//!   64 MiB `Vec<u8>` moves by pointer and the sender no longer has it (Node's transfer list).
//!   Values that are not `Send` cannot be posted (Node's `DataCloneError`, at compile time).
//! - [`Worker::terminate`] takes effect at the worker's next poll phase: Rust cannot interrupt a
//!   running closure as V8's `TerminateExecution` does. A callback that never returns, or a
//!   next-tick chain that never ends, is not stopped (and dropping its parent loop then blocks
//!   in the join). Long computations can poll [`WorkerPort::is_terminating`].
//! - Terminate, [`WorkerPort::exit`] and panics end a worker by unwinding its stack; they need
//!   the default `panic = "unwind"`. The default panic hook still prints a worker's panic.
//! - Callbacks are registered on the parent loop that spawned the worker; passing another loop
//!   panics.
//!
//! # Implementation notes
//!
//! Life of a message (both directions):
//! 1. the sender appends it, under the queue's mutex, to the receiver's queue;
//! 2. it wakes the receiving loop through an [`AsyncHandle`](crate::AsyncHandle) (wake-ups
//!    coalesce);
//! 3. in the receiver's poll phase the handle's callback delivers queued messages in send order,
//!    each as a separate callback, so next-ticks and microtasks drain between them; after
//!    max(queue length, 1000) it yields the rest of the iteration and wakes itself again.
//!
//! The worker's side is `port.rs`'s wake-up, the parent's side `handle.rs`'s; the shared state,
//! its lock rules and the event order are in `link.rs`; a worker thread's life, step by step,
//! is in `thread.rs`. No thread outlives what owns it: a worker is joined when its exit event is
//! delivered, or, if its parent loop is dropped first, terminated and joined then.

mod error;
mod handle;
mod link;
mod message;
mod pool;
mod port;
mod shared;
mod thread;

pub use error::{PostError, WorkerError};
pub use handle::Worker;
pub use message::{downcast, downcast_ref, message, Message};
pub use pool::{TaskHandler, WorkerPool, MAX_POOL_WORKERS};
pub use port::WorkerPort;
pub use shared::SharedBuffer;
