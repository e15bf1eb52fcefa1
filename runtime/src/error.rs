//! Errors a caller of the runtime can cause, each naming the offending value and the fix.

/// Invalid configuration or arguments given to the runtime.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    /// A thread-pool size outside what libuv allows.
    #[error("pool size {0} is out of range 1..=1024; choose a size like 1, 2, 4 or 8")]
    PoolSize(usize),
    /// The process-wide pool was already started with another size.
    #[error(
        "the process thread pool already runs {running} threads and cannot be resized to {wanted}; \
         configure the size before the first pool use, or build a loop with its own pool"
    )]
    PoolAlreadyStarted {
        /// Size of the running pool.
        running: usize,
        /// Size that was asked for.
        wanted: usize,
    },
    /// PBKDF2 needs at least one iteration, as in Node (`ERR_OUT_OF_RANGE`).
    #[error("pbkdf2 iterations {0} is out of range 1..=2147483647; use at least 1")]
    Pbkdf2Iterations(u64),
    /// PBKDF2 key length above Node's limit.
    #[error("pbkdf2 key length {0} is out of range 0..=2147483647 bytes")]
    Pbkdf2KeyLength(usize),
    /// A PBKDF2 password or salt longer than Node accepts.
    #[error("pbkdf2 {what} of {len} bytes is out of range 0..=2147483647 bytes")]
    Pbkdf2InputLength {
        /// `password` or `salt`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The system's libcrypto (OpenSSL), which hashes as Node's does, failed to derive a key.
    #[error("OpenSSL's PBKDF2 failed ({0}); check that libcrypto 3 loads its default provider (OPENSSL_CONF)")]
    Pbkdf2Library(String),
}
