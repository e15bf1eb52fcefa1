//! Which messages the structure of a scenario sends to a worker that is not running: before the
//! worker has started, or after it has exited. Either would wait forever on the runtime (the
//! worker listens until its last expected message arrives), and neither can be run in Node
//! (`postMessage` before `new Worker` cannot be written; after the exit event it is dropped).
//!
//! The rules, in terms of the tree (main-thread ops only; a message with `to` is one):
//! 1. a *synchronous sequence* is a list of sibling ops issued in one go, with the `then` of
//!    each op that completes synchronously (`block`, `pbkdf2_sync`) spliced in right after it:
//!    that code runs before the next sibling, in Node as here. Every other `then` (and the ops
//!    of a worker) runs in a later callback, so after the whole sequence;
//! 2. a message to `w` in the `then` of `w` (at any depth) is sent after `w` exited;
//! 3. a message to `w` is sent before `w` started when `w` is issued in the message's future:
//!    later in the same synchronous sequence, or anywhere below an op of that sequence
//!    (a later callback). Equivalently: `w` lies in the pre-order range of the sequence's list
//!    and is not a member of the sequence before the message;
//! 4. anything else (`w` issued in a callback that races with the message's) depends on timing:
//!    the runner refuses such a message when it is sent (see `workers::send`).
//!
//! Cost: one depth-first walk and one hash look-up per message, O(ops).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::model::{Op, OpKind};

/// A message the structure sends to a worker that is not running.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Misplaced {
    /// The message is in the `then` of its worker, which runs at the worker's exit.
    AfterExit {
        /// The message's label.
        message: String,
        /// The worker's label.
        worker: String,
    },
    /// The message is sent before its worker is started.
    BeforeStart {
        /// The message's label.
        message: String,
        /// The worker's label.
        worker: String,
    },
}

/// Where a main-thread op sits: its pre-order index, its synchronous sequence and its place in it.
#[derive(Clone, Copy, Debug)]
struct Site {
    index: usize,
    sequence: usize,
    position: usize,
}

/// A worker op's site and the pre-order range of its `then`.
struct WorkerSite {
    site: Site,
    then: Range<usize>,
}

/// A message op with a `to`, its site and the pre-order range of its sequence's list.
struct MessageSite {
    label: String,
    to: String,
    site: Site,
    sequence_range: Range<usize>,
}

#[derive(Default)]
struct Walk {
    next_index: usize,
    next_sequence: usize,
    workers: HashMap<String, WorkerSite>,
    messages: Vec<MessageSite>,
}

/// The first message of `ops` (the main program) sent to a worker that is not running, if any.
pub(super) fn first_misplaced(ops: &[Arc<Op>]) -> Option<Misplaced> {
    let mut walk = Walk::default();
    walk.list(ops, true);
    walk.messages.iter().find_map(|m| walk.judge(m))
}

impl Walk {
    /// Walks `ops`, a list that starts a synchronous sequence; `main` says whether it runs on
    /// the main thread (only those ops are recorded).
    fn list(&mut self, ops: &[Arc<Op>], main: bool) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let start = self.next_index;
        let mut position = 0;
        let mut pending = Vec::new();
        self.sequence(ops, main, sequence, &mut position, &mut pending);
        let range = start..self.next_index;
        for m in pending {
            self.messages.push(MessageSite {
                sequence_range: range.clone(),
                ..m
            });
        }
    }

    /// The ops of one synchronous sequence, splicing in the `then` of synchronous ops.
    fn sequence(
        &mut self,
        ops: &[Arc<Op>],
        main: bool,
        sequence: usize,
        position: &mut usize,
        pending: &mut Vec<MessageSite>,
    ) {
        for op in ops {
            let site = Site {
                index: self.next_index,
                sequence,
                position: *position,
            };
            self.next_index += 1;
            *position += 1;
            match &op.kind {
                OpKind::Worker { ops: inner } => {
                    self.list(inner, false);
                    let then_start = self.next_index;
                    self.list(&op.then, main);
                    let then = then_start..self.next_index;
                    if main {
                        self.workers
                            .insert(op.label.clone(), WorkerSite { site, then });
                    }
                }
                OpKind::Message { to } => {
                    if let (Some(to), true) = (to, main) {
                        pending.push(MessageSite {
                            label: op.label.clone(),
                            to: to.clone(),
                            site,
                            sequence_range: 0..0,
                        });
                    }
                    // A message's `then` runs on its receiver: a worker for one with `to`,
                    // the main thread for one to the parent.
                    self.list(&op.then, to.is_none());
                }
                OpKind::Block { .. } | OpKind::Pbkdf2Sync { .. } => {
                    self.sequence(&op.then, main, sequence, position, pending)
                }
                _ => self.list(&op.then, main),
            }
        }
    }

    fn judge(&self, m: &MessageSite) -> Option<Misplaced> {
        let worker = self.workers.get(&m.to)?;
        let (message, to) = (m.label.clone(), m.to.clone());
        if worker.then.contains(&m.site.index) {
            return Some(Misplaced::AfterExit {
                message,
                worker: to,
            });
        }
        let w = worker.site;
        let earlier_in_sequence = w.sequence == m.site.sequence && w.position < m.site.position;
        (m.sequence_range.contains(&w.index) && !earlier_in_sequence).then_some(
            Misplaced::BeforeStart {
                message,
                worker: to,
            },
        )
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

    fn worker(label: &str, then: Vec<Arc<Op>>) -> Arc<Op> {
        let inner = op(&format!("{label}:in"), OpKind::Immediate, vec![]);
        op(label, OpKind::Worker { ops: vec![inner] }, then)
    }

    fn message(label: &str, to: &str) -> Arc<Op> {
        let to = Some(to.to_string());
        op(label, OpKind::Message { to }, vec![])
    }

    fn timeout(label: &str, then: Vec<Arc<Op>>) -> Arc<Op> {
        op(label, OpKind::Timeout { ms: 1 }, then)
    }

    fn before(message: &str) -> Option<Misplaced> {
        Some(Misplaced::BeforeStart {
            message: message.into(),
            worker: "w".into(),
        })
    }

    #[test]
    fn a_message_in_its_workers_then_is_sent_after_the_exit() {
        let ops = vec![worker("w", vec![timeout("t", vec![message("m", "w")])])];
        let expected = Misplaced::AfterExit {
            message: "m".into(),
            worker: "w".into(),
        };
        assert_eq!(first_misplaced(&ops), Some(expected));
    }

    #[test]
    fn a_message_issued_before_its_worker_is_sent_before_the_start() {
        // Earlier sibling.
        let ops = vec![message("m", "w"), worker("w", vec![])];
        assert_eq!(first_misplaced(&ops), before("m"));
        // The worker starts in a callback of the message's sequence, even an earlier op's.
        let ops = vec![timeout("t", vec![worker("w", vec![])]), message("m", "w")];
        assert_eq!(first_misplaced(&ops), before("m"));
        // A block's `then` runs in its sequence: the message still comes first.
        let block = op("b", OpKind::Block { ms: 1 }, vec![worker("w", vec![])]);
        let ops = vec![message("m", "w"), block];
        assert_eq!(first_misplaced(&ops), before("m"));
    }

    #[test]
    fn messages_to_a_running_worker_pass() {
        // Later sibling, a callback of a later op, and a block's `then` before the message.
        let ops = vec![
            worker("w", vec![]),
            message("m1", "w"),
            timeout("t", vec![message("m2", "w")]),
        ];
        assert_eq!(first_misplaced(&ops), None);
        let block = op("b", OpKind::Block { ms: 1 }, vec![worker("w", vec![])]);
        assert_eq!(first_misplaced(&[block, message("m", "w")]), None);
    }

    #[test]
    fn racing_callbacks_are_left_to_the_runner() {
        let ops = vec![
            timeout("t1", vec![worker("w", vec![])]),
            timeout("t2", vec![message("m", "w")]),
        ];
        assert_eq!(first_misplaced(&ops), None);
    }

    #[test]
    fn the_walk_is_linear_in_the_ops() {
        // 100,000 messages in one sequence after their worker: one look-up each.
        let mut ops = vec![worker("w", vec![])];
        ops.extend((0..100_000).map(|i| message(&format!("m{i}"), "w")));
        let mut walk = Walk::default();
        walk.list(&ops, true);
        assert_eq!(walk.next_index, 100_002, "each op visited once");
        assert_eq!(walk.messages.len(), 100_000);
        assert_eq!(first_misplaced(&ops), None);
    }
}
