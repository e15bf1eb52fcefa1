//! The report's tables as plain strings, shared by the HTML page (which escapes them) and the
//! two text files: `summary.md` (the answer, for CI step summaries) and `points.csv` (one row
//! per point, every metric's median, min and max).

use std::collections::BTreeSet;

use super::analysis::{Answer, PlainLoop, RULES};
use super::data::{metric, PointSummary, SweepData};
use super::format::{ms, percent, si, sig3, times};
use super::stats::Summary;
use super::warnings::Warning;
use crate::noise::Judgement;

/// One row of the answer table, as text.
pub(super) struct AnswerRow {
    pub workload: String,
    pub best: String,
    pub throughput: String,
    pub speedup: String,
    pub runner_up: String,
    pub ratio: String,
    pub noise: String,
}

/// The answer rows, one per workload.
pub(super) fn answer_rows(data: &SweepData, answers: &[Answer<'_>]) -> Vec<AnswerRow> {
    let unit = format!("{}/s", data.op_name());
    answers
        .iter()
        .map(|a| AnswerRow {
            workload: if data.flavours().len() > 1 {
                format!("{} on {}", a.workload, a.best.coords.flavour())
            } else {
                a.workload.clone()
            },
            best: format!("{}{}", a.best.coords.config(), a.best.marks_text()),
            throughput: format!("{} {unit}", si(a.best.throughput())),
            speedup: match (a.speedup(), a.plain) {
                (Some(s), Some((plain, rule))) => {
                    let which = match rule {
                        PlainLoop::NodeDefault => "",
                        PlainLoop::BestLoop => ", no pool-4 loop: best loop",
                    };
                    let noise = a.speedup_noise.map_or(String::new(), interval);
                    format!("{} over {}{which}{noise}", times(s), plain.coords.config())
                }
                _ => "no loop point".into(),
            },
            runner_up: a.runner_up.map_or("none (one strategy)".into(), |(p, _)| {
                format!("{} ({} {unit})", p.coords.config(), si(p.throughput()))
            }),
            ratio: a
                .runner_up_ratio()
                .map_or("-".into(), |r| format!("best is {}", times(r))),
            noise: a.runner_up.map_or("-".into(), |(_, n)| n.describe()),
        })
        .collect()
}

/// `, 95% CI 1.60-1.70×` of a tested speed-up, or why there is none.
fn interval(noise: Judgement) -> String {
    match noise {
        Judgement::Tested(d) => format!(" (95% CI {:.2}-{:.2}×)", d.ci95.0, d.ci95.1),
        unknown => format!(" ({})", unknown.describe()),
    }
}

/// How the table cells of a metric are written.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// A rate or count with SI suffix, with min..max when there is a spread.
    Rate,
    /// Microseconds shown as milliseconds.
    Ms,
    /// A 0..1 fraction shown as a percentage.
    Fraction,
    /// A plain number, 3 significant digits.
    Number,
    /// Bytes shown as MiB.
    MiB,
}

/// A column of the points table: header, metric, how to write it.
pub(super) struct Column {
    pub header: &'static str,
    pub metric: &'static str,
    pub kind: Kind,
}

const fn col(header: &'static str, metric: &'static str, kind: Kind) -> Column {
    Column {
        header,
        metric,
        kind,
    }
}

/// Candidate columns, in order; a column is shown when any point has its metric.
pub(super) const COLUMNS: [Column; 17] = [
    col("throughput /s", metric::THROUGHPUT, Kind::Rate),
    col("p50 ms", metric::P50, Kind::Ms),
    col("p99 ms", metric::P99, Kind::Ms),
    col("p99.9 ms", metric::P999, Kind::Ms),
    col("max ms", metric::MAX, Kind::Ms),
    col("makespan s", metric::MAKESPAN, Kind::Number),
    col("CPU cores", metric::CPU_UTIL, Kind::Number),
    col("CPU ms/op", metric::CPU_MS_PER_OP, Kind::Number),
    col("peak RSS MiB", metric::PEAK_RSS, Kind::MiB),
    col(metric::PROCESSES, metric::PROCESSES, Kind::Number),
    col("loop util.", metric::LOOP_UTILIZATION, Kind::Fraction),
    col("loop delay p99 ms", metric::LOOP_DELAY_P99, Kind::Ms),
    col("pool wait p99 ms", metric::POOL_WAIT_P99, Kind::Ms),
    col("errors", metric::ERRORS, Kind::Number),
    col("offered /s", metric::INTENDED_RATE, Kind::Rate),
    col("p99 uncorr. ms", metric::P99_UNCORRECTED, Kind::Ms),
    col("generator util.", metric::GENERATOR_UTIL, Kind::Fraction),
];

/// The columns some point of the sweep has.
pub(super) fn columns(data: &SweepData) -> Vec<&'static Column> {
    COLUMNS
        .iter()
        .filter(|c| data.points.iter().any(|p| p.metric(c.metric).is_some()))
        .collect()
}

fn value(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Rate => si(v),
        Kind::Ms => ms(v),
        Kind::Fraction => percent(v),
        Kind::Number => sig3(v),
        Kind::MiB => sig3(v / (1024.0 * 1024.0)),
    }
}

/// A cell: the median, and for throughput its min..max when there is a spread.
pub(super) fn cell(p: &PointSummary, column: &Column) -> String {
    let Some(s) = p.metric(column.metric) else {
        return String::new();
    };
    let median = value(column.kind, s.median);
    match column.kind {
        Kind::Rate if s.count >= 2 && s.max > s.min => format!(
            "{median} ({}..{})",
            value(column.kind, s.min),
            value(column.kind, s.max)
        ),
        _ => median,
    }
}

/// Escapes text for a Markdown table cell (pipes, and HTML, which Markdown renders); a line
/// break, which would end the table row, becomes `<br>`.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// `summary.md`: the answer table, the rules, and the warnings.
pub(super) fn summary_markdown(
    data: &SweepData,
    said: &super::Said<'_, '_>,
    warnings: &[Warning],
) -> String {
    let answers = said.answers;
    let mut out = format!(
        "## looplab: {} ({}, {} mode, {} cores)\n\n",
        md(&data.meta.sweep_id),
        super::format::count(data.points.len() as u64, "point", "points"),
        md(data.mode.name()),
        data.meta.machine.cores
    );
    out.push_str(
        "| workload | best configuration | throughput | vs plain loop | runner-up | ratio | \
         beyond noise |\n|---|---|---|---|---|---|---|\n",
    );
    for row in answer_rows(data, answers) {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            md(&row.workload),
            md(&row.best),
            md(&row.throughput),
            md(&row.speedup),
            md(&row.runner_up),
            md(&row.ratio),
            md(&row.noise)
        ));
    }
    if answers.is_empty() {
        out.push_str("\nNo point has an ok repetition: there is no answer.\n");
    }
    out.push('\n');
    for sentence in &said.sentences {
        out.push_str(&format!("- {}\n", md(sentence)));
    }
    for a in said.open {
        out.push_str(&open_loop_markdown(a));
    }
    out.push('\n');
    for rule in RULES {
        out.push_str(&format!("- {}\n", md(rule)));
    }
    out.push_str(&format!("- Noise: {}\n", md(super::html::NOISE_RULE)));
    for line in data.noise.sentences() {
        out.push_str(&format!("- {}\n", md(&line)));
    }
    if warnings.is_empty() {
        out.push_str("\nNo warnings.\n");
    } else {
        out.push_str(&format!("\n**{} warning(s):**\n\n", warnings.len()));
        for w in warnings {
            out.push_str(&format!("- {}\n", md(&w.text)));
        }
    }
    out
}

/// Quotes a CSV field when it holds a comma, a quote or a line break (RFC 4180). A field that
/// a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return: a point id comes from a results file) gets a leading `'` and quotes, as
/// OWASP's CSV-injection advice says.
fn csv_field(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula {
        format!("\"'{}\"", text.replace('"', "\"\""))
    } else if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The columns of `points.csv` before the metrics'.
const CSV_COLUMNS: [&str; 15] = [
    "point_id",
    "strategy",
    "workload",
    "pool_size",
    "cluster_processes",
    "worker_threads",
    "connections",
    "rate_per_s",
    "parallelism",
    "repetitions",
    "ok_repetitions",
    "generator_limited",
    "marks",
    "runtime",
    "costs",
];

/// The summary statistics written per metric, in column order.
const CSV_STATS: [&str; 3] = ["median", "min", "max"];

/// `points.csv`: coordinates, repetitions, then `<metric>_median,_min,_max` for every metric.
pub(super) fn points_csv(data: &SweepData) -> String {
    let metrics: BTreeSet<&str> = data
        .points
        .iter()
        .flat_map(|p| p.metrics.keys().map(String::as_str))
        .collect();
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
    for m in &metrics {
        header.extend(CSV_STATS.map(|stat| format!("{m}_{stat}")));
    }
    let mut out = header.join(",");
    out.push('\n');
    for p in &data.points {
        out.push_str(&csv_row(p, &metrics).join(","));
        out.push('\n');
    }
    out
}

/// One point's fields, in the header's order; a metric it lacks leaves its fields empty.
fn csv_row(p: &PointSummary, metrics: &BTreeSet<&str>) -> Vec<String> {
    let opt = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
    let c = &p.coords;
    let mut row = vec![
        csv_field(&p.id),
        csv_field(c.strategy.name()),
        csv_field(&c.workload),
        opt(c.pool),
        opt(c.processes),
        opt(c.workers),
        opt(c.connections),
        opt(c.rate_per_s),
        opt(c.parallelism),
        p.repetitions.to_string(),
        p.ok.to_string(),
        u8::from(p.generator_limited).to_string(),
        csv_field(
            &p.marks()
                .iter()
                .map(|m| m.label())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        csv_field(c.runtime.name()),
        csv_field(c.costs.as_deref().unwrap_or("native")),
    ];
    for m in metrics {
        match p.metric(m) {
            Some(Summary {
                median, min, max, ..
            }) => {
                row.extend([median, min, max].map(|v| v.to_string()));
            }
            None => row.extend(["", "", ""].map(str::to_string)),
        }
    }
    row
}

/// One open-loop answer's grid as a Markdown table, under a bold title.
fn open_loop_markdown(a: &super::slo::SloAnswer<'_>) -> String {
    let (header, rows) = super::slo::grid(a);
    let mut out = format!(
        "\n**{} ({}), open loop: p99 at each offered rate, objective {} ms**\n\n| {} |\n|{}\n",
        md(&a.workload),
        a.rows[0].first().coords.flavour(),
        super::format::ms(a.slo_ms * 1e3),
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_markdown_and_csv() {
        assert_eq!(md("a|b <script>"), "a\\|b &lt;script&gt;");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        // Before: passed through as formulas, and a line break ended the Markdown row.
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert_eq!(csv_field(lead), format!("\"'{lead}\""));
        }
        assert_eq!(md("a\nb|c\r\nd"), "a<br>b\\|c<br>d");
    }
}
