//! From a results folder to one [`PointSummary`] per point: the records grouped by point id,
//! each metric summarised over the ok repetitions (median, min, max, count), the latency
//! histograms of the ok repetitions merged, failures and generator limits noted.
//!
//! Points are ordered the way the planner lists them: strategy in [`STRATEGY_ORDER`] (others
//! after, by name), workload in the order the configuration lists them (else by first
//! appearance), then by coordinates.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::files::{
    read_optional, Calibration, ExperimentsFile, Optional, CALIBRATION_FILE, EXPERIMENTS_FILE,
};
use super::id::PointCoords;
use super::stats::Summary;
use super::ReportError;
use crate::store::{Meta, PointRecord, ResultsDir};

/// The strategies in the order the report lists them.
pub const STRATEGY_ORDER: [&str; 6] = [
    "loop",
    "loop-blocking",
    "workers",
    "cluster",
    "tokio",
    "rayon",
];

/// Metric names the report reads.
pub mod metric {
    /// Requests (or jobs) per second.
    pub const THROUGHPUT: &str = "throughput_per_s";
    /// 99th percentile latency, microseconds.
    pub const P99: &str = "p99_us";
    /// CPU milliseconds per operation (server side).
    pub const CPU_MS_PER_OP: &str = "cpu_ms_per_op";
    /// Peak resident memory of the point's processes, bytes.
    pub const PEAK_RSS: &str = "peak_rss_bytes";
    /// 1 when the load generator was the limit in a repetition.
    pub const GENERATOR_LIMITED: &str = "generator_limited";
    /// Errors counted by the load generator (or failed jobs).
    pub const ERRORS: &str = "errors";
    /// The offered rate of an open-loop point.
    pub const INTENDED_RATE: &str = "intended_rate_per_s";
}

/// One point over its repetitions.
#[derive(Debug)]
pub struct PointSummary {
    /// The point id as recorded.
    pub id: String,
    /// Its coordinates, parsed from the id.
    pub coords: PointCoords,
    /// Repetitions recorded, failed ones included.
    pub repetitions: usize,
    /// Repetitions that completed.
    pub ok: usize,
    /// The error text of each failed repetition.
    pub failures: Vec<String>,
    /// Every metric over the ok repetitions.
    pub metrics: BTreeMap<String, Summary>,
    /// Throughput of each ok repetition (for the noise rule).
    pub throughput_samples: Vec<f64>,
    /// The ok repetitions' latency histograms, merged.
    pub histogram: Option<Histogram<u64>>,
    /// Whether the load generator was the limit in any repetition.
    pub generator_limited: bool,
}

impl PointSummary {
    /// The summary of a metric, if any ok repetition recorded it.
    pub fn metric(&self, name: &str) -> Option<&Summary> {
        self.metrics.get(name)
    }

    /// The median of a metric.
    pub fn median(&self, name: &str) -> Option<f64> {
        self.metric(name).map(|s| s.median)
    }

    /// Median throughput; 0 when the point has no ok repetition, so it never wins.
    pub fn throughput(&self) -> f64 {
        self.median(metric::THROUGHPUT).unwrap_or(0.0)
    }
}

/// Everything a report is drawn from.
#[derive(Debug)]
pub struct SweepData {
    /// The folder's metadata.
    pub meta: Meta,
    /// Every point, in report order.
    pub points: Vec<PointSummary>,
    /// Workloads in report order.
    pub workloads: Vec<String>,
    /// `batch` or `service`.
    pub mode: String,
    /// The experiments' timelines, if written.
    pub experiments: Optional<ExperimentsFile>,
    /// The calibration against Node.js, if written.
    pub calibration: Optional<Calibration>,
    /// Problems found while reading that do not stop the report (a histogram that does not
    /// decode, ...).
    pub read_warnings: Vec<String>,
}

impl SweepData {
    /// The points of one workload.
    pub fn of_workload<'a>(&'a self, workload: &'a str) -> impl Iterator<Item = &'a PointSummary> {
        self.points
            .iter()
            .filter(move |p| p.coords.workload == workload)
    }

    /// What one operation is called: `requests` in service mode, `jobs` in batch mode.
    pub fn op_name(&self) -> &'static str {
        if self.mode == "batch" {
            "jobs"
        } else {
            "requests"
        }
    }
}

/// Opens a results folder and summarises it. A missing or corrupt folder is a [`StoreError`]
/// (wrapped); an id that does not parse is an error naming it.
///
/// [`StoreError`]: crate::store::StoreError
pub fn load(dir: &Path) -> Result<SweepData, ReportError> {
    let results = ResultsDir::open(dir)?;
    let records = results.records()?;
    let meta = results.meta().clone();
    let mut read_warnings = Vec::new();
    let mut points = aggregate(&records, &mut read_warnings)?;
    let workloads = workload_order(&meta, &points);
    points.sort_by_key(|p| {
        (
            strategy_rank(&p.coords.strategy),
            workloads.iter().position(|w| *w == p.coords.workload),
            p.coords.clone(),
        )
    });
    let mode = meta
        .config
        .get("mode")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let batch = points.iter().any(|p| p.metric("makespan_s").is_some());
            if batch { "batch" } else { "service" }.to_string()
        });
    Ok(SweepData {
        meta,
        points,
        workloads,
        mode,
        experiments: read_optional(dir, EXPERIMENTS_FILE),
        calibration: read_optional(dir, CALIBRATION_FILE),
        read_warnings,
    })
}

/// Where a strategy sorts: [`STRATEGY_ORDER`] first, then any other (by name, after).
pub fn strategy_rank(name: &str) -> (usize, String) {
    match STRATEGY_ORDER.iter().position(|s| *s == name) {
        Some(i) => (i, String::new()),
        None => (STRATEGY_ORDER.len(), name.to_string()),
    }
}

/// The configuration's `workloads` list, then any other workload in order of appearance.
fn workload_order(meta: &Meta, points: &[PointSummary]) -> Vec<String> {
    let mut order: Vec<String> = meta
        .config
        .get("workloads")
        .and_then(|w| w.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    order.retain(|w| points.iter().any(|p| p.coords.workload == *w));
    for p in points {
        if !order.contains(&p.coords.workload) {
            order.push(p.coords.workload.clone());
        }
    }
    order
}

/// Groups records by point (first appearance order) and summarises each.
pub fn aggregate(
    records: &[PointRecord],
    warnings: &mut Vec<String>,
) -> Result<Vec<PointSummary>, ReportError> {
    let mut groups: Vec<(String, Vec<&PointRecord>)> = Vec::new();
    for record in records {
        match groups.iter_mut().find(|(id, _)| *id == record.point_id) {
            Some((_, group)) => group.push(record),
            None => groups.push((record.point_id.clone(), vec![record])),
        }
    }
    groups
        .into_iter()
        .map(|(id, group)| summarise(id, &group, warnings))
        .collect()
}

fn summarise(
    id: String,
    group: &[&PointRecord],
    warnings: &mut Vec<String>,
) -> Result<PointSummary, ReportError> {
    let coords = PointCoords::parse(&id)?;
    let ok: Vec<&PointRecord> = group.iter().copied().filter(|r| r.ok).collect();
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for record in &ok {
        for (name, &value) in &record.metrics {
            values.entry(name.clone()).or_default().push(value);
        }
    }
    let metrics = values
        .iter()
        .filter_map(|(name, v)| Summary::of(v).map(|s| (name.clone(), s)))
        .collect();
    let failures = group
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            format!(
                "repetition {}: {}",
                r.repetition,
                r.error.as_deref().unwrap_or("failed, no reason recorded")
            )
        })
        .collect();
    let generator_limited = group
        .iter()
        .any(|r| r.metrics.get(metric::GENERATOR_LIMITED).copied() == Some(1.0));
    Ok(PointSummary {
        throughput_samples: values.remove(metric::THROUGHPUT).unwrap_or_default(),
        histogram: merged_histogram(&id, &ok, warnings),
        id,
        coords,
        repetitions: group.len(),
        ok: ok.len(),
        failures,
        metrics,
        generator_limited,
    })
}

/// The ok repetitions' histograms added together; a histogram that does not decode is left
/// out with a warning (the point's percentiles still come from its metrics).
fn merged_histogram(
    id: &str,
    ok: &[&PointRecord],
    warnings: &mut Vec<String>,
) -> Option<Histogram<u64>> {
    let mut merged: Option<Histogram<u64>> = None;
    for record in ok {
        let Some(text) = &record.histogram_base64 else {
            continue;
        };
        let histogram = match crate::histogram::decode(text) {
            Ok(h) => h,
            Err(e) => {
                warnings.push(format!(
                    "{id} repetition {}: {e}; its latency spectrum leaves it out",
                    record.repetition
                ));
                continue;
            }
        };
        merged = Some(match merged {
            None => {
                // A decoded histogram keeps its recorded range; let it grow to take the others.
                let mut first = histogram;
                first.auto(true);
                first
            }
            Some(mut acc) => {
                if acc.add(&histogram).is_err() {
                    warnings.push(format!(
                        "{id} repetition {}: its histogram's range differs from the others'; \
                         its latency spectrum leaves it out",
                        record.repetition
                    ));
                }
                acc
            }
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SCHEMA_VERSION;

    fn record(id: &str, rep: u32, ok: bool, throughput: f64) -> PointRecord {
        PointRecord {
            schema: SCHEMA_VERSION,
            point_id: id.into(),
            repetition: rep,
            ok,
            error: (!ok).then(|| "server did not start".to_string()),
            metrics: if ok {
                [
                    (metric::THROUGHPUT.to_string(), throughput),
                    (metric::GENERATOR_LIMITED.to_string(), f64::from(rep)),
                ]
                .into()
            } else {
                BTreeMap::new()
            },
            histogram_base64: None,
            source: None,
        }
    }

    #[test]
    fn repetitions_are_grouped_and_summarised_over_ok_ones() {
        let records = [
            record("loop/hash/p1/c8", 0, true, 100.0),
            record("loop/hash/p2/c8", 0, false, 0.0),
            record("loop/hash/p1/c8", 1, true, 120.0),
            record("loop/hash/p1/c8", 2, true, 90.0),
        ];
        let points = aggregate(&records, &mut Vec::new()).unwrap();
        assert_eq!(points.len(), 2);
        let p1 = &points[0];
        assert_eq!((p1.repetitions, p1.ok), (3, 3));
        assert_eq!(p1.throughput(), 100.0);
        assert_eq!(p1.metric(metric::THROUGHPUT).unwrap().max, 120.0);
        assert!(p1.generator_limited, "repetition 1 says so");
        let p2 = &points[1];
        assert_eq!((p2.repetitions, p2.ok), (1, 0));
        assert_eq!(p2.failures, ["repetition 0: server did not start"]);
        assert_eq!(p2.throughput(), 0.0);
    }

    #[test]
    fn a_bad_id_stops_the_report_with_its_name() {
        let err = aggregate(&[record("loop/hash/z9", 0, true, 1.0)], &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("loop/hash/z9"), "{err}");
    }
}
