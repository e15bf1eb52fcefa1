//! Regression checks: a new results folder against a saved [`Baseline`], and behaviour
//! [`invariants`] that hold on any machine.
//!
//! ```
//! use looplab_reports::check::{compare, Samples, Thresholds, Verdict};
//!
//! let side = |values: &[f64]| -> Samples {
//!     [("loop/hash/p1/c8".to_string(), [("throughput_per_s".to_string(), values.to_vec())].into())].into()
//! };
//! let baseline = side(&[400.0, 404.0, 398.0, 401.0, 399.0]);
//! let slower = side(&[330.0, 327.0, 334.0, 329.0, 331.0]);
//! let comparison = compare(&baseline, &slower, &Thresholds::default());
//! assert_eq!(comparison.metrics[0].verdict, Verdict::Regressed);
//! ```
//!
//! # The rule
//! Per point and metric of [`METRICS`] (throughput higher is better; p50, p99, CPU per
//! operation and peak RSS lower is better), a change counts only when both
//! 1. the ratio of medians new / baseline moves by more than the metric's noise threshold
//!    (default [`DEFAULT_THRESHOLD_PCT`]%, `--threshold p99_us=10` to change one), and
//! 2. Welch's t-test on the logarithms of the repetitions is significant after the
//!    Benjamini-Hochberg correction over every comparison of the check, at a false discovery
//!    rate of [`FALSE_DISCOVERY_RATE`].
//!
//! With fewer than [`MIN_REPETITIONS`] repetitions on a side nothing is judged, and the output
//! says "too few repetitions to judge: N" instead of pretending.
//!
//! The rule itself is the lab's one rule, in [`crate::noise`], which the report's answer uses
//! too; this module applies it to a baseline and argues for it.
//!
//! # Why Welch's t-test on logs, not a bootstrap or a rank test
//! A check here gets 3 to 5 repetitions per side (a repetition of a quick sweep point costs
//! over a second, and a sweep has dozens of points), and a sweep makes 50 to 250 comparisons.
//! At that size the two usual distribution-free tools fail in opposite ways:
//! - The exact Mann-Whitney test is honest but powerless: with n per side its smallest
//!   two-sided p-value is 2 / C(2n, n): 0.33 at n = 2, 0.10 at n = 3, 0.029 at n = 4, 0.0079
//!   at n = 5. Corrected over 55 comparisons (a quick sweep), a lone change needs p < 0.0009,
//!   that is 7 repetitions per side, whatever the size of the change: a build twice as slow
//!   would pass every check CI can afford.
//! - A percentile bootstrap of the ratio of medians is powerful but dishonest: with 3 values
//!   per side it has only a handful of distinct resampled medians, and its interval at any
//!   corrected level collapses to [min/max, max/min], so "significant" means "the two samples
//!   do not overlap", which happens by chance in 10% of comparisons of identical
//!   distributions (2 / C(6, 3)), while the bootstrap reports p < 1/2000. Measured on
//!   synthetic data in `simulations`: about one null comparison in ten flagged.
//! - Welch's t-test uses the spread of the repetitions, so a large change against small noise
//!   is significant with 3 values per side, and its p-values are exact for log-normal data
//!   (Student's t with Welch-Satterthwaite degrees of freedom, which grows heavy tails at
//!   small n instead of pretending). On the log scale a change is a ratio, like the threshold,
//!   and the right tail of latencies is tamed. Where the normal model is wrong (a single
//!   outlying repetition), the outlier inflates the variance: the test loses power, it does
//!   not raise false alarms. The effect size stays the ratio of medians, robust to that
//!   outlier; a change counts only when the test and the medians agree on its direction.
//!
//! What that buys, measured on seeded synthetic sweeps of 55 comparisons (log-normal noise;
//! `cargo test -p looplab-reports -- --ignored --nocapture power_table`):
//!
//! | repetitions per side | noise | sweeps with any false alarm | a lone 20% drop found |
//! | --- | --- | --- | --- |
//! | 3 | 2% | 1 of 400 | 62% |
//! | 3 | 5% | 11 of 400 | 10% |
//! | 3 | 10% | 12 of 400 | 2% |
//! | 5 | 2% | 1 of 400 | 100% |
//! | 5 | 5% | 13 of 400 | 88% |
//! | 5 | 10% | 14 of 400 | 12% |
//! | 7 | 10% | 16 of 400 | 45% |
//!
//! So 3 repetitions per side ([`MIN_REPETITIONS`]) judge only large or widespread changes (a
//! halved hashing throughput on 5 points in 5% noise: over 95% found), and `scripts/ab.sh`
//! runs 5 by default. Hashing throughput and CPU per operation repeat within 1 to 3% here;
//! p99 and anything touching files vary by 10 to 60% between repetitions, and no test on a
//! handful of repetitions will find a 20% change there: raise their threshold or add rounds.
//!
//! # Why Benjamini-Hochberg, not Holm
//! A check asks two questions. "Did anything change?": when nothing did, BH's false discovery
//! rate is the probability of any false alarm, the same 5% as Holm's family-wise rate, so a
//! clean build fails CI no more often. "What changed?": a slowed hash path moves 15 of a quick
//! sweep's 55 comparisons at once, and BH's threshold grows with every real discovery (the
//! k-th smallest p-value is compared with k x 5% / m), while Holm keeps demanding nearly
//! 5% / m of each and lists only the strongest. BH assumes independent or positively
//! dependent tests; metrics of one point are correlated, and Benjamini-Yekutieli, valid under
//! any dependence, would cost a factor of about 4.6 at m = 55 for a risk the noise threshold
//! already guards.
//!
//! # What no statistic fixes
//! Repetitions of a point run back to back, so a sweep's repetitions share whatever else the
//! machine was doing then: the test sees that noise only if the sides are interleaved in time.
//! `scripts/ab.sh` runs A and B in alternating rounds for that reason; two sweeps run one
//! after the other can differ by more than their repetitions suggest.

mod baseline;
mod experiments;
mod invariants;
mod measured;
mod render;
mod sentinel;
#[cfg(test)]
mod simulations;
mod stats;
mod verdict;

use std::path::PathBuf;

use thiserror::Error;

pub use baseline::{Baseline, BASELINE_SCHEMA};
pub use experiments::{experiment_invariants, Recorded};
pub use invariants::{folder_invariants, Bounds, Invariant, Status, LOOSE, STRICT};
pub use measured::{machine_differences, CoordsOf, Measured, Samples};
pub use render::{markdown, terminal, CheckReport};
pub(crate) use stats::mean_and_variance;
pub use stats::{
    benjamini_hochberg, median, t_two_sided_p, welch_log, welch_log_contrast, WelchResult,
};
pub use verdict::{
    compare, Comparison, Direction, MetricComparison, MetricRule, Thresholds, Verdict,
    DEFAULT_THRESHOLD_PCT, FALSE_DISCOVERY_RATE, METRICS, MIN_REPETITIONS,
};

/// Everything that stops a check; each message is one line naming the file and the fix.
#[derive(Debug, Error)]
pub enum CheckError {
    /// A results folder could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// No results folder was given.
    #[error(
        "no results folder given; name at least one, like lab-results/2026-11-26T08-08-03Z-quick"
    )]
    NoFolders,
    /// Folders of different sweeps were given to be pooled.
    #[error("{other} is sweep {other_id} but {first} is sweep {first_id}; pool only rounds of one sweep (same configuration)")]
    MixedSweeps {
        /// The first folder.
        first: String,
        /// The folder that differs.
        other: String,
        /// The first folder's sweep id.
        first_id: String,
        /// The other folder's sweep id.
        other_id: String,
    },
    /// Folders measured on different machines were given to be pooled.
    #[error("{folder} was measured on another machine than the first folder ({differences}); pool only folders measured on one machine")]
    MixedMachines {
        /// The folder that differs.
        folder: String,
        /// What differs.
        differences: String,
    },
    /// The baseline came from another machine and that was not allowed.
    #[error("baseline {} was measured on another machine ({differences}); speeds from different machines are not comparable: make a baseline on this machine (`lab baseline DIR --save FILE`, or scripts/ab.sh REV), or pass --allow-other-machine to compare anyway", path.display())]
    OtherMachine {
        /// The baseline file.
        path: PathBuf,
        /// What differs.
        differences: String,
    },
    /// The baseline file is not valid JSON of the expected shape.
    #[error("{}: not a valid baseline ({message})", path.display())]
    CorruptBaseline {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The baseline file has another schema version.
    #[error("{}: baseline schema {found} is not supported (this looplab reads version {BASELINE_SCHEMA}); save the baseline again with this version", path.display())]
    BaselineSchema {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// A `--threshold` value is not `METRIC=PERCENT`.
    #[error("threshold {spec:?} is not METRIC=PERCENT with a percentage above 0 and a metric among {metrics}; e.g. --threshold p99_us=10")]
    BadThreshold {
        /// The value given.
        spec: String,
        /// The metrics that take a threshold.
        metrics: String,
    },
    /// The operating system refused a read or write.
    // The cause is part of the message, not an error `source` (a field named `source` would
    // be one), so chains print it once.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
}

/// Builders shared by the tests of this module.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Measured, Samples};
    use crate::store::Machine;

    /// A machine called `hostname`, otherwise always the same.
    pub fn machine(hostname: &str) -> Machine {
        Machine {
            hostname: hostname.into(),
            cpu_model: "AMD EPYC".into(),
            cores: 2,
            logical_cpus: 2,
            physical_cores: 2,
            memory_bytes: 1 << 30,
            os: "Debian GNU/Linux 12".into(),
            kernel: "6.1.0".into(),
        }
    }

    /// Measurements on `hostname` of (point, metric, values).
    pub fn measured(hostname: &str, points: &[(&str, &str, &[f64])]) -> Measured {
        let mut samples = Samples::new();
        for (point, metric, values) in points {
            samples
                .entry(point.to_string())
                .or_default()
                .insert(metric.to_string(), values.to_vec());
        }
        Measured {
            machine: machine(hostname),
            sweep_id: "sweep-1".into(),
            git_revision: None,
            config: serde_json::json!({}),
            folders: vec!["dir".into()],
            failed_repetitions: 0,
            unfinished_folders: Vec::new(),
            points: samples,
            coords: Default::default(),
        }
    }
}
