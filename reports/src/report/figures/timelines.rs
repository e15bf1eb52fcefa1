//! The classic experiments' pool timelines: one Gantt chart per drawn run found in
//! `experiments.json`, a row per pool thread, a bar per task with its wait in the queue.
//!
//! Runs of one experiment share a time axis (the latest end among them), so the staircase's
//! waves at pools 1, 2 and 4 compare by eye.

use crate::store::ExperimentRun;

use super::super::charts::{
    nice_ticks, palette, Axis, Body, Figure, Gantt, GanttBar, GanttPanel, RGBColor,
};
use super::super::data::SweepData;
use super::super::format::slug;

const HASH: RGBColor = palette::BLUE;
const FILE: RGBColor = palette::ORANGE;
const OTHER: RGBColor = RGBColor(0x66, 0x66, 0x66);

/// The recorded runs drawn as Gantt charts: the staircase at pools 1, 2 and 4 (the waves)
/// and multitask at Node's default pool of 4.
const DRAWN: [(&str, u32); 4] = [
    ("staircase", 1),
    ("staircase", 2),
    ("staircase", 4),
    ("multitask", 4),
];

/// One Gantt chart per drawn configuration (its last recorded attempt), on a shared time axis
/// per experiment.
pub fn gantts(data: &SweepData) -> Vec<Figure> {
    let Some(file) = data.experiments.get() else {
        return Vec::new();
    };
    let runs: Vec<&ExperimentRun> = DRAWN
        .iter()
        .filter_map(|&(experiment, pool)| file.attempts(experiment, pool).pop())
        .collect();
    runs.iter()
        .map(|run| gantt(run, shared_end_ms(&runs, &run.experiment)))
        .collect()
}

/// A little after the latest end among the runs of `experiment`.
fn shared_end_ms(runs: &[&ExperimentRun], experiment: &str) -> f64 {
    runs.iter()
        .filter(|r| r.experiment == experiment)
        .flat_map(|r| &r.spans)
        .map(|s| s.ended_ms)
        .fold(1.0f64, f64::max)
        * 1.04
}

/// One run's chart, its time axis ending at `end_ms`.
fn gantt(run: &ExperimentRun, end_ms: f64) -> Figure {
    let rows = run.spans.iter().map(|s| s.thread + 1).max().unwrap_or(1);
    let rows = (run.pool as usize).max(rows);
    let shape = if run.matches_node {
        "has Node's shape"
    } else {
        "does NOT have Node's shape"
    };
    Figure {
        name: format!("gantt-{}-p{}", slug(&run.experiment), run.pool),
        title: format!(
            "{}, pool size {}: {} pool tasks",
            run.experiment,
            run.pool,
            run.spans.len()
        ),
        note: format!(
            "Bars: when a pool thread ran each task; grey lines: the wait in the \
             queue before it. This run {shape} (see the checks in the report)."
        ),
        caption: checks_caption(run),
        size: (1100, 44 + 70 + 56 * rows as u32 + 40 + 28),
        body: Body::Gantt(pool_gantt(run, rows, end_ms)),
    }
}

/// A row per pool thread, a bar per task with its queue wait, kinds as the bars need them.
fn pool_gantt(run: &ExperimentRun, rows: usize, end_ms: f64) -> Gantt {
    let bars: Vec<GanttBar> = run
        .spans
        .iter()
        .map(|s| GanttBar {
            label: s.label.clone(),
            row: s.thread,
            queued: Some(s.queued_ms),
            start: s.started_ms,
            end: s.ended_ms,
            kind: kind_of(&s.label),
        })
        .collect();
    let mut kinds = vec![("hash (PBKDF2)".to_string(), HASH)];
    if bars.iter().any(|b| b.kind >= 1) {
        kinds.push(("file read trip".to_string(), FILE));
    }
    if bars.iter().any(|b| b.kind == 2) {
        kinds.push(("other".to_string(), OTHER));
    }
    Gantt {
        rows: (0..rows).map(|t| format!("thread {t}")).collect(),
        row_label: "pool thread".into(),
        x: Axis {
            label: "time since the experiment started (ms)".into(),
            min: 0.0,
            max: end_ms,
            ticks: nice_ticks(0.0, end_ms, 8, |v| format!("{v:.0}")),
        },
        kinds,
        end_dots: false,
        panels: vec![GanttPanel {
            title: String::new(),
            bars,
        }],
    }
}

/// Index into the kinds: 0 a hash, 1 a file trip, 2 anything else.
fn kind_of(label: &str) -> usize {
    let l = label.to_ascii_lowercase();
    if l.starts_with("hash") {
        0
    } else if l.starts_with("fs") || l.starts_with("file") {
        1
    } else {
        2
    }
}

/// The run's shape checks, `✓ rule: observed` joined by ` · `.
fn checks_caption(run: &ExperimentRun) -> String {
    run.checks
        .iter()
        .map(|c| {
            let mark = if c.holds { "✓" } else { "✗" };
            format!("{mark} {}: {}", c.rule, c.observed)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
