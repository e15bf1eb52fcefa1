//! The values of a scenario file against their ranges and the bounds of `limits.rs`: numbers,
//! texts, and the running counts of ops, completions and file bytes (a part of `check.rs`,
//! apart so that each file reads in one sitting).
//!
//! Each refusal is one line at the value at fault, naming the key, the value, the bound and
//! what to write instead.

use toml::Spanned;

use super::super::limits;
use super::super::model::OpKind;
use super::super::parse::RawOp;
use super::{Checked, Checker};

impl Checker<'_> {
    /// Counts the op against [`limits::MAX_OPS`] and checks its depth.
    pub(super) fn count_op(&mut self, raw: &RawOp, depth: usize) -> Checked<()> {
        self.ops_seen += 1;
        if self.ops_seen > limits::MAX_OPS {
            return Err(self.error(
                raw.kind.span(),
                format!(
                    "this is op {} of the file, above the bound of {} ops; expected at most {} \
                     ops at all levels: split the scenario into several files",
                    self.ops_seen,
                    limits::MAX_OPS,
                    limits::MAX_OPS
                ),
            ));
        }
        if depth > limits::MAX_DEPTH {
            return Err(self.error(
                raw.kind.span(),
                format!(
                    "this op is nested {depth} levels deep, above the bound of {}; expected at \
                     most {} levels of `then` and `ops`: move it up a level",
                    limits::MAX_DEPTH,
                    limits::MAX_DEPTH
                ),
            ));
        }
        Ok(())
    }

    /// Counts the op's completions and file bytes against their bounds, before its interval
    /// ticks are labelled or its file is written.
    pub(super) fn count_work(&mut self, raw: &RawOp, kind: &OpKind) -> Checked<()> {
        let (completions, bytes) = match kind {
            OpKind::Interval { times, .. } => (*times as usize, 0),
            OpKind::ReadFile { bytes } | OpKind::WriteFile { bytes } => (1, *bytes),
            _ => (1, 0),
        };
        self.completions += completions;
        if self.completions > limits::MAX_COMPLETIONS {
            return Err(self.error(
                raw.label.span(),
                format!(
                    "this op brings the completions to {}, above the bound of {} (an interval \
                     records one per tick); expected fewer ops or smaller `times`",
                    self.completions,
                    limits::MAX_COMPLETIONS
                ),
            ));
        }
        self.total_bytes += bytes;
        if self.total_bytes > limits::MAX_TOTAL_BYTES {
            let span = raw.bytes.as_ref().map_or(raw.label.span(), Spanned::span);
            return Err(self.error(
                span,
                format!(
                    "`bytes` of the file ops add up to {}, above the bound of {} (256 MiB); \
                     expected smaller `bytes` or fewer read_file/write_file ops",
                    self.total_bytes,
                    limits::MAX_TOTAL_BYTES
                ),
            ));
        }
        Ok(())
    }

    /// `value` if it has at most `max` characters.
    pub(super) fn bounded<'v>(
        &self,
        value: &'v Spanned<String>,
        key: &str,
        max: usize,
    ) -> Checked<&'v str> {
        let text = value.get_ref().as_str();
        // Counting stops past the bound: a huge value costs no more than a short one.
        let chars = text.chars().take(max + 1).count();
        if chars > max {
            return Err(self.error(
                value.span(),
                format!(
                    "`{key}` of {} bytes is longer than the bound of {max} characters; \
                     expected a shorter `{key}`",
                    text.len()
                ),
            ));
        }
        Ok(text)
    }

    pub(super) fn number(
        &self,
        value: &Spanned<i64>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Checked<u64> {
        let v = *value.get_ref();
        if v < min || v > max {
            return Err(self.error(
                value.span(),
                format!(
                    "`{key}` {v} is out of range; expected {min}..={max}, for example {key} = {}",
                    example(key)
                ),
            ));
        }
        Ok(v as u64)
    }

    pub(super) fn optional(
        &self,
        value: &Option<Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
        default: u64,
    ) -> Checked<u64> {
        value
            .as_ref()
            .map_or(Ok(default), |v| self.number(v, key, min, max))
    }

    pub(super) fn required(
        &self,
        raw: &RawOp,
        value: &Option<Spanned<i64>>,
        key: &str,
        min: i64,
        max: i64,
        example: &str,
    ) -> Checked<u64> {
        match value {
            Some(v) => self.number(v, key, min, max),
            None => Err(self.error(
                raw.kind.span(),
                format!(
                    "kind `{}` needs `{key}`; expected for example {example}",
                    raw.kind.get_ref()
                ),
            )),
        }
    }

    pub(super) fn text_value(
        &self,
        value: &Option<Spanned<String>>,
        default: &str,
    ) -> Checked<String> {
        let Some(v) = value else {
            return Ok(default.into());
        };
        let host = self.bounded(v, "host", limits::MAX_TEXT_CHARS)?.trim();
        if host.is_empty() {
            return Err(self.error(
                v.span(),
                format!("empty value; expected a host name such as \"{default}\""),
            ));
        }
        Ok(host.into())
    }

    pub(super) fn http_path(&self, value: &Option<Spanned<String>>) -> Checked<String> {
        let Some(v) = value else {
            return Ok("/hello".into());
        };
        let path = self.bounded(v, "path", limits::MAX_TEXT_CHARS)?;
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(self.error(
                v.span(),
                format!(
                    "path {path:?} is not a request path; expected one starting with / and \
                     without spaces, such as \"/hello\""
                ),
            ));
        }
        Ok(path.into())
    }
}

/// A typical value of a numeric key, for error messages.
fn example(key: &str) -> &'static str {
    match key {
        "pool_size" => "4",
        "iterations" => "100000",
        "keylen" => "64",
        "bytes" => "4096",
        "times" => "3",
        _ => "10",
    }
}
