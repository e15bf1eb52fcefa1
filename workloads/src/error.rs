//! The error of the workloads crate ([`WorkloadError`]): what stops an experiment, a server
//! (`lab serve`, a sweep point), a batch or a bench. Each variant names what was being done or
//! the parameter at fault and how to fix it; runtime errors pass through unchanged.

/// Everything that stops a workload: an experiment, a server, a batch or a bench.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// Invalid parameter.
    #[error(transparent)]
    Runtime(#[from] looplab_runtime::RuntimeError),
    /// Worker threads could not start or failed.
    #[error(transparent)]
    Worker(#[from] looplab_runtime::worker::WorkerError),
    /// The cluster could not start.
    #[error(transparent)]
    Cluster(#[from] looplab_runtime::cluster::ClusterError),
    /// The OS refused something (a socket, a temp file, the event loop's epoll).
    // The cause is part of the message, not an error `source`, so chains print it once.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        cause: std::io::Error,
    },
    /// A parameter outside its range.
    #[error("{name} {value} is out of range; {hint}")]
    Param {
        /// Parameter name.
        name: &'static str,
        /// Given value.
        value: String,
        /// How to fix it.
        hint: &'static str,
    },
    /// A cluster stopped on its own: its workers failed (see `serve::cluster_watch`).
    #[error("the cluster stopped: {reason}")]
    ClusterStopped {
        /// What happened, and what to do.
        reason: String,
    },
    /// Some awaited work never completed.
    #[error("the run ended with {missing} of its operations unfinished: {detail}")]
    Incomplete {
        /// How many.
        missing: usize,
        /// Which.
        detail: String,
    },
}
