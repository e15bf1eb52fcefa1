//! What looplab makes the runtime do: the classic experiments of the Node.js course, reproduced
//! and checked against Node's shape ([`experiments`]), and the runtime's micro-benchmarks
//! ([`bench`]).
//!
//! ```
//! use looplab_workloads::experiments::{staircase, StaircaseConfig};
//!
//! let report = staircase(&StaircaseConfig { pool: 2, calls: 4, iterations: 200, keylen: 64 }).unwrap();
//! assert_eq!(report.completions.len(), 4);
//! assert!(report.matches_node(), "{:?}", report.checks);
//! ```

#![deny(missing_docs)]

pub mod bench;
pub mod experiments;
