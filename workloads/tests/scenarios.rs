//! Scenarios on the runtime alone: every file of `scenarios/` parses, and the ordering rules of
//! NODE_MODEL.md come out of the runner. Orders only, never timings; racy orders as sets.
//! (The comparison with real Node.js is `harness/tests/scenario_cli.rs`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use looplab_workloads::scenario::{self, canonical, Fixture, Scenario, ScenarioError, Timeline};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn load(name: &str) -> Arc<Scenario> {
    let path = scenarios_dir().join(name);
    Arc::new(scenario::load(&path).unwrap_or_else(|e| panic!("{e}")))
}

fn run(s: &Arc<Scenario>) -> Timeline {
    let fixture = Fixture::prepare(s, None).unwrap_or_else(|e| panic!("{e}"));
    scenario::run_looplab(s, &fixture).unwrap_or_else(|e| panic!("{}: {e}", s.name))
}

fn inline(text: &str) -> Arc<Scenario> {
    Arc::new(scenario::parse(text, "inline.toml", "inline").unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn every_scenario_file_parses() {
    let files = scenario::calibrate::scenario_files(&scenarios_dir()).unwrap();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let s = scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.description.is_some(),
            "{} says what it shows",
            file.display()
        );
    }
}

#[test]
fn inside_a_file_read_the_immediate_runs_before_the_timeout() {
    let s = load("immediate-first-in-io.toml");
    for _ in 0..3 {
        assert_eq!(run(&s).order(), ["read", "io:immediate", "io:timeout0"]);
    }
}

#[test]
fn next_ticks_run_before_microtasks_and_drain_between_timers() {
    let s = load("ticks-before-promises.toml");
    assert_eq!(
        run(&s).order(),
        [
            "main:sync",
            "t1",
            "t2-from-t1",
            "p1",
            "p-from-t1",
            "p2-from-p1",
            "tick-from-p1",
            "T1",
            "T1.tick",
            "T1.promise",
            "T2"
        ]
    );
}

#[test]
fn immediates_are_snapshotted_and_then_chains_nest() {
    let s = load("nested-then.toml");
    let order = run(&s).order().join(" ");
    assert_eq!(
        order,
        "read read.tick read.tick.promise imm1 imm1.tick imm1.promise imm2 imm2.promise \
         imm1.next-iteration t50 t50>t0 t50>t0>tick t50>t0>tick>promise"
    );
}

#[test]
fn the_main_program_race_is_one_of_two_orders() {
    let s = load("timeout-vs-immediate-main.toml");
    let timeline = run(&s);
    assert_eq!(
        canonical(&timeline.order(), &s.racy),
        ["immediate", "timeout0"],
        "as a set"
    );
}

#[test]
fn an_overdue_timer_runs_before_the_first_iteration() {
    let s = load("block-delays-timers.toml");
    let timeline = run(&s);
    assert_eq!(timeline.order(), ["busy50", "t10", "immediate"]);
    assert!(timeline.completions[1].ms >= 50.0, "{timeline:?}");
}

#[test]
fn interval_ticks_interleave_with_a_timeout_and_then_follows_the_last() {
    let s = load("intervals.toml");
    assert_eq!(
        run(&s).order(),
        [
            "every40#1",
            "every40#2",
            "at100",
            "every40#3",
            "after-last-tick"
        ]
    );
}

#[test]
fn one_pool_thread_serves_trips_in_fifo_order() {
    let s = load("fs-and-dns-pool1.toml");
    let timeline = run(&s);
    assert_eq!(
        timeline.order(),
        ["stat", "lookup", "writeFile", "readFile"]
    );
    assert!(
        timeline.completions.iter().all(|c| c.thread == "pool-0"),
        "{timeline:?}"
    );
}

#[test]
fn a_worker_hashes_while_the_main_thread_ticks_and_messages_flow_both_ways() {
    let s = load("worker-hashing.toml");
    let timeline = run(&s);
    let order = canonical(&timeline.order(), &s.racy);
    assert_eq!(
        order,
        [
            "tick#1",
            "tick#2",
            "tick#3",
            "tick#4",
            "tick#5",
            "worker:hash",
            "done",
            "ping",
            "pong",
            "worker"
        ]
    );
    let thread = |label: &str| {
        timeline
            .completions
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.thread.clone())
    };
    assert_eq!(thread("worker:hash").as_deref(), Some("worker-1"));
    assert_eq!(
        thread("ping").as_deref(),
        Some("worker-1"),
        "recorded by the receiver"
    );
    assert_eq!(thread("pong").as_deref(), Some("main"));
    assert_eq!(thread("tick#1").as_deref(), Some("main"));
}

#[test]
fn pool_work_names_its_pool_thread_and_write_and_stat_complete() {
    let s = inline(
        r#"
pool_size = 2
[[op]]
kind = "pbkdf2"
label = "hash"
iterations = 1000
  [[op.then]]
  kind = "write_file"
  label = "write"
  bytes = 100
    [[op.then.then]]
    kind = "stat"
    label = "stat"
[[op]]
kind = "pbkdf2_sync"
label = "sync-hash"
iterations = 1000
"#,
    );
    let timeline = run(&s);
    assert_eq!(timeline.order(), ["sync-hash", "hash", "write", "stat"]);
    let threads: Vec<&str> = timeline
        .completions
        .iter()
        .map(|c| c.thread.as_str())
        .collect();
    assert_eq!(threads[0], "main");
    for t in &threads[1..] {
        assert!(t == &"pool-0" || t == &"pool-1", "{threads:?}");
    }
    for c in &timeline.completions {
        assert!(c.start_ms <= c.ms, "{c:?}");
    }
}

#[test]
fn a_failing_op_is_an_error_naming_its_label() {
    let s =
        inline("[[op]]\nkind = \"lookup\"\nlabel = \"nowhere\"\nhost = \"no-such-host.invalid\"\n");
    let fixture = Fixture::prepare(&s, None).unwrap();
    match scenario::run_looplab(&s, &fixture) {
        Err(ScenarioError::OpFailed { label, .. }) => assert_eq!(label, "nowhere"),
        other => panic!("expected the lookup to fail: {other:?}"),
    }
}

/// Runs `s` on another thread and waits at most a minute: a run that hangs fails the test
/// instead of hanging it.
fn run_bounded(s: &Arc<Scenario>) -> Result<Timeline, ScenarioError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let s = Arc::clone(s);
    std::thread::spawn(move || {
        let fixture = Fixture::prepare(&s, None).unwrap_or_else(|e| panic!("{e}"));
        let _ = tx.send(scenario::run_looplab(&s, &fixture));
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run ended (it used to hang)")
}

#[test]
fn a_message_sent_before_its_worker_starts_fails_at_once() {
    // The check cannot see this one: the worker starts in a timeout's callback and the message
    // goes out from an immediate's. The run used to hang, the worker waiting for the message.
    let s = inline(
        r#"
[[op]]
kind = "timeout"
label = "later"
ms = 200
  [[op.then]]
  kind = "worker"
  label = "w"
    [[op.then.ops]]
    kind = "immediate"
    label = "w:in"
[[op]]
kind = "immediate"
label = "soon"
  [[op.then]]
  kind = "message"
  label = "early"
  to = "w"
"#,
    );
    match run_bounded(&s) {
        Err(ScenarioError::OpFailed { label, cause }) => {
            assert_eq!(label, "early");
            assert!(cause.contains("worker `w` is not running"), "{cause}");
        }
        other => panic!("expected the message to fail: {other:?}"),
    }
}

#[test]
fn a_failed_op_inside_a_worker_ends_the_run() {
    // The worker waits for `down`, which only the `then` of the failed lookup would have
    // caused: the run used to hang.
    let s = inline(
        r#"
[[op]]
kind = "worker"
label = "w"
  [[op.ops]]
  kind = "lookup"
  label = "nowhere"
  host = "no-such-host.invalid"
    [[op.ops.then]]
    kind = "message"
    label = "up"
      [[op.ops.then.then]]
      kind = "message"
      label = "down"
      to = "w"
"#,
    );
    match run_bounded(&s) {
        Err(ScenarioError::OpFailed { label, .. }) => assert_eq!(label, "nowhere"),
        other => panic!("expected the lookup to fail: {other:?}"),
    }
}

#[test]
fn the_completion_check_of_100_000_ops_is_linear() {
    // It compared every label with every completion: 24.7 s for 100,000 ops. A hash set makes
    // it one look-up per label: well under a second, even in a debug build on a busy machine.
    let n = 100_000;
    let text: String = (0..n)
        .map(|i| format!("[[op]]\nkind = \"immediate\"\nlabel = \"i{i}\"\n"))
        .collect();
    let s = inline(&text);
    let completions = (0..n - 1)
        .map(|i| scenario::Completion {
            label: format!("i{i}"),
            start_ms: 0.0,
            ms: 1.0,
            thread: "main".into(),
        })
        .collect();
    let timeline = Timeline { completions };
    let started = std::time::Instant::now();
    let result = timeline.check_complete(&s, "looplab");
    let took = started.elapsed();
    match result {
        Err(ScenarioError::Unfinished { missing, .. }) => assert_eq!(missing, "i99999"),
        other => panic!("expected the last op unfinished: {other:?}"),
    }
    assert!(took.as_secs_f64() < 5.0, "the check took {took:?}");
}

#[test]
fn a_file_above_its_bound_is_refused_before_it_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let size = scenario::limits::MAX_FILE_BYTES as usize + line.len();
    std::fs::write(&path, line.repeat(size / line.len() + 1)).unwrap();
    match scenario::load(&path) {
        Err(e @ ScenarioError::TooLarge { .. }) => {
            let message = e.to_string();
            assert!(message.contains("huge.toml"), "{message}");
            assert!(message.contains("16777216 bytes"), "{message}");
        }
        other => panic!("expected TooLarge: {other:?}"),
    }
}
