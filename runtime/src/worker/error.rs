//! What can go wrong with workers, each error naming the worker or value involved and the fix.
//!
//! [`PostError`] is separate from [`WorkerError`] because it hands the refused message back to
//! the caller (like `std::sync::mpsc::SendError`): a message moves, so a refused one must not be
//! lost.

use super::Message;

/// Errors from starting workers and from the worker pool.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The OS refused to create the worker's thread.
    // The cause is part of the message, not an error `source`, so chains print it once.
    #[error(
        "cannot start the thread of worker '{name}': {cause}; run fewer workers at once or raise \
         the process' thread limit (ulimit -u)"
    )]
    Spawn {
        /// The name given to [`Worker::spawn`](super::Worker::spawn).
        name: String,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// A worker pool size outside 1..=[`MAX_POOL_WORKERS`](super::MAX_POOL_WORKERS).
    #[error(
        "worker pool size {0} is out of range 1..=256; use a size like the number of CPU cores"
    )]
    PoolSize(usize),
    /// A task was submitted after [`WorkerPool::close`](super::WorkerPool::close).
    #[error(
        "the worker pool is closed; submit tasks before calling close(), or create a new pool"
    )]
    PoolClosed,
    /// Every worker of the pool has exited, so nothing can run the task.
    #[error("every worker of the pool has exited; create a new pool to run more tasks")]
    NoWorkers,
    /// The task handler panicked; the worker survived and took the next task.
    #[error("the task panicked in worker {thread_id}: {message}")]
    TaskPanicked {
        /// [`Worker::thread_id`](super::Worker::thread_id) of the worker that ran it.
        thread_id: u64,
        /// The panic message.
        message: String,
    },
    /// The worker running the task exited before answering.
    #[error("worker {thread_id} exited with code {code} before finishing the task")]
    WorkerExited {
        /// [`Worker::thread_id`](super::Worker::thread_id) of the worker.
        thread_id: u64,
        /// Its exit code.
        code: i32,
    },
}

/// A message that could not be posted because the receiving side has ended (or is being
/// terminated); the message is handed back in field 0.
#[derive(Debug, thiserror::Error)]
#[error(
    "the message was not delivered: the receiving worker has exited or is being terminated \
     (the message is returned in PostError.0)"
)]
pub struct PostError(pub Message);
