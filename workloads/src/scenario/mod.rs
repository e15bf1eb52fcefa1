//! Scenarios: a small program written once as a TOML timeline of operations, run on looplab's
//! runtime and, as a generated CommonJS program, on real Node.js, with the two completion
//! orders compared.
//!
//! ```
//! use std::sync::Arc;
//! use looplab_workloads::scenario::{self, Fixture};
//!
//! let text = r#"
//! [[op]]
//! kind = "read_file"
//! label = "read"
//!   [[op.then]]
//!   kind = "timeout"
//!   label = "timeout"
//!   ms = 0
//!   [[op.then]]
//!   kind = "immediate"
//!   label = "immediate"
//! "#;
//! let s = Arc::new(scenario::parse(text, "inline.toml", "inline").unwrap());
//! let fixture = Fixture::prepare(&s, None).unwrap();
//! let timeline = scenario::run_looplab(&s, &fixture).unwrap();
//! // Inside an I/O callback the check phase comes before the next timers: immediate first.
//! assert_eq!(timeline.order(), ["read", "immediate", "timeout"]);
//! ```
//!
//! - [`parse`]: the file format (see `parse.rs` and the README) and its errors, each
//!   `FILE:LINE:COLUMN: what; expected ...`;
//! - [`model`]: the checked scenario, a tree of [`Op`]s;
//! - [`run_looplab`]: one run on the runtime; [`run_node`]: one run on `node`;
//! - [`compare()`]: identical order (racy groups as sets), rank correlations, first
//!   difference, time ratio; [`Summary`] over several runs;
//! - [`calibrate`]: the scenarios of a folder and the runtime's benches against Node's.
//!
//! A session ([`run_session`]) prepares the [`Fixture`] once (files, the HTTP server in
//! another process) and runs both sides alternately, so they share the machine's noise.

pub mod calibrate;
mod check;
mod compare;
mod error;
mod fixture;
mod http;
pub mod limits;
pub mod model;
mod node;
mod node_program;
mod order;
mod parse;
mod run;
mod workers;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub use calibrate::{Calibration, CalibrationBench, CalibrationScenario};
pub use compare::{canonical, compare, kendall, spearman, Comparison, Summary};
pub use error::ScenarioError;
pub use fixture::Fixture;
pub use model::{Op, OpKind, Scenario, OP_KINDS};
pub use node::{find_node, node_version, program, run_node, write_program};
pub use parse::{load, parse};
pub use run::{run_looplab, Completion, Timeline};

/// How to run a scenario.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Also run it on Node.js and compare.
    pub node: bool,
    /// Runs of each side.
    pub runs: usize,
    /// The `lab` executable, for scenarios with `http_get` (their server is `lab serve`).
    pub lab: Option<PathBuf>,
}

/// One run of each side.
#[derive(Clone, Debug, Serialize)]
pub struct RunPair {
    /// looplab's completions.
    pub looplab: Timeline,
    /// Node's completions, with `--node`.
    pub node: Option<Timeline>,
    /// The two compared, with `--node`.
    pub comparison: Option<Comparison>,
}

/// Every run of a session.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    /// The runs, in the order they were made.
    pub runs: Vec<RunPair>,
    /// `node --version`, with `--node`.
    pub node_version: Option<String>,
    /// The runs summed up, with `--node`.
    pub summary: Option<Summary>,
}

impl Session {
    /// How many looplab runs had the first run's order (racy groups as sets).
    pub fn looplab_stable(&self, scenario: &Scenario) -> usize {
        let canon = |t: &Timeline| canonical(&t.order(), &scenario.racy);
        let Some(first) = self.runs.first().map(|r| canon(&r.looplab)) else {
            return 0;
        };
        self.runs
            .iter()
            .filter(|r| canon(&r.looplab) == first)
            .count()
    }
}

/// Runs `scenario` `options.runs` times on looplab and, with `options.node`, on Node after each.
pub fn run_session(
    scenario: &Arc<Scenario>,
    options: &SessionOptions,
) -> Result<Session, ScenarioError> {
    let node = if options.node {
        Some(find_node()?)
    } else {
        None
    };
    let node_version = node.as_deref().map(node_version).transpose()?;
    let fixture = Fixture::prepare(scenario, options.lab.as_deref())?;
    let mut runs = Vec::new();
    for _ in 0..options.runs.max(1) {
        let looplab = run_looplab(scenario, &fixture)?;
        let node_timeline = match &node {
            Some(node) => Some(run_node(scenario, &fixture, node)?),
            None => None,
        };
        let comparison = node_timeline
            .as_ref()
            .map(|n| compare(scenario, &looplab, n));
        runs.push(RunPair {
            looplab,
            node: node_timeline,
            comparison,
        });
    }
    let summary = options.node.then(|| {
        let comparisons: Vec<Comparison> =
            runs.iter().filter_map(|r| r.comparison.clone()).collect();
        Summary::of(&comparisons)
    });
    Ok(Session {
        runs,
        node_version,
        summary,
    })
}
