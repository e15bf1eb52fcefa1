//! The checks of stage 1 ([`super::config`]): each allowed range as a constant, and small
//! validators that turn a value outside its range, an empty or repeated axis, or an unknown
//! name into a [`ConfigError`] naming the key, the value and the fix.
//!
//! Numbers arrive as `i64` so that `0` or `-1` are reported against the key's range.

use std::collections::HashSet;

use looplab_runtime::pool::MAX_POOL_SIZE;
use looplab_runtime::worker::MAX_POOL_WORKERS;
use looplab_workloads::deploy::MAX_PROCESSES;
use looplab_workloads::experiments::MAX_HASH_ITERATIONS;
use looplab_workloads::serve::MAX_FILE_BYTES;

use super::error::ConfigError;
use super::spec::parse_duration_ms;

/// A numeric key's allowed range (printed as `min..=max`) and an example of good values.
pub(super) struct Range {
    pub(super) min: i64,
    pub(super) max: i64,
    pub(super) example: &'static str,
}

const fn range(min: i64, max: i64, example: &'static str) -> Range {
    Range { min, max, example }
}

pub(super) const POOL: Range = range(1, MAX_POOL_SIZE as i64, "[1, 2, 4]");
pub(super) const PROCESSES: Range = range(1, MAX_PROCESSES as i64, "[1, 2]");
pub(super) const WORKERS: Range = range(1, MAX_POOL_WORKERS as i64, "[1, 2]");
pub(super) const CONNECTIONS: Range = range(1, 10_000, "[16, 64]");
pub(super) const RATES: Range = range(1, 10_000_000, "[500, 1000]");
pub(super) const REPETITIONS: Range = range(1, 1_000, "3");
/// The server's bound (about 5 s of one core per hash here).
pub(super) const ITERATIONS: Range = range(1, MAX_HASH_ITERATIONS as i64, "10000");
/// The server's bound (64 MiB).
pub(super) const FILE_BYTES: Range = range(1, MAX_FILE_BYTES as i64, "65536");
pub(super) const JOBS: Range = range(1, 1_000_000, "64");
pub(super) const MIX_WEIGHT: Range = range(0, 1_000, "{ hello = 8, hash = 1 }");
pub(super) const SEED: Range = range(0, i64::MAX, "42");
/// Longest duration or warm-up accepted: one hour.
pub(super) const MAX_DURATION_MS: u64 = 3_600_000;
/// Most file bytes a point may read at once: 1 GiB. Each connection (service mode) or each
/// job (batch mode, all submitted at once) can hold one read of `file_bytes`.
pub(super) const MAX_FILE_BYTES_IN_FLIGHT: u64 = 1 << 30;

/// `file_bytes` times the most `holders` that can each hold one read, against
/// [`MAX_FILE_BYTES_IN_FLIGHT`]; `what` names the holders (`connections`, `jobs`).
pub(super) fn file_bytes_in_flight(
    file_bytes: u64,
    holders: u64,
    what: &str,
) -> Result<(), ConfigError> {
    let total = file_bytes.saturating_mul(holders);
    if total <= MAX_FILE_BYTES_IN_FLIGHT {
        return Ok(());
    }
    Err(ConfigError::OutOfRange {
        key: "file_bytes".to_string(),
        value: format!("{file_bytes} x {holders} {what} = {total} bytes in flight"),
        range: "up to 1073741824 (1 GiB) in flight".into(),
        example: "65536, or fewer connections or jobs",
    })
}

pub(super) fn required<'a, T>(
    value: &'a Option<T>,
    key: &'static str,
) -> Result<&'a T, ConfigError> {
    // Only a hand-built config can miss a key: the built-in sweep sets them all.
    value.as_ref().ok_or(ConfigError::NothingToRun {
        reason: format!("`{key}` is not set; add it (see `lab sweep --print-config`)"),
    })
}

pub(super) fn unknown(key: &str, value: &str, allowed: &[&str]) -> ConfigError {
    ConfigError::UnknownName {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.join(", "),
        suggestion: crate::output::closest(value, allowed).map(str::to_string),
    }
}

pub(super) fn check(key: &str, value: i64, range: &Range) -> Result<i64, ConfigError> {
    if (range.min..=range.max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            range: format!("{}..={}", range.min, range.max),
            example: range.example,
        })
    }
}

pub(super) fn number(
    value: &Option<i64>,
    key: &'static str,
    range: &Range,
) -> Result<i64, ConfigError> {
    check(key, *required(value, key)?, range)
}

pub(super) fn duration(
    value: &Option<String>,
    key: &'static str,
    min_ms: u64,
) -> Result<u64, ConfigError> {
    let text = required(value, key)?;
    let ms = parse_duration_ms(text).ok_or_else(|| ConfigError::BadDuration {
        key: key.to_string(),
        value: text.clone(),
    })?;
    if ms < min_ms || ms > MAX_DURATION_MS {
        return Err(ConfigError::OutOfRange {
            key: key.to_string(),
            value: format!("\"{text}\""),
            range: if min_ms == 0 {
                "0s..=1h".into()
            } else {
                "above 0s, up to 1h".into()
            },
            example: "\"500ms\", \"5s\"",
        });
    }
    Ok(ms)
}

/// A numeric axis: non-empty, each value in range, no value twice.
pub(super) fn axis(
    values: &Option<Vec<i64>>,
    key: &'static str,
    range: &Range,
) -> Result<Vec<u32>, ConfigError> {
    let values = required(values, key)?;
    if values.is_empty() {
        return Err(ConfigError::Empty {
            key: key.to_string(),
            example: range.example,
        });
    }
    let mut seen = HashSet::new();
    values
        .iter()
        .map(|&v| {
            let v = check(key, v, range)?;
            if !seen.insert(v) {
                return Err(ConfigError::Duplicate {
                    key: key.to_string(),
                    value: v.to_string(),
                });
            }
            Ok(v as u32)
        })
        .collect()
}

/// A name axis: non-empty, each name resolved by `parse`, no name twice.
pub(super) fn names<T>(
    values: &Option<Vec<String>>,
    key: &'static str,
    example: &'static str,
    parse: impl Fn(&str) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let values = required(values, key)?;
    if values.is_empty() {
        return Err(ConfigError::Empty {
            key: key.to_string(),
            example,
        });
    }
    let mut seen = HashSet::new();
    values
        .iter()
        .map(|name| {
            if !seen.insert(name) {
                return Err(ConfigError::Duplicate {
                    key: key.to_string(),
                    value: format!("`{name}`"),
                });
            }
            parse(name)
        })
        .collect()
}
