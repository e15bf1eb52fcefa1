//! `lab scenario FILE` and `lab calibrate`: a scenario file run on the runtime (and with
//! `--node` on real Node.js, compared), and the calibration of the whole model against Node.
//!
//! The work is in `looplab_workloads::scenario`; this file decides what is printed (a table,
//! or one JSON object with `--json`), draws `--gantt`, finds the `scenarios/` and
//! `scripts/node/` folders for `calibrate`, and writes `calibration.json` (temp file, then
//! rename, so a reader never sees half of it).

use crate::output::ThresholdFailed;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use looplab_reports::store::{self, check_owner, FolderLock, CALIBRATION_FILE};
use looplab_reports::Table;
use looplab_workloads::scenario::calibrate::{self, Calibration};
use looplab_workloads::scenario::{self, Comparison, Scenario, Session, SessionOptions, Timeline};
use serde_json::json;

/// `lab scenario`.
#[derive(Args, Debug)]
pub struct ScenarioArgs {
    /// The scenario file (TOML: `pool_size`, `racy`, `[[op]]` tables; see the README).
    file: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Draw the completions as a Gantt chart into this PNG file.
    #[arg(long, value_name = "PNG")]
    gantt: Option<PathBuf>,
    /// Also run the equivalent Node.js program (the `node` on PATH) and compare the orders.
    #[arg(long)]
    node: bool,
    /// Print the generated Node.js program (with this run's temp paths) and exit.
    #[arg(long)]
    print_node_program: bool,
    /// Runs of each side; with --node, reports how often the orders agree.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    #[arg(long, value_name = "native|node|FILE", help = crate::costs_flag::HELP)]
    costs: Option<String>,
}

/// `lab calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Write `calibration.json` into this folder (a sweep's results folder, for `lab report`);
    /// with --costs, the profile FILE (default: the source tree's costs/node.toml).
    #[arg(long, value_name = "DIR|FILE")]
    out: Option<PathBuf>,
    /// Runs of each scenario on each side (default 3); with --costs, of every probe (default 5).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: Option<u32>,
    /// Measure Node's CPU cost per event against looplab's and write a cost profile instead.
    #[arg(long)]
    costs: bool,
    /// The scenario files to run (default: the repository's `scenarios/`).
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Skip the micro-benchmarks (scenarios only).
    #[arg(long)]
    no_benches: bool,
    /// Print one JSON object (what calibration.json holds, or with --costs the profile, and
    /// where it was written) instead of tables.
    #[arg(long)]
    json: bool,
}

/// Node and looplab completed a scenario's operations in different orders (racy groups
/// compared as sets): a failed threshold, reported after the comparison was printed.
fn orders_differ(what: String) -> anyhow::Error {
    ThresholdFailed(format!("orders differ from Node's: {what}")).into()
}

/// Runs `lab scenario`.
pub fn run(args: &ScenarioArgs) -> Result<()> {
    // The file's own error (FILE:LINE:COL: ...) is the whole message: no context added.
    let scenario = Arc::new(scenario::load(&args.file)?);
    crate::costs_flag::install(args.costs.as_deref())?;
    if args.print_node_program {
        let fixture =
            scenario::Fixture::prepare(&scenario, std::env::current_exe().ok().as_deref())?;
        print!("{}", scenario::program(&scenario, &fixture));
        return Ok(());
    }
    let options = SessionOptions {
        node: args.node,
        runs: args.runs as usize,
        lab: std::env::current_exe().ok(),
    };
    let session = scenario::run_session(&scenario, &options)?;
    if let Some(png) = &args.gantt {
        let first = &session.runs[0];
        let mut panels = vec![("looplab", &first.looplab)];
        if let Some(node) = &first.node {
            panels.push(("node", node));
        }
        if let Some(figure) = crate::scenario_gantt::figure(&scenario.name, &panels) {
            crate::scenario_gantt::write_png(png, &figure)
                .with_context(|| format!("draw the Gantt chart {}", png.display()))?;
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&session_json(&args.file, &scenario, &session))?
        );
    } else {
        print!("{}", session_text(&scenario, &session));
        if let Some(png) = &args.gantt {
            println!("Gantt chart: {}", png.display());
        }
    }
    match &session.summary {
        Some(s) if !s.order_identical => Err(orders_differ(format!(
            "{} agreed in {} (first difference: {})",
            scenario.name,
            s.agreement(),
            s.first_difference.as_deref().unwrap_or("-")
        ))),
        _ => Ok(()),
    }
}

fn session_json(file: &Path, scenario: &Scenario, session: &Session) -> serde_json::Value {
    json!({
        "scenario": scenario.name,
        "file": file.display().to_string(),
        "pool_size": scenario.pool_size,
        "racy": scenario.racy,
        "node_version": session.node_version,
        "runs": session.runs,
        "looplab_stable": format!("{}/{}", session.looplab_stable(scenario), session.runs.len()),
        "summary": session.summary,
        "agreement": session.summary.as_ref().map(|s| s.agreement()),
    })
}

fn timeline_table(timeline: &Timeline) -> String {
    let mut table = Table::new(["#", "label", "ms", "thread"])
        .right_align(0)
        .right_align(2);
    for (i, c) in timeline.completions.iter().enumerate() {
        table.row([
            (i + 1).to_string(),
            c.label.clone(),
            format!("{:.1}", c.ms),
            c.thread.clone(),
        ]);
    }
    table.render()
}

fn side_by_side(looplab: &Timeline, node: &Timeline) -> String {
    let mut table = Table::new(["#", "looplab", "ms", "thread", "node", "ms", "thread"])
        .right_align(0)
        .right_align(2)
        .right_align(5);
    let n = looplab.completions.len().max(node.completions.len());
    for i in 0..n {
        let cell = |t: &Timeline| {
            t.completions.get(i).map_or_else(
                || [String::new(), String::new(), String::new()],
                |c| [c.label.clone(), format!("{:.1}", c.ms), c.thread.clone()],
            )
        };
        let ([a, b, c], [d, e, f]) = (cell(looplab), cell(node));
        table.row([(i + 1).to_string(), a, b, c, d, e, f]);
    }
    table.render()
}

/// One session as text: a header, the first run (side by side with Node when it ran), then
/// what the other runs add.
fn session_text(scenario: &Scenario, session: &Session) -> String {
    let mut out = session_header(scenario, session);
    let first = &session.runs[0];
    match (&first.node, &first.comparison) {
        (Some(node), Some(c)) => {
            out.push_str(&side_by_side(&first.looplab, node));
            out.push_str(&comparison_text(scenario, c));
        }
        _ => out.push_str(&timeline_table(&first.looplab)),
    }
    out.push_str(&runs_text(scenario, session));
    out
}

/// `== scenario NAME (pool N), node V, run 1 of R`, then the description.
fn session_header(scenario: &Scenario, session: &Session) -> String {
    let runs = session.runs.len();
    let mut out = format!(
        "== scenario {} (pool {})",
        scenario.name, scenario.pool_size
    );
    if let Some(version) = &session.node_version {
        out.push_str(&format!(", node {version}"));
    }
    if runs > 1 {
        out.push_str(&format!(", run 1 of {runs}"));
    }
    out.push('\n');
    if let Some(d) = &scenario.description {
        out.push_str(&format!("{d}\n"));
    }
    out
}

/// How the first run's order and time compare with Node's.
fn comparison_text(scenario: &Scenario, c: &Comparison) -> String {
    let racy = if scenario.racy.is_empty() {
        String::new()
    } else {
        let groups: Vec<String> = scenario
            .racy
            .iter()
            .map(|g| format!("{{{}}}", g.join(", ")))
            .collect();
        format!(" (racy groups compared as sets: {})", groups.join(" "))
    };
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let mut out = format!("order identical: {}{racy}\n", yes(c.identical));
    out.push_str(&format!(
        "rank correlation: Spearman {:.3}, Kendall {:.3}\n",
        c.spearman, c.kendall
    ));
    let first_difference = c.first_difference.as_deref().unwrap_or("none");
    out.push_str(&format!("first difference: {first_difference}\n"));
    out.push_str(&format!(
        "time to the last completion: looplab {:.1} ms, node {:.1} ms, ratio {:.2}\n",
        c.looplab_ms, c.node_ms, c.time_ratio
    ));
    out
}

/// Over several runs: how often the orders agreed with Node, or without Node how often
/// looplab gave the same order. Nothing for one run.
fn runs_text(scenario: &Scenario, session: &Session) -> String {
    let runs = session.runs.len();
    let mut out = String::new();
    if runs <= 1 {
        return out;
    }
    match &session.summary {
        Some(summary) => {
            out.push_str(&format!(
                "over {runs} runs: orders agree in {}, mean Spearman {:.3}, median time ratio {:.2}\n",
                summary.agreement(),
                summary.rank_correlation,
                summary.time_ratio
            ));
            if let Some(d) = &summary.first_difference {
                out.push_str(&format!("first difference seen: {d}\n"));
            }
        }
        None => out.push_str(&format!(
            "looplab gave this order in {}/{runs} runs\n",
            session.looplab_stable(scenario)
        )),
    }
    out
}

/// Runs `lab calibrate`.
pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    if args.costs {
        return crate::costs_cmd::run(args.out.as_deref(), args.runs.unwrap_or(5), args.json);
    }
    let runs = args.runs.unwrap_or(3);
    let dir = match &args.scenarios {
        Some(dir) => dir.clone(),
        None => repo_folder("scenarios")?,
    };
    let lab = std::env::current_exe().ok();
    let mut progress = |line: &str| eprintln!("{line}");
    let scenarios =
        calibrate::calibrate_scenarios(&dir, runs as usize, lab.as_deref(), &mut progress)?;
    let benches = if args.no_benches {
        Vec::new()
    } else {
        let scripts = repo_folder("scripts/node")?;
        calibrate::calibrate_benches(&scripts, &mut progress)?
    };
    let calibration = Calibration { scenarios, benches };
    let written = match &args.out {
        Some(out) => Some(write_calibration(out, &calibration)?),
        None => None,
    };
    if args.json {
        let value = json!({
            "calibration": calibration,
            "written": written.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print!("{}", calibration_text(&calibration));
        if let Some(path) = &written {
            println!("written: {}", path.display());
        }
    }
    let differ: Vec<&str> = calibration
        .scenarios
        .iter()
        .filter(|s| !s.order_identical)
        .map(|s| s.name.as_str())
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(orders_differ(format!(
        "{} of {} scenarios ({})",
        differ.len(),
        calibration.scenarios.len(),
        differ.join(", ")
    )))
}

fn calibration_text(c: &Calibration) -> String {
    let mut table = Table::new([
        "scenario",
        "same order",
        "racy",
        "agree",
        "Spearman",
        "time ratio",
        "first difference",
    ])
    .right_align(4)
    .right_align(5);
    for s in &c.scenarios {
        table.row([
            s.name.clone(),
            if s.order_identical { "yes" } else { "NO" }.into(),
            if s.racy { "yes" } else { "no" }.into(),
            s.agreement.clone(),
            format!("{:.3}", s.rank_correlation),
            format!("{:.2}", s.time_ratio),
            s.first_difference.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let matching = c.scenarios.iter().filter(|s| s.order_identical).count();
    let mut out = format!(
        "== scenarios: looplab's order matches Node's in {matching} of {} (time ratio: looplab / node)\n{}",
        c.scenarios.len(),
        table.render()
    );
    if !c.benches.is_empty() {
        let mut table = Table::new(["bench", "looplab", "node", "unit", "looplab / node"])
            .right_align(1)
            .right_align(2)
            .right_align(4);
        for b in &c.benches {
            table.row([
                b.name.clone(),
                format!("{:.1}", b.looplab),
                format!("{:.1}", b.node),
                b.unit.clone(),
                format!("{:.2}", b.ratio),
            ]);
        }
        out.push_str(&format!(
            "== benches (ops/s: above 1 is faster than Node; ms: above 1 is slower)\n{}",
            table.render()
        ));
    }
    out
}

/// Writes `dir/calibration.json` (creating `dir`, holding its lock); returns its path.
fn write_calibration(dir: &Path, calibration: &Calibration) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    check_owner(dir)?;
    let _lock = FolderLock::acquire(dir)?;
    store::write_calibration(dir, calibration)?;
    Ok(dir.join(CALIBRATION_FILE))
}

/// A folder of the repository (`scenarios`, `scripts/node`): under the current directory, else
/// next to the source tree this `lab` was built from.
pub(crate) fn repo_folder(name: &str) -> Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for base in [Path::new("."), built_from.as_path()] {
        let dir = base.join(name);
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    bail!("cannot find the `{name}` folder; run from the repository root or pass --scenarios DIR")
}
