//! Cost profiles (`costs/node.toml`, `lab calibrate --costs --out FILE`): the CPU time Node
//! spends per kind of event beyond what looplab spends, measured on one machine with one Node
//! version, which a looplab process charges per event ([`looplab_runtime::costs`]) to be as
//! costly as Node. This module owns the file: its fields, reading and writing.
//!
//! ```toml
//! schema = 1
//! node_version = "v20.20.2"
//! looplab_version = "0.1.0"
//! measured_at = "2026-12-07T12:00:00Z"
//! runs = 5
//!
//! [machine]
//! hostname = "..."   # the whole Machine, as in meta.json
//!
//! [events.timer]
//! ns = 310           # charged per event: median of node_ns - looplab_ns over the runs, >= 0
//! spread_ns = 40     # half the range of the runs' differences
//! node_ns = 420.0    # Node's CPU per event (median)
//! looplab_ns = 110.0 # looplab's CPU per event (median)
//! how = "setTimeout(0) chains: process CPU over events"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use looplab_workloads::deploy::CostTable;
use serde::{Deserialize, Serialize};

use super::{rfc3339_utc, Machine};

/// The schema this crate writes.
pub const COSTS_SCHEMA: u32 = 1;

/// A measured cost profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostProfile {
    /// Always [`COSTS_SCHEMA`] when written by this crate.
    pub schema: u32,
    /// `node --version` of the Node.js measured.
    pub node_version: String,
    /// The looplab version measured against.
    pub looplab_version: String,
    /// When (RFC 3339 UTC).
    pub measured_at: String,
    /// Runs of every micro-benchmark on each runtime.
    pub runs: u32,
    /// The machine measured on.
    pub machine: Machine,
    /// Per event name ([`looplab_runtime::costs::Event::name`]).
    pub events: BTreeMap<String, EventCost>,
}

/// One event's cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventCost {
    /// Nanoseconds charged per event (never negative).
    pub ns: u64,
    /// Half the range of the runs' differences, ns.
    pub spread_ns: u64,
    /// Node's CPU per event, ns (median over the runs).
    pub node_ns: f64,
    /// looplab's CPU per event, ns (median over the runs).
    pub looplab_ns: f64,
    /// What was measured, in a few words.
    pub how: String,
}

/// Why a profile could not be read or written, in one line naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CostsError {
    /// Reading or writing failed.
    #[error("cost profile {path}: {cause}; measure one with `lab calibrate --costs --out {path}`")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// Not a profile.
    #[error("cost profile {path} is not valid: {reason}; measure it again with `lab calibrate --costs --out {path}`")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl CostProfile {
    /// A profile measured now on this machine.
    pub fn new(node_version: String, runs: u32, events: BTreeMap<String, EventCost>) -> Self {
        Self {
            schema: COSTS_SCHEMA,
            node_version,
            looplab_version: env!("CARGO_PKG_VERSION").to_string(),
            measured_at: rfc3339_utc(std::time::SystemTime::now()),
            runs,
            machine: Machine::detect(),
            events,
        }
    }

    /// Reads and checks a profile (schema, event names).
    pub fn read(path: &Path) -> Result<Self, CostsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| CostsError::Io {
            path: shown.clone(),
            cause,
        })?;
        let invalid = |reason: String| CostsError::Invalid {
            path: shown.clone(),
            reason,
        };
        let profile: CostProfile =
            toml::from_str(&text).map_err(|e| invalid(e.message().into()))?;
        if profile.schema != COSTS_SCHEMA {
            return Err(invalid(format!(
                "schema {} (this lab reads {COSTS_SCHEMA})",
                profile.schema
            )));
        }
        profile
            .table()
            .to_costs()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(profile)
    }

    /// Writes the profile as TOML.
    pub fn write(&self, path: &Path) -> Result<(), CostsError> {
        let text = toml::to_string(self).map_err(|e| CostsError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|cause| CostsError::Io {
            path: path.display().to_string(),
            cause,
        })
    }

    /// What a point charges: ns per event name.
    pub fn table(&self) -> CostTable {
        CostTable(self.events.iter().map(|(k, v)| (k.clone(), v.ns)).collect())
    }

    /// A warning when the profile was measured on another machine than `here` (host, CPU
    /// model or cores differ): its costs may not be this machine's.
    pub fn other_machine(&self, here: &Machine) -> Option<String> {
        let m = &self.machine;
        let same =
            m.hostname == here.hostname && m.cpu_model == here.cpu_model && m.cores == here.cores;
        (!same).then(|| {
            format!(
                "the cost profile was measured on {} ({}, {} cores), not on this machine ({}, {}, {} cores); its costs may not be this machine's (measure one here with `lab calibrate --costs`)",
                m.hostname, m.cpu_model, m.cores, here.hostname, here.cpu_model, here.cores
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> CostProfile {
        let cost = |ns| EventCost {
            ns,
            spread_ns: 12,
            node_ns: 500.5,
            looplab_ns: 100.0,
            how: "a probe".into(),
        };
        let events = [
            ("timer".to_string(), cost(400)),
            ("io".to_string(), cost(0)),
        ];
        CostProfile::new("v20.20.2".into(), 5, events.into_iter().collect())
    }

    #[test]
    fn a_profile_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let p = profile();
        p.write(&path).unwrap();
        assert_eq!(CostProfile::read(&path).unwrap(), p);
        assert_eq!(p.table().0.get("timer"), Some(&400));
        assert!(p.other_machine(&p.machine).is_none());
        let mut elsewhere = p.machine.clone();
        elsewhere.hostname = "elsewhere".into();
        assert!(p.other_machine(&elsewhere).unwrap().contains("elsewhere"));
    }

    #[test]
    fn a_missing_or_corrupt_profile_is_one_line_with_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let corrupt = dir.path().join("corrupt.toml");
        std::fs::write(&corrupt, "schema = 1\nruns = \"five\"\n").unwrap();
        let unknown = dir.path().join("unknown.toml");
        let text = toml::to_string(&profile())
            .unwrap()
            .replace("[events.io]", "[events.gc]");
        std::fs::write(&unknown, text).unwrap();
        for path in [&missing, &corrupt, &unknown] {
            let e = CostProfile::read(path).unwrap_err().to_string();
            let shown = path.display().to_string();
            assert!(!e.contains('\n'), "{e}");
            assert!(
                e.contains(&format!("lab calibrate --costs --out {shown}")),
                "{e}"
            );
        }
    }
}
