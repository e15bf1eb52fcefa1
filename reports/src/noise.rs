//! The lab's one rule for "is this difference real?", used by every verdict: the report's
//! answer and summary ("beyond the noise"), and `lab check` ("improved", "regressed").
//!
//! The rule, for two sets of repetitions `a` and `b` of one metric, within a family of such
//! comparisons made together (a check's every point and metric, a report's every answer):
//! 1. Fewer than [`MIN_REPETITIONS`] on either side: unknown. Nothing is judged from one or
//!    two values: two identical distributions give non-overlapping min..max ranges one time
//!    in three, so a range rule would call noise a difference that often.
//! 2. Welch's t-test on the logarithms of the values ([`crate::check::welch_log`]): a
//!    difference is a ratio, the long right tail of times is tamed, and unequal variances are
//!    allowed. The estimate is the ratio of geometric means, with its 95% confidence interval
//!    (`exp(log ratio ± t(0.975, df) · se)`). A ratio of two ratios (the model's speed-up of a
//!    configuration against Node's) is the same test on the contrast of its four log means,
//!    with the Welch-Satterthwaite degrees of freedom ([`crate::check::welch_log_contrast`]).
//! 3. The p-values of the family are adjusted together (Benjamini-Hochberg), so that at most
//!    [`FALSE_DISCOVERY_RATE`] of the differences called real are expected to be noise.
//! 4. A difference is real when its adjusted p-value is at most [`FALSE_DISCOVERY_RATE`] and
//!    its ratio of medians moves by more than the noise threshold (5% unless told otherwise),
//!    in the same direction as the test's estimate.
//!
//! Why this test and this correction (and not a bootstrap, a rank test, or min..max ranges)
//! is argued with measured power and false-alarm tables in [`crate::check`].

use crate::check::{benjamini_hochberg, median, t_two_sided_p, welch_log_contrast};

/// Repetitions per side below which nothing is judged (rule 1).
pub const MIN_REPETITIONS: usize = 3;
/// Expected share of false discoveries among the differences called real (rules 3 and 4).
pub const FALSE_DISCOVERY_RATE: f64 = 0.05;
/// The noise threshold of a ratio of medians, in percent, unless a metric sets another.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

/// What the rule says of one comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Judgement {
    /// Nothing can be said, for this reason.
    Unknown(Unknown),
    /// Tested: the estimate, its interval, and whether it counts.
    Tested(Difference),
}

/// Why a comparison was not judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Rule 1: fewer than [`MIN_REPETITIONS`] on the side with fewer (this many).
    TooFewRepetitions(usize),
    /// A value was zero or negative: no logarithm, no ratio.
    NotPositive,
    /// A side's throughput was set by the load generator, not by the server (its CPU was at
    /// the limit): the figures compare generators, and no difference between servers can be
    /// read from them.
    GeneratorLimited,
}

/// A tested difference of `b` over `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    /// Median of `b` over median of `a`.
    pub ratio: f64,
    /// 95% confidence interval of the ratio of geometric means.
    pub ci95: (f64, f64),
    /// Welch's two-sided p-value.
    pub p_value: f64,
    /// After the family's adjustment (rule 3).
    pub adjusted_p: f64,
    /// Rule 4.
    pub real: bool,
}

impl Judgement {
    /// Whether the difference counts as real.
    pub fn is_real(self) -> bool {
        matches!(self, Judgement::Tested(d) if d.real)
    }

    /// A short phrase for tables: `yes (1.07×, 95% CI 1.03-1.11×)`, `unknown: fewer than 3
    /// repetitions`.
    pub fn describe(self) -> String {
        match self {
            Judgement::Unknown(Unknown::TooFewRepetitions(n)) => {
                format!("unknown: fewer than {MIN_REPETITIONS} repetitions ({n})")
            }
            Judgement::Unknown(Unknown::NotPositive) => "unknown: a value is not positive".into(),
            Judgement::Unknown(Unknown::GeneratorLimited) => {
                "unknown: the load generator was the limit".into()
            }
            Judgement::Tested(d) => format!(
                "{} ({:.2}×, 95% CI {:.2}-{:.2}×)",
                if d.real { "yes" } else { "no" },
                d.ratio,
                d.ci95.0,
                d.ci95.1
            ),
        }
    }
}

/// One comparison of a family: the ratio `Σ sign · ln(sample)` speaks of (`b / a` is
/// `[(-1, a), (1, b)]`; a ratio of ratios has four terms), and its noise threshold, percent.
#[derive(Clone, Debug, PartialEq)]
pub struct Contrast<'a> {
    /// Each sample with its sign (+1 above the fraction bar, -1 below).
    pub terms: Vec<(f64, &'a [f64])>,
    /// Rule 4's threshold for the ratio of medians.
    pub threshold_pct: f64,
}

/// Judges each `(a, b)` pair of a family by the rule (`b` over `a`), with `threshold_pct` per
/// pair.
pub fn judge_family(pairs: &[(&[f64], &[f64], f64)]) -> Vec<Judgement> {
    let contrasts: Vec<Contrast<'_>> = pairs
        .iter()
        .map(|&(a, b, threshold_pct)| Contrast {
            terms: vec![(-1.0, a), (1.0, b)],
            threshold_pct,
        })
        .collect();
    judge_contrasts(&contrasts)
}

/// Judges each contrast of a family by the rule; its ratio of medians is
/// `Π median(sample)^sign`.
pub fn judge_contrasts(family: &[Contrast<'_>]) -> Vec<Judgement> {
    let tests: Vec<Option<(f64, f64, f64, f64)>> = family.iter().map(|c| test(&c.terms)).collect();
    let p_values: Vec<f64> = tests.iter().flatten().map(|t| t.3).collect();
    let mut adjusted = benjamini_hochberg(&p_values).into_iter();
    family
        .iter()
        .zip(tests)
        .map(|(c, test)| {
            let Some((log_ratio, lo, hi, p_value)) = test else {
                let fewest = c.terms.iter().map(|(_, v)| v.len()).min().unwrap_or(0);
                return Judgement::Unknown(if fewest < MIN_REPETITIONS {
                    Unknown::TooFewRepetitions(fewest)
                } else {
                    Unknown::NotPositive
                });
            };
            let adjusted_p = adjusted.next().unwrap_or(1.0);
            let ratio: f64 = c
                .terms
                .iter()
                .map(|(sign, v)| median(v).powf(*sign))
                .product();
            let moved = (ratio - 1.0).abs() * 100.0 > c.threshold_pct;
            let agrees = (ratio > 1.0) == (log_ratio > 0.0);
            Judgement::Tested(Difference {
                ratio,
                ci95: (lo, hi),
                p_value,
                adjusted_p,
                real: adjusted_p <= FALSE_DISCOVERY_RATE && moved && agrees,
            })
        })
        .collect()
}

/// Rules 1 and 2: the log ratio, its 95% interval as ratios, and the p-value.
fn test(terms: &[(f64, &[f64])]) -> Option<(f64, f64, f64, f64)> {
    if terms.iter().any(|(_, v)| v.len() < MIN_REPETITIONS) {
        return None;
    }
    let w = welch_log_contrast(terms)?;
    let half = if w.t.is_finite() && w.t != 0.0 {
        t_quantile_975(w.df) * (w.log_ratio / w.t).abs()
    } else {
        0.0
    };
    Some((
        w.log_ratio,
        (w.log_ratio - half).exp(),
        (w.log_ratio + half).exp(),
        w.p_value,
    ))
}

/// The t value with two-sided p of 5% at `df` degrees of freedom.
fn t_quantile_975(df: f64) -> f64 {
    t_quantile(0.05, df)
}

/// The t value whose two-sided p-value is `p` at `df` degrees of freedom, by bisection on
/// [`t_two_sided_p`] (monotone in t).
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1_000.0f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if t_two_sided_p(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_t_quantile_matches_tables() {
        for (df, table) in [(2.0, 4.303), (4.0, 2.776), (10.0, 2.228), (1000.0, 1.962)] {
            assert!((t_quantile_975(df) - table).abs() < 0.002, "df {df}");
        }
        // One-sided 80% (two-sided p 0.4), for the power of a comparison.
        for (df, table) in [(4.0, 0.941), (10.0, 0.879)] {
            assert!((t_quantile(0.4, df) - table).abs() < 0.002, "df {df}");
        }
    }

    #[test]
    fn fewer_than_three_repetitions_are_unknown_whatever_the_ranges() {
        // Two apart-looking pairs: the old range rule called this beyond the noise.
        let (a, b) = ([100.0, 101.0], [120.0, 121.0]);
        let j = judge_family(&[(&a, &b, 5.0)]);
        assert_eq!(j, [Judgement::Unknown(Unknown::TooFewRepetitions(2))]);
        assert_eq!(j[0].describe(), "unknown: fewer than 3 repetitions (2)");
        assert!(!j[0].is_real());
    }

    #[test]
    fn a_clear_change_is_real_with_its_interval_and_noise_is_not() {
        let a = [100.0, 102.0, 98.0, 101.0, 99.0];
        let faster = [120.0, 122.0, 118.0, 121.0, 119.0];
        let same = [101.0, 99.0, 100.0, 102.0, 98.0];
        let j = judge_family(&[(&a, &faster, 5.0), (&a, &same, 5.0)]);
        let Judgement::Tested(d) = j[0] else {
            panic!("{j:?}")
        };
        assert!(d.real, "{d:?}");
        assert!(d.ci95.0 < 1.2 && 1.2 < d.ci95.1, "{d:?}");
        assert!(
            j[0].describe().starts_with("yes (1.20×, 95% CI 1.1"),
            "{}",
            j[0].describe()
        );
        assert!(!j[1].is_real(), "{:?}", j[1]);
        // Significant but within the 5% threshold: not called real.
        let slightly = [103.0, 105.0, 101.0, 104.0, 102.0];
        let tight = [100.0, 100.5, 99.5, 100.2, 99.8];
        let k = judge_family(&[(&tight, &slightly, 5.0)]);
        assert!(!k[0].is_real(), "{k:?}");
    }
}
