//! A scenario once parsed and checked: a small program as a tree of operations.
//!
//! Invariants (established by `parse`, relied on by the runners):
//! 1. every completion label is unique: an op's `label`, or `label#1` ... `label#N` for the N
//!    ticks of an interval;
//! 2. every op runs in a known context: the main thread, or the worker whose `ops` (or a
//!    message to it) it is nested in; workers start only from the main thread;
//! 3. a `message` on the main thread names a worker started on the main thread, and the tree
//!    does not show it sent before that worker starts or after it exits (`order.rs`); a
//!    `message` inside a worker has no target (it goes to the parent);
//! 4. every label of a racy group is a completion label, and belongs to one group only.

use std::collections::HashMap;
use std::sync::Arc;

/// Node's default pool size, used when a scenario does not set `pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// A checked scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name (the `name` key, else the file's stem).
    pub name: String,
    /// What it shows, if the file says.
    pub description: Option<String>,
    /// Pool threads (`UV_THREADPOOL_SIZE` on the Node side).
    pub pool_size: usize,
    /// Groups of completion labels whose relative order Node itself does not fix.
    pub racy: Vec<Vec<String>>,
    /// The top-level ops, scheduled in order by the main program.
    pub ops: Vec<Arc<Op>>,
}

/// One operation: what it does, its label, and what its callback schedules.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// What is recorded when it completes.
    pub label: String,
    /// What it does.
    pub kind: OpKind,
    /// Ops scheduled from inside its callback (after its last tick, for an interval).
    pub then: Vec<Arc<Op>>,
}

/// What an op does, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// `crypto.pbkdf2('a', 'b', iterations, keylen, 'sha512', cb)`: on the pool.
    Pbkdf2 {
        /// Iterations.
        iterations: u64,
        /// Key length in bytes.
        keylen: usize,
    },
    /// `crypto.pbkdf2Sync(...)`: on the calling thread.
    Pbkdf2Sync {
        /// Iterations.
        iterations: u64,
        /// Key length in bytes.
        keylen: usize,
    },
    /// `fs.readFile` of a file of `bytes` bytes the runner creates.
    ReadFile {
        /// File size.
        bytes: u64,
    },
    /// `fs.writeFile` of `bytes` bytes to a fresh path.
    WriteFile {
        /// Data size.
        bytes: u64,
    },
    /// `fs.stat` of a file the runner creates.
    Stat,
    /// `dns.lookup(host, { all: true })`: on the pool (slow-IO class).
    Lookup {
        /// Host name.
        host: String,
    },
    /// `http.get` of `path` on a local `lab serve` in another process.
    HttpGet {
        /// Request path.
        path: String,
    },
    /// `setTimeout(cb, ms)`.
    Timeout {
        /// Delay.
        ms: u64,
    },
    /// `setInterval(cb, ms)`, cleared after `times` ticks.
    Interval {
        /// Period.
        ms: u64,
        /// Ticks.
        times: u32,
    },
    /// `setImmediate(cb)`.
    Immediate,
    /// `process.nextTick(cb)`.
    NextTick,
    /// `queueMicrotask(cb)`.
    Microtask,
    /// Busy-waits `ms` of wall-clock time on the thread (the course's `doWork`).
    Block {
        /// Duration.
        ms: u64,
    },
    /// `new Worker(...)` running `ops` on its own loop; completes at its `exit` event.
    Worker {
        /// The ops the worker's main schedules.
        ops: Vec<Arc<Op>>,
    },
    /// `postMessage(label)`: to the worker `to` from the main thread, or to the parent from
    /// inside a worker. Completes when the receiver gets it; `then` runs on the receiver.
    Message {
        /// The receiving worker's label; `None` inside a worker (to the parent).
        to: Option<String>,
    },
}

/// Every op kind, as written in files (for help and error messages).
pub const OP_KINDS: [&str; 15] = [
    "pbkdf2",
    "pbkdf2_sync",
    "read_file",
    "write_file",
    "stat",
    "lookup",
    "http_get",
    "timeout",
    "interval",
    "immediate",
    "next_tick",
    "microtask",
    "block",
    "worker",
    "message",
];

impl OpKind {
    /// The name used in files.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Pbkdf2 { .. } => "pbkdf2",
            OpKind::Pbkdf2Sync { .. } => "pbkdf2_sync",
            OpKind::ReadFile { .. } => "read_file",
            OpKind::WriteFile { .. } => "write_file",
            OpKind::Stat => "stat",
            OpKind::Lookup { .. } => "lookup",
            OpKind::HttpGet { .. } => "http_get",
            OpKind::Timeout { .. } => "timeout",
            OpKind::Interval { .. } => "interval",
            OpKind::Immediate => "immediate",
            OpKind::NextTick => "next_tick",
            OpKind::Microtask => "microtask",
            OpKind::Block { .. } => "block",
            OpKind::Worker { .. } => "worker",
            OpKind::Message { .. } => "message",
        }
    }

    /// Whether the work runs on the pool (its completion names a pool thread).
    pub fn on_pool(&self) -> bool {
        matches!(
            self,
            OpKind::Pbkdf2 { .. }
                | OpKind::ReadFile { .. }
                | OpKind::WriteFile { .. }
                | OpKind::Stat
                | OpKind::Lookup { .. }
        )
    }
}

impl Op {
    /// The labels this op records, in the order it records them (an interval records one per tick).
    pub fn completion_labels(&self) -> Vec<String> {
        completion_labels(&self.label, &self.kind)
    }

    /// The ops nested in this one: its `then`, and a worker's `ops`.
    pub fn children(&self) -> impl Iterator<Item = &Arc<Op>> {
        let ops: &[Arc<Op>] = match &self.kind {
            OpKind::Worker { ops } => ops,
            _ => &[],
        };
        ops.iter().chain(self.then.iter())
    }
}

/// The labels an op of `kind` labelled `label` records: `label`, or one per interval tick.
pub fn completion_labels(label: &str, kind: &OpKind) -> Vec<String> {
    match kind {
        OpKind::Interval { times, .. } => (1..=*times).map(|k| tick_label(label, k)).collect(),
        _ => vec![label.to_string()],
    }
}

/// The label of an interval's `k`-th tick (from 1).
pub fn tick_label(label: &str, k: u32) -> String {
    format!("{label}#{k}")
}

impl Scenario {
    /// Every op of the scenario, depth first, in file order.
    pub fn all_ops(&self) -> Vec<&Arc<Op>> {
        fn walk<'a>(ops: &'a [Arc<Op>], out: &mut Vec<&'a Arc<Op>>) {
            for op in ops {
                out.push(op);
                let children: Vec<&Arc<Op>> = op.children().collect();
                for child in children {
                    walk(std::slice::from_ref(child), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.ops, &mut out);
        out
    }

    /// Every completion label, in file order.
    pub fn completion_labels(&self) -> Vec<String> {
        self.all_ops()
            .iter()
            .flat_map(|op| op.completion_labels())
            .collect()
    }

    /// The op with this label, if any.
    pub fn op(&self, label: &str) -> Option<&Arc<Op>> {
        self.all_ops().into_iter().find(|op| op.label == label)
    }

    /// How many messages the main thread sends to the worker labelled `worker`.
    pub fn messages_to(&self, worker: &str) -> usize {
        self.messages_per_worker().get(worker).copied().unwrap_or(0)
    }

    /// How many messages the main thread sends to each worker that gets any, by its label
    /// (one walk, where asking [`Scenario::messages_to`] per worker would be one per worker).
    pub fn messages_per_worker(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for op in self.all_ops() {
            if let OpKind::Message { to: Some(to) } = &op.kind {
                *counts.entry(to.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Whether any op needs the local HTTP server.
    pub fn uses_http(&self) -> bool {
        self.all_ops()
            .iter()
            .any(|op| matches!(op.kind, OpKind::HttpGet { .. }))
    }

    /// Whether the scenario has racy groups (orders Node does not fix).
    pub fn is_racy(&self) -> bool {
        !self.racy.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(label: &str, kind: OpKind, then: Vec<Arc<Op>>) -> Arc<Op> {
        Arc::new(Op {
            label: label.into(),
            kind,
            then,
        })
    }

    #[test]
    fn labels_walk_the_tree_depth_first_and_expand_intervals() {
        let scenario = Scenario {
            name: "t".into(),
            description: None,
            pool_size: 4,
            racy: vec![],
            ops: vec![
                op(
                    "w",
                    OpKind::Worker {
                        ops: vec![op("inner", OpKind::Message { to: None }, vec![])],
                    },
                    vec![op("after", OpKind::Immediate, vec![])],
                ),
                op("iv", OpKind::Interval { ms: 5, times: 2 }, vec![]),
                op(
                    "m",
                    OpKind::Message {
                        to: Some("w".into()),
                    },
                    vec![],
                ),
            ],
        };
        assert_eq!(
            scenario.completion_labels(),
            ["w", "inner", "after", "iv#1", "iv#2", "m"]
        );
        assert_eq!(scenario.messages_to("w"), 1);
        assert!(!scenario.uses_http());
        assert_eq!(scenario.op("inner").map(|o| o.kind.name()), Some("message"));
    }
}
