//! Node's `cluster` module: a primary process runs N worker processes (this same program,
//! re-executed in a worker role) that serve one listening address, and restarts them if asked
//! (NODE_MODEL.md 4).
//!
//! # Example
//!
//! One program, two roles: it asks [`worker_role`] first.
//!
//! ```no_run
//! use looplab_runtime::cluster::{self, Cluster, ClusterEvent, ClusterSpec};
//! use looplab_runtime::{EventLoop, RunMode};
//!
//! let lp = EventLoop::new()?;
//! if let Some(role) = cluster::worker_role() {
//!     let worker = role.connect(&lp)?;
//!     let id = worker.id();
//!     worker.listen(&lp, move |lp, stream| {
//!         let closing = stream.clone();
//!         stream.write(lp, format!("worker {id}\n").into_bytes(), move |lp, _| {
//!             closing.close(lp, |_| {})
//!         });
//!     })?;
//! } else {
//!     let spec = ClusterSpec::for_current_exe(4, "127.0.0.1:8000".parse().unwrap())?;
//!     let cluster = Cluster::start(&lp, spec, |_, _, event| println!("{event:?}"))?;
//!     println!("serving on {}", cluster.local_addr());
//! }
//! lp.run(RunMode::Default);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it works
//!
//! - Workers are started with fork + exec (std's `Command`), with `LOOPLAB_CLUSTER_WORKER=<id>`
//!   and `LOOPLAB_CLUSTER_IPC_FD=<n>` in their environment; `n` is the worker's end of a Unix
//!   socket pair, the only descriptor it inherits. Each worker dies with its primary
//!   (`PR_SET_PDEATHSIG`, and it exits when the channel closes).
//! - The channel carries length-prefixed frames both ways, with descriptors attached
//!   (`SCM_RIGHTS`), and is read and written in the poll phase of each side's loop.
//! - The shared address is served by [`SchedulingPolicy`]: `rr` (the primary accepts and hands
//!   each connection to the next worker that acknowledged its previous one, Node's default),
//!   `none` (every worker accepts on the primary's socket), `reuseport` (each worker binds its
//!   own `SO_REUSEPORT` socket).
//! - Every worker is reaped by a thread blocked in `waitid`; exits reach the loop through an
//!   async handle. After [`Cluster::shutdown`] or the last worker's death, nothing is left.
//! - On request ([`ClusterSpec`]), each worker's stderr is forwarded through a pipe and its last
//!   lines come with its `Exit`, and each worker gets a temp folder of its own, removed as soon
//!   as it is reaped. Restarts stop at [`RESTART_LIMIT_EXITS`] deaths within
//!   [`RESTART_LIMIT_WINDOW_MS`] (`RestartLimit`), so a worker that cannot start is not retried
//!   forever.
//!
//! # Caveats
//!
//! - Start a cluster from the thread that runs its loop and keep that thread until the end:
//!   Linux sends the death signal when the thread that forked a worker exits.
//! - A worker's environment keeps the two variables; a program that starts children of its own
//!   should remove them from those children's environment.
//! - Messages are bytes, at most 64 MiB each; Node's JSON serialization is left to the caller.

mod channel;
mod error;
mod ipc;
mod policy;
mod primary;
mod server;
mod spawn;
mod spec;
mod stderr;
mod supervisor;
mod worker;

pub use error::ClusterError;
pub use ipc::MAX_MESSAGE_BYTES;
pub use policy::{SchedulingPolicy, POLICY_ENV};
pub use primary::Cluster;
pub use spawn::{IPC_FD_ENV, WORKER_ENV};
pub use spec::{ClusterEvent, ClusterSpec, WorkerId};
pub use supervisor::{RESTART_LIMIT_EXITS, RESTART_LIMIT_WINDOW_MS};
pub use worker::{worker_role, WorkerChannel, WorkerRole};

/// The most workers one cluster runs.
pub const MAX_WORKERS: usize = 1024;
