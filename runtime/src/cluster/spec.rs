//! What a caller gives [`Cluster::start`](super::Cluster::start) and what it is told back.

use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::SchedulingPolicy;

/// A worker's id: 1 for the first started, increasing, never reused (a replacement gets a new
/// one, as with Node's `cluster.fork()`).
pub type WorkerId = u32;

/// How to run a cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// How many workers to keep (1..=1024).
    pub workers: usize,
    /// How workers share `bind`; `None` applies Node's rule (`NODE_CLUSTER_SCHED_POLICY=rr|none`,
    /// otherwise round-robin), see [`SchedulingPolicy::resolve`].
    pub policy: Option<SchedulingPolicy>,
    /// Replace a worker that dies (other than during shutdown), after a back-off of 100 ms
    /// doubling to 5 s, reset once a worker ran 10 s. Off by default, as in Node.
    pub restart: bool,
    /// The shared listening address; port 0 picks one free port for every worker.
    pub bind: SocketAddr,
    /// The executable started as each worker (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// Its arguments (normally the primary's own, without the program name).
    pub args: Vec<OsString>,
    /// Send the workers' standard output to `/dev/null` (standard error is kept, so a crash
    /// stays visible). Node's `silent` pipes both to the primary instead.
    pub discard_stdout: bool,
    /// Keep this many last lines of each worker's stderr for its [`ClusterEvent::Exit`]; the
    /// lines are still forwarded to the primary's stderr as they come. 0 (the default):
    /// stderr is inherited and nothing is kept.
    pub stderr_tail_lines: usize,
    /// Give each worker a temp folder of its own, `<temp_root>/worker-<id>`, as its `TMPDIR`:
    /// created before it starts, removed with everything in it as soon as it is reaped, so a
    /// killed worker leaves nothing behind. `None` (the default): `TMPDIR` is inherited.
    pub temp_root: Option<PathBuf>,
}

impl ClusterSpec {
    /// A spec with Node's defaults: policy from the environment, no restart, stdio inherited.
    pub fn new(workers: usize, bind: SocketAddr, exe: PathBuf, args: Vec<OsString>) -> Self {
        Self {
            workers,
            policy: None,
            restart: false,
            bind,
            exe,
            args,
            discard_stdout: false,
            stderr_tail_lines: 0,
            temp_root: None,
        }
    }

    /// Like [`ClusterSpec::new`] with this very program and its arguments as the workers.
    pub fn for_current_exe(workers: usize, bind: SocketAddr) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        Ok(Self::new(
            workers,
            bind,
            exe,
            std::env::args_os().skip(1).collect(),
        ))
    }
}

/// What the primary reports to the callback given to `Cluster::start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A worker's loop runs and its channel is up (Node's `online`).
    Online {
        /// The worker.
        id: WorkerId,
        /// Its process id.
        pid: u32,
    },
    /// A worker serves the shared address (Node's `listening`).
    Listening {
        /// The worker.
        id: WorkerId,
    },
    /// A worker sent a message (Node's `message`), in the order it sent them.
    Message {
        /// The sender.
        id: WorkerId,
        /// What it sent.
        bytes: Vec<u8>,
    },
    /// A worker process ended and was reaped (Node's `exit`): `code` if it exited, `signal` if
    /// a signal ended it.
    Exit {
        /// The worker.
        id: WorkerId,
        /// Its process id (now free).
        pid: u32,
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal number, if a signal ended it.
        signal: Option<i32>,
        /// Whether a replacement will be started (restart on, not shutting down, the restart
        /// limit not reached).
        will_restart: bool,
        /// Its last stderr lines, oldest first (see [`ClusterSpec::stderr_tail_lines`]).
        stderr_tail: Vec<String>,
    },
    /// Starting a replacement worker failed; with `will_retry` it is tried again after the
    /// back-off.
    SpawnFailed {
        /// Why, as the error's message.
        reason: String,
        /// Whether another attempt is scheduled.
        will_retry: bool,
    },
    /// Restarts stopped: `exits` workers died (or failed to start) within `within_ms`, which
    /// is a crash loop, not bad luck (systemd's default start limit: 5 in 10 s). Running workers
    /// go on; none is replaced any more. Reported after the `Exit` (or `SpawnFailed`) that
    /// reached the limit.
    RestartLimit {
        /// Deaths counted.
        exits: usize,
        /// The window they happened in.
        within_ms: u64,
    },
    /// Every worker has exited and none will be started again; the cluster's handles are
    /// closed, so the loop may end.
    AllExited,
}
