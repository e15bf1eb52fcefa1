//! What can go wrong with a scenario: its file, its run on the runtime, or its run on Node.
//! Every message is one line and says how to fix it.

/// A scenario failure.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file is not a valid scenario: where, what, and what was expected.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What was wrong; what was expected.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read scenario file {file}: {cause}")]
    Read {
        /// The file as given.
        file: String,
        /// The error.
        cause: std::io::Error,
    },
    /// The file is larger than a scenario may be.
    #[error(
        "scenario file {file} is larger than the bound of {max_bytes} bytes (16 MiB); expected a \
         smaller file: split the scenario into several"
    )]
    TooLarge {
        /// The file as given.
        file: String,
        /// The bound.
        max_bytes: u64,
    },
    /// `--node` without a `node` on PATH.
    #[error(
        "`node` was not found on PATH; install Node.js 20 (https://nodejs.org/en/download, or \
         `apt-get install -y nodejs`) or run without --node"
    )]
    NodeMissing,
    /// The Node.js side failed: it exited badly, printed something unexpected, or timed out.
    #[error("node: {0}")]
    Node(String),
    /// The local HTTP server for `http_get` ops could not be had.
    #[error("the HTTP server for the scenario's http_get ops: {0}")]
    Server(String),
    /// An operation failed on the runtime (a file, a lookup, a request).
    #[error("op `{label}` failed on looplab: {cause}")]
    OpFailed {
        /// The op's label.
        label: String,
        /// Why.
        cause: String,
    },
    /// Some ops never completed.
    #[error("the scenario ended with ops unfinished on {side}: {missing}")]
    Unfinished {
        /// `looplab` or `node`.
        side: &'static str,
        /// Their labels.
        missing: String,
    },
    /// A run took longer than its time limit and was stopped.
    #[error(
        "the scenario did not finish on {side} within {limit_s} s and was stopped; unfinished: \
         {missing}; expected ops that end sooner (smaller `ms`, `iterations`, `times`) or a \
         message to a worker that is running when it is sent"
    )]
    TimedOut {
        /// `looplab` or `node`.
        side: &'static str,
        /// The limit, in seconds.
        limit_s: f64,
        /// The labels that had not completed.
        missing: String,
    },
    /// The OS refused something (a temp file, a thread, the event loop).
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        cause: std::io::Error,
    },
    /// Starting the HTTP server or the runtime failed.
    #[error(transparent)]
    Workload(#[from] crate::error::WorkloadError),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScenarioError {
    let what = what.into();
    move |cause| ScenarioError::Io { what, cause }
}
