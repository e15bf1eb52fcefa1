//! `report.html`, with maud: every string from the configuration or the results goes through
//! maud's escaping; the only markup inserted raw is the SVG this crate drew itself
//! (`PreEscaped`), and the fixed stylesheet. The page needs no network: charts are inline SVG,
//! and the PNG and SVG files beside it are linked for download.
//!
//! Order of the page: the answer, the charts, every point, the calibration (when present),
//! the machine and versions, the configuration, the warnings.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::analysis::RULES;
use super::charts::ChartFiles;
use super::data::SweepData;
use super::figures::Section;
use super::format::{sig3, times};
use super::runtimes::RuntimeComparison;
use super::tables::{answer_rows, cell, columns};
use super::warnings::Warning;
use super::{Said, CHARTS_DIR};
use crate::noise::{FALSE_DISCOVERY_RATE, MIN_REPETITIONS};
use crate::store::{Calibration, Optional, EXPERIMENTS_FILE};

/// The noise rule as the report states it (the lab's one rule, `crate::noise`).
pub(super) const NOISE_RULE: &str = "the lab's one rule, as lab check uses it: with at least 3 ok \
    repetitions on each side, Welch's t-test on the logarithms of the throughputs gives the \
    ratio of geometric means a 95% confidence interval and a p-value; the p-values of every \
    comparison of the answer (speed-ups and runners-up) are adjusted together \
    (Benjamini-Hochberg, 5% false discoveries), and a difference is beyond the noise when its \
    adjusted p-value is at most 5% and the medians differ by more than 5%; with fewer than 3 \
    repetitions, unknown.";

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, sans-serif; margin: 24px auto; max-width: 1320px;
       padding: 0 20px; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 28px; margin-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #ddd; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { white-space: nowrap; }
tr.failed td { background: #fdecea; } tr.limited td { background: #fff7e0; }
.answer td:first-child { font-weight: bold; }
.callout { background: #fff7e0; border-left: 4px solid #e69f00; padding: 8px 14px; }
figure { margin: 18px 0 30px; }
figure svg { width: 100%; height: auto; border: 1px solid #eee; display: block; }
figcaption { font-size: 14px; color: #333; }
figcaption a { margin-right: 10px; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 13px; }
.points { overflow-x: auto; }
";

/// The whole page.
pub(super) fn page(
    data: &SweepData,
    said: &Said<'_, '_>,
    rendered: &[(Section, ChartFiles)],
    warnings: &[Warning],
    twins: &[RuntimeComparison],
) -> String {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "looplab report: " (data.meta.sweep_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header(data, warnings))
                (answer(data, said))
                (open_loop(said))
                @for twins in twins { (runtimes(twins)) }
                (charts(data, rendered))
                (points(data))
                (calibration(&data.calibration))
                (machine(data))
                h2 id="warnings" { "Warnings" }
                @if warnings.is_empty() {
                    p { "None." }
                } @else {
                    ul { @for w in warnings { li { (w.text) } } }
                }
            }
        }
    };
    markup.into_string()
}

fn header(data: &SweepData, warnings: &[Warning]) -> Markup {
    let m = &data.meta;
    html! {
        h1 { "looplab report" }
        p.sub {
            "Sweep " code { (m.sweep_id) } ", " (data.points.len()) " points in " (data.mode.name())
            " mode, measured on " (m.machine.hostname) " (" (m.machine.cores) " cores) from "
            (m.started_at) " to " (m.finished_at.as_deref().unwrap_or("(unfinished)")) "."
        }
        @if !warnings.is_empty() {
            p.callout {
                (warnings.len()) " warning(s) about these numbers: see "
                a href="#warnings" { "Warnings" } " at the end."
            }
        }
    }
}

fn answer(data: &SweepData, said: &Said<'_, '_>) -> Markup {
    let answers = said.answers;
    let rows = answer_rows(data, answers);
    html! {
        h2 id="answer" { "The answer" }
        @if !said.sentences.is_empty() {
            ul.sentences { @for s in &said.sentences { li { (s) } } }
        }
        @if rows.is_empty() {
            p { "No point has an ok repetition: there is no answer to give." }
        } @else {
            table.answer {
                tr {
                    th { "workload" } th { "best configuration" } th { "median throughput" }
                    th { "speed-up over the plain loop" } th { "runner-up (another strategy)" }
                    th { "best / runner-up" } th { "beyond the noise?" }
                }
                @for r in &rows {
                    tr {
                        td { (r.workload) } td { code { (r.best) } } td.num { (r.throughput) }
                        td { (r.speedup) } td { (r.runner_up) } td { (r.ratio) } td { (r.noise) }
                    }
                }
            }
        }
        p { "How these were chosen:" }
        ul {
            @for rule in RULES { li { (rule) } }
            li { "Beyond the noise: " (NOISE_RULE) }
        }
        @let floor = data.noise.sentences();
        @if !floor.is_empty() {
            h3 id="noise" { "What this sweep could tell apart" }
            ul { @for line in &floor { li { (line) } } }
        }
    }
}

/// Open loop: per workload and flavour, p99 at each offered rate against the objective.
fn open_loop(said: &Said<'_, '_>) -> Markup {
    html! {
        @if let Some(first) = said.open.first() {
            h2 id="open-loop" { "Open loop: the highest rate within p99 at most "
                (super::format::ms(first.slo_ms * 1e3)) " ms" }
            @for a in said.open {
                @let (header, rows) = super::slo::grid(a);
                h3 { (a.workload) " (" (a.rows[0].first().coords.flavour()) ")" }
                table.answer {
                    tr { @for h in &header { th { (h) } } }
                    @for row in &rows { tr { @for c in row { td { (c) } } } }
                }
            }
            p { "✓ within the objective, ✗ not; R: under the offered rate, G: the load \
                 generator was the limit, B: the machine was busy with other work." }
            ul { @for rule in super::slo::RULES { li { (rule) } } }
        }
    }
}

fn runtimes(twins: &RuntimeComparison) -> Markup {
    html! {
        h2 { (twins.model) " against Node.js" }
        p { (twins.headline()) " Each runtime is compared with its own plain loop only; \
            recommendations never mix the two." }
        table {
            tr { th { "workload" } th { "best on " (twins.model) } th { "best on Node.js" } th { "same" } }
            @for a in &twins.agreement {
                tr {
                    td { (a.workload) } td { code { (a.looplab_best) } }
                    td { code { (a.node_best) } } td { (a.describe()) }
                }
            }
        }
        table {
            tr {
                th { "workload" } th { "configuration" } th { (twins.model) " / its plain loop" }
                th { "Node.js / its plain loop" } th { "difference" } th { "relative" }
                th { "beyond the noise" }
                th { "throughput / Node's" } th { "loop utilization (model, Node)" }
            }
            @for r in &twins.rows {
                tr {
                    td { (r.workload) } td { code { (r.config) } }
                    td.num { (format!("{:.2}×", r.looplab)) } td.num { (format!("{:.2}×", r.node)) }
                    td.num { (format!("{:+.2}", r.difference())) }
                    td.num { (format!("{:+.0}%", r.relative_difference() * 100.0)) }
                    td { (r.beyond_noise_text()) }
                    td.num { (format!("{:.2}×", r.absolute)) }
                    td.num { (super::runtimes::utilization_pair(r.utilization)) }
                }
            }
        }
    }
}

fn charts(data: &SweepData, rendered: &[(Section, ChartFiles)]) -> Markup {
    html! {
        h2 id="charts" { "Charts" }
        p { "Each chart is also in " code { (CHARTS_DIR) "/" } " as PNG and SVG." }
        @for section in Section::ALL {
            @let figures: Vec<&ChartFiles> = rendered.iter().filter(|(s, _)| *s == section).map(|(_, r)| r).collect();
            @if !figures.is_empty() || section == Section::Timelines {
                h3 { (section.heading()) }
            }
            @if section == Section::Timelines {
                (timelines_note(data))
            }
            @for r in figures {
                @let name = &r.figure.name;
                figure {
                    // Never wider than drawn: text stays at the size it was laid out for.
                    div style=(format!("max-width: {}px", r.figure.size.0)) {
                        // The SVG was drawn by this crate; plotters escapes the text in it.
                        (PreEscaped(strip_xml_declaration(&r.svg)))
                    }
                    figcaption {
                        (r.figure.caption) " "
                        a href=(format!("{CHARTS_DIR}/{name}.png")) { "PNG" }
                        a href=(format!("{CHARTS_DIR}/{name}.svg")) { "SVG" }
                    }
                }
            }
        }
    }
}

/// An inline SVG must not carry an XML declaration.
fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn timelines_note(data: &SweepData) -> Markup {
    html! {
        @match &data.experiments {
            Optional::Absent => p {
                "No " code { (EXPERIMENTS_FILE) } " in this folder, so no timelines: sweeps "
                "write it at their end (staircase at pool sizes 1, 2 and 4, multitask at 4); "
                "this folder comes from an older or interrupted sweep."
            },
            Optional::Unreadable(w) => p { "The timelines are left out: " (w) },
            Optional::Present(_) => p {
                "From " code { (EXPERIMENTS_FILE) } ", run by the sweep at its end. The "
                "staircase (NODE_MODEL.md 5 (a)): hashes start in waves of the pool size. "
                "Multitask (5 (b)): the file read's trips queue behind the hashes."
            },
        }
    }
}

fn points(data: &SweepData) -> Markup {
    let cols = columns(data);
    html! {
        h2 id="points" { "Every point" }
        p {
            "Medians over the ok repetitions; throughput with its min..max. Rows in red had "
            "failed repetitions; in yellow, the load generator was the limit. A point whose "
            "figure may not be the server's says why in brackets: generator-limited, machine "
            "busy (other processes or steal), under the offered rate (open loop)."
        }
        div.points {
            table {
                tr {
                    th { "point" } th { "ok / reps" }
                    @for c in &cols { th { (c.header) } }
                }
                @for p in &data.points {
                    @let class = if p.ok < p.repetitions { "failed" } else if p.generator_limited { "limited" } else { "" };
                    tr class=(class) {
                        td { code { (p.id) } (p.marks_text()) }
                        td.num { (p.ok) " / " (p.repetitions) }
                        @for c in &cols { td.num { (cell(p, c)) } }
                    }
                }
            }
        }
    }
}

fn calibration(calibration: &Optional<Calibration>) -> Markup {
    let Some(c) = calibration.get() else {
        return html! {};
    };
    let yes = |b: bool| if b { "yes" } else { "no" };
    html! {
        h2 { "Calibration against Node.js" }
        p { "From calibration.json: the same scenarios and benches run on looplab and on Node.js." }
        h3 { "Scenarios" }
        table {
            tr {
                th { "scenario" } th { "same order" } th { "racy" } th { "agreement" }
                th { "rank correlation" } th { "first difference" } th { "time looplab / Node" }
            }
            @for s in &c.scenarios {
                tr {
                    td { (s.name) } td { (yes(s.order_identical)) } td { (yes(s.racy)) }
                    td { (s.agreement) } td.num { (format!("{:.3}", s.rank_correlation)) }
                    td { (s.first_difference.as_deref().unwrap_or("-")) }
                    td.num { (times(s.time_ratio)) }
                }
            }
        }
        h3 { "Benches" }
        table {
            tr { th { "bench" } th { "looplab" } th { "Node.js" } th { "unit" } th { "looplab / Node" } }
            @for b in &c.benches {
                tr {
                    td { (b.name) } td.num { (sig3(b.looplab)) } td.num { (sig3(b.node)) }
                    td { (b.unit) } td.num { (times(b.ratio)) }
                }
            }
        }
    }
}

fn machine(data: &SweepData) -> Markup {
    let m = &data.meta;
    let mc = &m.machine;
    let config = serde_json::to_string_pretty(&m.config).unwrap_or_else(|e| e.to_string());
    html! {
        h2 id="machine" { "Machine and versions" }
        table {
            tr { th { "host" } td { (mc.hostname) } }
            tr { th { "CPU" } td { (mc.cpu_model) } }
            tr { th { "cores usable" } td { (mc.cores) " (logical " (mc.logical_cpus) ", physical " (mc.physical_cores) "; 0 = unknown)" } }
            tr { th { "memory" } td { (format!("{:.1} GiB", mc.memory_bytes as f64 / (1u64 << 30) as f64)) } }
            tr { th { "OS" } td { (mc.os) ", kernel " (mc.kernel) } }
            tr { th { "looplab" } td { (m.looplab_version) } }
            tr { th { "git revision" } td { (m.git_revision.as_deref().unwrap_or("unknown")) } }
            tr { th { "rustc" } td { (m.rustc_version.as_deref().unwrap_or("unknown")) } }
            tr { th { "shard" } td { (m.shard.as_deref().unwrap_or("the whole sweep")) } }
            tr { th { "started / finished" } td { (m.started_at) " / " (m.finished_at.as_deref().unwrap_or("unfinished")) } }
            tr { th { "noise test" } td { "Welch's t on logarithms from " (MIN_REPETITIONS) " repetitions per side, Benjamini-Hochberg at " (FALSE_DISCOVERY_RATE) } }
        }
        @if !m.sources.is_empty() {
            h3 { "Merged from" }
            table {
                tr { th { "folder" } th { "host" } th { "shard" } th { "git revision" } th { "started" } }
                @for s in &m.sources {
                    tr {
                        td { (s.folder) } td { (s.machine.hostname) }
                        td { (s.shard.as_deref().unwrap_or("-")) }
                        td { (s.git_revision.as_deref().unwrap_or("unknown")) } td { (s.started_at) }
                    }
                }
            }
        }
        h2 { "Sweep configuration" }
        pre { (config) }
    }
}
