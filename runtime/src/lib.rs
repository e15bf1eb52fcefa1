//! looplab's runtime: Node.js's execution model rebuilt in Rust.
//!
//! - [`EventLoop`]: libuv 1.46's loop (phases, run modes, liveness) with Node 20's timers,
//!   immediates, next-ticks and microtasks on top;
//! - [`ThreadPool`]: libuv's process-wide pool (one FIFO queue, lazy start, the
//!   `UV_THREADPOOL_SIZE` rules, the slow-IO limit), shared by every loop;
//! - [`fs`], [`crypto`], [`dns`]: the pool-backed standard library (`fs.readFile` as four pool
//!   trips, `crypto.pbkdf2`, `dns.lookup`);
//! - [`tcp`]: listeners and streams, readiness-driven in the poll phase, never on the pool;
//! - [`http`]: an HTTP/1.1 server on those sockets, with Node's limits and keep-alive rules;
//! - [`AsyncHandle`]: cross-thread wake-ups that coalesce, like `uv_async_t`;
//! - [`worker`]: worker threads, each a loop on its own thread sharing the pool, with message
//!   ports both ways, [`SharedBuffer`] and a piscina-like [`WorkerPool`];
//! - [`cluster`]: Node's cluster module: worker processes sharing a listening address by policy;
//! - [`metrics`]: iterations, phase times, event-loop utilization and delay, pool queue wait.
//!
//! `NODE_MODEL.md` (in the project's shared notes) is the behavioural reference; the tests of this
//! crate check each rule it states.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use looplab_runtime::{crypto, EventLoop, RunMode, ThreadPool};
//!
//! let pool = ThreadPool::with_size(2).unwrap();
//! let lp = EventLoop::with_pool(pool).unwrap();
//! let key = Rc::new(RefCell::new(Vec::new()));
//! let out = key.clone();
//! crypto::pbkdf2(&lp, b"a", b"b", 1_000, 64, move |_, result| {
//!     *out.borrow_mut() = result;
//! })
//! .unwrap();
//! lp.run(RunMode::Default);
//! assert_eq!(*key.borrow(), crypto::pbkdf2_sync(b"a", b"b", 1_000, 64).unwrap());
//! ```

#![deny(missing_docs)]

pub mod clock;
pub mod cluster;
pub mod costs;
pub mod crypto;
pub mod dns;
mod error;
mod event_loop;
pub mod fs;
pub mod http;
mod io;
pub mod metrics;
pub mod pool;
mod posix_sync;
mod remote;
pub mod tcp;
mod timers;
pub mod worker;

pub use error::RuntimeError;
pub use event_loop::{Callback, EventLoop, ImmediateId, RunMode, WatcherId, WatcherKind};
pub use pool::{ThreadPool, WorkClass, WorkSpec};
pub use remote::{AsyncHandle, AsyncSender};
pub use timers::{coerce_delay_ms, TimerId, TIMEOUT_MAX_MS};
pub use worker::{SharedBuffer, Worker, WorkerPool, WorkerPort};
