//! What a comparison reads: every repetition's value per point and metric ([`Samples`]), with
//! the identity of the sweep and of the machine that measured it ([`Measured`]), gathered from
//! one or more results folders.
//!
//! Several folders are pooled when they are rounds of one sweep run at different times (what
//! `scripts/ab.sh` does to spread each side over the whole job): their repetitions of a point
//! are simply put together. Pooling is refused across sweeps (different configurations) and
//! across machines, since either would mix measurements that are not repetitions of one thing.
//! Failed repetitions (`ok: false`) carry no values; they are counted, not compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{Coords, Machine, PointRecord, ResultsDir};

use super::CheckError;

/// Per point id, per metric name, every repetition's value (in the order read).
pub type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;
/// Per point id, the point's coordinates.
pub type CoordsOf = BTreeMap<String, Coords>;

/// The measurements of one side of a comparison and who made them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The machine that measured every repetition.
    pub machine: Machine,
    /// The sweep id of the folders (equal for all of them).
    pub sweep_id: String,
    /// The git revision of the first folder's build, when known.
    pub git_revision: Option<String>,
    /// The first folder's resolved sweep configuration.
    pub config: serde_json::Value,
    /// The folders read, as given.
    pub folders: Vec<String>,
    /// Repetitions that failed and hold no values.
    pub failed_repetitions: usize,
    /// Folders whose sweep had not finished (interrupted or still running).
    pub unfinished_folders: Vec<String>,
    /// Every successful repetition's metrics.
    pub points: Samples,
    /// Every point's coordinates (failed points too); absent from baselines saved before
    /// records carried coordinates.
    #[serde(default)]
    pub coords: CoordsOf,
}

impl Measured {
    /// Reads and pools the folders (at least one), refusing mixed sweeps and machines.
    pub fn load(folders: &[PathBuf]) -> Result<Self, CheckError> {
        let Some(first_path) = folders.first() else {
            return Err(CheckError::NoFolders);
        };
        let first = ResultsDir::open(first_path)?;
        let meta = first.meta();
        let mut measured = Measured {
            machine: meta.machine.clone(),
            sweep_id: meta.sweep_id.clone(),
            git_revision: meta.git_revision.clone(),
            config: meta.config.clone(),
            folders: Vec::new(),
            failed_repetitions: 0,
            unfinished_folders: Vec::new(),
            points: Samples::new(),
            coords: CoordsOf::new(),
        };
        for path in folders {
            let dir = ResultsDir::open(path)?;
            measured.add(path, &dir)?;
        }
        Ok(measured)
    }

    fn add(&mut self, path: &Path, dir: &ResultsDir) -> Result<(), CheckError> {
        let meta = dir.meta();
        let shown = path.display().to_string();
        if meta.sweep_id != self.sweep_id {
            return Err(CheckError::MixedSweeps {
                first: self.folders.first().cloned().unwrap_or_default(),
                other: shown,
                first_id: self.sweep_id.clone(),
                other_id: meta.sweep_id.clone(),
            });
        }
        let machines =
            std::iter::once(&meta.machine).chain(meta.sources.iter().map(|s| &s.machine));
        for machine in machines {
            let differences = machine_differences(&self.machine, machine);
            if !differences.is_empty() {
                return Err(CheckError::MixedMachines {
                    folder: shown,
                    differences: differences.join(", "),
                });
            }
        }
        if meta.finished_at.is_none() {
            self.unfinished_folders.push(shown.clone());
        }
        for record in dir.records()? {
            self.add_record(record);
        }
        self.folders.push(shown);
        Ok(())
    }

    fn add_record(&mut self, record: PointRecord) {
        self.coords
            .entry(record.point_id.clone())
            .or_insert(record.coords);
        if !record.ok {
            self.failed_repetitions += 1;
            return;
        }
        let point = self.points.entry(record.point_id).or_default();
        for (metric, value) in record.metrics {
            point.entry(metric).or_default().push(value);
        }
    }

    /// The values of one metric of one point (empty when absent).
    pub fn values(&self, point_id: &str, metric: &str) -> &[f64] {
        self.points
            .get(point_id)
            .and_then(|m| m.get(metric))
            .map_or(&[], Vec::as_slice)
    }
}

/// What differs between two machines' identities, as `field a vs b` phrases; empty when they
/// are the same machine. Identity is the host name, the CPU model, the usable cores and the
/// installed memory: what decides speed and can be read anywhere. The kernel and OS are left
/// out on purpose, so a routine update does not invalidate every baseline.
pub fn machine_differences(a: &Machine, b: &Machine) -> Vec<String> {
    let mut out = Vec::new();
    if a.hostname != b.hostname {
        out.push(format!("hostname {} vs {}", a.hostname, b.hostname));
    }
    if a.cpu_model != b.cpu_model {
        out.push(format!("cpu {:?} vs {:?}", a.cpu_model, b.cpu_model));
    }
    if a.cores != b.cores {
        out.push(format!("cores {} vs {}", a.cores, b.cores));
    }
    if a.memory_bytes != b.memory_bytes {
        out.push(format!(
            "memory {} vs {} bytes",
            a.memory_bytes, b.memory_bytes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::machine;

    #[test]
    fn machines_differ_by_identity_not_by_kernel() {
        let a = machine("vm");
        let mut b = machine("vm");
        b.kernel = "6.2.0".into();
        assert!(machine_differences(&a, &b).is_empty());
        b.hostname = "ci".into();
        b.cores = 4;
        assert_eq!(
            machine_differences(&a, &b),
            ["hostname vm vs ci", "cores 2 vs 4"]
        );
    }

    /// A results folder `name` under `parent` of sweep `sweep_id`, measured on `hostname`,
    /// holding one repetition of `loop/hash/p1` per throughput given (a negative one failed).
    fn folder(
        parent: &Path,
        name: &str,
        sweep_id: &str,
        hostname: &str,
        values: &[f64],
    ) -> PathBuf {
        let mut meta = crate::store::Meta::new(sweep_id, serde_json::json!({}));
        meta.machine = machine(hostname);
        meta.finished_at = Some("2026-11-26T08:00:00Z".into());
        let mut dir = ResultsDir::create(parent, name, &meta).unwrap();
        for (repetition, &value) in values.iter().enumerate() {
            let coords = Coords::from_schema1_id("loop/hash/p1").unwrap();
            let metrics = [("throughput_per_s".to_string(), value.abs())].into();
            dir.append(&PointRecord {
                ok: value >= 0.0,
                error: (value < 0.0).then(|| "failed".into()),
                ..PointRecord::ok(&coords, repetition as u32, metrics, None)
            })
            .unwrap();
        }
        dir.path().to_path_buf()
    }

    #[test]
    fn rounds_of_one_sweep_are_pooled_and_strangers_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let a = folder(tmp.path(), "a", "sweep-1", "vm", &[100.0, -1.0]);
        let b = folder(tmp.path(), "b", "sweep-1", "vm", &[102.0]);
        let pooled = Measured::load(&[a.clone(), b]).unwrap();
        assert_eq!(
            pooled.values("loop/hash/p1", "throughput_per_s"),
            [100.0, 102.0]
        );
        assert_eq!(pooled.failed_repetitions, 1);
        assert_eq!(pooled.folders.len(), 2);
        assert!(pooled.values("loop/hash/p4", "throughput_per_s").is_empty());

        let other_sweep = folder(tmp.path(), "c", "sweep-2", "vm", &[1.0]);
        let err = Measured::load(&[a.clone(), other_sweep])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sweep-2") && err.contains("sweep-1"), "{err}");
        let other_machine = folder(tmp.path(), "d", "sweep-1", "ci", &[1.0]);
        let err = Measured::load(&[a, other_machine]).unwrap_err().to_string();
        assert!(err.contains("hostname vm vs ci"), "{err}");
        assert!(matches!(Measured::load(&[]), Err(CheckError::NoFolders)));
    }
}
