//! `lab sweep` through the real binary: the printed built-in sweep reads back through
//! `--config`, `--plan` prints the points and their count, and every refusal is one line on
//! stderr with exit status 2. Nothing here runs a point: `sweep_run.rs` does.

use std::io::Write;
use std::process::{Command, Output};

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("sweep")
        .args(args)
        .output()
        .expect("run lab")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The count on the plan's last line, `N points, estimated duration ...`.
fn point_count(out: &Output) -> usize {
    let text = stdout(out);
    let last = text.lines().last().expect("a summary line");
    assert!(last.contains("estimated duration"), "{last}");
    last.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

/// Asserts exit status 2 and exactly one stderr line, `lab: error: <expected>`.
fn assert_refused(out: &Output, expected: &str) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(err.trim_end(), format!("lab: error: {expected}"));
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(out));
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(text.as_bytes()).expect("write temp file");
    file
}

#[test]
fn printed_config_reads_back_to_the_same_plan() {
    for quick in [false, true] {
        let quick_flag: &[&str] = if quick { &["--quick"] } else { &[] };
        let printed = lab(&[&["--print-config"], quick_flag].concat());
        assert!(printed.status.success());
        assert!(stdout(&printed).contains("pool_sizes = ["));
        let file = write_temp(&stdout(&printed));
        let path = file.path().to_str().expect("utf-8 temp path");
        let from_file = lab(&["--plan", "--config", path]);
        let builtin = lab(&[&["--plan"], quick_flag].concat());
        assert!(from_file.status.success(), "{}", stderr(&from_file));
        assert_eq!(stdout(&from_file), stdout(&builtin), "quick: {quick}");
    }
}

#[test]
fn plan_prints_points_and_count_and_flags_override_axes() {
    let default = lab(&["--plan"]);
    assert!(default.status.success(), "{}", stderr(&default));
    // 34 looplab points (pools 1 and 4) and their 30 Node twins (no tokio on Node).
    assert_eq!(point_count(&default), 64);
    assert!(stdout(&default).contains("cluster/hash/p4/k2/c16"));
    assert!(stdout(&default).contains("node:cluster/hash/p4/k2/c16"));
    assert!(stdout(&default).contains("dropped workers/net: same as loop"));
    assert!(stdout(&default).contains("dropped node:tokio: a looplab-only reference"));

    let quick = lab(&["--plan", "--quick"]);
    assert_eq!(point_count(&quick), 32);

    // loop/hash x 3 pools + loop/net + cluster/hash x 3 pools x 1 count + cluster/net = 8.
    let small = lab(&[
        "--plan",
        "--runtimes",
        "looplab",
        "--strategies",
        "loop,cluster",
        "--workloads",
        "hash,net",
        "--pool-sizes",
        "1,2,8",
        "--cluster-counts",
        "2",
        "--repetitions",
        "3",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ]);
    assert!(small.status.success(), "{}", stderr(&small));
    assert_eq!(point_count(&small), 8);
    // 8 points x 3 repetitions x (0 + 2000 + 50) ms = 49.2 s.
    assert!(
        stdout(&small).contains("estimated duration 50s"),
        "{}",
        stdout(&small)
    );

    let first_shard = lab(&["--plan", "--shard", "1/2", "--seed", "9"]);
    let second_shard = lab(&["--plan", "--shard", "2/2", "--seed", "9"]);
    assert_eq!(point_count(&first_shard) + point_count(&second_shard), 64);
}

#[test]
fn the_profile_check_runs_every_point_on_node_and_on_both_cost_flavours() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../costs/check.toml");
    let plan = lab(&["--plan", "--config", config]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let ids = plan_ids(&lab(&["--plan", "--json", "--config", config]));
    // 42 configurations (hash 12, file 9, net 3, web 18), each native, with Node's costs and on
    // Node.
    assert_eq!(point_count(&plan), 126);
    assert_eq!(ids.len(), 126);
    for runtime in ["", "looplab+node:", "node:"] {
        let count = |workload: &str| {
            ids.iter()
                .filter(|id| {
                    id.strip_prefix(runtime)
                        .is_some_and(|rest| !rest.contains(':'))
                })
                .filter(|id| id.contains(&format!("/{workload}/")))
                .count()
        };
        let counts = ["hash", "file", "net", "web"].map(count);
        assert_eq!(counts, [12, 9, 3, 18], "{runtime}");
    }
    let text = stdout(&plan);
    assert!(text.contains("5 repetitions"), "{text}");
    assert!(text.contains("3s measured"), "{text}");
}

#[test]
fn bad_keys_and_values_are_one_line_and_exit_2() {
    let file = write_temp("repetitions = 2\npool_size = [4]\n");
    let path = file.path().to_str().expect("utf-8 temp path");
    let out = lab(&["--plan", "--config", path]);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "lab: error: {path}:2:1: unknown field `pool_size`"
        )),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");

    assert_refused(
        &lab(&["--plan", "--pool-sizes", "1,0"]),
        "pool_sizes: 0 is out of range 1..=1024; use values like [1, 2, 4]",
    );
    assert_refused(
        &lab(&["--plan", "--strategies", "loop,fibers"]),
        "strategies: `fibers` is not allowed; choose from loop, loop-blocking, workers, cluster, tokio, rayon",
    );
    // A mistyped value gets a suggestion, as a mistyped flag does.
    assert_refused(
        &lab(&["--plan", "--strategies", "loop,cluser"]),
        "strategies: `cluser` is not allowed; did you mean `cluster`? (choose from loop, loop-blocking, workers, cluster, tokio, rayon)",
    );
    assert_refused(
        &lab(&["--plan", "--duration", "5"]),
        "duration: `5` is not a duration; write a number and a unit, like \"500ms\", \"5s\" or \"1m\"",
    );
    assert_refused(
        &lab(&["--plan", "--duration", "0ms"]),
        "duration: \"0ms\" is out of range above 0s, up to 1h; use values like \"500ms\", \"5s\"",
    );
    assert_refused(
        &lab(&["--plan", "--shard", "3/2"]),
        "--shard: `3/2` is not valid; expected I/N with 1 <= I <= N, like 1/4",
    );
    assert_refused(
        &lab(&["--plan", "--seed", "x"]),
        "--seed: `x` is not valid; expected one whole number, like 3",
    );
    assert_refused(
        &lab(&["--plan", "--pool-sizes", "1,two"]),
        "--pool-sizes: `1,two` is not valid; expected comma-separated whole numbers, like 1,2,4",
    );
    let missing = lab(&["--plan", "--config", "/nonexistent/sweep.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).starts_with("lab: error: read sweep file /nonexistent/sweep.toml"));
}

#[test]
fn the_plan_as_json_has_every_point_and_what_was_pruned() {
    let text = lab(&["--plan"]);
    let json = lab(&["--plan", "--json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("one JSON object");
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), point_count(&text));
    assert!(points
        .iter()
        .any(|p| p["id"] == "node:cluster/hash/p4/k2/c16"));
    assert_eq!(points[0]["repetitions"], 3);
    assert!(v["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["pair"] == "node:tokio"));
    assert!(v["estimated_ms"].as_u64().unwrap() > 0);
}

/// The variables `--shard auto` reads, removed so the test's own environment cannot answer.
const SCHEDULER_VARS: [&str; 10] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "LAB_SHARD_INDEX",
    "LAB_SHARDS",
];

/// `lab sweep ARGS` with exactly `vars` of the scheduler variables set.
fn lab_in(vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command.arg("sweep").args(args);
    for var in SCHEDULER_VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    command.output().expect("run lab")
}

/// The point ids of a `--plan --json`.
fn plan_ids(out: &Output) -> Vec<String> {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    plan["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn shard_auto_plans_the_shard_the_schedulers_environment_names() {
    let plan = ["--plan", "--json", "--quick", "--runtimes", "looplab"];
    let explicit = plan_ids(&lab_in(&[], &[&plan[..], &["--shard", "2/3"]].concat()));
    let whole = plan_ids(&lab_in(&[], &plan));
    assert!(!explicit.is_empty() && explicit.len() < whole.len());
    let auto = [&plan[..], &["--shard", "auto"]].concat();
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "5"),
        ("SLURM_ARRAY_TASK_MIN", "4"),
        ("SLURM_ARRAY_TASK_MAX", "6"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
        ("LAB_SHARD_INDEX", "1"),
        ("LAB_SHARDS", "3"),
    ];
    let out = lab_in(&slurm, &auto);
    assert_eq!(
        plan_ids(&out),
        explicit,
        "Slurm's task 5 of 4-6 is shard 2/3"
    );
    assert_eq!(
        stderr(&out),
        "lab: shard 2/3 from SLURM_ARRAY_TASK_ID=5 of --array=4-6\n"
    );
    let kubernetes = [("JOB_COMPLETION_INDEX", "1"), ("LAB_SHARDS", "3")];
    assert_eq!(plan_ids(&lab_in(&kubernetes, &auto)), explicit);
    let gitlab = [("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")];
    assert_eq!(plan_ids(&lab_in(&gitlab, &auto)), explicit);
    let quiet = lab_in(&gitlab, &[&auto[..], &["--quiet"]].concat());
    assert!(quiet.status.success() && quiet.stderr.is_empty());
}

#[test]
fn shard_auto_without_a_scheduler_or_with_half_of_one_is_one_line() {
    let auto = ["--plan", "--quick", "--shard", "auto"];
    let out = lab_in(&[], &auto);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("lab: error: --shard auto: no scheduler's shard in the environment (looked at SLURM_ARRAY_TASK_ID"),
        "{err}"
    );
    assert_refused(
        &lab_in(&[("JOB_COMPLETION_INDEX", "0")], &auto),
        "--shard auto: JOB_COMPLETION_INDEX is set but LAB_SHARDS is not; set LAB_SHARDS to the Job's completions, in the pod's env",
    );
    assert_refused(
        &lab_in(&[("LAB_SHARD_INDEX", "4"), ("LAB_SHARDS", "3")], &auto),
        "--shard auto: LAB_SHARD_INDEX=4 (1-based) with LAB_SHARDS=3 is not one of 3 shards; the index must be within the count",
    );
}

#[test]
fn out_parent_goes_with_neither_out_nor_resume() {
    let both = lab(&["--quick", "--out", "a", "--out-parent", "b"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
    assert_refused(
        &lab(&["--resume", "somewhere", "--out-parent", "b"]),
        "--resume takes the sweep from somewhere/meta.json; drop the other sweep options (only --quiet may go with it)",
    );
}
