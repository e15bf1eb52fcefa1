//! `lab sweep --plan`: the plan as text, read by a person deciding whether to run it.
//!
//! In this order: a header naming the mode, one line per point in run order, what the planner
//! pruned and why, notes on axes that do not apply, then the count and the estimated duration
//! with the sum that gives it (so the estimate can be checked by hand).

use looplab_reports::report::format::count;

use super::plan::{Plan, POINT_OVERHEAD_MS};
use super::spec::{format_duration_ms, Load, Mode, Runtime};

/// The plan as one JSON value: every point (id, coordinates, repetitions), the pruned pairs
/// with their reasons, and the estimate in milliseconds.
pub fn json(plan: &Plan) -> serde_json::Value {
    let pruned = |list: &[super::spec::Pruned]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|p| serde_json::json!({"pair": p.pair, "reason": p.reason}))
            .collect()
    };
    let points: Vec<serde_json::Value> = plan
        .points
        .iter()
        .map(|p| serde_json::json!({"id": p.id, "coords": p.coords, "repetitions": p.repetitions}))
        .collect();
    serde_json::json!({
        "points": points,
        "total_points": plan.total_points,
        "dropped": pruned(&plan.dropped),
        "pool_not_swept": pruned(&plan.pool_not_swept),
        "estimated_ms": plan.estimated_ms(),
    })
}

/// The plan as text: one line per point, what was pruned, then the count and the estimate.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if let Some(p) = plan.points.first() {
        out.push_str(&format!(
            "sweep plan ({} mode), in run order:\n",
            p.coords.mode.name()
        ));
    }
    let width = plan.points.len().to_string().len();
    for (i, p) in plan.points.iter().enumerate() {
        let load = load_text(p.load);
        out.push_str(&format!("{:>width$}  {:<32} {load}\n", i + 1, p.id));
    }
    out.push_str(&notes(plan));
    out.push_str(&total(plan));
    out
}

/// "3m 50s", "45s", "1h 2m".
pub fn human(ms: u64) -> String {
    let s = ms.div_ceil(1_000);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// A point's load, as its line ends.
fn load_text(load: Load) -> String {
    match load {
        Load::Batch { jobs } => format!("{jobs} jobs"),
        Load::Closed { connections } => format!("{connections} connections, closed loop"),
        Load::Open {
            connections,
            rate_per_s,
        } => {
            format!("{connections} connections, open loop at {rate_per_s}/s")
        }
    }
}

/// What the planner dropped or did not sweep, axes that do not apply, and the shard.
fn notes(plan: &Plan) -> String {
    let mut out = String::new();
    for d in &plan.dropped {
        out.push_str(&format!("dropped {}: {}\n", d.pair, d.reason));
    }
    for d in &plan.pool_not_swept {
        out.push_str(&format!(
            "pool size not swept for {}: {}\n",
            d.pair, d.reason
        ));
    }
    if plan
        .points
        .first()
        .is_some_and(|p| p.coords.mode == Mode::Batch)
    {
        out.push_str(
            "connections and rates do not apply in batch mode: each point submits its jobs\n",
        );
    }
    if plan.points.len() != plan.total_points {
        out.push_str(&format!(
            "this shard: {} of the plan's {} points\n",
            plan.points.len(),
            plan.total_points
        ));
    }
    out
}

/// The last line: the count and the estimate, with the product that gives it.
fn total(plan: &Plan) -> String {
    let (reps, timing) = plan
        .points
        .first()
        .map(|p| (p.repetitions, p.timing))
        .unwrap_or_default();
    format!(
        "{}, estimated duration {} ({} x {} x ({} + {} measured + {} per-point overhead))\n",
        count(plan.points.len() as u64, "point", "points"),
        human(plan.estimated_ms()),
        count(plan.points.len() as u64, "point", "points"),
        count(reps, "repetition", "repetitions"),
        warmups(plan),
        format_duration_ms(timing.duration_ms),
        format_duration_ms(POINT_OVERHEAD_MS),
    )
}

/// "500ms warm-up", or with the Node twins' own: "500ms warm-up (2s for the 32 Node twins)".
fn warmups(plan: &Plan) -> String {
    let warmup_of = |node: bool| {
        let mut of = plan
            .points
            .iter()
            .filter(|p| (p.coords.runtime == Runtime::Node) == node);
        of.next().map(|p| (p.timing.warmup_ms, 1 + of.count()))
    };
    match (warmup_of(false), warmup_of(true)) {
        (Some((ms, _)), Some((node_ms, n))) if node_ms != ms => format!(
            "{} warm-up ({} for the {})",
            format_duration_ms(ms),
            format_duration_ms(node_ms),
            count(n as u64, "Node twin", "Node twins")
        ),
        (Some((ms, _)), _) | (None, Some((ms, _))) => format!("{} warm-up", format_duration_ms(ms)),
        (None, None) => format!("{} warm-up", format_duration_ms(0)),
    }
}
