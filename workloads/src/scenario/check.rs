//! Stage 2 of reading a scenario file (stage 1 is `parse.rs`): raw tables to the model.
//!
//! Checked here, each refusal pointing at the value at fault: op kinds and the keys each kind
//! takes, ranges and the bounds of `limits.rs` (counted as the walk goes, before anything is
//! built from a value), unique labels (interval ticks included), the context each op runs in (the
//! main thread, or a worker: its `ops`, and the `then` of a message sent to it), message
//! targets, messages the structure sends to a worker not running (`order.rs`), racy groups.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::limits;
use super::model::{completion_labels, Op, OpKind, Scenario, DEFAULT_POOL_SIZE, OP_KINDS};
use super::order::{first_misplaced, Misplaced};
use super::parse::{invalid, line_column, RawOp, RawScenario};
use super::ScenarioError;

#[path = "check_values.rs"]
mod values;

/// Where an op runs: the main thread or inside the worker with this label.
#[derive(Clone, Debug, PartialEq)]
enum Context {
    Main,
    Worker(String),
}

/// Stage 2: raw tables to the model (see the module documentation).
pub(super) struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    /// Completion label -> the span where it was first defined.
    labels: HashMap<String, Range<usize>>,
    /// Labels of the worker ops started from the main thread.
    workers: HashSet<String>,
    /// Message label -> the span of its `to`, for the order check.
    targets: HashMap<String, Range<usize>>,
    /// Ops, completions and file bytes seen so far, against their bounds.
    ops_seen: usize,
    completions: usize,
    total_bytes: u64,
}

type Checked<T> = Result<T, ScenarioError>;

impl<'a> Checker<'a> {
    pub(super) fn new(text: &'a str, file: &'a str) -> Self {
        Self {
            text,
            file,
            labels: HashMap::new(),
            workers: HashSet::new(),
            targets: HashMap::new(),
            ops_seen: 0,
            completions: 0,
            total_bytes: 0,
        }
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        invalid(self.text, self.file, span, message.into())
    }

    pub(super) fn scenario(mut self, raw: RawScenario, default_name: &str) -> Checked<Scenario> {
        let pool_size = match raw.pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(p) => self.number(&p, "pool_size", 1, limits::MAX_POOL_SIZE)? as usize,
        };
        let ops = raw.op.unwrap_or_default();
        if ops.is_empty() {
            return Err(self.error(
                self.text.len()..self.text.len(),
                "the scenario has no ops; expected at least one [[op]] table with `kind` and `label`",
            ));
        }
        let name = match raw.name {
            Some(n) => self
                .bounded(&n, "name", limits::MAX_LABEL_CHARS)?
                .to_string(),
            None => default_name.to_string(),
        };
        if let Some(d) = &raw.description {
            self.bounded(d, "description", limits::MAX_DESCRIPTION_CHARS)?;
        }
        collect_workers(&ops, &mut self.workers);
        let ops = self.ops(ops, &Context::Main, 0)?;
        self.message_order(&ops)?;
        let racy = self.racy(raw.racy.unwrap_or_default())?;
        Ok(Scenario {
            name,
            description: raw.description.map(Spanned::into_inner),
            pool_size,
            racy,
            ops,
        })
    }

    fn ops(
        &mut self,
        raw: Vec<Spanned<RawOp>>,
        context: &Context,
        depth: usize,
    ) -> Checked<Vec<Arc<Op>>> {
        raw.into_iter()
            .map(|op| self.op(op.into_inner(), context, depth).map(Arc::new))
            .collect()
    }

    fn op(&mut self, raw: RawOp, context: &Context, depth: usize) -> Checked<Op> {
        self.count_op(&raw, depth)?;
        let label = self.label(&raw)?;
        let kind_span = raw.kind.span();
        let kind = self.kind(&raw, context)?;
        self.count_work(&raw, &kind)?;
        for tick in completion_labels(&label, &kind) {
            if let Some(first) = self.labels.get(&tick) {
                let (line, _) = line_column(self.text, first.start);
                return Err(self.error(
                    raw.label.span(),
                    format!("label `{tick}` is used twice (first on line {line}); expected a unique label"),
                ));
            }
            self.labels.insert(tick, raw.label.span());
        }
        let then_context = match (&kind, context) {
            (OpKind::Message { to: Some(worker) }, _) => Context::Worker(worker.clone()),
            (OpKind::Message { to: None }, _) => Context::Main,
            _ => context.clone(),
        };
        let kind = match (kind, raw.ops) {
            (OpKind::Worker { .. }, ops) => OpKind::Worker {
                ops: self.ops(
                    ops.unwrap_or_default(),
                    &Context::Worker(label.clone()),
                    depth + 1,
                )?,
            },
            (kind, None) => kind,
            (kind, Some(_)) => {
                return Err(self.error(
                    kind_span,
                    format!(
                        "`ops` only belongs to a `worker` op, not to `{}`; expected `then` for what its callback schedules",
                        kind.name()
                    ),
                ))
            }
        };
        let then = self.ops(raw.then.unwrap_or_default(), &then_context, depth + 1)?;
        Ok(Op { label, kind, then })
    }

    fn label(&self, raw: &RawOp) -> Checked<String> {
        let label = self
            .bounded(&raw.label, "label", limits::MAX_LABEL_CHARS)?
            .trim();
        if label.is_empty() {
            return Err(self.error(
                raw.label.span(),
                "empty label; expected a short name such as \"hash1\"",
            ));
        }
        Ok(label.to_string())
    }

    /// The op kind with its parameters, refusing keys that belong to other kinds.
    fn kind(&mut self, raw: &RawOp, context: &Context) -> Checked<OpKind> {
        let name = self.kind_name(raw)?;
        self.keys_of(raw, name)?;
        let iterations = || {
            self.optional(
                &raw.iterations,
                "iterations",
                1,
                limits::MAX_ITERATIONS,
                100_000,
            )
        };
        let keylen = || {
            self.optional(&raw.keylen, "keylen", 1, limits::MAX_KEYLEN, 64)
                .map(|k| k as usize)
        };
        let bytes = || self.optional(&raw.bytes, "bytes", 0, limits::MAX_BYTES, 4096);
        let ms = || self.required(raw, &raw.ms, "ms", 0, limits::MAX_MS, "ms = 0");
        Ok(match name {
            "pbkdf2" => OpKind::Pbkdf2 {
                iterations: iterations()?,
                keylen: keylen()?,
            },
            "pbkdf2_sync" => OpKind::Pbkdf2Sync {
                iterations: iterations()?,
                keylen: keylen()?,
            },
            "read_file" => OpKind::ReadFile { bytes: bytes()? },
            "write_file" => OpKind::WriteFile { bytes: bytes()? },
            "stat" => OpKind::Stat,
            "lookup" => OpKind::Lookup {
                host: self.text_value(&raw.host, "localhost")?,
            },
            "http_get" => OpKind::HttpGet {
                path: self.http_path(&raw.path)?,
            },
            "timeout" => OpKind::Timeout { ms: ms()? },
            "interval" => OpKind::Interval {
                ms: ms()?,
                times: self.required(raw, &raw.times, "times", 1, limits::MAX_TIMES, "times = 3")?
                    as u32,
            },
            "immediate" => OpKind::Immediate,
            "next_tick" => OpKind::NextTick,
            "microtask" => OpKind::Microtask,
            "block" => OpKind::Block { ms: ms()? },
            "worker" => self.worker(raw, context)?,
            _ => OpKind::Message {
                to: self.message_target(raw, context)?,
            },
        })
    }

    /// The op's kind, one of [`OP_KINDS`].
    fn kind_name(&self, raw: &RawOp) -> Checked<&'static str> {
        let name = raw.kind.get_ref().as_str();
        OP_KINDS
            .iter()
            .copied()
            .find(|k| *k == name)
            .ok_or_else(|| {
                self.error(
                    raw.kind.span(),
                    format!(
                        "unknown op kind `{name}`; expected one of: {}",
                        OP_KINDS.join(", ")
                    ),
                )
            })
    }

    /// Refuses a key that belongs to another kind than `name`.
    fn keys_of(&self, raw: &RawOp, name: &str) -> Checked<()> {
        let allowed = allowed_keys(name);
        match raw
            .present_keys()
            .into_iter()
            .find(|(key, _)| !allowed.contains(key))
        {
            None => Ok(()),
            Some((key, span)) => Err(self.error(
                span,
                format!(
                    "`{key}` does not apply to kind `{name}`; expected only: kind, label, {}then",
                    allowed.iter().map(|k| format!("{k}, ")).collect::<String>()
                ),
            )),
        }
    }

    /// A worker op, allowed on the main thread only.
    fn worker(&self, raw: &RawOp, context: &Context) -> Checked<OpKind> {
        if *context != Context::Main {
            return Err(self.error(
                raw.kind.span(),
                "a worker cannot start another worker in a scenario; expected `worker` ops on the main thread only",
            ));
        }
        Ok(OpKind::Worker { ops: Vec::new() })
    }

    /// Refuses a message the structure sends to a worker that is not running (see `order.rs`).
    fn message_order(&self, ops: &[Arc<Op>]) -> Checked<()> {
        let Some(misplaced) = first_misplaced(ops) else {
            return Ok(());
        };
        let (message, worker, what) = match &misplaced {
            Misplaced::AfterExit { message, worker } => (
                message,
                worker,
                format!(
                    "message `{message}` is sent from the `then` of worker `{worker}`, which runs \
                     after `{worker}` has exited; expected it outside `{worker}`'s `then`, for \
                     example as an op after the `worker` op"
                ),
            ),
            Misplaced::BeforeStart { message, worker } => (
                message,
                worker,
                format!(
                    "message `{message}` is sent before worker `{worker}` has started; expected \
                     the `worker` op issued first, for example as an op before the message"
                ),
            ),
        };
        let span = self.targets.get(message).cloned().unwrap_or(0..0);
        debug_assert!(self.workers.contains(worker));
        Err(self.error(span, what))
    }

    fn message_target(&mut self, raw: &RawOp, context: &Context) -> Checked<Option<String>> {
        match (context, &raw.to) {
            (Context::Worker(_), None) => Ok(None),
            (Context::Worker(worker), Some(to)) => Err(self.error(
                to.span(),
                format!(
                    "a `message` inside worker `{worker}` goes to its parent; expected no `to`"
                ),
            )),
            (Context::Main, None) => Err(self.error(
                raw.kind.span(),
                "a `message` on the main thread needs `to`, the label of a worker op; expected for example to = \"w\"",
            )),
            (Context::Main, Some(to)) if self.workers.contains(to.get_ref()) => {
                let label = raw.label.get_ref().trim().to_string();
                self.targets.insert(label, to.span());
                Ok(Some(to.get_ref().clone()))
            }
            (Context::Main, Some(to)) => {
                let mut known: Vec<&str> = self.workers.iter().map(String::as_str).collect();
                known.sort_unstable();
                let expected = if known.is_empty() {
                    "a `worker` op on the main thread to send to".to_string()
                } else {
                    format!("one of the workers: {}", known.join(", "))
                };
                Err(self.error(
                    to.span(),
                    format!("`to` names no worker: `{}`; expected {expected}", to.get_ref()),
                ))
            }
        }
    }

    fn racy(&self, groups: Vec<Spanned<Vec<Spanned<String>>>>) -> Checked<Vec<Vec<String>>> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for group in groups {
            let span = group.span();
            let labels = group.into_inner();
            if labels.len() < 2 {
                return Err(self.error(
                    span,
                    "a racy group needs at least two labels; expected for example [\"timeout\", \"immediate\"]",
                ));
            }
            let mut names = Vec::new();
            for label in labels {
                let name = label.get_ref().clone();
                if !self.labels.contains_key(&name) {
                    return Err(self.error(
                        label.span(),
                        format!(
                            "racy label `{name}` is not the label of any completion; expected an op's label (an interval's ticks are `label#1`, `label#2`, ...)"
                        ),
                    ));
                }
                if !seen.insert(name.clone()) {
                    return Err(self.error(
                        label.span(),
                        format!("racy label `{name}` is in two groups; expected each label in one group at most"),
                    ));
                }
                names.push(name);
            }
            out.push(names);
        }
        Ok(out)
    }
}

/// Labels of the worker ops the main thread starts (anywhere in its `then` chains).
fn collect_workers(ops: &[Spanned<RawOp>], out: &mut HashSet<String>) {
    for op in ops {
        let op = op.get_ref();
        if op.kind.get_ref() == "worker" {
            out.insert(op.label.get_ref().trim().to_string());
        }
        // Messages to a worker run their `then` inside it, and a worker's `ops` too: neither
        // can start a main-thread worker, so only plain `then` chains are searched.
        if op.kind.get_ref() != "message" || op.to.is_none() {
            collect_workers(op.then.as_deref().unwrap_or_default(), out);
        }
    }
}

/// The parameter keys a kind takes (beyond kind, label and then).
fn allowed_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "pbkdf2" | "pbkdf2_sync" => &["iterations", "keylen"],
        "read_file" | "write_file" => &["bytes"],
        "lookup" => &["host"],
        "http_get" => &["path"],
        "timeout" | "block" => &["ms"],
        "interval" => &["ms", "times"],
        "worker" => &["ops"],
        "message" => &["to"],
        _ => &[],
    }
}
