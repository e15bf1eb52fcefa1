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

use looplab_workloads::deploy::Mode;

use super::noise_floor::{self, NoiseFloor};
use super::stats::Summary;
use super::ReportError;
pub use crate::store::metric;
use crate::store::{
    read_calibration, read_experiments, Calibration, Coords, ExperimentsFile, Flavour, Meta,
    Optional, PointRecord, ResultsDir,
};

/// One point over its repetitions.
#[derive(Clone, Debug)]
pub struct PointSummary {
    /// The point id as recorded.
    pub id: String,
    /// Its coordinates, as recorded.
    pub coords: Coords,
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

/// Why a point's figure may not be the server's, marked wherever the figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The load generator used its threads' capacity in a repetition: it set the pace.
    GeneratorLimited,
    /// Other processes or the hypervisor took CPU during a repetition (see the warnings'
    /// unstable-window rule for the thresholds).
    BusyMachine,
    /// Open loop: the achieved rate stayed under 95% of the offered one.
    UnderRate,
}

impl Mark {
    /// A few words, for tables and sentences.
    pub fn label(self) -> &'static str {
        match self {
            Mark::GeneratorLimited => "generator-limited",
            Mark::BusyMachine => "machine busy",
            Mark::UnderRate => "under the offered rate",
        }
    }

    /// Every mark, in the order they are listed.
    pub const ALL: [Mark; 3] = [Mark::GeneratorLimited, Mark::BusyMachine, Mark::UnderRate];

    /// The letter a chart writes beside a marked point.
    pub fn letter(self) -> char {
        match self {
            Mark::GeneratorLimited => 'G',
            Mark::BusyMachine => 'B',
            Mark::UnderRate => 'R',
        }
    }
}

/// A set of [`Mark`]s, small enough to travel with a chart point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks(u8);

impl Marks {
    /// The set of `marks`.
    pub fn of(marks: &[Mark]) -> Marks {
        Marks(marks.iter().fold(0, |bits, m| bits | 1 << *m as u8))
    }

    /// Whether `mark` is in the set.
    pub fn contains(self, mark: Mark) -> bool {
        self.0 & 1 << mark as u8 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The marks in the set, in [`Mark::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Mark> + Clone {
        Mark::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// The marks' letters, like `GB`.
    pub fn letters(self) -> String {
        self.iter().map(Mark::letter).collect()
    }

    /// The marks' labels, like `generator-limited, machine busy`.
    pub fn labels(self) -> String {
        self.iter().map(Mark::label).collect::<Vec<_>>().join(", ")
    }
}

impl PointSummary {
    /// Why this point's figure may not be the server's, if it may not.
    pub fn marks(&self) -> Vec<Mark> {
        let max = |name| self.metric(name).map(|s| s.max);
        let busy = max(metric::FOREIGN_CPU).is_some_and(|f| f > super::warnings::FOREIGN_CORES)
            || max(metric::STEAL).is_some_and(|s| s > super::warnings::STEAL_CORES);
        let under = match (
            self.median(metric::ACHIEVED_RATE),
            self.median(metric::INTENDED_RATE),
        ) {
            (Some(a), Some(i)) if self.coords.is_open_loop() => a < 0.95 * i,
            _ => false,
        };
        [
            (self.generator_limited, Mark::GeneratorLimited),
            (busy, Mark::BusyMachine),
            (under, Mark::UnderRate),
        ]
        .into_iter()
        .filter_map(|(on, mark)| on.then_some(mark))
        .collect()
    }

    /// The marks as text: ` [generator-limited, machine busy]`, or empty.
    pub fn marks_text(&self) -> String {
        let marks = Marks::of(&self.marks());
        if marks.is_empty() {
            return String::new();
        }
        format!(" [{}]", marks.labels())
    }

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
    /// Batch or service.
    pub mode: Mode,
    /// The experiments' timelines, if written.
    pub experiments: Optional<ExperimentsFile>,
    /// The calibration against Node.js, if written.
    pub calibration: Optional<Calibration>,
    /// What the sweep could tell apart ([`super::noise_floor`]).
    pub noise: NoiseFloor,
    /// Problems found while reading that do not stop the report (a histogram that does not
    /// decode, ...).
    pub read_warnings: Vec<String>,
}

impl SweepData {
    /// The flavours (runtime and, on looplab, cost profile) the sweep's points ran on, in
    /// report order: plain looplab first.
    pub fn flavours(&self) -> Vec<Flavour> {
        let mut flavours: Vec<Flavour> = self.points.iter().map(|p| p.coords.flavour()).collect();
        flavours.sort();
        flavours.dedup();
        flavours
    }

    /// The sweep seen from one flavour: its points only (and its workloads), so answers and
    /// charts never compare one runtime's figures with another's. The recorded experiments
    /// and the calibration belong to plain looplab's view.
    pub fn view(&self, flavour: &Flavour) -> SweepData {
        let points: Vec<PointSummary> = self
            .points
            .iter()
            .filter(|p| p.coords.flavour() == *flavour)
            .cloned()
            .collect();
        let workloads = self
            .workloads
            .iter()
            .filter(|w| points.iter().any(|p| p.coords.workload == **w))
            .cloned()
            .collect();
        let looplab = *flavour == Flavour::looplab();
        SweepData {
            meta: self.meta.clone(),
            points,
            workloads,
            mode: self.mode,
            experiments: if looplab {
                self.experiments.clone()
            } else {
                Optional::Absent
            },
            calibration: if looplab {
                self.calibration.clone()
            } else {
                Optional::Absent
            },
            noise: self.noise.clone(),
            read_warnings: Vec::new(),
        }
    }

    /// The points of one workload.
    pub fn of_workload<'a>(&'a self, workload: &'a str) -> impl Iterator<Item = &'a PointSummary> {
        self.points
            .iter()
            .filter(move |p| p.coords.workload == workload)
    }

    /// What one operation is called: `requests` in service mode, `jobs` in batch mode.
    pub fn op_name(&self) -> &'static str {
        if self.mode == Mode::Batch {
            "jobs"
        } else {
            "requests"
        }
    }
}

/// Opens a results folder and summarises it. A missing or corrupt folder is a [`StoreError`]
/// (wrapped).
///
/// [`StoreError`]: crate::store::StoreError
pub fn load(dir: &Path) -> Result<SweepData, ReportError> {
    let results = ResultsDir::open(dir)?;
    let records = results.records()?;
    let meta = results.meta().clone();
    let mut read_warnings = Vec::new();
    let mut points = aggregate(&records, &mut read_warnings);
    let workloads = workload_order(&meta, &points);
    points.sort_by_key(|p| {
        (
            p.coords.strategy,
            workloads.iter().position(|w| *w == p.coords.workload),
            p.coords.clone(),
        )
    });
    let mode = points.first().map_or(Mode::Service, |p| p.coords.mode);
    let noise = noise_floor::measure(&records, meta.aa);
    Ok(SweepData {
        meta,
        points,
        workloads,
        mode,
        experiments: read_experiments(dir),
        calibration: read_calibration(dir),
        noise,
        read_warnings,
    })
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
pub fn aggregate(records: &[PointRecord], warnings: &mut Vec<String>) -> Vec<PointSummary> {
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

fn summarise(id: String, group: &[&PointRecord], warnings: &mut Vec<String>) -> PointSummary {
    let coords = group[0].coords.clone();
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
    PointSummary {
        throughput_samples: values.remove(metric::THROUGHPUT).unwrap_or_default(),
        histogram: merged_histogram(&id, &ok, warnings),
        id,
        coords,
        repetitions: group.len(),
        ok: ok.len(),
        failures,
        metrics,
        generator_limited,
    }
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

    fn record(id: &str, rep: u32, ok: bool, throughput: f64) -> PointRecord {
        let coords = Coords::from_schema1_id(id).unwrap();
        if !ok {
            return PointRecord::failed(&coords, rep, "server did not start", BTreeMap::new());
        }
        let metrics = [
            (metric::THROUGHPUT.to_string(), throughput),
            (metric::GENERATOR_LIMITED.to_string(), f64::from(rep)),
        ];
        PointRecord::ok(&coords, rep, metrics.into(), None)
    }

    #[test]
    fn repetitions_are_grouped_and_summarised_over_ok_ones() {
        let records = [
            record("loop/hash/p1/c8", 0, true, 100.0),
            record("loop/hash/p2/c8", 0, false, 0.0),
            record("loop/hash/p1/c8", 1, true, 120.0),
            record("loop/hash/p1/c8", 2, true, 90.0),
        ];
        let points = aggregate(&records, &mut Vec::new());
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
    fn figures_that_may_not_be_the_servers_are_marked_with_why() {
        let with = |id: &str, extra: &[(&str, f64)]| {
            let mut r = record(id, 0, true, 100.0);
            for (name, value) in extra {
                r.metrics.insert(name.to_string(), *value);
            }
            r
        };
        let records = [
            with("loop/net/c8", &[]),
            with("loop/hash/p4/c8", &[(metric::FOREIGN_CPU, 0.9)]),
            with(
                "loop/web/p4/c8/r500",
                &[
                    (metric::ACHIEVED_RATE, 400.0),
                    (metric::INTENDED_RATE, 500.0),
                ],
            ),
            with("loop/file/p4/c8", &[(metric::GENERATOR_LIMITED, 1.0)]),
        ];
        let points = aggregate(&records, &mut Vec::new());
        let marks: Vec<Vec<Mark>> = points.iter().map(PointSummary::marks).collect();
        assert_eq!(
            marks,
            [
                vec![],
                vec![Mark::BusyMachine],
                vec![Mark::UnderRate],
                vec![Mark::GeneratorLimited]
            ]
        );
        assert_eq!(points[1].marks_text(), " [machine busy]");
    }
}
