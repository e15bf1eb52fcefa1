//! The two optional files a results folder may hold beside the measurements, and how the report
//! reads them:
//!
//! - `experiments.json` ([`ExperimentsFile`]): the classic experiments' pool timelines, written
//!   by the harness after every sweep, drawn as Gantt charts.
//! - `calibration.json` ([`Calibration`]): looplab against real Node.js, written by
//!   `lab calibrate`, shown as two tables.
//!
//! Both are optional: when absent the report says so (Gantt) or leaves the section out
//! (calibration). When present but unreadable the report still renders, with a warning naming
//! the file, because the measurements it is about are intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ReportError;

/// File name of the experiments' timelines inside a results folder.
pub const EXPERIMENTS_FILE: &str = "experiments.json";
/// File name of the calibration against Node.js inside a results folder.
pub const CALIBRATION_FILE: &str = "calibration.json";
/// The version of `experiments.json` this crate writes and reads.
pub const EXPERIMENTS_SCHEMA: u32 = 1;

/// `experiments.json`: one entry per experiment run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentsFile {
    /// Always [`EXPERIMENTS_SCHEMA`] when written by this crate.
    pub schema: u32,
    /// The runs, in the order they were made.
    pub runs: Vec<ExperimentRun>,
}

/// One run of one classic experiment with its pool timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRun {
    /// `staircase` or `multitask`.
    pub experiment: String,
    /// Pool threads.
    pub pool: u32,
    /// Parameters as (name, value) pairs, as the experiment reports them.
    pub params: Vec<(String, String)>,
    /// Whether every shape check against Node's behaviour held.
    pub matches_node: bool,
    /// The shape checks, as sentences with what was observed.
    pub checks: Vec<CheckLine>,
    /// Every pool task, in submission order.
    pub spans: Vec<TaskSpan>,
}

/// One shape check of an experiment run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckLine {
    /// The rule, as a sentence.
    pub rule: String,
    /// Whether it held.
    pub holds: bool,
    /// What was observed.
    pub observed: String,
}

/// One task on a pool thread, in milliseconds since the experiment started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpan {
    /// What ran: `hash 3`, `FS fstat`, ...
    pub label: String,
    /// The pool thread's index (0-based).
    pub thread: u32,
    /// Submitted to the pool's queue.
    pub queued_ms: f64,
    /// Taken by the thread.
    pub started_ms: f64,
    /// Finished.
    pub ended_ms: f64,
}

/// `calibration.json`: looplab's behaviour and speed against real Node.js.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Scenarios run on both, compared by the order of their events.
    pub scenarios: Vec<CalibrationScenario>,
    /// Micro-benchmarks run on both.
    pub benches: Vec<CalibrationBench>,
}

/// One scenario of the calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationScenario {
    /// Scenario name.
    pub name: String,
    /// Whether both produced their events in the same order.
    pub order_identical: bool,
    /// Whether the scenario's order depends on timing (a race), so a difference may be fair.
    pub racy: bool,
    /// How well they agree, in words.
    pub agreement: String,
    /// Rank correlation of the two event orders.
    pub rank_correlation: f64,
    /// The first event where they differ, if any.
    pub first_difference: Option<String>,
    /// looplab's time over Node's.
    pub time_ratio: f64,
}

/// One micro-benchmark of the calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBench {
    /// Bench name.
    pub name: String,
    /// looplab's figure.
    pub looplab: f64,
    /// Node's figure.
    pub node: f64,
    /// The figures' unit.
    pub unit: String,
    /// looplab over Node.
    pub ratio: f64,
}

/// What reading an optional file gave.
#[derive(Debug)]
pub enum Optional<T> {
    /// Not there.
    Absent,
    /// Read.
    Present(T),
    /// There but unreadable: the warning to show.
    Unreadable(String),
}

impl<T> Optional<T> {
    /// The value, when it was read.
    pub fn get(&self) -> Option<&T> {
        match self {
            Optional::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// Reads `dir/name` as JSON of type `T`.
pub fn read_optional<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Optional<T> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Optional::Absent,
        Err(e) => Optional::Unreadable(format!("cannot read {}: {e}", path.display())),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => Optional::Present(value),
            Err(e) => Optional::Unreadable(format!(
                "{}:{}: not a valid {name} ({e}); that section is left out",
                path.display(),
                e.line().max(1)
            )),
        },
    }
}

/// Writes `experiments.json` into a results folder (pretty JSON, replaced whole).
pub fn write_experiments(dir: &Path, file: &ExperimentsFile) -> Result<PathBuf, ReportError> {
    let path = dir.join(EXPERIMENTS_FILE);
    let mut json = serde_json::to_string_pretty(file).map_err(|e| ReportError::Io {
        action: "serialize",
        path: path.clone(),
        cause: e.into(),
    })?;
    json.push('\n');
    std::fs::write(&path, json).map_err(|cause| ReportError::Io {
        action: "write",
        path: path.clone(),
        cause,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calibration_schema_reads() {
        let text = r#"{"scenarios":[{"name":"ordering","order_identical":true,"racy":false,
            "agreement":"identical","rank_correlation":1.0,"first_difference":null,
            "time_ratio":0.9}],
            "benches":[{"name":"timers","looplab":1.5,"node":2.0,"unit":"us/op","ratio":0.75}]}"#;
        let c: Calibration = serde_json::from_str(text).unwrap();
        assert_eq!(c.scenarios[0].first_difference, None);
        assert_eq!(c.benches[0].unit, "us/op");
    }

    #[test]
    fn absent_and_corrupt_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_optional::<Calibration>(dir.path(), CALIBRATION_FILE),
            Optional::Absent
        ));
        std::fs::write(dir.path().join(CALIBRATION_FILE), "{").unwrap();
        match read_optional::<Calibration>(dir.path(), CALIBRATION_FILE) {
            Optional::Unreadable(m) => assert!(m.contains("calibration.json:1"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
