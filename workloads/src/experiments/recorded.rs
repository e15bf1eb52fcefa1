//! The classic experiments a results folder records: one set, with one set of parameters, run
//! by every sweep at its end and by `lab experiment classic --out DIR`, then only read: the
//! report draws their pool timelines, `lab check` judges them against Node's shape.
//!
//! The set ([`RECORDED`]): the staircase at pools 1, 2 and 4 (NODE_MODEL.md 5 (a)) and
//! multitask at pools 1 to 5 (5 (b)). Each is run up to [`ATTEMPTS`] times, stopping at the
//! first run with Node's shape, and every attempt is recorded: on a loaded 2-core machine the
//! loop thread can be starved for a moment, and a shape is judged missing only after three
//! misses in a row.
//!
//! Parameters: PBKDF2 of 50,000 iterations with 512-byte keys (about a quarter of a second per
//! hash here). The shapes do not depend on the length, but with 20,000 the loop thread of a
//! busy machine sometimes ran the file read's first callback too late for multitask's
//! queueing (7 misses in 15 runs at pool 3); with 50,000 none missed in 96 runs.

use super::{multitask_timed, staircase_timed, MultitaskConfig};
use super::{StaircaseConfig, TimedReport};
use crate::error::WorkloadError;

/// PBKDF2 iterations of every recorded hash.
pub const ITERATIONS: u64 = 50_000;
/// Key length of every recorded hash, in bytes.
pub const KEYLEN: usize = 512;
/// Runs of one configuration before its shape is judged missing.
pub const ATTEMPTS: u32 = 3;

/// A recorded experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classic {
    /// Six hashes on the pool: they complete in waves of the pool size.
    Staircase,
    /// A request, a file read and four hashes: the order NODE_MODEL.md 5 (b) gives.
    Multitask,
}

impl Classic {
    /// The experiment's name, as its reports and records give it.
    pub fn name(self) -> &'static str {
        match self {
            Classic::Staircase => "staircase",
            Classic::Multitask => "multitask",
        }
    }

    /// The rule the experiment checks at `pool`, as a sentence.
    pub fn rule(self, pool: usize) -> String {
        match self {
            Classic::Staircase => {
                format!("staircase: 6 hashes on a pool of {pool} complete in waves of {pool}")
            }
            Classic::Multitask => format!(
                "multitask on a pool of {pool}: request first, file read where NODE_MODEL 5 (b) \
                 puts it"
            ),
        }
    }

    /// One run at `pool` with the recorded parameters.
    pub fn run(self, pool: usize) -> Result<TimedReport, WorkloadError> {
        match self {
            Classic::Staircase => staircase_timed(&StaircaseConfig {
                pool,
                calls: 6,
                iterations: ITERATIONS,
                keylen: KEYLEN,
            }),
            Classic::Multitask => multitask_timed(&MultitaskConfig {
                pool,
                iterations: ITERATIONS,
                keylen: KEYLEN,
            }),
        }
    }
}

/// Every recorded configuration: (experiment, pool size), in the order they run.
pub const RECORDED: [(Classic, usize); 8] = [
    (Classic::Staircase, 1),
    (Classic::Staircase, 2),
    (Classic::Staircase, 4),
    (Classic::Multitask, 1),
    (Classic::Multitask, 2),
    (Classic::Multitask, 3),
    (Classic::Multitask, 4),
    (Classic::Multitask, 5),
];

/// The runs of one configuration: one to [`ATTEMPTS`], the last one Node-shaped unless all
/// missed.
#[derive(Clone, Debug)]
pub struct Attempts {
    /// The experiment.
    pub experiment: Classic,
    /// Its pool size.
    pub pool: usize,
    /// Every run, in order.
    pub runs: Vec<TimedReport>,
}

/// Runs every configuration of [`RECORDED`], each until it has Node's shape or
/// [`ATTEMPTS`] runs missed it.
pub fn record() -> Result<Vec<Attempts>, WorkloadError> {
    RECORDED
        .iter()
        .map(|&(experiment, pool)| {
            let mut runs = Vec::new();
            while runs.len() < ATTEMPTS as usize {
                let run = experiment.run(pool)?;
                let shaped = run.report.matches_node();
                runs.push(run);
                if shaped {
                    break;
                }
            }
            Ok(Attempts {
                experiment,
                pool,
                runs,
            })
        })
        .collect()
}
