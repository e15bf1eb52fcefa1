//! Errors of the cluster module, each naming the offending value and how to fix it. An OS error
//! is part of the message, not an error `source`, so a printed chain shows it once.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::WorkerId;

/// What can go wrong starting or driving a cluster, or joining one as a worker.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A worker count outside the supported range.
    #[error("cluster worker count {0} is out of range 1..={max}; start about one per core, like 2 or 4", max = super::MAX_WORKERS)]
    Workers(usize),
    /// The shared address could not be bound.
    #[error("cannot listen on {addr} for the cluster: {cause}; choose a free port, or port 0")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        cause: io::Error,
    },
    /// The worker executable could not be started.
    #[error(
        "cannot start worker process {}: {cause}; pass an executable that exists, normally \
         std::env::current_exe()",
        exe.display()
    )]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// A worker's temp folder (under `ClusterSpec::temp_root`) could not be created.
    #[error(
        "cannot create the worker temp folder {}: {cause}; point temp_root (TMPDIR) at a \
         writable folder",
        path.display()
    )]
    TempDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The Unix socket pair of a worker's channel could not be created or used.
    #[error("cluster IPC channel failed: {cause}; check the process descriptor limit (ulimit -n)")]
    Ipc {
        /// The OS error.
        cause: io::Error,
    },
    /// The thread that waits for a worker could not be started (the worker was killed).
    #[error("cannot start the thread that reaps a worker: {cause}; check the thread limit")]
    Reaper {
        /// The OS error.
        cause: io::Error,
    },
    /// No live worker has this id.
    #[error(
        "no connected worker has id {0}; use an id from ClusterEvent::Online that has not exited"
    )]
    UnknownWorker(WorkerId),
    /// A message over the IPC size limit.
    #[error(
        "a message of {bytes} bytes is over the cluster IPC limit of 64 MiB; send it in parts"
    )]
    MessageTooLarge {
        /// Its size.
        bytes: usize,
    },
    /// A worker's environment was not set up by a primary.
    #[error(
        "{var}={value:?} is not valid; this variable is set by the cluster primary for its \
         workers, do not set it by hand"
    )]
    WorkerEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The worker could not join its primary.
    #[error("cannot join the cluster primary: {cause}")]
    Join {
        /// The OS or protocol error.
        cause: io::Error,
    },
}

impl From<ClusterError> for io::Error {
    fn from(err: ClusterError) -> Self {
        let kind = match &err {
            ClusterError::Bind { cause, .. }
            | ClusterError::Spawn { cause, .. }
            | ClusterError::TempDir { cause, .. }
            | ClusterError::Ipc { cause }
            | ClusterError::Reaper { cause }
            | ClusterError::Join { cause } => cause.kind(),
            ClusterError::Workers(_)
            | ClusterError::WorkerEnv { .. }
            | ClusterError::MessageTooLarge { .. } => io::ErrorKind::InvalidInput,
            ClusterError::UnknownWorker(_) => io::ErrorKind::NotFound,
        };
        io::Error::new(kind, err.to_string())
    }
}
