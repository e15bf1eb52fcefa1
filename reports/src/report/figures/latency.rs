//! Per workload: the latency percentile spectrum of each strategy's best configuration (from
//! the merged HdrHistograms, x in "nines"), and p99 against the offered rate of open-loop
//! points (the latency-throughput curve, whose knee is where the server stops keeping up).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::super::analysis::best_per_strategy;
use super::super::charts::{look, Axis, Body, Figure, Look, MarkerShape, Series, XyPanel, XyPoint};
use looplab_workloads::deploy::Strategy;

use super::super::data::{metric, Marks, PointSummary, SweepData};
use super::super::format::{si, Labeler};
use super::{file_name, log_ms_axis};

/// Quantiles where the spectrum's x ticks go, with their labels.
const NINES: [(f64, &str); 5] = [
    (0.5, "50%"),
    (0.9, "90%"),
    (0.99, "99%"),
    (0.999, "99.9%"),
    (0.9999, "99.99%"),
];

fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// The lowest and highest latency a chart shows, in ms, for its log axis.
struct MsRange {
    lo: f64,
    hi: f64,
}

impl MsRange {
    fn new() -> Self {
        Self {
            lo: f64::INFINITY,
            hi: 0.0,
        }
    }

    fn axis(&self, label: &str) -> Axis {
        log_ms_axis(label.into(), self.lo, self.hi)
    }
}

/// Latency percentile spectrum of one workload, or `None` without histograms.
pub fn spectrum(data: &SweepData, workload: &str) -> Option<Figure> {
    let labeler = Labeler::new(data.points.iter().map(|p| &p.coords));
    let mut range = MsRange::new();
    let series: Vec<Series> = best_per_strategy(data, workload)
        .into_iter()
        .filter_map(|(strategy, p)| {
            let h = p.histogram.as_ref().filter(|h| !h.is_empty())?;
            Some(Series {
                label: format!(
                    "{} ({} samples)",
                    labeler.config(&p.coords, &[]),
                    si(h.len() as f64)
                ),
                look: Look {
                    marker: MarkerShape::None,
                    ..look(strategy, 0)
                },
                points: spectrum_points(h, &mut range),
            })
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(Figure {
        name: file_name("spectrum", workload),
        title: format!("{workload}: latency percentile spectrum"),
        note: "Each strategy's highest-throughput configuration; its repetitions' histograms \
               merged. Lines stop where the samples run out."
            .into(),
        caption: "HdrHistogram-style spectrum: latency (log scale) at each percentile, the x \
                  axis in nines, so the tail gets as much room as the median. One line per \
                  strategy, its best configuration by median throughput."
            .into(),
        size: (1100, 560),
        body: Body::Xy(vec![XyPanel {
            title: None,
            x: nines_axis(),
            y: range.axis("latency (ms, log scale)"),
            series,
            references: Vec::new(),
            markers: Vec::new(),
        }]),
    })
}

/// The histogram every 0.05 nines, latency in log10 ms, widening `range` to cover it.
fn spectrum_points(h: &Histogram<u64>, range: &mut MsRange) -> Vec<XyPoint> {
    // Beyond 1 - 1/n the histogram only repeats its maximum.
    let last = (h.len() as f64).log10().min(4.0);
    let steps = (last / 0.05).ceil() as usize;
    (0..=steps)
        .map(|i| {
            let x = (i as f64 * 0.05).min(last);
            let q = 1.0 - 10f64.powf(-x);
            let ms = (h.value_at_quantile(q) as f64 / 1e3).max(1e-3);
            range.lo = range.lo.min(ms);
            range.hi = range.hi.max(ms);
            XyPoint {
                x,
                y: ms.log10(),
                spread: None,
                marks: Marks::default(),
                tag: None,
            }
        })
        .collect()
}

/// Percentiles in "nines", ticked at [`NINES`].
fn nines_axis() -> Axis {
    Axis {
        label: "percentile (log scale of 1 - q: \"nines\")".into(),
        min: 0.0,
        max: 4.15,
        ticks: NINES
            .iter()
            .map(|&(q, l)| (nines(q), l.to_string()))
            .collect(),
    }
}

/// At most this many lines in the open-loop chart before keeping one per strategy.
const MAX_OPEN_LINES: usize = 8;

/// One configuration's open-loop points, by rate.
struct Line<'a> {
    label: String,
    points: Vec<&'a PointSummary>,
}

/// What the open-loop series span: latency for the y axis, offered rate for the x axis.
struct OpenLoopExtent {
    ms: MsRange,
    rate_max: f64,
}

/// p99 against offered rate for one workload's open-loop points.
pub fn open_loop(data: &SweepData, workload: &str) -> Option<Figure> {
    let mut lines = open_loop_lines(data, workload);
    if lines.is_empty() {
        return None;
    }
    let thinned = lines.len() > MAX_OPEN_LINES;
    if thinned {
        lines = one_per_strategy(lines);
    }
    let mut extent = OpenLoopExtent {
        ms: MsRange::new(),
        rate_max: 0.0,
    };
    let series = open_loop_series(&lines, &mut extent);
    let top = if extent.rate_max > 0.0 {
        extent.rate_max * 1.08
    } else {
        1.0
    };
    Some(Figure {
        name: file_name("open-loop", workload),
        title: format!("{workload}: p99 latency against offered rate (open loop)"),
        note: open_loop_note(thinned).into(),
        caption: "Open-loop points: the generator offers a fixed rate and times each request \
                  from when it should have been sent, so queueing shows up; where the line \
                  turns up steeply (the knee) the configuration stops keeping up."
            .into(),
        size: (1100, 560),
        body: Body::Xy(vec![XyPanel {
            title: None,
            x: Axis {
                label: format!("offered rate ({}/s)", data.op_name()),
                min: 0.0,
                max: top,
                ticks: super::super::charts::nice_ticks(0.0, top, 6, si),
            },
            y: extent.ms.axis("p99 latency (ms, log scale)"),
            series,
            references: Vec::new(),
            markers: Vec::new(),
        }]),
    })
}

fn open_loop_note(thinned: bool) -> &'static str {
    if thinned {
        "One line per strategy (its configuration with the highest throughput at its highest \
         rate); error bars span min..max."
    } else {
        "Latency timed from each request's intended send time; error bars span min..max."
    }
}

/// The workload's open-loop points with a p99, one line per strategy and configuration
/// (all but the rate), in strategy then label order, each by rate.
fn open_loop_lines<'a>(data: &'a SweepData, workload: &'a str) -> Vec<Line<'a>> {
    let labeler = Labeler::new(data.points.iter().map(|p| &p.coords));
    let mut groups: BTreeMap<(Strategy, String), Vec<&PointSummary>> = BTreeMap::new();
    for p in data.of_workload(workload) {
        if p.ok > 0 && p.coords.is_open_loop() && p.metric(metric::P99).is_some() {
            groups
                .entry((p.coords.strategy, labeler.config(&p.coords, &['r'])))
                .or_default()
                .push(p);
        }
    }
    groups
        .into_iter()
        .map(|((_, label), mut points)| {
            points.sort_by_key(|p| p.coords.rate_per_s);
            Line { label, points }
        })
        .collect()
}

/// A series per line, variants of one strategy told apart by marker and dash.
fn open_loop_series(lines: &[Line<'_>], extent: &mut OpenLoopExtent) -> Vec<Series> {
    let mut variants: BTreeMap<Strategy, usize> = BTreeMap::new();
    lines
        .iter()
        .map(|line| {
            let strategy = line.points[0].coords.strategy;
            let variant = variants.entry(strategy).or_insert(0);
            let line_look = look(strategy, *variant);
            *variant += 1;
            Series {
                label: line.label.clone(),
                look: line_look,
                points: line
                    .points
                    .iter()
                    .filter_map(|p| p99_point(p, extent))
                    .collect(),
            }
        })
        .collect()
}

/// The offered rate (as measured, else as configured).
fn offered_rate(p: &PointSummary) -> f64 {
    p.median(metric::INTENDED_RATE)
        .unwrap_or_else(|| f64::from(p.coords.rate_per_s.unwrap_or(0)))
}

/// A point's median p99 at its offered rate, log10 ms, min..max as the spread when it has
/// two repetitions or more; widens `extent` to cover it.
fn p99_point(p: &PointSummary, extent: &mut OpenLoopExtent) -> Option<XyPoint> {
    let s = p.metric(metric::P99)?;
    let (m, a, b) = (s.median / 1e3, s.min / 1e3, s.max / 1e3);
    extent.ms.lo = extent.ms.lo.min(a.max(1e-3));
    extent.ms.hi = extent.ms.hi.max(b);
    extent.rate_max = extent.rate_max.max(offered_rate(p));
    Some(XyPoint {
        x: offered_rate(p),
        y: m.max(1e-3).log10(),
        spread: (s.count >= 2).then(|| (a.max(1e-3).log10(), b.max(1e-3).log10())),
        marks: Marks::of(&p.marks()),
        tag: None,
    })
}

/// Per strategy, the configuration with the highest throughput at its highest rate.
fn one_per_strategy(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    let mut best: BTreeMap<Strategy, Line<'_>> = BTreeMap::new();
    for line in lines {
        let score = |pts: &[&PointSummary]| pts.last().map_or(0.0, |p| p.throughput());
        let key = line.points[0].coords.strategy;
        match best.get(&key) {
            Some(current) if score(&current.points) >= score(&line.points) => {}
            _ => {
                best.insert(key, line);
            }
        }
    }
    best.into_values().collect()
}
