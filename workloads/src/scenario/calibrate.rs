//! Calibration: how closely looplab behaves and performs like the `node` on this machine.
//!
//! 1. Every scenario file of a folder runs a few times on both sides ([`super::run_session`]);
//!    each gives one [`CalibrationScenario`]: whether the orders agreed in every run, how often,
//!    the mean rank correlation, the first difference seen, the median time ratio.
//! 2. Every runtime bench runs once in this process ([`crate::bench::run`]) and once as its
//!    Node twin (`scripts/node/NAME.js`), with small parameters so the whole calibration takes
//!    about a minute on 2 cores; each gives one or two [`CalibrationBench`]es.
//!
//! [`Calibration`] serializes to `calibration.json` exactly as the HTML report reads it:
//! `{"scenarios": [{name, order_identical, racy, agreement, rank_correlation,
//! first_difference, time_ratio}], "benches": [{name, looplab, node, unit, ratio}]}`.
//! Every `ratio` is looplab's figure over Node's, in the bench's unit: above 1 means looplab is
//! faster for `ops/s` and slower for `ms`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::node::{find_node, run_script};
use super::{load, run_session, ScenarioError, SessionOptions};
use crate::bench::{self, BenchParams};

/// `calibration.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// One entry per scenario file.
    pub scenarios: Vec<CalibrationScenario>,
    /// One entry per bench figure.
    pub benches: Vec<CalibrationBench>,
}

/// One scenario on both sides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationScenario {
    /// Scenario name.
    pub name: String,
    /// Whether the orders agreed in every run (racy groups compared as sets).
    pub order_identical: bool,
    /// Whether the scenario has racy groups.
    pub racy: bool,
    /// Agreeing runs over runs, like `3/3`.
    pub agreement: String,
    /// Mean Spearman's rho of the two orders.
    pub rank_correlation: f64,
    /// The first difference of the first run that disagreed.
    pub first_difference: Option<String>,
    /// Median of looplab's total time over Node's.
    pub time_ratio: f64,
}

/// One bench figure on both sides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBench {
    /// Bench name (`pbkdf2 (sync)`, `pbkdf2 (async)` for the two figures of `pbkdf2`).
    pub name: String,
    /// looplab's figure.
    pub looplab: f64,
    /// Node's figure.
    pub node: f64,
    /// `ops/s` or `ms`.
    pub unit: String,
    /// `looplab / node`.
    pub ratio: f64,
}

/// The scenario files of `dir` (`*.toml`), sorted by name.
pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| ScenarioError::Io {
        what: format!("read the scenario folder {}", dir.display()),
        cause,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ScenarioError::Io {
            what: format!("the scenario folder {}", dir.display()),
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "it holds no *.toml scenario files",
            ),
        });
    }
    Ok(files)
}

/// Runs every scenario of `dir` `runs` times on both sides; `progress` hears about each.
pub fn calibrate_scenarios(
    dir: &Path,
    runs: usize,
    lab: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<CalibrationScenario>, ScenarioError> {
    let options = SessionOptions {
        node: true,
        runs,
        lab: lab.map(Path::to_path_buf),
    };
    let mut out = Vec::new();
    for file in scenario_files(dir)? {
        let scenario = Arc::new(load(&file)?);
        let session = run_session(&scenario, &options)?;
        let Some(summary) = session.summary else {
            continue;
        };
        progress(&format!(
            "scenario {}: orders agree in {} runs",
            scenario.name,
            summary.agreement()
        ));
        out.push(CalibrationScenario {
            name: scenario.name.clone(),
            order_identical: summary.order_identical,
            racy: scenario.is_racy(),
            agreement: summary.agreement(),
            rank_correlation: summary.rank_correlation,
            first_difference: summary.first_difference,
            time_ratio: summary.time_ratio,
        });
    }
    Ok(out)
}

/// The benches with the calibration's small parameters: (name, looplab params, Node flags).
fn bench_plan() -> Vec<(&'static str, BenchParams, Vec<String>)> {
    let with = |name: &'static str, f: &dyn Fn(&mut BenchParams)| {
        let mut p = BenchParams::defaults(name);
        f(&mut p);
        let flags = match name {
            "pool-roundtrip" => flags(&[
                ("n", p.n),
                ("inflight", p.inflight),
                ("pool", p.pool as u64),
            ]),
            "pbkdf2" => flags(&[
                ("iterations", p.iterations),
                ("keylen", p.keylen as u64),
                ("runs", p.runs as u64),
            ]),
            "fs-read" => flags(&[
                ("n", p.n),
                ("size", p.size as u64),
                ("concurrency", p.inflight),
                ("pool", p.pool as u64),
            ]),
            _ => flags(&[("n", p.n)]),
        };
        (name, p, flags)
    };
    vec![
        with("pool-roundtrip", &|p| p.n = 50_000),
        with("timers", &|p| p.n = 200_000),
        with("immediates", &|p| p.n = 200_000),
        with("ticks", &|p| p.n = 200_000),
        with("pbkdf2", &|p| p.runs = 3),
        with("fs-read", &|p| p.n = 500),
    ]
}

/// Node's twin prints `{..., "ops_per_s": x}` or, for pbkdf2, `{..., "ms": x, "async_ms": y}`.
#[derive(Deserialize)]
struct NodeBench {
    ops_per_s: Option<f64>,
    ms: Option<f64>,
    async_ms: Option<f64>,
}

/// Runs each bench on looplab and its twin in `scripts` (the `scripts/node` folder) on Node.
pub fn calibrate_benches(
    scripts: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<CalibrationBench>, ScenarioError> {
    let node = find_node()?;
    let mut out = Vec::new();
    for (name, params, flags) in bench_plan() {
        let ours = bench::run(name, &params)?;
        let script = scripts.join(format!("{name}.js"));
        // The twins re-run themselves unless the variable already names their pool size.
        let mut command = Command::new(&node);
        command
            .arg(&script)
            .args(&flags)
            .env("UV_THREADPOOL_SIZE", params.pool.to_string());
        let stdout = run_script(&mut command)?;
        let theirs: NodeBench = serde_json::from_str(stdout.trim()).map_err(|e| {
            ScenarioError::Node(format!(
                "{}: unexpected output {:?}: {e}",
                script.display(),
                stdout.trim()
            ))
        })?;
        let mut push = |name: String, looplab: Option<f64>, node: Option<f64>, unit: &str| {
            if let (Some(looplab), Some(node)) = (looplab, node) {
                progress(&format!(
                    "bench {name}: looplab {looplab:.1} {unit}, node {node:.1} {unit}"
                ));
                out.push(CalibrationBench {
                    name,
                    looplab,
                    node,
                    unit: unit.into(),
                    ratio: looplab / node,
                });
            }
        };
        if name == "pbkdf2" {
            push("pbkdf2 (sync)".into(), ours.ms, theirs.ms, "ms");
            push(
                "pbkdf2 (async)".into(),
                ours.async_ms,
                theirs.async_ms,
                "ms",
            );
        } else {
            push(name.into(), ours.ops_per_s, theirs.ops_per_s, "ops/s");
        }
    }
    Ok(out)
}

/// `--key value` pairs, the form the twins parse.
fn flags(pairs: &[(&str, u64)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [format!("--{k}"), v.to_string()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_exactly_the_report_s_keys() {
        let c = Calibration {
            scenarios: vec![CalibrationScenario {
                name: "s".into(),
                order_identical: true,
                racy: false,
                agreement: "3/3".into(),
                rank_correlation: 1.0,
                first_difference: None,
                time_ratio: 0.9,
            }],
            benches: vec![CalibrationBench {
                name: "timers".into(),
                looplab: 2.0,
                node: 1.0,
                unit: "ops/s".into(),
                ratio: 2.0,
            }],
        };
        let v = serde_json::to_value(&c).unwrap();
        let keys = |o: &serde_json::Value| {
            let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&v), ["benches", "scenarios"]);
        assert_eq!(
            keys(&v["scenarios"][0]),
            [
                "agreement",
                "first_difference",
                "name",
                "order_identical",
                "racy",
                "rank_correlation",
                "time_ratio"
            ]
        );
        assert!(v["scenarios"][0]["first_difference"].is_null());
        assert_eq!(
            keys(&v["benches"][0]),
            ["looplab", "name", "node", "ratio", "unit"]
        );
    }

    #[test]
    fn every_bench_has_a_plan_with_the_twins_flags() {
        let plan = bench_plan();
        assert_eq!(plan.len(), bench::BENCHES.len());
        assert_eq!(flags(&[("n", 5)]), ["--n", "5"]);
    }
}
