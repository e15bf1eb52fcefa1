//! What looplab makes the runtime do: the classic experiments of the Node.js course, reproduced
//! and checked against Node's shape ([`experiments`]), and the runtime's micro-benchmarks
//! ([`bench`]).
//!
//! - [`deploy`]: the one vocabulary of strategies, kinds of work and deployments.
//! - [`batch`]: batch mode, N jobs submitted at once to a strategy, makespan and latency.
//! - [`load`]: the HTTP load generator (closed and open loop, HdrHistogram latency).
//! - [`scenario`]: TOML timelines of operations run on the runtime and on real Node.js, compared.
//!
//! ```
//! use looplab_workloads::experiments::{staircase, StaircaseConfig};
//!
//! let config = StaircaseConfig { pool: 2, calls: 4, iterations: 2_000, keylen: 64 };
//! let report = staircase(&config).unwrap();
//! assert_eq!(report.completions.len(), 4);
//! // Never more than 2 hashes at once. (Whether they also come in waves of 2 depends on how
//! // fairly the OS shares the cores, so `report.matches_node()` is not asserted here.)
//! assert!(report.checks[0].holds, "{:?}", report.checks);
//! ```

#![deny(missing_docs)]

pub mod batch;
pub mod bench;
pub mod costs_probe;
pub mod deploy;
pub mod error;
pub mod experiments;
pub mod load;
pub mod scenario;
pub mod serve;
