//! Tests of the scenario parser: every op kind, nesting, and each error with its line and column.

use super::parse;
use crate::scenario::model::{OpKind, DEFAULT_POOL_SIZE};
use crate::scenario::ScenarioError;

fn ok(text: &str) -> crate::scenario::Scenario {
    parse(text, "t.toml", "t").unwrap_or_else(|e| panic!("{e}"))
}

/// The error's (line, column, message).
fn err(text: &str) -> (usize, usize, String) {
    match parse(text, "t.toml", "t") {
        Err(ScenarioError::Invalid {
            file,
            line,
            column,
            message,
        }) => {
            assert_eq!(file, "t.toml");
            assert!(!message.contains('\n'), "one line: {message}");
            assert!(
                message.contains("expected"),
                "says what was expected: {message}"
            );
            (line, column, message)
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn every_op_kind_parses_with_its_parameters_and_defaults() {
    let s = ok(r#"
name = "all kinds"
description = "one of each"
pool_size = 2
racy = [["t", "i"]]

[[op]]
kind = "pbkdf2"
label = "h"
iterations = 1000
keylen = 32
[[op]]
kind = "pbkdf2_sync"
label = "hs"
[[op]]
kind = "read_file"
label = "r"
bytes = 10
[[op]]
kind = "write_file"
label = "wf"
[[op]]
kind = "stat"
label = "st"
[[op]]
kind = "lookup"
label = "l"
[[op]]
kind = "http_get"
label = "g"
path = "/hash"
[[op]]
kind = "timeout"
label = "t"
ms = 0
[[op]]
kind = "interval"
label = "iv"
ms = 5
times = 2
[[op]]
kind = "immediate"
label = "i"
[[op]]
kind = "next_tick"
label = "nt"
[[op]]
kind = "microtask"
label = "mt"
[[op]]
kind = "block"
label = "b"
ms = 3
[[op]]
kind = "worker"
label = "w"
  [[op.ops]]
  kind = "message"
  label = "up"
[[op]]
kind = "message"
label = "down"
to = "w"
"#);
    assert_eq!(s.name, "all kinds");
    assert_eq!(s.description.as_deref(), Some("one of each"));
    assert_eq!(s.pool_size, 2);
    assert_eq!(s.racy, vec![vec!["t".to_string(), "i".to_string()]]);
    let kinds: Vec<&OpKind> = s.ops.iter().map(|o| &o.kind).collect();
    assert_eq!(
        kinds[..8],
        [
            &OpKind::Pbkdf2 {
                iterations: 1000,
                keylen: 32
            },
            &OpKind::Pbkdf2Sync {
                iterations: 100_000,
                keylen: 64
            },
            &OpKind::ReadFile { bytes: 10 },
            &OpKind::WriteFile { bytes: 4096 },
            &OpKind::Stat,
            &OpKind::Lookup {
                host: "localhost".into()
            },
            &OpKind::HttpGet {
                path: "/hash".into()
            },
            &OpKind::Timeout { ms: 0 },
        ]
    );
    assert_eq!(kinds[8], &OpKind::Interval { ms: 5, times: 2 });
    assert_eq!(
        kinds[9..13],
        [
            &OpKind::Immediate,
            &OpKind::NextTick,
            &OpKind::Microtask,
            &OpKind::Block { ms: 3 }
        ]
    );
    let OpKind::Worker { ops } = kinds[13] else {
        panic!("a worker: {:?}", kinds[13]);
    };
    assert_eq!(ops[0].kind, OpKind::Message { to: None });
    assert_eq!(
        kinds[14],
        &OpKind::Message {
            to: Some("w".into())
        }
    );
    assert_eq!(s.messages_to("w"), 1);
    assert!(s.uses_http());
}

#[test]
fn then_nests_to_any_depth_and_defaults_apply() {
    let s = ok(r#"
[[op]]
kind = "timeout"
label = "a"
ms = 1
  [[op.then]]
  kind = "immediate"
  label = "b"
    [[op.then.then]]
    kind = "next_tick"
    label = "c"
      [[op.then.then.then]]
      kind = "microtask"
      label = "d"
  [[op.then]]
  kind = "next_tick"
  label = "e"
"#);
    assert_eq!(s.name, "t");
    assert_eq!(s.pool_size, DEFAULT_POOL_SIZE);
    assert_eq!(s.completion_labels(), ["a", "b", "c", "d", "e"]);
    let b = &s.ops[0].then[0];
    assert_eq!(b.then[0].then[0].label, "d");
}

#[test]
fn syntax_and_type_errors_point_at_the_value() {
    let (line, column, message) = err("[[op]\nkind = 1\n");
    assert_eq!((line, column), (1, 6), "{message}");
    let (line, column, message) = err("[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = \"1\"\n");
    assert_eq!((line, column), (4, 6));
    assert!(message.contains("invalid type"), "{message}");
}

#[test]
fn unknown_keys_are_refused_with_the_keys_allowed() {
    let (line, column, message) =
        err("[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = 1\nfoo = 2\n");
    assert_eq!((line, column), (5, 1));
    assert!(message.contains("unknown field `foo`"), "{message}");
    assert!(message.contains("`label`"), "{message}");
    let (line, column, _) = err("bogus = 1\n[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n");
    assert_eq!((line, column), (1, 1));
    let nested = "[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = 1\n  [[op.then]]\n  kind = \"immediate\"\n  label = \"i\"\n  bad = 1\n";
    assert_eq!(err(nested).0, 8);
}

#[test]
fn an_unknown_kind_lists_the_kinds() {
    let (line, column, message) = err("[[op]]\nkind = \"teleport\"\nlabel = \"t\"\n");
    assert_eq!((line, column), (2, 8));
    assert!(
        message.starts_with("unknown op kind `teleport`"),
        "{message}"
    );
    for kind in crate::scenario::OP_KINDS {
        assert!(message.contains(kind), "{message}");
    }
}

#[test]
fn keys_of_other_kinds_and_missing_keys_are_refused() {
    let (line, column, message) = err("[[op]]\nkind = \"immediate\"\nlabel = \"i\"\nms = 3\n");
    assert_eq!((line, column), (4, 6));
    assert!(
        message.contains("`ms` does not apply to kind `immediate`"),
        "{message}"
    );
    let (line, column, message) = err("[[op]]\nkind = \"interval\"\nlabel = \"i\"\nms = 3\n");
    assert_eq!((line, column), (2, 8));
    assert!(message.contains("needs `times`"), "{message}");
    let (line, _, message) = err("[[op]]\nkind = \"timeout\"\nms = 3\n");
    assert_eq!(line, 1);
    assert!(message.contains("missing field `label`"), "{message}");
}

#[test]
fn values_out_of_range_are_refused() {
    let (line, column, message) =
        err("pool_size = 0\n[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n");
    assert_eq!((line, column), (1, 13));
    assert!(message.contains("1..=1024"), "{message}");
    let (line, column, _) = err("[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = -1\n");
    assert_eq!((line, column), (4, 6));
    let (line, column, _) =
        err("[[op]]\nkind = \"http_get\"\nlabel = \"g\"\npath = \"no slash\"\n");
    assert_eq!((line, column), (4, 8));
    let (line, column, _) = err("[[op]]\nkind = \"immediate\"\nlabel = \"  \"\n");
    assert_eq!((line, column), (3, 9));
}

#[test]
fn labels_are_unique_including_interval_ticks() {
    let (line, column, message) =
        err("[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n");
    assert_eq!((line, column), (6, 9));
    assert!(message.contains("first on line 3"), "{message}");
    let ticks = "[[op]]\nkind = \"interval\"\nlabel = \"iv\"\nms = 1\ntimes = 2\n[[op]]\nkind = \"immediate\"\nlabel = \"iv#2\"\n";
    assert_eq!(err(ticks).0, 8);
}

#[test]
fn messages_and_workers_are_checked_against_their_context() {
    let no_target = "[[op]]\nkind = \"message\"\nlabel = \"m\"\n";
    let (line, _, message) = err(no_target);
    assert_eq!(line, 2);
    assert!(message.contains("needs `to`"), "{message}");
    let unknown = "[[op]]\nkind = \"message\"\nlabel = \"m\"\nto = \"nobody\"\n";
    let (line, column, message) = err(unknown);
    assert_eq!((line, column), (4, 6));
    assert!(message.contains("`to` names no worker"), "{message}");
    let inside = "[[op]]\nkind = \"worker\"\nlabel = \"w\"\n  [[op.ops]]\n  kind = \"message\"\n  label = \"m\"\n  to = \"w\"\n";
    let (line, _, message) = err(inside);
    assert_eq!(line, 7);
    assert!(message.contains("goes to its parent"), "{message}");
    let nested = "[[op]]\nkind = \"worker\"\nlabel = \"w\"\n  [[op.ops]]\n  kind = \"worker\"\n  label = \"w2\"\n";
    let (line, _, message) = err(nested);
    assert_eq!(line, 5);
    assert!(message.contains("cannot start another worker"), "{message}");
    let ops_elsewhere = "[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = 1\n  [[op.ops]]\n  kind = \"immediate\"\n  label = \"i\"\n";
    assert!(err(ops_elsewhere).2.contains("`ops` does not apply"));
}

#[test]
fn a_message_to_a_worker_runs_its_then_inside_the_worker() {
    // `then` of a message to the worker runs in the worker, so a message there has no `to`;
    // `then` of a message from the worker runs on the main thread, so it needs one.
    let s = ok(r#"
[[op]]
kind = "worker"
label = "w"
  [[op.ops]]
  kind = "message"
  label = "up"
    [[op.ops.then]]
    kind = "timeout"
    label = "main-side"
    ms = 1
[[op]]
kind = "message"
label = "down"
to = "w"
  [[op.then]]
  kind = "message"
  label = "reply"
"#);
    assert_eq!(
        s.completion_labels(),
        ["w", "up", "main-side", "down", "reply"]
    );
    assert_eq!(s.messages_to("w"), 1);
}

#[test]
fn racy_groups_name_known_labels_once() {
    let base = "[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = 0\n[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n";
    let (line, column, message) = err(&format!("racy = [[\"t\", \"x\"]]\n{base}"));
    assert_eq!((line, column), (1, 15));
    assert!(message.contains("racy label `x`"), "{message}");
    let (line, column, _) = err(&format!("racy = [[\"t\"]]\n{base}"));
    assert_eq!((line, column), (1, 9));
    let (_, _, message) = err(&format!("racy = [[\"t\", \"i\"], [\"i\", \"t\"]]\n{base}"));
    assert!(message.contains("in two groups"), "{message}");
    assert!(err("name = \"x\"\n").2.contains("no ops"));
}

#[test]
fn a_message_to_a_worker_not_running_is_refused_at_its_to() {
    // Both used to pass the check and then hang the runner: the worker waited for a message
    // that could not come.
    let after_exit = "[[op]]\nkind = \"worker\"\nlabel = \"w\"\n  [[op.ops]]\n  kind = \"timeout\"\n  label = \"inner\"\n  ms = 1\n  [[op.then]]\n  kind = \"message\"\n  label = \"late\"\n  to = \"w\"\n";
    let (line, column, message) = err(after_exit);
    assert_eq!((line, column), (11, 8));
    assert!(
        message.contains("message `late` is sent from the `then` of worker `w`"),
        "{message}"
    );
    let before_start = "[[op]]\nkind = \"message\"\nlabel = \"early\"\nto = \"w\"\n\n[[op]]\nkind = \"worker\"\nlabel = \"w\"\n";
    let (line, column, message) = err(before_start);
    assert_eq!((line, column), (4, 6));
    assert!(
        message.contains("message `early` is sent before worker `w` has started"),
        "{message}"
    );
    // Started in a later callback of the message's sequence: still after the message.
    let started_later = "[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n  [[op.then]]\n  kind = \"worker\"\n  label = \"w\"\n[[op]]\nkind = \"message\"\nlabel = \"m\"\nto = \"w\"\n";
    assert_eq!(err(started_later).0, 10);
}
