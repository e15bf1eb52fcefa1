//! `lab baseline` and `lab check` through the real binary, on small hand-made results folders:
//! a regression exits 1, no change exits 0, another machine's baseline is refused with exit 2
//! naming the fix unless `--allow-other-machine`, a failed invariant exits 1, and the Markdown
//! and JSON forms have their shapes. One test runs the in-process experiments too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("run lab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// One point of a hand-made folder: its id and, per metric, every repetition's value.
struct Point<'a> {
    id: &'a str,
    metrics: &'a [(&'a str, &'a [f64])],
}

/// Writes `parent/name` as a finished results folder measured on `hostname`.
fn folder(parent: &Path, name: &str, hostname: &str, points: &[Point]) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = json!({
        "schema": 1,
        "sweep_id": "sweep-test",
        "machine": {
            "hostname": hostname, "cpu_model": "AMD EPYC", "cores": 2, "logical_cpus": 2,
            "physical_cores": 2, "memory_bytes": 1_073_741_824u64,
            "os": "Debian GNU/Linux 12", "kernel": "6.1.0"
        },
        "looplab_version": "0.1.0",
        "git_revision": "abc123",
        "started_at": "2026-11-26T08:00:00Z",
        "finished_at": "2026-11-26T08:01:00Z",
        "config": { "repetitions": 5 }
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    let mut lines = String::new();
    for point in points {
        let repetitions = point.metrics.iter().map(|m| m.1.len()).max().unwrap_or(0);
        for repetition in 0..repetitions {
            let metrics: serde_json::Map<String, Value> = point
                .metrics
                .iter()
                .map(|(name, values)| (name.to_string(), json!(values[repetition])))
                .collect();
            let record = json!({
                "schema": 1, "point_id": point.id, "repetition": repetition, "ok": true,
                "error": null, "metrics": metrics, "histogram_base64": null
            });
            lines.push_str(&format!("{record}\n"));
        }
    }
    std::fs::write(dir.join("results.jsonl"), lines).unwrap();
    dir
}

/// A hash point and a net point; `hash_speed` scales the hash point's throughput (and its
/// latency inversely), so 0.5 is a build that hashes twice as slowly.
fn sweep(parent: &Path, name: &str, hostname: &str, hash_speed: f64) -> PathBuf {
    let throughput: Vec<f64> = [400.0, 404.0, 398.0, 401.0, 399.0]
        .iter()
        .map(|v| v * hash_speed)
        .collect();
    let p99: Vec<f64> = [41_000.0, 41_500.0, 40_800.0, 41_200.0, 40_900.0]
        .iter()
        .map(|v| v / hash_speed)
        .collect();
    folder(
        parent,
        name,
        hostname,
        &[
            Point {
                id: "loop/hash/p1/c8",
                metrics: &[("throughput_per_s", &throughput), ("p99_us", &p99)],
            },
            Point {
                id: "loop/net/c8",
                metrics: &[
                    (
                        "throughput_per_s",
                        &[69_000.0, 69_500.0, 68_800.0, 69_200.0, 69_100.0],
                    ),
                    ("p99_us", &[190.0, 191.0, 189.0, 190.0, 192.0]),
                ],
            },
        ],
    )
}

/// `lab baseline DIR --save FILE`, asserted to succeed.
fn save_baseline(dir: &Path, file: &Path) {
    let out = lab(&[
        "baseline",
        &dir.display().to_string(),
        "--save",
        &file.display().to_string(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("baseline: 2 points, 5..5 repetitions"),
        "{}",
        text(&out.stdout)
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(saved["baseline_schema"], 1);
    assert_eq!(
        saved["points"]["loop/hash/p1/c8"]["throughput_per_s"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

fn check(dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.display().to_string();
    let mut args = vec!["check", dir.as_str(), "--no-experiments"];
    args.extend_from_slice(extra);
    lab(&args)
}

#[test]
fn a_slower_build_is_a_regression_and_the_same_build_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let base = sweep(tmp.path(), "base", "vm", 1.0);
    let file = tmp.path().join("base.json");
    save_baseline(&base, &file);
    let file = file.display().to_string();

    let slow = sweep(tmp.path(), "slow", "vm", 0.5);
    let out = check(&slow, &["--baseline", &file]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with("lab check: FAIL; 2 regressed, 0 improved"),
        "{stdout}"
    );
    assert!(
        stdout.contains("loop/hash/p1/c8  throughput_per_s"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("loop/net/c8"),
        "the net point did not change: {stdout}"
    );
    assert!(
        text(&out.stderr).contains("check failed: 2 regression(s)"),
        "{}",
        text(&out.stderr)
    );

    let same = sweep(tmp.path(), "same", "vm", 1.0);
    let out = check(&same, &["--baseline", &file]);
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("nothing changed beyond its threshold"));
}

#[test]
fn another_machines_baseline_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("base.json");
    save_baseline(&sweep(tmp.path(), "base", "vm", 1.0), &file);
    let file = file.display().to_string();
    let elsewhere = sweep(tmp.path(), "elsewhere", "ci-runner", 1.0);

    let out = check(&elsewhere, &["--baseline", &file]);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("hostname vm vs ci-runner"), "{stderr}");
    assert!(stderr.contains("--allow-other-machine"), "{stderr}");
    assert!(stderr.contains("lab baseline DIR --save FILE"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = check(&elsewhere, &["--baseline", &file, "--allow-other-machine"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("warning: the baseline was measured on another machine"));
}

#[test]
fn markdown_and_json_have_their_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("base.json");
    save_baseline(&sweep(tmp.path(), "base", "vm", 1.0), &file);
    let file = file.display().to_string();
    let slow = sweep(tmp.path(), "slow", "vm", 0.5);

    let out = check(&slow, &["--baseline", &file, "--markdown"]);
    assert_eq!(code(&out), 1);
    let md = text(&out.stdout);
    assert!(md.starts_with("### lab check: FAIL"), "{md}");
    assert!(
        md.contains("| point | metric | baseline | new | change (threshold) | adj. p | verdict |"),
        "{md}"
    );
    assert!(
        md.contains("| loop/hash/p1/c8 | throughput_per_s | 400 | 200 | -50.0% (±5%) |"),
        "{md}"
    );
    assert!(md.contains("#### Behaviour invariants"), "{md}");

    let out = check(
        &slow,
        &["--baseline", &file, "--json", "--threshold", "p99_us=150"],
    );
    assert_eq!(code(&out), 1);
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let metrics = json["comparison"]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 4, "{json:#}");
    let verdict = |point: &str, metric: &str| {
        metrics
            .iter()
            .find(|m| m["point_id"] == point && m["metric"] == metric)
            .map(|m| m["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(
        verdict("loop/hash/p1/c8", "throughput_per_s").as_deref(),
        Some("regressed")
    );
    // p99 doubled (+100%) is within the 150% threshold given.
    assert_eq!(
        verdict("loop/hash/p1/c8", "p99_us").as_deref(),
        Some("no_change")
    );
    assert_eq!(
        verdict("loop/net/c8", "p99_us").as_deref(),
        Some("no_change")
    );
    assert_eq!(json["comparison"]["tested"], 4);
    assert!(json["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"].is_string()));
}

#[test]
fn one_repetition_is_not_judged_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let once = |name: &str, throughput: f64| {
        folder(
            tmp.path(),
            name,
            "vm",
            &[Point {
                id: "loop/hash/p1/c8",
                metrics: &[("throughput_per_s", &[throughput])],
            }],
        )
    };
    let base = once("base", 400.0);
    let slow = once("slow", 200.0);
    let out = check(&slow, &["--baseline", &base.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(
        stdout.contains("too few repetitions to judge: 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not judged (too few repetitions)"),
        "{stdout}"
    );
}

#[test]
fn a_speed_up_beyond_the_cores_fails_an_invariant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(
        tmp.path(),
        "impossible",
        "vm",
        &[
            Point {
                id: "loop/hash/p1/c8",
                metrics: &[("throughput_per_s", &[200.0, 201.0])],
            },
            Point {
                id: "cluster/hash/p1/k4/c8",
                metrics: &[("throughput_per_s", &[640.0, 650.0])],
            },
        ],
    );
    let out = check(&dir, &["--invariants-only"]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}");
    let line = |start: &str, rule: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(start) && l.contains(rule))
    };
    assert!(line("FAIL", "cluster x4 speeds hashing up"), "{stdout}");
    assert!(stdout.contains("3.22x, expected 1.20..2.30x"), "{stdout}");
    assert!(line("n/a", "workers speeds hashing up"), "{stdout}");
    assert!(text(&out.stderr).contains("1 failed invariant(s)"));
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path(), "base", "vm", 1.0);
    let stranger = folder(
        tmp.path(),
        "stranger",
        "vm",
        &[Point {
            id: "tokio/net/c64",
            metrics: &[("throughput_per_s", &[1.0, 2.0, 3.0])],
        }],
    );
    let stranger = stranger.display().to_string();
    for (extra, expected) in [
        (&[][..], "--baseline FILE"),
        (
            &["--invariants-only", "--threshold", "p98_us=3"][..],
            "p98_us=3",
        ),
        (
            &["--baseline", "/nonexistent/base.json"][..],
            "/nonexistent/base.json",
        ),
        (&["--baseline", stranger.as_str()][..], "share no point"),
    ] {
        let out = check(&dir, extra);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 2, "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
}

#[test]
fn invariants_only_runs_the_experiments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sweep(tmp.path(), "quick", "vm", 1.0);
    let out = lab(&[
        "check",
        &dir.display().to_string(),
        "--invariants-only",
        "--json",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let invariants = json["invariants"].as_array().unwrap();
    let rules: Vec<&str> = invariants
        .iter()
        .map(|i| i["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules.iter().filter(|r| r.starts_with("staircase")).count(),
        3,
        "{rules:?}"
    );
    assert_eq!(
        rules.iter().filter(|r| r.starts_with("multitask")).count(),
        5,
        "{rules:?}"
    );
    assert!(json["comparison"].is_null());
    // On a machine busy enough to fail three attempts in a row the status is 1 and says why.
    let failed: Vec<&Value> = invariants
        .iter()
        .filter(|i| i["status"] == "fail")
        .collect();
    assert_eq!(
        code(&out),
        if failed.is_empty() { 0 } else { 1 },
        "{failed:#?}"
    );
    assert!(failed.is_empty(), "{failed:#?}");
}

/// A gungraun summary of `function` at size `n` with `ir` instructions, under `dir`.
fn gungraun_summary(dir: &Path, function: &str, n: u64, ir: u64) {
    let folder = dir.join(format!("looplab-runtime/instructions/g/{function}.n{n}"));
    std::fs::create_dir_all(&folder).unwrap();
    let mut metrics = serde_json::Map::new();
    for name in [
        "Ir",
        "L1hits",
        "LLhits",
        "RamHits",
        "EstimatedCycles",
        "Bc",
        "Bcm",
        "Bi",
        "Bim",
    ] {
        metrics.insert(name.into(), json!({ "values": { "new": ir } }));
    }
    let summary = json!({
        "function_name": function, "id": format!("n{n}"),
        "profiles": [{ "tool": "Callgrind", "data": { "parts": [], "total": { "metrics": metrics, "regressions": [] } } }]
    });
    std::fs::write(folder.join("summary.json"), summary.to_string()).unwrap();
}

#[test]
fn instruction_counts_above_the_baseline_fail_the_check_and_show_in_lab_check() {
    let tmp = tempfile::tempdir().unwrap();
    let (summaries, baseline) = (tmp.path().join("gungraun"), tmp.path().join("base.json"));
    let out_file = tmp.path().join("instructions.json");
    let instructions = |extra: &[&str]| {
        let (s, b) = (
            summaries.display().to_string(),
            baseline.display().to_string(),
        );
        let mut args = vec!["instructions", "--summaries", &s, "--baseline", &b];
        args.extend_from_slice(extra);
        lab(&args)
    };
    let err = text(&instructions(&[]).stderr);
    assert!(err.contains("no gungraun summary.json"), "{err}");
    gungraun_summary(&summaries, "timer", 100, 100_000);
    gungraun_summary(&summaries, "timer", 1100, 1_100_000);
    let err = text(&instructions(&[]).stderr);
    assert!(err.contains("base.json") && err.contains("scripts/instructions --update"));
    assert_eq!(code(&instructions(&["--update"])), 0);
    assert_eq!(code(&instructions(&[])), 0);
    // One extra allocation's worth per timer: 1000 -> 1030 instructions per operation.
    gungraun_summary(&summaries, "timer", 1100, 1_130_000);
    let out = instructions(&["--out", &out_file.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}");
    assert!(stdout.contains("timer") && stdout.contains("+3.00%") && stdout.contains("ABOVE"));
    let dir = folder(
        tmp.path(),
        "quick",
        "vm",
        &[Point {
            id: "loop/hash/p1/c8",
            metrics: &[("throughput_per_s", &[200.0])],
        }],
    );
    let instructions_file = out_file.display().to_string();
    let args = ["--invariants-only", "--markdown", "--instructions"];
    let out = check(&dir, &[&args[..], &[instructions_file.as_str()]].concat());
    let md = text(&out.stdout);
    assert_eq!(code(&out), 1, "{md}");
    assert!(md.contains("#### Instructions per operation"), "{md}");
    assert!(
        md.contains("| timer | 1000 | 1030 | +3.00% | **ABOVE** |"),
        "{md}"
    );
    std::fs::write(&out_file, "not json").unwrap();
    let out = check(&dir, &[&args[..], &[instructions_file.as_str()]].concat());
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("not a valid file of the instruction check"));
}
