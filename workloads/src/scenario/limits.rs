//! The upper bounds of everything a scenario file sizes or counts, checked before anything is
//! allocated from it (the file is read up to its bound; the model, tick labels, files and
//! buffers are built only from checked values). A scenario is a small program written by hand:
//! each bound is far above what one needs, and low enough that a hostile or mistyped file gets
//! a one-line error instead of a panic, an exhausted memory or a run of days.
//!
//! 1. the file: [`MAX_FILE_BYTES`];
//! 2. names: [`MAX_LABEL_CHARS`] for `name` and every `label`, [`MAX_TEXT_CHARS`] for `host`
//!    and `path`, [`MAX_DESCRIPTION_CHARS`];
//! 3. the tree: [`MAX_OPS`] ops in all, nested at most [`MAX_DEPTH`] levels, recording at most
//!    [`MAX_COMPLETIONS`] completions (an interval records one per tick);
//! 4. the work: `bytes` per op and in all ([`MAX_BYTES`], [`MAX_TOTAL_BYTES`]), `iterations`
//!    ([`MAX_ITERATIONS`]), `keylen` ([`MAX_KEYLEN`]), `ms` ([`MAX_MS`]), `times`
//!    ([`MAX_TIMES`]), `pool_size` ([`MAX_POOL_SIZE`]).
//!
//! Time is bounded twice: no single wait beyond [`MAX_MS`], and a whole run is stopped after
//! [`LOOPLAB_TIME_LIMIT`](super::run::LOOPLAB_TIME_LIMIT) in any case.

/// A scenario file's size: 16 MiB (100,000 ops take about 4 MiB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Characters of `name` and of a `label`.
pub const MAX_LABEL_CHARS: usize = 256;
/// Characters of a `host` or a `path`.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Characters of `description`.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Ops in the whole file, at every level.
pub const MAX_OPS: usize = 100_000;
/// Levels of `then` and `ops` below a top-level op (a top-level op is at level 0). The toml
/// reader itself gives up somewhere between 60 and 100 levels.
pub const MAX_DEPTH: usize = 32;
/// Completions recorded by a run (an op's label, or one per interval tick).
pub const MAX_COMPLETIONS: usize = 200_000;
/// `bytes` of one `read_file` or `write_file`: 64 MiB.
pub const MAX_BYTES: i64 = 64 << 20;
/// `bytes` of every `read_file` and `write_file` together: 256 MiB (the read files are written
/// before the run; a write's buffer lives while it runs).
pub const MAX_TOTAL_BYTES: u64 = 256 << 20;
/// PBKDF2 `iterations` (10 million: several seconds of one core).
pub const MAX_ITERATIONS: i64 = 10_000_000;
/// PBKDF2 `keylen` in bytes (each 64 bytes costs another `iterations` HMACs).
pub const MAX_KEYLEN: i64 = 4096;
/// `ms` of a `timeout`, an `interval` or a `block`: one minute.
pub const MAX_MS: i64 = 60_000;
/// `times` of an `interval`.
pub const MAX_TIMES: i64 = 10_000;
/// `pool_size` (libuv's own limit is 1024).
pub const MAX_POOL_SIZE: i64 = 1024;
