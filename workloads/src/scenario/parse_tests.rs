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

#[test]
fn every_size_and_count_has_a_bound_named_in_one_line() {
    use crate::scenario::limits;
    let one = |kind_and_keys: &str| format!("[[op]]\nlabel = \"x\"\n{kind_and_keys}\n");
    // A label of 65,536+ characters used to reach the table printer and panic.
    let long = "l".repeat(70_000);
    let (line, column, message) = err(&format!(
        "[[op]]\nkind = \"immediate\"\nlabel = \"{long}\"\n"
    ));
    assert_eq!((line, column), (3, 9));
    assert!(
        message.contains("`label` of 70000 bytes is longer than the bound of 256 characters"),
        "{message}"
    );
    let name = "n".repeat(limits::MAX_LABEL_CHARS + 1);
    assert!(err(&format!(
        "name = \"{name}\"\n{}",
        one("kind = \"immediate\"")
    ))
    .2
    .contains("`name` of 257 bytes"));
    let host = "h".repeat(limits::MAX_TEXT_CHARS + 1);
    assert!(err(&one(&format!("kind = \"lookup\"\nhost = \"{host}\"")))
        .2
        .contains("`host` of 1025 bytes"));
    let cases = [
        (
            "kind = \"read_file\"\nbytes = 1073741824",
            "`bytes` 1073741824 is out of range; expected 0..=67108864, for example bytes = 4096",
        ),
        (
            "kind = \"pbkdf2\"\niterations = 2147483647",
            "`iterations` 2147483647 is out of range; expected 1..=10000000",
        ),
        (
            "kind = \"pbkdf2\"\nkeylen = 1048576",
            "`keylen` 1048576 is out of range; expected 1..=4096",
        ),
        (
            "kind = \"timeout\"\nms = 2147483647",
            "`ms` 2147483647 is out of range; expected 0..=60000",
        ),
        (
            "kind = \"block\"\nms = 60001",
            "`ms` 60001 is out of range; expected 0..=60000",
        ),
        (
            "kind = \"interval\"\nms = 1\ntimes = 10001",
            "`times` 10001 is out of range; expected 1..=10000",
        ),
    ];
    for (keys, expected) in cases {
        // The value at fault is the last key.
        let (line, _, message) = err(&one(keys));
        assert_eq!(line, 2 + keys.lines().count(), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn the_tree_is_bounded_in_ops_depth_completions_and_bytes() {
    use crate::scenario::limits;
    let ops = |n: usize, kind: &str| -> String {
        (0..n)
            .map(|i| format!("[[op]]\nlabel = \"o{i}\"\n{kind}\n"))
            .collect()
    };
    let (_, _, message) = err(&ops(limits::MAX_OPS + 1, "kind = \"immediate\""));
    assert!(
        message.contains("op 100001 of the file, above the bound of 100000 ops"),
        "{message}"
    );
    // 21 intervals of 10,000 ticks: 210,000 completions.
    let (_, _, message) = err(&ops(21, "kind = \"interval\"\nms = 1\ntimes = 10000"));
    assert!(
        message.contains("completions to 210000, above the bound of 200000"),
        "{message}"
    );
    let (_, _, message) = err(&ops(5, "kind = \"write_file\"\nbytes = 67108864"));
    assert!(
        message.contains("add up to 335544320, above the bound of 268435456"),
        "{message}"
    );
    let mut deep = String::new();
    let mut table = "op".to_string();
    for level in 0..=limits::MAX_DEPTH + 1 {
        deep.push_str(&format!(
            "[[{table}]]\nkind = \"immediate\"\nlabel = \"d{level}\"\n"
        ));
        table.push_str(".then");
    }
    let (line, _, message) = err(&deep);
    assert_eq!(line, 3 * (limits::MAX_DEPTH + 1) + 2);
    assert!(
        message.contains("nested 33 levels deep, above the bound of 32"),
        "{message}"
    );
    // Deeper than the toml reader goes: its own error, with the bound.
    let mut deeper = String::new();
    let mut table = "op".to_string();
    for level in 0..200 {
        deeper.push_str(&format!(
            "[[{table}]]\nkind = \"immediate\"\nlabel = \"d{level}\"\n"
        ));
        table.push_str(".then");
    }
    assert!(err(&deeper).2.contains("expected at most 32 levels"));
}
