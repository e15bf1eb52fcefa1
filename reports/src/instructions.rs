//! Instruction counts per operation of the runtime's hot paths and the record encoding,
//! measured under Callgrind by the gungraun benches (`runtime/benches/instructions.rs`,
//! `reports/benches/instructions.rs`) and checked against a committed baseline.
//!
//! This module owns both files of the check, and reads gungraun's summaries:
//! - gungraun's `summary.json` files (written with `--save-summary=json` under
//!   `target/gungraun/`): every benchmark runs at two sizes, ids `n{N}`; the cost of one
//!   operation is the difference of the two instruction counts over the difference of the
//!   sizes, so set-up (loop creation, thread start) cancels out ([`read_summaries`]);
//! - the baseline, `benches/instructions.baseline.json` ([`InstructionBaseline`]), rewritten
//!   only on purpose (`scripts/instructions --update`);
//! - the comparison `lab instructions --out FILE` writes and `lab check --instructions FILE`
//!   renders ([`InstructionCheck`]).
//!
//! The rule: a benchmark whose instructions per operation rose more than [`LIMIT_PCT`]% above
//! the baseline fails, and so does one missing from either side (the baseline must name exactly
//! the benchmarks that run). Cache and branch figures are Callgrind's simulation of a fixed
//! cache geometry (the benches pin it): estimates shown beside the count, not judged.
//!
//! ```
//! use looplab_reports::instructions::{InstructionBaseline, InstructionCheck, PerOp, Verdict};
//!
//! let op = |instructions| PerOp { instructions, ..PerOp::default() };
//! let baseline = InstructionBaseline::new([("timer".to_string(), op(1000.0))].into());
//! let slower = [("timer".to_string(), op(1030.0))].into();
//! let check = InstructionCheck::compare("base.json", &baseline, &slower);
//! assert_eq!(check.rows[0].verdict, Verdict::Above);
//! assert_eq!(check.failures(), 1);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::write_json;
use crate::Table;

/// A count more than this many percent above the baseline fails the check.
pub const LIMIT_PCT: f64 = 2.0;
/// The version of the baseline and check files this module writes and reads.
pub const INSTRUCTIONS_SCHEMA: u32 = 1;
/// Where the committed baseline lives, from the repository root.
pub const BASELINE_FILE: &str = "benches/instructions.baseline.json";
/// The one command that rewrites the baseline.
pub const UPDATE_COMMAND: &str = "scripts/instructions --update";

/// What went wrong reading or writing the check's files.
#[derive(Debug, thiserror::Error)]
pub enum InstructionsError {
    /// A file could not be read or written.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        cause: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No gungraun summary was found.
    #[error("no gungraun summary.json under {}; run the instruction benches with --save-summary=json (scripts/instructions does)", dir.display())]
    NoSummaries {
        /// The folder searched.
        dir: PathBuf,
    },
    /// A benchmark did not run at exactly two sizes.
    #[error("benchmark {benchmark} ran at sizes {sizes:?}; each needs exactly two, ids n<N> (like #[bench::n100(100)] and #[bench::n1100(1100)])")]
    Sizes {
        /// The benchmark.
        benchmark: String,
        /// The sizes found.
        sizes: Vec<u64>,
    },
}

/// Callgrind's figures for one operation (differences of two sizes, over their difference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerOp {
    /// Instructions executed (Callgrind's `Ir`): the figure the check judges.
    pub instructions: f64,
    /// Memory accesses that hit the simulated L1 caches.
    pub l1_hits: f64,
    /// Accesses that missed L1 and hit the simulated last-level cache.
    pub ll_hits: f64,
    /// Accesses that missed every simulated cache.
    pub ram_hits: f64,
    /// Callgrind's estimate: L1 hits + 10 per LL hit + 100 per RAM access.
    pub estimated_cycles: f64,
    /// Conditional and indirect branches executed (`Bc + Bi`).
    pub branches: f64,
    /// Of those, mispredicted by the simulated predictor (`Bcm + Bim`).
    pub mispredicts: f64,
}

/// The committed baseline: instructions per operation of every benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstructionBaseline {
    /// Always [`INSTRUCTIONS_SCHEMA`].
    pub instructions_schema: u32,
    /// How to refresh it.
    pub note: String,
    /// Per benchmark.
    pub benchmarks: BTreeMap<String, PerOp>,
}

/// One benchmark's line of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The benchmark (its function name).
    pub benchmark: String,
    /// The baseline's figures, if it has the benchmark.
    pub before: Option<PerOp>,
    /// This run's figures, if the benchmark ran.
    pub after: Option<PerOp>,
    /// Instructions after over before, minus 1, in percent.
    pub change_pct: Option<f64>,
    /// What the rule says.
    pub verdict: Verdict,
}

/// The rule's answer for one benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within [`LIMIT_PCT`]% of the baseline either way.
    Same,
    /// More than [`LIMIT_PCT`]% above: fails.
    Above,
    /// More than [`LIMIT_PCT`]% below: passes; the baseline may be refreshed.
    Below,
    /// Ran but not in the baseline: fails until the baseline is refreshed.
    New,
    /// In the baseline but did not run: fails.
    Missing,
}

impl Verdict {
    /// Whether this verdict fails the check.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Above | Verdict::New | Verdict::Missing)
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Same => "ok",
            Verdict::Above => "ABOVE",
            Verdict::Below => "below",
            Verdict::New => "NEW",
            Verdict::Missing => "MISSING",
        }
    }
}

/// A comparison of one run with the baseline: written by `lab instructions --out`, rendered by
/// `lab check --instructions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstructionCheck {
    /// Always [`INSTRUCTIONS_SCHEMA`].
    pub instructions_schema: u32,
    /// The baseline file compared with.
    pub baseline: String,
    /// The limit applied, percent.
    pub limit_pct: f64,
    /// Every benchmark of either side, by name.
    pub rows: Vec<Row>,
}
