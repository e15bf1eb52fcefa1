//! The sweep's own noise, measured: the smallest change it could have detected per workload,
//! and, for an A/A sweep (`lab sweep --aa`), the false alarms between its two halves.
//!
//! - **Minimum detectable effect** of a point's throughput: the change a comparison with as
//!   many repetitions per side would find 80% of the time at a 5% two-sided level, from the
//!   spread of the point's repetitions (Welch on logarithms, as the lab's one rule):
//!   `exp((t(0.975, df) + t(0.80, df)) · s · sqrt(2 / n)) − 1`, with `s` the standard
//!   deviation of the log throughputs (pooled over the halves of an A/A sweep), `n` the
//!   repetitions per side and `df = 2n − 2`; never below the rule's 5% threshold. It is for
//!   one comparison: a family's adjustment raises it. A workload's figure is the median over
//!   its points (and its worst point).
//! - **False alarms** (A/A sweeps only): the sweep ran every point `2n` times in interleaved
//!   rounds; even repetitions are half A, odd ones half B, measured under the same machine
//!   conditions. The two halves are compared exactly as `lab check` compares two sweeps
//!   (every point and metric, one family, the sentinel rule): every change it calls real is a
//!   false alarm.

use crate::check::{compare, median, Samples, Thresholds, Verdict};
use crate::noise::{t_quantile, DEFAULT_THRESHOLD_PCT, MIN_REPETITIONS};
use crate::store::{metric, PointRecord};

/// What the sweep could tell apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NoiseFloor {
    /// Repetitions per side the detectable effects assume (per half in an A/A sweep).
    pub per_side: usize,
    /// Per workload, in the order first seen.
    pub workloads: Vec<WorkloadFloor>,
    /// The halves compared, for an A/A sweep.
    pub aa: Option<FalseAlarms>,
}

/// One workload's smallest detectable change of throughput.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadFloor {
    /// The workload.
    pub workload: String,
    /// Points with enough repetitions to estimate it.
    pub points: usize,
    /// Median over those points, percent.
    pub median_pct: f64,
    /// The point with the largest, and it (percent).
    pub worst: (String, f64),
}

/// An A/A sweep's halves compared.
#[derive(Clone, Debug, PartialEq)]
pub struct FalseAlarms {
    /// Comparisons the rule tested.
    pub tested: usize,
    /// Those it called real: point, metric, ratio B / A.
    pub flagged: Vec<(String, String, f64)>,
}

impl FalseAlarms {
    /// Share of tested comparisons called real.
    pub fn rate(&self) -> f64 {
        if self.tested == 0 {
            0.0
        } else {
            self.flagged.len() as f64 / self.tested as f64
        }
    }
}

impl NoiseFloor {
    /// The figures in sentences, for the report and the summary; empty when nothing could be
    /// estimated.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.workloads.is_empty() {
            return out;
        }
        let per_workload: Vec<String> = self
            .workloads
            .iter()
            .map(|w| {
                format!(
                    "{} {:.0}% (median of {}; worst {:.0}%, {})",
                    w.workload,
                    w.median_pct,
                    super::format::count(w.points as u64, "point", "points"),
                    w.worst.1,
                    w.worst.0
                )
            })
            .collect();
        out.push(format!(
            "Smallest change of throughput a comparison with {} repetitions per side would \
             find 4 times in 5: {}.",
            self.per_side,
            per_workload.join("; ")
        ));
        if let Some(aa) = &self.aa {
            out.push(aa.sentence());
        }
        out
    }
}

impl FalseAlarms {
    fn sentence(&self) -> String {
        let listed: Vec<String> = self
            .flagged
            .iter()
            .map(|(point, metric, ratio)| format!("{point} {metric} {ratio:.2}×"))
            .collect();
        let which = if listed.is_empty() {
            String::new()
        } else {
            format!(": {}", listed.join(", "))
        };
        format!(
            "A/A: the two interleaved halves of this sweep, compared as lab check compares \
             two sweeps: {} of {} comparisons called a change ({:.1}% false alarms){which}.",
            self.flagged.len(),
            self.tested,
            self.rate() * 100.0
        )
    }
}

/// Measures the noise of a sweep's records; `aa` says the sweep ran its halves interleaved.
pub fn measure(records: &[PointRecord], aa: bool) -> NoiseFloor {
    let halves = split(records, aa);
    let per_side = fewest_per_point(&halves);
    let workloads = workload_floors(records, &halves, per_side);
    let aa = aa.then(|| false_alarms(&halves));
    NoiseFloor {
        per_side,
        workloads,
        aa,
    }
}

/// Every ok repetition's metrics, per half (one half unless `aa`): point → metric → values.
fn split(records: &[PointRecord], aa: bool) -> Vec<Samples> {
    let mut halves = vec![Samples::new(); if aa { 2 } else { 1 }];
    for r in records.iter().filter(|r| r.ok) {
        let half = if aa { r.repetition as usize % 2 } else { 0 };
        let point = halves[half].entry(r.point_id.clone()).or_default();
        for (name, value) in &r.metrics {
            point.entry(name.clone()).or_default().push(*value);
        }
    }
    halves
}

/// The fewest throughput values any point has in any half (0 when there is none).
fn fewest_per_point(halves: &[Samples]) -> usize {
    let counts = halves
        .iter()
        .flat_map(|h| h.values())
        .map(|m| m.get(metric::THROUGHPUT).map_or(0, Vec::len));
    counts.min().unwrap_or(0)
}

fn workload_floors(records: &[PointRecord], halves: &[Samples], n: usize) -> Vec<WorkloadFloor> {
    let mut per_workload: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    for r in records {
        let workload = r.coords.workload.as_str();
        let at = match per_workload.iter().position(|(w, _)| w == workload) {
            Some(at) => at,
            None => {
                per_workload.push((workload.to_string(), Vec::new()));
                per_workload.len() - 1
            }
        };
        let seen = per_workload[at].1.iter().any(|(p, _)| *p == r.point_id);
        if !seen {
            if let Some(pct) = point_floor(halves, &r.point_id, n) {
                per_workload[at].1.push((r.point_id.clone(), pct));
            }
        }
    }
    per_workload
        .into_iter()
        .filter(|(_, points)| !points.is_empty())
        .map(|(workload, points)| summarise(workload, points))
        .collect()
}

fn summarise(workload: String, points: Vec<(String, f64)>) -> WorkloadFloor {
    let values: Vec<f64> = points.iter().map(|(_, pct)| *pct).collect();
    let worst = points
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default();
    WorkloadFloor {
        workload,
        points: points.len(),
        median_pct: median(&values),
        worst,
    }
}

/// One point's minimum detectable effect in percent, from the spread of its log throughputs
/// in every half (pooled); `None` with fewer than [`MIN_REPETITIONS`] per side or a value
/// that is not positive.
fn point_floor(halves: &[Samples], point: &str, n: usize) -> Option<f64> {
    if n < MIN_REPETITIONS {
        return None;
    }
    let mut variances = Vec::new();
    for half in halves {
        let values = half.get(point)?.get(metric::THROUGHPUT)?;
        variances.push(log_variance(values)?);
    }
    let s = (variances.iter().sum::<f64>() / variances.len() as f64).sqrt();
    let df = 2.0 * n as f64 - 2.0;
    let z = t_quantile(0.05, df) + t_quantile(0.4, df);
    let pct = ((z * s * (2.0 / n as f64).sqrt()).exp() - 1.0) * 100.0;
    Some(pct.max(DEFAULT_THRESHOLD_PCT))
}

/// The sample variance of the logarithms (at least two values, all positive).
fn log_variance(values: &[f64]) -> Option<f64> {
    if values.len() < 2 || values.iter().any(|v| *v <= 0.0) {
        return None;
    }
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    Some(crate::check::mean_and_variance(&logs).1)
}

/// Half B against half A, as `lab check` would judge them.
fn false_alarms(halves: &[Samples]) -> FalseAlarms {
    let (Some(a), Some(b)) = (halves.first(), halves.get(1)) else {
        return FalseAlarms {
            tested: 0,
            flagged: Vec::new(),
        };
    };
    let comparison = compare(a, b, &Thresholds::default());
    let flagged = comparison
        .metrics
        .iter()
        .filter(|m| matches!(m.verdict, Verdict::Regressed | Verdict::Improved))
        .map(|m| (m.point_id.clone(), m.metric.clone(), m.ratio))
        .collect();
    FalseAlarms {
        tested: comparison.tested,
        flagged,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::Coords;

    fn record(point: &str, workload: &str, repetition: u32, throughput: f64) -> PointRecord {
        let mut coords = Coords::from_schema1_id(point).expect("a schema-1 id");
        coords.workload = workload.to_string();
        let metrics = BTreeMap::from([(metric::THROUGHPUT.to_string(), throughput)]);
        let mut r = PointRecord::ok(&coords, repetition, metrics, None);
        r.point_id = point.to_string();
        r
    }

    #[test]
    fn a_tight_point_detects_small_changes_and_a_noisy_one_only_large_ones() {
        let mut records = Vec::new();
        for (rep, (tight, noisy)) in [(100.0, 100.0), (101.0, 130.0), (99.0, 80.0)]
            .into_iter()
            .enumerate()
        {
            records.push(record("loop/hash/p4/c8", "hash", rep as u32, tight));
            records.push(record("loop/file/p4/c8", "file", rep as u32, noisy));
        }
        let floor = measure(&records, false);
        assert_eq!(floor.per_side, 3);
        let pct: BTreeMap<&str, f64> = floor
            .workloads
            .iter()
            .map(|w| (w.workload.as_str(), w.median_pct))
            .collect();
        assert_eq!(pct["hash"], DEFAULT_THRESHOLD_PCT, "{pct:?}");
        assert!(pct["file"] > 50.0, "{pct:?}");
        assert!(floor.aa.is_none());
    }

    #[test]
    fn an_aa_sweep_compares_its_halves_and_counts_what_it_calls_real() {
        let mut records = Vec::new();
        // Six repetitions; half B (odd) of `slow` is 30% lower: a false alarm the report shows.
        for rep in 0..6u32 {
            let wobble = [1.0, 1.01, 0.99][rep as usize / 2];
            let b = rep % 2 == 1;
            records.push(record("loop/hash/p4/c8", "hash", rep, 100.0 * wobble));
            let slow = if b { 70.0 } else { 100.0 };
            records.push(record("loop/net/c8", "net", rep, slow * wobble));
        }
        let floor = measure(&records, true);
        assert_eq!(floor.per_side, 3);
        let aa = floor.aa.expect("an A/A sweep");
        assert_eq!(aa.tested, 2);
        assert_eq!(aa.flagged.len(), 1, "{:?}", aa.flagged);
        assert_eq!(aa.flagged[0].0, "loop/net/c8");
        assert!((aa.rate() - 0.5).abs() < 1e-9);
    }
}
