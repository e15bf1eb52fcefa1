//! The two shapes written to a results folder: `Meta` (once, in `meta.json`) and `PointRecord`
//! (one JSON line per measured point and repetition, in `results.jsonl`).
//!
//! Both carry `schema`. Bump [`SCHEMA_VERSION`] whenever a field changes meaning or a required
//! field is added, and teach the reader the old shape; a reader refuses versions it does not
//! know instead of guessing. Optional fields added later carry `#[serde(default)]` so files
//! written before them still read (`rustc_version`, `shard`, `sources`, `source`,
//! `Machine::logical_cpus`).
//!
//! Versions:
//! 1. The first; a record names its point by id only.
//! 2. Every record carries its typed [`Coords`]. Schema-1 records are read by deriving them
//!    from the id ([`Coords::from_schema1_id`]); `meta.json` did not change.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::coords::Coords;
use super::machine::{rfc3339_utc, Machine};

/// The schema version this crate writes, in both `meta.json` and `results.jsonl`.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema version this crate reads.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// What was run, where and when: the identity of a results folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// Identifies the sweep; shards of one sweep share it, so `lab merge` can refuse strangers.
    pub sweep_id: String,
    /// The machine that measured; kept per folder so results of different machines stay apart.
    pub machine: Machine,
    /// The looplab version that measured.
    pub looplab_version: String,
    /// `git rev-parse HEAD` of the source (with `-dirty` for uncommitted changes), when known.
    pub git_revision: Option<String>,
    /// `rustc -V` of the compiler that built the measuring binary, when known.
    #[serde(default)]
    pub rustc_version: Option<String>,
    /// The slice of the sweep this folder holds, as `I/N` (`--shard`); `None` for all of it.
    #[serde(default)]
    pub shard: Option<String>,
    /// RFC 3339 UTC, e.g. `2024-05-01T12:00:00Z`.
    pub started_at: String,
    /// RFC 3339 UTC; `None` while running or after an interruption.
    pub finished_at: Option<String>,
    /// The resolved sweep; opaque to this crate.
    pub config: serde_json::Value,
    /// The folders a merged folder was made from, in order; a [`PointRecord::source`] indexes
    /// this list. Empty for a folder written by one sweep run.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// An A/A sweep (`lab sweep --aa`): its even repetitions are one half, its odd ones the
    /// other, measured in interleaved rounds, so the report can compare the two.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aa: bool,
    /// Open loop: the latency objective the answer ranks by (`slo_p99` in the sweep), ms;
    /// none for the default ([`crate::report::slo::DEFAULT_SLO_P99_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_p99_ms: Option<f64>,
}

/// One input of a merge: where its records came from and who measured them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The input folder, as given to `lab merge`.
    pub folder: String,
    /// The machine that measured that folder's records.
    pub machine: Machine,
    /// Its `--shard`, as `I/N`, if any.
    pub shard: Option<String>,
    /// Its git revision, when known.
    pub git_revision: Option<String>,
    /// When it started (RFC 3339 UTC).
    pub started_at: String,
    /// When it finished (RFC 3339 UTC); `None` if it was interrupted.
    pub finished_at: Option<String>,
}

impl Meta {
    /// Metadata for a sweep starting now on this machine, with no git revision, compiler
    /// version, shard, end time or sources.
    pub fn new(sweep_id: impl Into<String>, config: serde_json::Value) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            sweep_id: sweep_id.into(),
            machine: Machine::detect(),
            looplab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: None,
            rustc_version: None,
            shard: None,
            started_at: rfc3339_utc(SystemTime::now()),
            finished_at: None,
            config,
            sources: Vec::new(),
            aa: false,
            slo_p99_ms: None,
        }
    }
}

/// One repetition of one point: one line of `results.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// Stable identifier of the point within its sweep ([`Coords::id`]).
    pub point_id: String,
    /// Where the point sits in the sweep.
    pub coords: Coords,
    /// 0-based repetition index.
    pub repetition: u32,
    /// Whether the repetition completed; if not, `error` says why.
    pub ok: bool,
    /// What went wrong, when `ok` is false.
    pub error: Option<String>,
    /// Named measurements; units live in the names (`throughput_per_s`, `p99_us`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// The latency HdrHistogram, serialized then base64-encoded, when one was recorded.
    pub histogram_base64: Option<String>,
    /// In a merged folder, the index into [`Meta::sources`] of the folder this record came
    /// from; absent (and not written) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u32>,
}

impl PointRecord {
    /// A repetition of the point at `coords` that was measured whole.
    pub fn ok(
        coords: &Coords,
        repetition: u32,
        metrics: BTreeMap<String, f64>,
        histogram_base64: Option<String>,
    ) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            point_id: coords.id(),
            coords: coords.clone(),
            repetition,
            ok: true,
            error: None,
            metrics,
            histogram_base64,
            source: None,
        }
    }

    /// A repetition that failed, with why; `metrics` holds whatever was measured anyway.
    pub fn failed(
        coords: &Coords,
        repetition: u32,
        error: impl Into<String>,
        metrics: BTreeMap<String, f64>,
    ) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            ..Self::ok(coords, repetition, metrics, None)
        }
    }
}
