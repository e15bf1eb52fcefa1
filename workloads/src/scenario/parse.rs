//! Scenario files: TOML to a checked [`Scenario`], in two stages.
//!
//! 1. serde reads the file into raw tables that keep every value's byte span; unknown keys and
//!    wrong types are refused here, by serde and toml, with the span they report;
//! 2. `check.rs` turns the raw tables into the model: op kinds, the keys each kind takes,
//!    ranges, unique labels, the context each op runs in (main thread or a worker), message
//!    targets and racy groups. Each refusal points at the value at fault.
//!
//! Every error reads `FILE:LINE:COLUMN: what was wrong; expected ...`, on one line.

use std::io::Read as _;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::check::Checker;
use super::limits::{MAX_DEPTH, MAX_FILE_BYTES};
use super::model::Scenario;
use super::ScenarioError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Option<Spanned<String>>,
    pub(super) description: Option<Spanned<String>>,
    pub(super) pool_size: Option<Spanned<i64>>,
    pub(super) racy: Option<Vec<Spanned<Vec<Spanned<String>>>>>,
    pub(super) op: Option<Vec<Spanned<RawOp>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOp {
    pub(super) kind: Spanned<String>,
    pub(super) label: Spanned<String>,
    pub(super) iterations: Option<Spanned<i64>>,
    pub(super) keylen: Option<Spanned<i64>>,
    pub(super) bytes: Option<Spanned<i64>>,
    pub(super) host: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    pub(super) ms: Option<Spanned<i64>>,
    pub(super) times: Option<Spanned<i64>>,
    pub(super) to: Option<Spanned<String>>,
    pub(super) ops: Option<Vec<Spanned<RawOp>>>,
    pub(super) then: Option<Vec<Spanned<RawOp>>>,
}

impl RawOp {
    /// The parameter keys present, with their spans, in a fixed order.
    pub(super) fn present_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        let numbers = [
            ("iterations", &self.iterations),
            ("keylen", &self.keylen),
            ("bytes", &self.bytes),
            ("ms", &self.ms),
            ("times", &self.times),
        ];
        let texts = [("host", &self.host), ("path", &self.path), ("to", &self.to)];
        let mut keys: Vec<(&'static str, Range<usize>)> = numbers
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.span())))
            .chain(
                texts
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.span()))),
            )
            .collect();
        if let Some(first) = self.ops.as_ref().and_then(|ops| ops.first()) {
            keys.push(("ops", first.span()));
        }
        keys
    }
}

/// Reads and checks the scenario file at `path`, refusing one above
/// [`MAX_FILE_BYTES`](super::limits::MAX_FILE_BYTES) before reading it whole.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let read_err = |cause| ScenarioError::Read {
        file: file.clone(),
        cause,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(read_err)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ScenarioError::TooLarge {
            file,
            max_bytes: MAX_FILE_BYTES,
        });
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    parse(&text, &file, &stem)
}

/// Parses and checks scenario `text`; `file` names it in errors, `default_name` is its name
/// unless the file sets `name`.
pub fn parse(text: &str, file: &str, default_name: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        invalid(
            text,
            file,
            e.span().unwrap_or(0..0),
            serde_message(e.message()),
        )
    })?;
    Checker::new(text, file).scenario(raw, default_name)
}

/// toml's and serde's message on one line, in the `what; expected ...` form.
fn serde_message(message: &str) -> String {
    let message = message
        .trim()
        .replace('\n', "; ")
        .replace(", expected ", "; expected ");
    if message.starts_with("recursion limit") {
        format!(
            "{message}: the ops nest deeper than the toml reader goes; expected at most {MAX_DEPTH} \
             levels of `then` and `ops`"
        )
    } else if message.starts_with("missing field") {
        format!("{message}; expected every [[op]] to have `kind` and `label`")
    } else if message.contains("expected") {
        message
    } else {
        format!("{message}; expected a scenario file as described in the README")
    }
}

pub(super) fn invalid(
    text: &str,
    file: &str,
    span: Range<usize>,
    message: String,
) -> ScenarioError {
    let (line, column) = line_column(text, span.start);
    ScenarioError::Invalid {
        file: file.into(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
