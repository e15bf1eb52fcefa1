//! Per workload: the latency percentile spectrum of each strategy's best configuration (from
//! the merged HdrHistograms, x in "nines"), and p99 against the offered rate of open-loop
//! points (the latency-throughput curve, whose knee is where the server stops keeping up).

use std::collections::BTreeMap;

use super::super::analysis::best_per_strategy;
use super::super::charts::{look, Axis, Body, Figure, Look, MarkerShape, Series, XyPanel, XyPoint};
use looplab_workloads::deploy::Strategy;

use super::super::data::{metric, PointSummary, SweepData};
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

/// Latency percentile spectrum of one workload, or `None` without histograms.
pub fn spectrum(data: &SweepData, workload: &str) -> Option<Figure> {
    let labeler = Labeler::new(data.points.iter().map(|p| &p.coords));
    let mut series = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for (strategy, p) in best_per_strategy(data, workload) {
        let Some(h) = &p.histogram else { continue };
        if h.is_empty() {
            continue;
        }
        // Beyond 1 - 1/n the histogram only repeats its maximum.
        let last = (h.len() as f64).log10().min(4.0);
        let steps = (last / 0.05).ceil() as usize;
        let points: Vec<XyPoint> = (0..=steps)
            .map(|i| {
                let x = (i as f64 * 0.05).min(last);
                let q = 1.0 - 10f64.powf(-x);
                let ms = (h.value_at_quantile(q) as f64 / 1e3).max(1e-3);
                lo = lo.min(ms);
                hi = hi.max(ms);
                XyPoint {
                    x,
                    y: ms.log10(),
                    spread: None,
                }
            })
            .collect();
        series.push(Series {
            label: format!(
                "{} ({} samples)",
                labeler.config(&p.coords, &[]),
                si(h.len() as f64)
            ),
            look: Look {
                marker: MarkerShape::None,
                ..look(strategy, 0)
            },
            points,
        });
    }
    if series.is_empty() {
        return None;
    }
    let x = Axis {
        label: "percentile (log scale of 1 - q: \"nines\")".into(),
        min: 0.0,
        max: 4.15,
        ticks: NINES
            .iter()
            .map(|&(q, l)| (nines(q), l.to_string()))
            .collect(),
    };
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
            x,
            y: log_ms_axis("latency (ms, log scale)".into(), lo, hi),
            series,
            references: Vec::new(),
            markers: Vec::new(),
        }]),
    })
}

/// At most this many lines in the open-loop chart before keeping one per strategy.
const MAX_OPEN_LINES: usize = 8;

/// p99 against offered rate for one workload's open-loop points.
pub fn open_loop(data: &SweepData, workload: &str) -> Option<Figure> {
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
    if groups.is_empty() {
        return None;
    }
    let mut kept: Vec<(String, Vec<&PointSummary>)> = groups
        .into_iter()
        .map(|((_, label), mut pts)| {
            pts.sort_by_key(|p| p.coords.rate_per_s);
            (label, pts)
        })
        .collect();
    let thinned = kept.len() > MAX_OPEN_LINES;
    if thinned {
        kept = one_per_strategy(kept);
    }
    let rate = |p: &PointSummary| {
        p.median(metric::INTENDED_RATE)
            .unwrap_or_else(|| f64::from(p.coords.rate_per_s.unwrap_or(0)))
    };
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    let mut x_max = 0.0f64;
    let mut variants: BTreeMap<Strategy, usize> = BTreeMap::new();
    let series: Vec<Series> = kept
        .iter()
        .map(|(label, pts)| {
            let strategy = pts[0].coords.strategy;
            let variant = variants.entry(strategy).or_insert(0);
            let line_look = look(strategy, *variant);
            *variant += 1;
            let points = pts
                .iter()
                .filter_map(|p| {
                    let s = p.metric(metric::P99)?;
                    let (m, a, b) = (s.median / 1e3, s.min / 1e3, s.max / 1e3);
                    lo = lo.min(a.max(1e-3));
                    hi = hi.max(b);
                    x_max = x_max.max(rate(p));
                    Some(XyPoint {
                        x: rate(p),
                        y: m.max(1e-3).log10(),
                        spread: (s.count >= 2).then(|| (a.max(1e-3).log10(), b.max(1e-3).log10())),
                    })
                })
                .collect();
            Series {
                label: label.clone(),
                look: line_look,
                points,
            }
        })
        .collect();
    let top = if x_max > 0.0 { x_max * 1.08 } else { 1.0 };
    Some(Figure {
        name: file_name("open-loop", workload),
        title: format!("{workload}: p99 latency against offered rate (open loop)"),
        note: if thinned {
            "One line per strategy (its configuration with the highest throughput at its highest \
             rate); error bars span min..max."
                .into()
        } else {
            "Latency timed from each request's intended send time; error bars span min..max.".into()
        },
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
            y: log_ms_axis("p99 latency (ms, log scale)".into(), lo, hi),
            series,
            references: Vec::new(),
            markers: Vec::new(),
        }]),
    })
}

/// Per strategy, the configuration with the highest throughput at its highest rate.
fn one_per_strategy(lines: Vec<(String, Vec<&PointSummary>)>) -> Vec<(String, Vec<&PointSummary>)> {
    let mut best: BTreeMap<Strategy, (String, Vec<&PointSummary>)> = BTreeMap::new();
    for (label, pts) in lines {
        let score = |pts: &[&PointSummary]| pts.last().map_or(0.0, |p| p.throughput());
        let key = pts[0].coords.strategy;
        match best.get(&key) {
            Some((_, current)) if score(current) >= score(&pts) => {}
            _ => {
                best.insert(key, (label, pts));
            }
        }
    }
    best.into_values().collect()
}
