//! How results look on the terminal and as JSON. Text goes to stdout; only errors go to stderr.

use looplab_reports::Table;
use looplab_workloads::bench::BenchResult;
use looplab_workloads::experiments::ExperimentReport;
use serde_json::{json, Map, Value};

fn params_line(report: &ExperimentReport) -> String {
    let params: Vec<String> = report
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{} {}", report.experiment, params.join(" "))
        .trim_end()
        .to_string()
}

/// Completions as a table, then each shape check.
pub fn experiment_text(report: &ExperimentReport) -> String {
    let mut table = Table::new(["#", "label", "ms", "thread", "note"])
        .right_align(0)
        .right_align(2);
    for (i, c) in report.completions.iter().enumerate() {
        table.row([
            (i + 1).to_string(),
            c.label.clone(),
            format!("{:.1}", c.ms),
            c.thread.clone(),
            c.note.clone(),
        ]);
    }
    let mut out = format!("== {}\n{}", params_line(report), table.render());
    for check in &report.checks {
        let mark = if check.holds { "ok  " } else { "FAIL" };
        out.push_str(&format!("[{mark}] {}: {}\n", check.rule, check.observed));
    }
    out
}

/// The report as one JSON object (parameters as an object, plus `matches_node`).
pub fn experiment_json(report: &ExperimentReport) -> Value {
    let params: Map<String, Value> = report
        .params
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                v.parse::<u64>().map_or(json!(v), |n| json!(n)),
            )
        })
        .collect();
    json!({
        "experiment": report.experiment,
        "params": params,
        "completions": report.completions,
        "checks": report.checks,
        "matches_node": report.matches_node(),
    })
}

/// One line per experiment run: does it have Node's shape?
pub fn summary(reports: &[ExperimentReport]) -> String {
    let mut table = Table::new(["experiment", "matches Node", "checks"]);
    for r in reports {
        let held = r.checks.iter().filter(|c| c.holds).count();
        table.row([
            params_line(r),
            if r.matches_node() { "yes" } else { "NO" }.to_string(),
            format!("{held}/{}", r.checks.len()),
        ]);
    }
    format!("== summary\n{}", table.render())
}

/// A bench result for people.
pub fn bench_text(result: &BenchResult) -> String {
    let mut out = format!("{} {}\n", result.bench, result.params);
    if let Some(ops) = result.ops_per_s {
        out.push_str(&format!("  {ops:.0} ops/s\n"));
    }
    if let Some(ms) = result.ms {
        out.push_str(&format!("  {ms:.1} ms (median, synchronous)\n"));
    }
    if let Some(ms) = result.async_ms {
        out.push_str(&format!("  {ms:.1} ms (median, through the pool)\n"));
    }
    out
}

/// `lab list`.
pub fn list(groups: &[(&str, &[(&str, &str)])]) -> String {
    let mut table = Table::new(["kind", "name", "what it does"]);
    for (kind, entries) in groups {
        for (name, what) in *entries {
            table.row([*kind, name, what]);
        }
    }
    table.render()
}

/// The allowed name closest to a mistyped one, when it is close (as clap suggests flags).
pub fn closest<'a>(value: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|name| (strsim::jaro_winkler(value, name), *name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// A run that worked but failed what it checks (a regression, a failed load, orders that differ
/// from Node's, instruction counts above their baseline): `main` prints the message and exits 1,
/// as k6's thresholds do.
#[derive(Debug)]
pub struct ThresholdFailed(pub String);

impl std::fmt::Display for ThresholdFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ThresholdFailed {}
