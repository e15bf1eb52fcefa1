//! The classic experiments of NODE_MODEL.md section 5, run on the runtime.
//!
//! Each experiment returns an [`ExperimentReport`]: every completion (label, ms since start,
//! thread) in the order it happened, and [`ShapeCheck`]s stating whether the result has the shape
//! real Node 20 produces. The checks look at orders and groupings, never at absolute times.

pub(crate) mod child;
mod cluster;
mod multitask;
mod ordering;
pub mod recorded;
mod staircase;
mod timeline;
mod workers;

use looplab_runtime::{crypto, EventLoop, ThreadPool};
use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;

pub use cluster::{cluster, ClusterExperimentConfig};
pub use looplab_runtime::pool::waves;
pub use multitask::{multitask, multitask_timed, MultitaskConfig};
pub use ordering::ordering;
pub use staircase::{staircase, staircase_timed, StaircaseConfig};
pub use timeline::{TaskSpan, TimedReport};
pub use workers::{workers, WorkersExperimentConfig};

/// Names of the experiments `lab experiment` knows.
pub const EXPERIMENTS: [(&str, &str); 5] = [
    (
        "staircase",
        "6 async PBKDF2 hashes on a pool of N threads: completions come in waves of N",
    ),
    (
        "multitask",
        "a TCP request, a file read and 4 hashes: where the read lands depends on the pool size",
    ),
    (
        "ordering",
        "sync, next-tick, microtask, timeout(0) and immediate, from main and inside a file read",
    ),
    (
        "cluster",
        "1, 2 and 6 cluster children: wall-clock doWork seems to scale past the cores, CPU work does not",
    ),
    (
        "workers",
        "a fast request while CPU work runs on the loop or in a worker; a worker shares the pool",
    ),
];

/// One completion as the loop saw it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Completion {
    /// What finished.
    pub label: String,
    /// Milliseconds since the experiment started.
    pub ms: f64,
    /// Where the work ran: `main` (the loop thread) or `pool-N`.
    pub thread: String,
    /// Extra context: the wave of a hash, the loop iteration of a callback, trips of a read.
    pub note: String,
}

/// Whether one expected property of Node's behaviour holds in this run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShapeCheck {
    /// The rule, as a sentence.
    pub rule: String,
    /// Whether this run satisfies it.
    pub holds: bool,
    /// What was observed.
    pub observed: String,
}

/// The outcome of one experiment run.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentReport {
    /// Experiment name.
    pub experiment: String,
    /// Parameters as (name, value) pairs.
    pub params: Vec<(&'static str, String)>,
    /// Completions in the order they happened.
    pub completions: Vec<Completion>,
    /// Shape checks against Node's behaviour.
    pub checks: Vec<ShapeCheck>,
}

impl ExperimentReport {
    /// Whether every check holds.
    pub fn matches_node(&self) -> bool {
        self.checks.iter().all(|c| c.holds)
    }
}

/// Most PBKDF2 iterations any lab command hashes with: 10,000,000, about 5 s of one core here.
/// Node accepts up to 2^31-1, but a typo that large would tie a core up for minutes per hash.
pub const MAX_HASH_ITERATIONS: u64 = 10_000_000;
/// Longest PBKDF2 key, in bytes: 1,024 (16 SHA-512 blocks, each costing the full iterations).
pub const MAX_KEYLEN: usize = 1_024;
/// Most milliseconds of work per request (`--work`, `--busy`): one minute.
pub const MAX_WORK_MS: u64 = 60_000;

/// `value` if it is in `min..=max`; else a [`WorkloadError::Param`] whose `hint` states the
/// range and an example. Checked before anything is allocated or hashed.
pub(crate) fn in_range(
    name: &'static str,
    value: u64,
    (min, max): (u64, u64),
    hint: &'static str,
) -> Result<u64, WorkloadError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(WorkloadError::Param {
            name,
            value: value.to_string(),
            hint,
        })
    }
}

/// Checks PBKDF2 parameters against [`MAX_HASH_ITERATIONS`] and [`MAX_KEYLEN`].
pub(crate) fn check_hash(iterations: u64, keylen: usize) -> Result<(), WorkloadError> {
    in_range(
        "iterations",
        iterations,
        (1, MAX_HASH_ITERATIONS),
        "use 1..=10000000 iterations, like 100000",
    )?;
    in_range(
        "keylen",
        keylen as u64,
        (1, MAX_KEYLEN as u64),
        "use a key of 1..=1024 bytes, like 64",
    )?;
    Ok(())
}

/// A temp dir only its owner can enter (mode 0700, where tempfile's default leaves it to the
/// umask, usually 0755): served files and scenario fixtures are nobody else's business.
pub(crate) fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorkloadError {
    let what = what.into();
    move |cause| WorkloadError::Io { what, cause }
}

/// A loop on a pool of its own of `size` threads that records a timeline.
pub(crate) fn loop_with_timeline(
    size: usize,
) -> Result<(std::sync::Arc<ThreadPool>, EventLoop), WorkloadError> {
    let pool = ThreadPool::with_size(size)?;
    pool.enable_timeline();
    let lp = EventLoop::with_pool(pool.clone()).map_err(io_err("create the event loop"))?;
    Ok((pool, lp))
}

/// The course's hash: `crypto.pbkdf2('a', 'b', iterations, keylen, 'sha512', done)`.
pub(crate) fn course_hash(
    lp: &EventLoop,
    iterations: u64,
    keylen: usize,
    done: impl FnOnce(&EventLoop) + 'static,
) -> Result<(), WorkloadError> {
    crypto::pbkdf2(lp, b"a", b"b", iterations, keylen, move |lp, _| done(lp))?;
    Ok(())
}

pub(crate) fn ms_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Numbers as people write them: `2, 2, 1` (`none` for an empty list).
pub(crate) fn list<T: std::fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        return "none".to_string();
    }
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
