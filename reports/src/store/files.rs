//! The two optional files a results folder may hold beside the measurements, declared and
//! read and written here alone:
//!
//! - `experiments.json` ([`ExperimentsFile`]): the classic experiments the sweep recorded
//!   (`looplab_workloads::experiments::recorded`), every attempt with its shape checks and
//!   pool timeline. The report draws the timelines; `lab check` judges the checks.
//! - `calibration.json` ([`Calibration`]): looplab against real Node.js, written by
//!   `lab calibrate` (its shape is the one `looplab_workloads::scenario` produces).
//!
//! Both are optional: a reader gets [`Optional::Absent`] and says so. A file that is there
//! but unreadable is [`Optional::Unreadable`] with a one-line reason naming the file, because
//! the measurements beside it are intact.
//!
//! `experiments.json` versions: 1, written by the report after a sweep (one run per
//! configuration, no `attempt`); 2, every attempt of the recorded set (`attempt` from 1).

use std::path::Path;

use looplab_workloads::experiments::recorded::Attempts;
pub use looplab_workloads::experiments::{ShapeCheck, TaskSpan};
pub use looplab_workloads::scenario::{Calibration, CalibrationBench, CalibrationScenario};
use serde::{Deserialize, Serialize};

use super::{write_file, StoreError};

/// File name of the recorded experiments inside a results folder.
pub const EXPERIMENTS_FILE: &str = "experiments.json";
/// File name of the calibration against Node.js inside a results folder.
pub const CALIBRATION_FILE: &str = "calibration.json";
/// The version of `experiments.json` this crate writes.
pub const EXPERIMENTS_SCHEMA: u32 = 2;

/// `experiments.json`: one entry per experiment run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentsFile {
    /// [`EXPERIMENTS_SCHEMA`] when written by this crate.
    pub schema: u32,
    /// The runs, in the order they were made.
    pub runs: Vec<ExperimentRun>,
}

/// One run of one classic experiment: its shape checks and pool timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRun {
    /// `staircase` or `multitask`.
    pub experiment: String,
    /// Pool threads.
    pub pool: u32,
    /// Which attempt at this configuration (from 1); version-1 files had one run each.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Parameters as (name, value) pairs, as the experiment reports them.
    pub params: Vec<(String, String)>,
    /// Whether every shape check against Node's behaviour held.
    pub matches_node: bool,
    /// The shape checks.
    pub checks: Vec<ShapeCheck>,
    /// Every pool task, in submission order.
    pub spans: Vec<TaskSpan>,
}

fn first_attempt() -> u32 {
    1
}

impl ExperimentsFile {
    /// The file of a recorded set: every attempt of every configuration, in order.
    pub fn of(recorded: &[Attempts]) -> Self {
        let runs = recorded
            .iter()
            .flat_map(|a| {
                a.runs.iter().zip(1..).map(|(run, attempt)| ExperimentRun {
                    experiment: a.experiment.name().to_string(),
                    pool: u32::try_from(a.pool).unwrap_or(u32::MAX),
                    attempt,
                    params: (run.report.params.iter())
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                    matches_node: run.report.matches_node(),
                    checks: run.report.checks.clone(),
                    spans: run.spans.clone(),
                })
            })
            .collect();
        Self {
            schema: EXPERIMENTS_SCHEMA,
            runs,
        }
    }

    /// The runs of one configuration, in attempt order.
    pub fn attempts(&self, experiment: &str, pool: u32) -> Vec<&ExperimentRun> {
        self.runs
            .iter()
            .filter(|r| r.experiment == experiment && r.pool == pool)
            .collect()
    }
}

/// What reading an optional file gave.
#[derive(Clone, Debug)]
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

/// Reads `dir/experiments.json`.
pub fn read_experiments(dir: &Path) -> Optional<ExperimentsFile> {
    read_optional(dir, EXPERIMENTS_FILE)
}

/// Reads `dir/calibration.json`.
pub fn read_calibration(dir: &Path) -> Optional<Calibration> {
    read_optional(dir, CALIBRATION_FILE)
}

/// Writes `dir/experiments.json` (pretty JSON, replaced whole).
pub fn write_experiments(dir: &Path, file: &ExperimentsFile) -> Result<(), StoreError> {
    write_json(dir, EXPERIMENTS_FILE, file)
}

/// Writes `dir/calibration.json` (pretty JSON, replaced whole).
pub fn write_calibration(dir: &Path, calibration: &Calibration) -> Result<(), StoreError> {
    write_json(dir, CALIBRATION_FILE, calibration)
}

/// Writes `value` as pretty JSON into `dir/name` through [`write_file`].
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), StoreError> {
    let mut json = serde_json::to_string_pretty(value).map_err(|e| StoreError::Io {
        action: "serialize",
        path: dir.join(name),
        cause: e.into(),
    })?;
    json.push('\n');
    write_file(dir, name, json.as_bytes())
}

/// Writes `value` as pretty JSON to the file `path` names (atomically), creating its folder:
/// for the files given on a command line rather than kept in a results folder.
pub fn write_json_to<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| StoreError::Io {
        action: "write",
        path: path.to_path_buf(),
        cause: std::io::Error::other("the path names no file; give one, like out.json"),
    })?;
    // A missing folder is made; a file in its place is left for the write to report (as "Not
    // a directory", clearer than the "File exists" of making the folder).
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|cause| StoreError::Io {
            action: "create the folder of",
            path: path.to_path_buf(),
            cause,
        })?;
    }
    write_json(dir, &name.to_string_lossy(), value)
}

/// Reads `dir/name` as JSON of type `T`.
fn read_optional<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Optional<T> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Optional::Absent,
        Err(e) => Optional::Unreadable(format!("cannot read {}: {e}", path.display())),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => Optional::Present(value),
            Err(e) => Optional::Unreadable(format!(
                "{}:{}: not a valid {name} ({e})",
                path.display(),
                e.line().max(1)
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calibration_schema_reads() {
        let text = r#"{"scenarios":[{"name":"ordering","order_identical":true,"racy":false,
            "agreement":"3/3","rank_correlation":1.0,"first_difference":null,
            "time_ratio":0.9}],
            "benches":[{"name":"timers","looplab":1.5,"node":2.0,"unit":"us/op","ratio":0.75}]}"#;
        let c: Calibration = serde_json::from_str(text).unwrap();
        assert_eq!(c.scenarios[0].first_difference, None);
        assert_eq!(c.benches[0].unit, "us/op");
    }

    #[test]
    fn absent_and_corrupt_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read_calibration(dir.path()), Optional::Absent));
        std::fs::write(dir.path().join(CALIBRATION_FILE), "{").unwrap();
        match read_calibration(dir.path()) {
            Optional::Unreadable(m) => assert!(m.contains("calibration.json:1"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_version_1_file_reads_with_one_attempt_per_run() {
        let text = r#"{"schema":1,"runs":[{"experiment":"staircase","pool":2,
            "params":[["calls","6"]],"matches_node":true,
            "checks":[{"rule":"waves","holds":true,"observed":"2 2 2"}],
            "spans":[{"label":"hash 1","thread":0,"queued_ms":0.0,"started_ms":0.1,
            "ended_ms":9.0}]}]}"#;
        let file: ExperimentsFile = serde_json::from_str(text).unwrap();
        assert_eq!(file.attempts("staircase", 2)[0].attempt, 1);
        assert_eq!(file.runs[0].spans[0].thread, 0);
    }
}
