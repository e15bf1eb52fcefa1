//! Per point and metric, a [`Verdict`]: the lab's one rule ([`crate::noise`]) applied to every
//! metric of [`METRICS`] that both sides measured, all of a check's comparisons as one family.
//!
//! 1. Medians of each side; their ratio new / baseline is the size of the change.
//! 2. The rule tests each comparison (Welch's t-test on the logarithms; fewer than
//!    [`MIN_REPETITIONS`] values on a side: "too few repetitions"), adjusts the p-values of the
//!    family together (Benjamini-Hochberg), and calls a change real when the adjusted p-value
//!    is at most [`FALSE_DISCOVERY_RATE`], `|ratio - 1|` exceeds the metric's threshold and
//!    the test's direction agrees with the medians'.
//! 3. A real change's sign and the metric's [`Direction`] make it an improvement or a
//!    regression.

use std::collections::BTreeMap;

use serde::Serialize;

use super::measured::Samples;
use super::stats::median;
use super::CheckError;
use crate::noise::{judge_family, Judgement, Unknown};
use crate::store::metric;

/// Which way is better for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better (throughput).
    HigherIsBetter,
    /// Less is better (latency, CPU, memory).
    LowerIsBetter,
}

/// A metric the check compares.
#[derive(Clone, Copy, Debug)]
pub struct MetricRule {
    /// Its name in results (units in the name).
    pub name: &'static str,
    /// Which way is better.
    pub direction: Direction,
}

/// The metrics compared, in display order.
pub const METRICS: [MetricRule; 5] = [
    MetricRule {
        name: metric::THROUGHPUT,
        direction: Direction::HigherIsBetter,
    },
    MetricRule {
        name: metric::P50,
        direction: Direction::LowerIsBetter,
    },
    MetricRule {
        name: metric::P99,
        direction: Direction::LowerIsBetter,
    },
    MetricRule {
        name: metric::CPU_MS_PER_OP,
        direction: Direction::LowerIsBetter,
    },
    MetricRule {
        name: metric::PEAK_RSS,
        direction: Direction::LowerIsBetter,
    },
];

pub use crate::noise::{DEFAULT_THRESHOLD_PCT, FALSE_DISCOVERY_RATE, MIN_REPETITIONS};

/// Noise thresholds per metric, in percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pct: BTreeMap<String, f64>,
}

impl Thresholds {
    /// Parses `--threshold` values like `p99_us=10` (percent); later ones win.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, CheckError> {
        let mut pct = BTreeMap::new();
        for spec in specs {
            let spec = spec.as_ref();
            let bad = || CheckError::BadThreshold {
                spec: spec.to_string(),
                metrics: METRICS.map(|m| m.name).join(", "),
            };
            let (metric, value) = spec.split_once('=').ok_or_else(bad)?;
            let metric = metric.trim();
            let value: f64 = value
                .trim()
                .trim_end_matches('%')
                .parse()
                .map_err(|_| bad())?;
            let known = METRICS.iter().any(|m| m.name == metric);
            let in_range = value > 0.0 && value < 1000.0;
            if !(known && in_range) {
                return Err(bad());
            }
            pct.insert(metric.to_string(), value);
        }
        Ok(Self { pct })
    }

    /// The threshold of `metric` in percent.
    pub fn pct(&self, metric: &str) -> f64 {
        self.pct
            .get(metric)
            .copied()
            .unwrap_or(DEFAULT_THRESHOLD_PCT)
    }
}

/// What a comparison concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Better beyond the threshold, and significant.
    Improved,
    /// Worse beyond the threshold, and significant.
    Regressed,
    /// Within the threshold, or not significant.
    NoChange,
    /// Fewer than [`MIN_REPETITIONS`] values on a side: no test was made.
    TooFewRepetitions,
    /// A value was zero or negative, so no ratio or logarithm exists.
    NotComparable,
    /// Worse beyond the threshold and significant, but the speed sentinel says the new
    /// windows ran on slower cores, and the cost per operation at equal sentinel speed did
    /// not rise ([`super::sentinel`]): not counted as a regression.
    SlowMachine,
}

/// One point and metric, compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricComparison {
    /// The point id.
    pub point_id: String,
    /// The metric name.
    pub metric: String,
    /// Median of the baseline's values.
    pub baseline_median: f64,
    /// Median of the new values.
    pub new_median: f64,
    /// `new_median / baseline_median`.
    pub ratio: f64,
    /// Values on the baseline side.
    pub baseline_n: usize,
    /// Values on the new side.
    pub new_n: usize,
    /// The metric's threshold in percent.
    pub threshold_pct: f64,
    /// Welch's two-sided p-value, when tested.
    pub p_value: Option<f64>,
    /// Benjamini-Hochberg adjusted p-value over every tested comparison, when tested.
    pub adjusted_p: Option<f64>,
    /// The conclusion.
    pub verdict: Verdict,
    /// New sentinel median over the baseline's, where the sentinel says the new windows ran
    /// slow ([`super::sentinel`]).
    pub sentinel_ratio: Option<f64>,
}

impl MetricComparison {
    /// Whether the medians moved by more than the threshold, whatever the significance.
    pub fn beyond_threshold(&self) -> bool {
        (self.ratio - 1.0).abs() * 100.0 > self.threshold_pct
    }
}

/// Everything a baseline comparison found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Every point and metric both sides measured, in point then [`METRICS`] order.
    pub metrics: Vec<MetricComparison>,
    /// Points only the baseline has.
    pub only_in_baseline: Vec<String>,
    /// Points only the new results have.
    pub only_in_new: Vec<String>,
    /// How many comparisons were tested (the `m` of the correction).
    pub tested: usize,
}

impl Comparison {
    /// How many comparisons have this verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.metrics.iter().filter(|m| m.verdict == verdict).count()
    }

    /// The fewest repetitions on either side of any comparison (0 when there is none).
    pub fn fewest_repetitions(&self) -> usize {
        self.metrics
            .iter()
            .map(|m| m.baseline_n.min(m.new_n))
            .min()
            .unwrap_or(0)
    }
}

/// Compares every point and metric of [`METRICS`] both sides measured.
pub fn compare(baseline: &Samples, new: &Samples, thresholds: &Thresholds) -> Comparison {
    let mut comparison = Comparison {
        only_in_baseline: only_in(baseline, new),
        only_in_new: only_in(new, baseline),
        ..Comparison::default()
    };
    let mut family: Vec<(&[f64], &[f64], f64)> = Vec::new();
    for (point_id, base_metrics) in baseline {
        let Some(new_metrics) = new.get(point_id) else {
            continue;
        };
        for rule in METRICS {
            let (Some(b), Some(n)) = (base_metrics.get(rule.name), new_metrics.get(rule.name))
            else {
                continue;
            };
            if b.is_empty() || n.is_empty() {
                continue;
            }
            let threshold_pct = thresholds.pct(rule.name);
            comparison
                .metrics
                .push(medians(point_id, rule, (b, n), threshold_pct));
            family.push((b, n, threshold_pct));
        }
    }
    let judged = judge_family(&family);
    comparison.tested = judged
        .iter()
        .filter(|j| matches!(j, Judgement::Tested(_)))
        .count();
    for (metric, judgement) in comparison.metrics.iter_mut().zip(judged) {
        apply(metric, judgement);
    }
    super::sentinel::excuse_slow_machine(&mut comparison, baseline, new, thresholds);
    comparison
}

/// The point ids of `side` that `other` does not have.
fn only_in(side: &Samples, other: &Samples) -> Vec<String> {
    side.keys()
        .filter(|p| !other.contains_key(*p))
        .cloned()
        .collect()
}

/// Rule 1 for one point and metric, given the (baseline, new) values, neither empty; its
/// verdict waits for the family's judgement.
fn medians(
    point_id: &str,
    rule: MetricRule,
    (b, n): (&[f64], &[f64]),
    threshold_pct: f64,
) -> MetricComparison {
    let (bm, nm) = (median(b), median(n));
    MetricComparison {
        point_id: point_id.to_string(),
        metric: rule.name.to_string(),
        baseline_median: bm,
        new_median: nm,
        ratio: if bm > 0.0 { nm / bm } else { f64::NAN },
        baseline_n: b.len(),
        new_n: n.len(),
        threshold_pct,
        p_value: None,
        adjusted_p: None,
        verdict: Verdict::NoChange,
        sentinel_ratio: None,
    }
}

/// Rules 2 and 3: the rule's judgement of one comparison as its verdict.
fn apply(m: &mut MetricComparison, judgement: Judgement) {
    let d = match judgement {
        Judgement::Unknown(Unknown::TooFewRepetitions(_)) => {
            m.verdict = Verdict::TooFewRepetitions;
            return;
        }
        // No logarithm (a value zero or negative), or not the server's figure.
        Judgement::Unknown(Unknown::NotPositive | Unknown::GeneratorLimited) => {
            m.verdict = Verdict::NotComparable;
            return;
        }
        Judgement::Tested(d) => d,
    };
    m.p_value = Some(d.p_value);
    m.adjusted_p = Some(d.adjusted_p);
    // A tested comparison has only positive values (the test takes their logarithms), so its
    // ratio of medians is finite and positive.
    if d.real {
        let direction = METRICS
            .iter()
            .find(|r| r.name == m.metric)
            .map_or(Direction::LowerIsBetter, |r| r.direction);
        let better = (m.ratio > 1.0) == (direction == Direction::HigherIsBetter);
        m.verdict = if better {
            Verdict::Improved
        } else {
            Verdict::Regressed
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(&str, &str, &[f64])]) -> Samples {
        let mut s = Samples::new();
        for (point, metric, values) in points {
            s.entry(point.to_string())
                .or_default()
                .insert(metric.to_string(), values.to_vec());
        }
        s
    }

    #[test]
    fn thresholds_parse_and_refuse_unknown_metrics() {
        let t = Thresholds::parse(&["p99_us=10", "cpu_ms_per_op=2.5%"]).unwrap();
        assert_eq!(t.pct("p99_us"), 10.0);
        assert_eq!(t.pct("cpu_ms_per_op"), 2.5);
        assert_eq!(t.pct("p50_us"), DEFAULT_THRESHOLD_PCT);
        for bad in ["p98_us=10", "p99_us", "p99_us=-1", "p99_us=ten"] {
            let err = Thresholds::parse(&[bad]).unwrap_err().to_string();
            assert!(err.contains("throughput_per_s, p50_us"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_clear_slow_down_is_a_regression_and_a_speed_up_an_improvement() {
        let base = samples(&[
            ("a", "throughput_per_s", &[100.0, 101.0, 99.0]),
            ("a", "p99_us", &[1000.0, 1010.0, 990.0]),
            ("a", "peak_rss_bytes", &[8.0, 8.0, 8.0]),
        ]);
        let new = samples(&[
            ("a", "throughput_per_s", &[50.0, 51.0, 49.5]),
            ("a", "p99_us", &[500.0, 505.0, 495.0]),
            ("a", "peak_rss_bytes", &[8.0, 8.0, 8.0]),
        ]);
        let c = compare(&base, &new, &Thresholds::default());
        let verdicts: Vec<_> = c
            .metrics
            .iter()
            .map(|m| (m.metric.as_str(), m.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("throughput_per_s", Verdict::Regressed),
                ("p99_us", Verdict::Improved),
                ("peak_rss_bytes", Verdict::NoChange),
            ]
        );
        assert_eq!(c.tested, 3);
    }

    #[test]
    fn significant_but_small_changes_stay_within_the_threshold() {
        let base = samples(&[("a", "p50_us", &[100.0, 100.1, 99.9])]);
        let new = samples(&[("a", "p50_us", &[103.0, 103.1, 102.9])]);
        let c = compare(&base, &new, &Thresholds::default());
        assert!(c.metrics[0].adjusted_p.unwrap() < 0.001);
        assert_eq!(c.metrics[0].verdict, Verdict::NoChange);
        let strict = Thresholds::parse(&["p50_us=2"]).unwrap();
        assert_eq!(
            compare(&base, &new, &strict).metrics[0].verdict,
            Verdict::Regressed
        );
    }

    #[test]
    fn too_few_repetitions_and_missing_points_are_reported_not_judged() {
        let base = samples(&[("a", "p50_us", &[100.0, 100.0]), ("gone", "p50_us", &[1.0])]);
        let new = samples(&[
            ("a", "p50_us", &[200.0, 200.0]),
            ("added", "p50_us", &[1.0]),
        ]);
        let c = compare(&base, &new, &Thresholds::default());
        assert_eq!(c.metrics.len(), 1);
        assert_eq!(c.metrics[0].verdict, Verdict::TooFewRepetitions);
        assert!(c.metrics[0].beyond_threshold());
        assert_eq!(c.fewest_repetitions(), 2);
        assert_eq!(
            (c.only_in_baseline, c.only_in_new),
            (vec!["gone".into()], vec!["added".into()])
        );
        let zero = compare(
            &samples(&[("a", "p50_us", &[0.0, 1.0, 1.0])]),
            &samples(&[("a", "p50_us", &[1.0, 1.0, 1.0])]),
            &Thresholds::default(),
        );
        assert_eq!(zero.metrics[0].verdict, Verdict::NotComparable);
    }
}
