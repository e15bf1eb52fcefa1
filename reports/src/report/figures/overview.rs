//! Across workloads: efficiency (operations per CPU-second and per MiB of peak RSS) and the
//! strategy-by-workload heat map, both from each strategy's best configuration per workload.

use looplab_workloads::deploy::Strategy;

use super::super::analysis::{best_per_strategy, strategies};
use super::super::charts::{strategy_color, Bar, BarPanel, Body, Figure, HeatCell, HeatMap};
use super::super::data::{metric, PointSummary, SweepData};
use super::super::format::{si, Labeler};
use super::{si_label, zero_based};

const MIB: f64 = 1024.0 * 1024.0;

/// A measure of efficiency: its axis label and how to read it off a point.
struct Measure {
    label: String,
    of: fn(&PointSummary) -> Option<f64>,
}

/// The two measures, top row first: operations per CPU-second, and throughput per MiB of
/// peak RSS.
fn measures(op: &str) -> [Measure; 2] {
    [
        Measure {
            label: format!("{op} per CPU-second"),
            of: |p| {
                let ms = p.median(metric::CPU_MS_PER_OP)?;
                (ms > 0.0).then(|| 1e3 / ms)
            },
        },
        Measure {
            label: format!("{op}/s per MiB of peak RSS"),
            of: |p| {
                let rss = p.median(metric::PEAK_RSS)?;
                (rss > 0.0).then(|| p.throughput() / (rss / MIB))
            },
        },
    ]
}

/// Efficiency bars: one panel per workload and measure, each strategy's best configuration.
pub fn efficiency(data: &SweepData) -> Option<Figure> {
    let names = strategies(data);
    let op = data.op_name();
    let best: Vec<Vec<(Strategy, &PointSummary)>> = data
        .workloads
        .iter()
        .map(|w| best_per_strategy(data, w))
        .collect();
    let mut panels = Vec::new();
    for measure in &measures(op) {
        let row: Vec<BarPanel> = data
            .workloads
            .iter()
            .zip(&best)
            .filter_map(|(workload, per)| efficiency_panel(workload, measure, &names, per))
            .collect();
        // A measure is shown for every workload or not at all, so columns stay workloads.
        if row.len() == data.workloads.len() {
            panels.extend(row);
        }
    }
    if panels.is_empty() {
        return None;
    }
    let columns = data.workloads.len().max(1);
    let rows = panels.len().div_ceil(columns) as u32;
    Some(Figure {
        name: "efficiency".into(),
        title: "Efficiency of each strategy's best configuration, per workload".into(),
        note: format!(
            "Higher is better; each panel has its own scale. Top: {op} per CPU-second of the \
             server's processes (not the generator's). Bottom: {op}/s per MiB of peak RSS."
        ),
        caption: "Operations per CPU-second (1000 / cpu_ms_per_op) and throughput per MiB of \
                  peak resident memory (cluster: all its processes), for each strategy's \
                  highest-throughput configuration in each workload."
            .into(),
        size: (300 * columns as u32 + 260, 44 + 380 * rows + 28),
        body: Body::Bars { panels, columns },
    })
}

/// One workload's bars for one measure, a bar per strategy (empty where it has no value),
/// or `None` when no strategy has a positive value.
fn efficiency_panel(
    workload: &str,
    measure: &Measure,
    names: &[Strategy],
    best: &[(Strategy, &PointSummary)],
) -> Option<BarPanel> {
    let bars: Vec<Bar> = names
        .iter()
        .map(|s| {
            let value = best
                .iter()
                .find(|(n, _)| n == s)
                .and_then(|(_, p)| (measure.of)(p));
            Bar {
                label: s.name().to_string(),
                color: strategy_color(*s),
                value,
                value_label: value.map_or(String::new(), si),
            }
        })
        .collect();
    let top = bars.iter().filter_map(|b| b.value).fold(0.0f64, f64::max);
    (top > 0.0).then(|| BarPanel {
        title: workload.to_string(),
        y: zero_based(measure.label.clone(), top, si_label),
        bars,
    })
}

/// Strategy-by-workload heat map of the best configuration's throughput, normalised per
/// workload.
pub fn heat_map(data: &SweepData) -> Option<Figure> {
    let rows = strategies(data);
    if rows.is_empty() || data.workloads.is_empty() {
        return None;
    }
    let labeler = Labeler::new(data.points.iter().map(|p| &p.coords));
    let mut cells = vec![vec![None; data.workloads.len()]; rows.len()];
    for (c, workload) in data.workloads.iter().enumerate() {
        let best = best_per_strategy(data, workload);
        let top = best.iter().map(|(_, p)| p.throughput()).fold(0.0, f64::max);
        for (strategy, p) in best {
            let Some(r) = rows.iter().position(|s| *s == strategy) else {
                continue;
            };
            let share = if top > 0.0 { p.throughput() / top } else { 0.0 };
            let config = labeler.segments(&p.coords, &[]);
            let config = config.trim_start_matches('/');
            cells[r][c] = Some(HeatCell {
                shade: share,
                value: format!("{share:.2}"),
                detail: if config.is_empty() {
                    format!("{}/s", si(p.throughput()))
                } else {
                    format!("{}/s  {config}", si(p.throughput()))
                },
            });
        }
    }
    let height = 44 + 40 + 66 * rows.len() as u32 + 40;
    Some(Figure {
        name: "heat-map".into(),
        title: "Best throughput by strategy and workload (1.00 = the workload's best)".into(),
        note: "Each cell: the strategy's best configuration, its median throughput relative to \
               the workload's best, the throughput and the configuration."
            .into(),
        caption: "Rows are strategies, columns workloads; a cell's shade and first number are \
                  the best configuration's median throughput divided by the best in that \
                  workload. Grey cells were not run (the planner drops pairs that make no sense)."
            .into(),
        size: (1100, height.max(260)),
        body: Body::Heat(HeatMap {
            rows: rows.iter().map(|s| s.name().to_string()).collect(),
            columns: data.workloads.clone(),
            cells,
            row_label: "strategy \\ workload".into(),
        }),
    })
}
