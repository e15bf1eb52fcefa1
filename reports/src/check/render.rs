//! A [`CheckReport`] as a terminal table, as Markdown (a CI step summary) and as JSON (tools).
//!
//! Both text forms say the same things in the same order: the verdict line, warnings, what
//! changed (improvements and regressions, then unjudged moves beyond a threshold), what was
//! compared, and the invariants. Unchanged comparisons are counted, not listed; the JSON has
//! every one of them.

use serde::Serialize;

use crate::instructions::{InstructionCheck, TABLE_HEADER};
use crate::Table;

use super::invariants::{Invariant, Status};
use super::verdict::{
    Comparison, MetricComparison, Verdict, FALSE_DISCOVERY_RATE, MIN_REPETITIONS,
};

/// Everything one `lab check` found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CheckReport {
    /// The results folders checked.
    pub folders: Vec<String>,
    /// The baseline file, when compared with one.
    pub baseline: Option<String>,
    /// Things a reader should know (another machine allowed, other sweeps, failed repetitions).
    pub warnings: Vec<String>,
    /// The comparison with the baseline, when there was one.
    pub comparison: Option<Comparison>,
    /// Every behaviour invariant, passed, failed or not applicable.
    pub invariants: Vec<Invariant>,
    /// The instruction-count check (`lab check --instructions FILE`), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<InstructionCheck>,
}

impl CheckReport {
    /// Regressions found by the comparison.
    pub fn regressions(&self) -> usize {
        self.comparison
            .as_ref()
            .map_or(0, |c| c.count(Verdict::Regressed))
    }

    /// Invariants that failed.
    pub fn failed_invariants(&self) -> usize {
        self.invariants
            .iter()
            .filter(|i| i.status == Status::Fail)
            .count()
    }

    /// Instruction benchmarks above their baseline (or missing from one side).
    pub fn instruction_failures(&self) -> usize {
        self.instructions
            .as_ref()
            .map_or(0, InstructionCheck::failures)
    }

    /// Whether the check passed (no regression, no failed invariant, no instruction count
    /// above its baseline).
    pub fn passed(&self) -> bool {
        self.regressions() == 0 && self.failed_invariants() == 0 && self.instruction_failures() == 0
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // Only maps with string keys and plain numbers: serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn headline(&self) -> String {
        let outcome = if self.passed() { "PASS" } else { "FAIL" };
        let mut parts = Vec::new();
        if let Some(c) = &self.comparison {
            parts.push(format!(
                "{} regressed, {} improved",
                c.count(Verdict::Regressed),
                c.count(Verdict::Improved)
            ));
        }
        let count = |s| self.invariants.iter().filter(|i| i.status == s).count();
        parts.push(format!(
            "invariants: {} passed, {} failed, {} not applicable",
            count(Status::Pass),
            count(Status::Fail),
            count(Status::NotApplicable)
        ));
        if let Some(i) = &self.instructions {
            parts.push(format!(
                "instructions: {} of {} benchmarks failed",
                i.failures(),
                i.rows.len()
            ));
        }
        format!("lab check: {outcome}; {}", parts.join("; "))
    }
}

/// Points named in a note before "and N more" (the JSON lists them all).
const LISTED_POINTS: usize = 8;

/// Lines about the comparison that are not table rows: what was compared, how, and whether
/// there were enough repetitions to judge at all.
fn comparison_notes(c: &Comparison) -> Vec<String> {
    let mut notes = vec![format!(
        "{} comparisons ({} tested): {} regressed, {} improved, {} no change; Welch t-test on logs, Benjamini-Hochberg at {:.0}% false discoveries, noise thresholds per metric",
        c.metrics.len(),
        c.tested,
        c.count(Verdict::Regressed),
        c.count(Verdict::Improved),
        c.count(Verdict::NoChange),
        FALSE_DISCOVERY_RATE * 100.0
    )];
    let few = c.count(Verdict::TooFewRepetitions);
    if few > 0 {
        notes.push(format!(
            "too few repetitions to judge: {} ({few} comparisons not judged; at least {MIN_REPETITIONS} per side are needed, e.g. `lab sweep --repetitions {MIN_REPETITIONS}` or scripts/ab.sh)",
            c.fewest_repetitions()
        ));
    }
    let slow = c.count(Verdict::SlowMachine);
    if slow > 0 {
        notes.push(format!(
            "{slow} comparisons got worse in windows whose speed sentinel ran slower while the CPU per operation at equal sentinel speed did not rise: not counted as regressions (listed as \"slower, on slower cores\")"
        ));
    }
    let incomparable = c.count(Verdict::NotComparable);
    if incomparable > 0 {
        notes.push(format!(
            "{incomparable} comparisons have a zero value: not comparable"
        ));
    }
    for (label, points) in [
        ("only in the baseline", &c.only_in_baseline),
        ("only in the new results", &c.only_in_new),
    ] {
        if !points.is_empty() {
            let shown = points
                .iter()
                .take(LISTED_POINTS)
                .cloned()
                .collect::<Vec<_>>();
            let more = points.len().saturating_sub(LISTED_POINTS);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            notes.push(format!(
                "{} points {label}: {}{more}",
                points.len(),
                shown.join(", ")
            ));
        }
    }
    notes
}

/// The comparisons worth listing: changes, then moves beyond a threshold that were not judged.
fn listed(c: &Comparison) -> Vec<&MetricComparison> {
    let judged = c.metrics.iter().filter(|m| {
        matches!(
            m.verdict,
            Verdict::Regressed | Verdict::Improved | Verdict::SlowMachine
        )
    });
    let unjudged = c
        .metrics
        .iter()
        .filter(|m| m.verdict == Verdict::TooFewRepetitions && m.beyond_threshold());
    judged.chain(unjudged).collect()
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Regressed => "REGRESSED",
        Verdict::NoChange => "no change",
        Verdict::TooFewRepetitions => "not judged (too few repetitions)",
        Verdict::NotComparable => "not comparable",
        Verdict::SlowMachine => "slower, on slower cores (not counted)",
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::NotApplicable => "n/a",
    }
}

fn number(v: f64) -> String {
    match v.abs() {
        x if x >= 1e6 => format!("{v:.3e}"),
        x if x >= 100.0 => format!("{v:.0}"),
        x if x >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.4}"),
    }
}

fn change_row(m: &MetricComparison) -> [String; 7] {
    [
        m.point_id.clone(),
        m.metric.clone(),
        number(m.baseline_median),
        number(m.new_median),
        format!(
            "{:+.1}% (±{:.0}%)",
            (m.ratio - 1.0) * 100.0,
            m.threshold_pct
        ),
        m.adjusted_p.map_or("-".into(), |q| format!("{q:.2e}")),
        verdict_word(m.verdict).to_string(),
    ]
}

const CHANGE_HEADER: [&str; 7] = [
    "point",
    "metric",
    "baseline",
    "new",
    "change (threshold)",
    "adj. p",
    "verdict",
];

fn invariant_row(i: &Invariant) -> [String; 4] {
    let attempts = if i.attempts > 1 {
        format!("{} attempts", i.attempts)
    } else {
        String::new()
    };
    [
        status_word(i.status).into(),
        i.rule.clone(),
        i.detail.clone(),
        attempts,
    ]
}

/// The report for a terminal.
pub fn terminal(report: &CheckReport) -> String {
    let mut out = format!("{}\n", report.headline());
    out.push_str(&format!("checked: {}\n", report.folders.join(", ")));
    if let Some(b) = &report.baseline {
        out.push_str(&format!("baseline: {b}\n"));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    if let Some(c) = &report.comparison {
        out.push('\n');
        let rows = listed(c);
        if rows.is_empty() {
            out.push_str("nothing changed beyond its threshold\n");
        } else {
            let mut table = Table::new(CHANGE_HEADER)
                .right_align(2)
                .right_align(3)
                .right_align(4);
            for m in rows {
                table.row(change_row(m));
            }
            out.push_str(&table.render());
        }
        for note in comparison_notes(c) {
            out.push_str(&format!("{note}\n"));
        }
    }
    out.push_str("\nbehaviour invariants:\n");
    let mut table = Table::new(["status", "rule", "observed", ""]);
    for i in &report.invariants {
        table.row(invariant_row(i));
    }
    out.push_str(&table.render());
    if let Some(check) = &report.instructions {
        out.push('\n');
        out.push_str(&check.terminal());
    }
    out
}

/// Escapes what would break a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown_table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), " --- |".repeat(N));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// The report as Markdown, for a CI step summary.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = format!("### {}\n\n", report.headline());
    out.push_str(&format!("Checked: `{}`", report.folders.join("`, `")));
    if let Some(b) = &report.baseline {
        out.push_str(&format!(" against baseline {b}"));
    }
    out.push_str("\n\n");
    for w in &report.warnings {
        out.push_str(&format!("> **Warning:** {}\n\n", cell(w)));
    }
    if let Some(c) = &report.comparison {
        let rows = listed(c);
        if rows.is_empty() {
            out.push_str("Nothing changed beyond its threshold.\n\n");
        } else {
            out.push_str(&markdown_table(
                CHANGE_HEADER,
                rows.into_iter().map(change_row),
            ));
            out.push('\n');
        }
        for note in comparison_notes(c) {
            out.push_str(&format!("- {}\n", cell(&note)));
        }
        out.push('\n');
    }
    out.push_str("#### Behaviour invariants\n\n");
    out.push_str(&markdown_table(
        ["status", "rule", "observed", "attempts"],
        report.invariants.iter().map(|i| {
            let mut row = invariant_row(i);
            row[0] = match i.status {
                Status::Fail => "**FAIL**".into(),
                s => status_word(s).into(),
            };
            row
        }),
    ));
    if let Some(check) = &report.instructions {
        out.push_str(&markdown_instructions(check));
    }
    out
}

/// The section "Instructions per operation": Callgrind's counts against the baseline.
fn markdown_instructions(check: &InstructionCheck) -> String {
    let mut out = format!(
        "\n#### Instructions per operation\n\n{}\n\n",
        check.headline()
    );
    let rows = check
        .rows
        .iter()
        .zip(check.table_rows())
        .map(|(r, mut row)| {
            if r.verdict.fails() {
                row[4] = format!("**{}**", row[4]);
            }
            row
        });
    out.push_str(&markdown_table(TABLE_HEADER, rows));
    out.push_str(&format!(
        "\nBefore: the baseline {}; after: this build, under Callgrind (estimates: a fixed simulated cache and branch predictor).\n",
        check.baseline
    ));
    if let Some(hint) = check.hint() {
        out.push_str(&format!("\n{}\n", cell(&hint)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::measured::Samples;
    use crate::check::verdict::{compare, Thresholds};

    fn report(new_throughput: [f64; 3]) -> CheckReport {
        let samples = |v: [f64; 3]| -> Samples {
            [(
                "loop/hash/p1/c8".to_string(),
                [("throughput_per_s".to_string(), v.to_vec())].into(),
            )]
            .into()
        };
        let comparison = compare(
            &samples([100.0, 101.0, 99.0]),
            &samples(new_throughput),
            &Thresholds::default(),
        );
        CheckReport {
            folders: vec!["new".into()],
            baseline: Some("base.json".into()),
            warnings: vec!["a | warning".into()],
            comparison: Some(comparison),
            invariants: vec![Invariant {
                rule: "staircase".into(),
                status: Status::Pass,
                detail: "waves [2, 2]".into(),
                attempts: 2,
            }],
            instructions: None,
        }
    }

    #[test]
    fn a_regression_is_listed_in_every_format() {
        let r = report([50.0, 51.0, 49.0]);
        assert!(!r.passed());
        let text = terminal(&r);
        assert!(
            text.starts_with("lab check: FAIL; 1 regressed, 0 improved"),
            "{text}"
        );
        assert!(text.contains("loop/hash/p1/c8  throughput_per_s"), "{text}");
        assert!(text.contains("-50.0% (±5%)"), "{text}");
        let md = markdown(&r);
        assert!(md.starts_with("### lab check: FAIL"), "{md}");
        assert!(
            md.contains("| loop/hash/p1/c8 | throughput_per_s | 100.0 | 50.00 |")
                || md.contains("| loop/hash/p1/c8 | throughput_per_s | 100 | 50.00 |"),
            "{md}"
        );
        assert!(md.contains("a \\| warning"), "{md}");
        assert!(
            md.contains("| pass | staircase | waves [2, 2] | 2 attempts |"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["comparison"]["metrics"][0]["verdict"], "regressed");
        assert_eq!(json["invariants"][0]["status"], "pass");
    }

    #[test]
    fn no_change_says_so_and_too_few_repetitions_are_named() {
        let r = report([100.5, 99.5, 100.0]);
        assert!(r.passed());
        assert!(terminal(&r).contains("nothing changed beyond its threshold"));
        let mut few = r.clone();
        let c = few.comparison.as_mut().unwrap();
        c.metrics[0].verdict = Verdict::TooFewRepetitions;
        c.metrics[0].baseline_n = 1;
        c.metrics[0].ratio = 0.5;
        let text = terminal(&few);
        assert!(text.contains("too few repetitions to judge: 1"), "{text}");
        assert!(text.contains("not judged (too few repetitions)"), "{text}");
    }

    #[test]
    fn instruction_counts_above_the_baseline_fail_and_get_their_section() {
        use crate::instructions::{InstructionBaseline, PerOp};
        let op = |instructions| PerOp {
            instructions,
            ..PerOp::default()
        };
        let baseline = InstructionBaseline::new([("timer".to_string(), op(1000.0))].into());
        let now = [("timer".to_string(), op(1100.0))].into();
        let mut r = report([100.5, 99.5, 100.0]);
        r.instructions = Some(InstructionCheck::compare("base.json", &baseline, &now));
        assert!(!r.passed());
        let md = markdown(&r);
        assert!(md.contains("#### Instructions per operation"), "{md}");
        assert!(
            md.contains("| timer | 1000 | 1100 | +10.00% | **ABOVE** |"),
            "{md}"
        );
        assert!(
            md.contains("instructions: 1 of 1 benchmarks failed"),
            "{md}"
        );
        assert!(terminal(&r).contains("ABOVE"));
    }
}
