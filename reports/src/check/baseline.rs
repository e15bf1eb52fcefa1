//! The baseline file: what `lab check` needs of an earlier run, in one JSON document.
//!
//! ```json
//! { "baseline_schema": 1, "created_at": "2026-11-26T08:08:16Z",
//!   "machine": { "hostname": "vm", "cpu_model": "AMD EPYC", "cores": 2, ... },
//!   "sweep_id": "sweep-cfa7f4a650fa2197", "git_revision": "12f8702...", "config": { ... },
//!   "folders": ["lab-results/a"], "failed_repetitions": 0, "unfinished_folders": [],
//!   "points": { "loop/hash/p1/c8": { "throughput_per_s": [185.0, 190.5, 188.2], ... } } }
//! ```
//!
//! Every repetition's value is kept, not a summary, so the statistics can change without
//! re-measuring, and every metric of a point is kept, not only those compared today. A reader
//! refuses any `baseline_schema` other than [`BASELINE_SCHEMA`] and names the file.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::store::{rfc3339_utc, write_json_to};

use super::measured::{machine_differences, Measured};
use super::CheckError;

/// The version of the baseline format this crate writes and reads.
pub const BASELINE_SCHEMA: u32 = 1;

/// A saved baseline: the measurements of one side and when they were saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`] when written by this crate.
    pub baseline_schema: u32,
    /// When the baseline was saved (RFC 3339 UTC).
    pub created_at: String,
    /// The measurements and their machine.
    #[serde(flatten)]
    pub measured: Measured,
}

impl Baseline {
    /// A baseline of these measurements, saved now.
    pub fn new(measured: Measured) -> Self {
        Self {
            baseline_schema: BASELINE_SCHEMA,
            created_at: rfc3339_utc(SystemTime::now()),
            measured,
        }
    }

    /// Writes the baseline as pretty JSON through the store's one atomic writer (a temp file
    /// created exclusively beside it, then renamed: a reader never sees half, and a planted
    /// symlink is replaced, not followed).
    pub fn save(&self, path: &Path) -> Result<(), CheckError> {
        Ok(write_json_to(path, self)?)
    }

    /// Reads a baseline file, refusing other schema versions and anything that is not one.
    pub fn load(path: &Path) -> Result<Self, CheckError> {
        let text = std::fs::read_to_string(path).map_err(|cause| CheckError::Io {
            action: "read",
            path: path.to_path_buf(),
            cause,
        })?;
        let corrupt = |message: String| CheckError::CorruptBaseline {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        match value.get("baseline_schema").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(BASELINE_SCHEMA) => {}
            Some(found) => {
                return Err(CheckError::BaselineSchema {
                    path: path.to_path_buf(),
                    found,
                })
            }
            None => {
                return Err(corrupt(
                    "no `baseline_schema` field: not a baseline file (make one with `lab baseline DIR --save FILE`)".into(),
                ))
            }
        }
        serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
    }

    /// Refuses to compare with `new` when it was measured on another machine, unless allowed.
    /// Returns a warning to show when the machines differ and it was allowed.
    pub fn same_machine_as(
        &self,
        path: &Path,
        new: &Measured,
        allow_other_machine: bool,
    ) -> Result<Option<String>, CheckError> {
        let differences = machine_differences(&self.measured.machine, &new.machine);
        if differences.is_empty() {
            return Ok(None);
        }
        let differences = differences.join(", ");
        if allow_other_machine {
            return Ok(Some(format!(
                "the baseline was measured on another machine ({differences}); speed differences may be the machines', not the code's"
            )));
        }
        Err(CheckError::OtherMachine {
            path: path.to_path_buf(),
            differences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::measured;

    #[test]
    fn round_trips_and_refuses_other_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        let baseline = Baseline::new(measured("vm", &[("loop/hash/p1", "p99_us", &[1.0, 2.0])]));
        baseline.save(&path).unwrap();
        assert_eq!(Baseline::load(&path).unwrap(), baseline);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"p99_us\": ["), "{text}");
        std::fs::write(
            &path,
            text.replace("\"baseline_schema\": 1", "\"baseline_schema\": 9"),
        )
        .unwrap();
        let err = Baseline::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("schema 9") && err.contains("base.json"),
            "{err}"
        );
        std::fs::write(&path, "{}").unwrap();
        let err = Baseline::load(&path).unwrap_err().to_string();
        assert!(err.contains("lab baseline DIR --save FILE"), "{err}");
    }

    #[test]
    fn another_machine_is_refused_unless_allowed() {
        let baseline = Baseline::new(measured("vm", &[]));
        let new = measured("ci", &[]);
        let path = Path::new("base.json");
        let err = baseline
            .same_machine_as(path, &new, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hostname vm vs ci"), "{err}");
        assert!(err.contains("--allow-other-machine"), "{err}");
        let warning = baseline.same_machine_as(path, &new, true).unwrap();
        assert!(warning.unwrap().contains("another machine"));
        assert_eq!(
            baseline
                .same_machine_as(path, &measured("vm", &[]), false)
                .unwrap(),
            None
        );
    }
}
