//! The two shapes written to a results folder: `Meta` (once, in `meta.json`) and `PointRecord`
//! (one JSON line per measured point and repetition, in `results.jsonl`).
//!
//! Both carry `schema`; a reader refuses any version other than [`SCHEMA_VERSION`] instead of
//! guessing. Bump it whenever a field changes meaning or a required field is added.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::machine::{rfc3339_utc, Machine};

/// The schema version this crate writes and reads, in both `meta.json` and `results.jsonl`.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// `git rev-parse HEAD` of the source, when known.
    pub git_revision: Option<String>,
    /// RFC 3339 UTC, e.g. `2024-05-01T12:00:00Z`.
    pub started_at: String,
    /// RFC 3339 UTC; `None` while running or after an interruption.
    pub finished_at: Option<String>,
    /// The resolved sweep; opaque to this crate.
    pub config: serde_json::Value,
}

impl Meta {
    /// Metadata for a sweep starting now on this machine, with no git revision and no end time.
    pub fn new(sweep_id: impl Into<String>, config: serde_json::Value) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            sweep_id: sweep_id.into(),
            machine: Machine::detect(),
            looplab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: None,
            started_at: rfc3339_utc(SystemTime::now()),
            finished_at: None,
            config,
        }
    }
}

/// One repetition of one point: one line of `results.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema: u32,
    /// Stable identifier of the point within its sweep.
    pub point_id: String,
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
}
