//! Why a sweep configuration was refused: one variant per kind of mistake, each carrying the
//! key, the offending value and what is allowed, so the message (one line, lowercase) says
//! how to fix it. `lab` prints it as `lab: error: <message>` and exits 2.

use std::fmt;

/// A sweep configuration that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The TOML did not parse, or named an unknown key (`where_` is `file:line:column`).
    Syntax { where_: String, message: String },
    /// An axis with no values.
    Empty { key: String, example: &'static str },
    /// A number outside its range.
    OutOfRange {
        key: String,
        value: String,
        range: String,
        example: &'static str,
    },
    /// A name that is not one of the allowed names.
    UnknownName {
        key: String,
        value: String,
        allowed: String,
        /// The allowed name closest to the mistyped one, if any is close.
        suggestion: Option<String>,
    },
    /// A value listed twice in one axis.
    Duplicate { key: String, value: String },
    /// A duration that is not like "5s".
    BadDuration { key: String, value: String },
    /// A key that only means something with another one, given without it.
    Unused {
        key: &'static str,
        needs: &'static str,
    },
    /// A flag value that is not a number list, or a `--shard` that is not `I/N`.
    BadFlag {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A combination that leaves nothing to run.
    NothingToRun { reason: String },
    /// A value that only batch mode can run.
    BatchOnly {
        key: &'static str,
        value: &'static str,
    },
    /// A mix name that would not survive in point ids, or that shadows a built-in workload.
    BadMixName { name: String },
    /// More points than a plan may have.
    TooManyPoints { points: u64, max: usize },
    /// The `command` runtime's keys (`command`, `paths`) are missing, misplaced or wrong;
    /// `problem` says which and how to fix it.
    App { problem: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax { where_, message } => write!(f, "{where_}: {message}"),
            ConfigError::Empty { key, example } => {
                write!(f, "{key}: the list is empty; give at least one value, like {example}")
            }
            ConfigError::OutOfRange {
                key,
                value,
                range,
                example,
            } => write!(
                f,
                "{key}: {value} is out of range {range}; use values like {example}"
            ),
            ConfigError::UnknownName {
                key,
                value,
                allowed,
                suggestion,
            } => match suggestion {
                Some(close) => write!(f, "{key}: `{value}` is not allowed; did you mean `{close}`? (choose from {allowed})"),
                None => write!(f, "{key}: `{value}` is not allowed; choose from {allowed}"),
            },
            ConfigError::Duplicate { key, value } => {
                write!(f, "{key}: {value} is listed twice; list each value once")
            }
            ConfigError::BadDuration { key, value } => write!(
                f,
                "{key}: `{value}` is not a duration; write a number and a unit, like \"500ms\", \"5s\" or \"1m\""
            ),
            ConfigError::Unused { key, needs } => {
                write!(f, "{key} is only used with {needs}; add it, or remove {key}")
            }
            ConfigError::BadFlag {
                flag,
                value,
                expected,
            } => write!(f, "{flag}: `{value}` is not valid; expected {expected}"),
            ConfigError::NothingToRun { reason } => write!(f, "the plan is empty: {reason}"),
            ConfigError::App { problem } => write!(f, "{problem}"),
            ConfigError::TooManyPoints { points, max } => write!(
                f,
                "the sweep has {points} points, more than the {max} a plan may have; remove values from its axes (pool_sizes, connections, rates, ...) or split it into several sweeps"
            ),
            ConfigError::BatchOnly { key, value } => write!(
                f,
                "{key}: `{value}` applies to batch mode only (service mode serves reads); set mode = \"batch\" or {key} = \"read\""
            ),
            ConfigError::BadMixName { name } => write!(
                f,
                "mixes.{name}: a mix name may hold only letters, digits, '-' and '_', and may not \
                 be hash, file or net; rename it, like web"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Turns a TOML error into one line: `file:line:column: message`, the message naming the key.
pub fn syntax(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    let where_ = match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{file}:{line}:{column}")
        }
        None => file.to_string(),
    };
    let message = err
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    ConfigError::Syntax { where_, message }
}
