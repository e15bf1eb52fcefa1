//! Per workload: throughput and p99 latency against parallelism (one line per strategy, the
//! references as dashed horizontal lines), and the pool size sweep (one line per
//! configuration that has a pool, the machine's core count marked).

use std::collections::{BTreeMap, BTreeSet};

use super::super::analysis::{parallelism_series, ParallelismSeries};
use super::super::charts::{look, Body, Figure, Marker, RefLine, Series, XyPanel, XyPoint};
use looplab_workloads::deploy::Strategy;

use super::super::data::{metric, Marks, PointSummary, SweepData};
use super::super::format::Labeler;
use super::{file_name, log2_axis, ms_label, si_label, throughput_label, zero_based};

/// The parallelism axis' letter for a strategy's legend text.
fn axis_letter(strategy: Strategy) -> Option<char> {
    match strategy {
        Strategy::Loop => Some('p'),
        Strategy::Workers => Some('w'),
        Strategy::Cluster => Some('k'),
        _ => None,
    }
}

/// `cluster (best P at each K)` when a choice was made, else the strategy. The letters named
/// are the segments whose values differ among the points sharing a parallelism.
fn line_label(strategy: Strategy, groups: &BTreeMap<u32, Vec<&PointSummary>>) -> String {
    let axis = axis_letter(strategy);
    let mut varying = BTreeSet::new();
    for points in groups.values().filter(|v| v.len() > 1) {
        let mut values: BTreeMap<char, BTreeSet<Option<u32>>> = BTreeMap::new();
        for p in points {
            let segments = p.coords.segments();
            for letter in ['p', 'k', 'w', 'c', 'r'] {
                let value = segments.iter().find(|(l, _)| *l == letter).map(|s| s.1);
                values.entry(letter).or_default().insert(value);
            }
        }
        varying.extend(
            values
                .into_iter()
                .filter(|(letter, v)| v.len() > 1 && Some(*letter) != axis)
                .map(|(letter, _)| letter.to_ascii_uppercase()),
        );
    }
    if varying.is_empty() {
        return strategy.to_string();
    }
    let what: Vec<String> = varying.iter().map(char::to_string).collect();
    let what = what.join("/");
    match axis {
        Some(a) => format!(
            "{strategy} (best {what} at each {})",
            a.to_ascii_uppercase()
        ),
        None => format!("{strategy} (best {what})"),
    }
}

/// The first setting (besides the line's own axis) whose value differs among `group`, the
/// points sharing `drawn`'s parallelism, with `drawn`'s value: `('P', 4)`. None when the chart
/// had no choice to make.
fn tag_of(
    strategy: Strategy,
    drawn: &PointSummary,
    group: &[&PointSummary],
) -> Option<(char, u32)> {
    if group.len() < 2 {
        return None;
    }
    let axis = axis_letter(strategy);
    let value = |p: &PointSummary, letter: char| {
        p.coords
            .segments()
            .into_iter()
            .find(|(l, _)| *l == letter)
            .map(|s| s.1)
    };
    ['p', 'k', 'w', 'c', 'r']
        .into_iter()
        .filter(|l| Some(*l) != axis)
        .find(|l| group.iter().any(|p| value(p, *l) != value(drawn, *l)))
        .and_then(|l| Some((l.to_ascii_uppercase(), value(drawn, l)?)))
}

/// Horizontal offset of series `index` of `count`, in log2 units, so markers and error bars
/// at the same x do not hide each other.
fn dodge(index: usize, count: usize) -> f64 {
    (index as f64 - (count as f64 - 1.0) / 2.0) * 0.035
}

/// What a metric's panel needs: the metric, a scale to apply, the axis label and tick format.
struct Measure {
    name: &'static str,
    scale: f64,
    label: String,
    fmt: fn(f64) -> String,
}

impl Measure {
    fn throughput(data: &SweepData) -> Self {
        Self {
            name: metric::THROUGHPUT,
            scale: 1.0,
            label: throughput_label(data),
            fmt: si_label,
        }
    }

    fn p99() -> Self {
        Self {
            name: metric::P99,
            scale: 1e-3,
            label: "p99 latency (ms, median)".into(),
            fmt: ms_label,
        }
    }
}

fn point_of(p: &PointSummary, m: &Measure, x: f64) -> Option<XyPoint> {
    let s = p.metric(m.name)?;
    Some(XyPoint {
        x,
        y: s.median * m.scale,
        spread: (s.count >= 2).then_some((s.min * m.scale, s.max * m.scale)),
        marks: Marks::of(&p.marks()),
        tag: None,
    })
}

/// The lines and references of one metric against parallelism.
fn parallelism_panel(
    data: &SweepData,
    series: &ParallelismSeries<'_>,
    m: &Measure,
) -> Option<XyPanel> {
    let (lines, mut xs) = parallelism_lines(series, m);
    let references = reference_lines(series, m);
    if lines.is_empty() && references.is_empty() {
        return None;
    }
    if xs.is_empty() {
        xs.insert(1);
    }
    let values: Vec<u32> = xs.iter().copied().collect();
    let top = lines
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.spread.map_or(p.y, |s| s.1))
        .chain(references.iter().map(|r| r.spread.map_or(r.y, |s| s.1)))
        .fold(0.0, f64::max);
    Some(XyPanel {
        title: None,
        x: log2_axis(
            "parallelism (loop: pool size P; workers: threads W; cluster: processes K)".into(),
            &values,
        ),
        y: zero_based(m.label.clone(), top, m.fmt),
        series: lines,
        references,
        markers: cores_marker(data.meta.machine.cores, &values)
            .into_iter()
            .collect(),
    })
}

/// A line per strategy with points for `m` (dodged sideways), and the parallelisms drawn.
fn parallelism_lines(series: &ParallelismSeries<'_>, m: &Measure) -> (Vec<Series>, BTreeSet<u32>) {
    let mut xs: BTreeSet<u32> = BTreeSet::new();
    let mut lines = Vec::new();
    let count = series.lines.len();
    for (index, line) in series.lines.iter().enumerate() {
        let (strategy, points) = (&line.strategy, &line.drawn);
        let shift = dodge(index, count);
        let pts: Vec<XyPoint> = points
            .iter()
            .filter_map(|(&k, p)| {
                let point = point_of(p, m, f64::from(k).log2() + shift)?;
                let tag = tag_of(
                    *strategy,
                    p,
                    line.all.get(&k).map_or(&[][..], Vec::as_slice),
                );
                Some(XyPoint { tag, ..point })
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        xs.extend(points.keys().copied());
        lines.push(Series {
            label: line_label(*strategy, &line.all),
            look: look(*strategy, 0),
            points: pts,
        });
    }
    (lines, xs)
}

/// A dashed horizontal line per reference strategy (one configuration, no parallelism).
fn reference_lines(series: &ParallelismSeries<'_>, m: &Measure) -> Vec<RefLine> {
    series
        .references
        .iter()
        .filter_map(|(strategy, p)| {
            let s = p.metric(m.name)?;
            Some(RefLine {
                label: format!("{strategy} (reference, one configuration)"),
                look: look(*strategy, 0),
                y: s.median * m.scale,
                spread: (s.count >= 2).then_some((s.min * m.scale, s.max * m.scale)),
            })
        })
        .collect()
}

/// The machine's core count, marked when it lies within the parallelisms drawn (`values`,
/// ascending).
fn cores_marker(cores: u32, values: &[u32]) -> Option<Marker> {
    let within = values.first().is_some_and(|&lo| lo <= cores)
        && values.last().is_some_and(|&hi| hi >= cores);
    within.then(|| Marker {
        label: format!("machine cores ({cores})"),
        x: f64::from(cores.max(1)).log2(),
    })
}

const NOTE: &str = "Median over repetitions; error bars span min..max. Where several \
                    configurations share a parallelism, the highest-throughput one is drawn.";

/// Throughput against parallelism for one workload.
pub fn throughput(data: &SweepData, workload: &str) -> Option<Figure> {
    let series = parallelism_series(data, workload);
    let panel = parallelism_panel(data, &series, &Measure::throughput(data))?;
    Some(Figure {
        name: file_name("throughput", workload),
        title: format!("{workload}: throughput against parallelism"),
        note: NOTE.into(),
        caption: caption(&series),
        size: (1100, 560),
        body: Body::Xy(vec![panel]),
    })
}

/// p99 latency against parallelism for one workload (the same points as the throughput chart).
pub fn p99(data: &SweepData, workload: &str) -> Option<Figure> {
    let series = parallelism_series(data, workload);
    let panel = parallelism_panel(data, &series, &Measure::p99())?;
    Some(Figure {
        name: file_name("p99", workload),
        title: format!("{workload}: p99 latency against parallelism"),
        note: "The points of the throughput chart (chosen by throughput); error bars span \
               min..max over repetitions."
            .into(),
        caption: caption(&series),
        size: (1100, 560),
        body: Body::Xy(vec![panel]),
    })
}

/// Which configuration each drawn point is, for the HTML caption.
fn caption(series: &ParallelismSeries<'_>) -> String {
    let mut parts: Vec<String> = series
        .lines
        .iter()
        .map(|line| {
            let drawn: Vec<String> = line.drawn.values().map(|p| p.coords.config()).collect();
            format!("{}: {}", line.strategy, drawn.join(", "))
        })
        .collect();
    parts.extend(
        series
            .references
            .iter()
            .map(|(strategy, p)| format!("{strategy}: {}", p.coords.config())),
    );
    format!("Points drawn: {}.", parts.join("; "))
}

/// A workload's points with a pool, by configuration without the pool size (strategy rank
/// first, so lines come in report order).
type PoolGroups<'a> = BTreeMap<(Strategy, String), Vec<&'a PointSummary>>;

/// Throughput and p99 against the pool size for one workload: one line per configuration
/// with a pool (closed loop), when at least two pool sizes were swept.
pub fn pool_size(data: &SweepData, workload: &str) -> Option<Figure> {
    let points: Vec<&PointSummary> = data
        .of_workload(workload)
        .filter(|p| p.ok > 0 && p.coords.pool.is_some() && !p.coords.is_open_loop())
        .collect();
    let sizes: BTreeSet<u32> = points.iter().filter_map(|p| p.coords.pool).collect();
    if sizes.len() < 2 {
        return None;
    }
    let labeler = Labeler::new(data.points.iter().map(|p| &p.coords));
    let mut groups: PoolGroups<'_> = BTreeMap::new();
    for p in points {
        let key = labeler.config(&p.coords, &['p']);
        groups.entry((p.coords.strategy, key)).or_default().push(p);
    }
    let sizes: Vec<u32> = sizes.into_iter().collect();
    let cores = data.meta.machine.cores;
    let panels = vec![
        pool_panel(
            &groups,
            &Measure::throughput(data),
            "throughput",
            &sizes,
            cores,
        ),
        pool_panel(&groups, &Measure::p99(), "p99 latency", &sizes, cores),
    ];
    Some(Figure {
        name: file_name("pool-size", workload),
        title: format!("{workload}: throughput and p99 latency against pool size"),
        note: "Median over repetitions; error bars span min..max. One line per configuration \
               with a pool."
            .into(),
        caption: "Every closed-loop point of the workload that has a pool, one line per \
                  configuration (strategy, processes, workers, connections); the dashed \
                  vertical line is the machine's core count."
            .into(),
        size: (1500, 580),
        body: Body::Xy(panels),
    })
}

/// One metric against the pool size, a line per configuration, the core count marked.
fn pool_panel(
    groups: &PoolGroups<'_>,
    m: &Measure,
    title: &str,
    sizes: &[u32],
    cores: u32,
) -> XyPanel {
    let mut variants: BTreeMap<Strategy, usize> = BTreeMap::new();
    let count = groups.len();
    let series: Vec<Series> = groups
        .iter()
        .enumerate()
        .map(|(index, ((_, key), points))| {
            let shift = dodge(index, count);
            let strategy = &points[0].coords.strategy;
            let variant = variants.entry(*strategy).or_insert(0);
            let line_look = look(*strategy, *variant);
            *variant += 1;
            let mut sorted = points.clone();
            sorted.sort_by_key(|p| p.coords.pool);
            Series {
                label: key.clone(),
                look: line_look,
                points: sorted
                    .iter()
                    .filter_map(|p| {
                        let x = f64::from(p.coords.pool.unwrap_or(1)).log2() + shift;
                        point_of(p, m, x)
                    })
                    .collect(),
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let top = series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.spread.map_or(p.y, |s| s.1))
        .fold(0.0, f64::max);
    let mut x = log2_axis("pool size P (threads)".into(), sizes);
    // Keep the core count on the axis even when it lies outside the swept sizes.
    let core_x = f64::from(cores.max(1)).log2();
    x.min = x.min.min(core_x - 0.2);
    x.max = x.max.max(core_x + 0.2);
    XyPanel {
        title: Some(title.to_string()),
        x,
        y: zero_based(m.label.clone(), top, m.fmt),
        series,
        references: Vec::new(),
        markers: vec![Marker {
            label: format!("machine cores ({cores})"),
            x: core_x,
        }],
    }
}
