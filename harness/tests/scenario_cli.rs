//! `lab scenario` and `lab calibrate` end to end: every file of `scenarios/` agrees with real
//! Node.js (racy groups as sets), JSON output, the Gantt PNG, calibration.json, and the errors
//! (a bad file with its line and column, a missing `node`), each exit 2 on one line.
//!
//! The Node comparison needs `node` on PATH (Node.js 20; `.ci/run` installs it): without it the
//! test fails and says so, rather than passing without having compared anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario_file(name: &str) -> PathBuf {
    repo().join("scenarios").join(name)
}

fn node_on_path() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn require_node() {
    assert!(
        node_on_path(),
        "`node` is not on PATH: these tests compare looplab with real Node.js. Install Node.js 20 \
         (https://nodejs.org, or `apt-get install -y nodejs`; `.ci/run` does it on CI)"
    );
}

fn json_of(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lab failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("one JSON object: {e}; {stderr}"))
}

/// The JSON of a `lab scenario --node` run that worked: exit 0 when the orders agree, exit 1
/// (a failed threshold, printed after the JSON) when they differ. Anything else fails the test.
fn json_of_compared(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "lab failed ({code:?}): {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON object: {e}; {stderr}"));
    let identical = report["runs"][0]["comparison"]["identical"] == true;
    assert_eq!(
        code == Some(0),
        identical,
        "exit status and comparison: {stderr}"
    );
    report
}

fn labels(timeline: &serde_json::Value) -> Vec<String> {
    timeline["completions"]
        .as_array()
        .expect("completions")
        .iter()
        .map(|c| c["label"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Runs an erroneous command: exit 2, one line on stderr; returns that line.
fn error_line(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.trim_end().to_string()
}

/// Every scenario of `scenarios/` run with `--node` and `extra` flags: the ones whose orders
/// never agreed with Node's in three runs, with what was seen.
fn disagreements(extra: &[&str]) -> Vec<String> {
    require_node();
    let dir = repo().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut disagreements = Vec::new();
    for file in &files {
        // A loaded machine can blur a wave or delay a timer past its margin, on either side:
        // a scenario passes when one of three runs agrees (each run is a fresh Node process).
        // A run that disagrees exits 1 with its JSON printed, and the next run is tried.
        let mut seen = Vec::new();
        let agreed = (0..3).any(|_| {
            let out = lab()
                .arg("scenario")
                .arg(file)
                .args(["--node", "--json"])
                .args(extra)
                .output()
                .expect("run lab");
            let report = json_of_compared(&out);
            let run = &report["runs"][0];
            seen.push(format!(
                "looplab {:?} / node {:?}",
                labels(&run["looplab"]),
                labels(&run["node"])
            ));
            run["comparison"]["identical"] == true
        });
        if !agreed {
            disagreements.push(format!("{}: {}", file.display(), seen.join(" | ")));
        }
    }
    disagreements
}

#[test]
fn every_scenario_agrees_with_node() {
    let disagreements = disagreements(&[]);
    assert!(
        disagreements.is_empty(),
        "disagreements:\n{}",
        disagreements.join("\n")
    );
}

/// Charging Node's costs (the committed `costs/node.toml`) slows looplab's events down but
/// must not change any order the scenarios check.
#[test]
fn every_scenario_still_agrees_with_node_with_node_s_costs_charged() {
    let profile = repo().join("costs/node.toml");
    let disagreements = disagreements(&["--costs", profile.to_str().expect("a UTF-8 path")]);
    assert!(
        disagreements.is_empty(),
        "disagreements with costs/node.toml charged:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn json_output_lists_completions_with_times_and_threads() {
    let out = lab()
        .arg("scenario")
        .arg(scenario_file("ticks-before-promises.toml"))
        .args(["--json", "--runs", "2"])
        .output()
        .expect("run lab");
    let report = json_of(&out);
    assert_eq!(report["scenario"], "ticks-before-promises");
    assert_eq!(report["pool_size"], 4);
    assert_eq!(report["runs"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["looplab_stable"], "2/2");
    assert!(report["summary"].is_null(), "no Node run, no comparison");
    let first = &report["runs"][0]["looplab"];
    assert_eq!(labels(first)[..4], ["main:sync", "t1", "t2-from-t1", "p1"]);
    for c in first["completions"].as_array().unwrap() {
        assert_eq!(c["thread"], "main");
        assert!(
            c["ms"].as_f64().unwrap() >= c["start_ms"].as_f64().unwrap(),
            "{c}"
        );
    }
}

#[test]
fn text_output_with_node_shows_both_sides_and_the_comparison() {
    require_node();
    let out = lab()
        .arg("scenario")
        .arg(scenario_file("immediate-first-in-io.toml"))
        .arg("--node")
        .output()
        .expect("run lab");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "looplab",
        "node",
        "order identical:",
        "Spearman",
        "Kendall",
        "first difference:",
        "ratio",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// A PNG's width and height, after checking its signature and that its chunks run, each
/// with its length, from IHDR to a final IEND.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR comes first");
    let mut at = 8;
    let mut last = [0u8; 4];
    while at + 12 <= bytes.len() {
        last.copy_from_slice(&bytes[at + 4..at + 8]);
        at += 12 + be(at) as usize;
    }
    assert_eq!(at, bytes.len(), "chunks end where the file ends");
    assert_eq!(&last, b"IEND", "the last chunk is IEND");
    (be(16), be(20))
}

/// Runs `lab scenario FILE --gantt PNG` (with `extra` args) and returns the PNG's size.
fn gantt_size(dir: &Path, png: &str, extra: &[&str]) -> (u32, u32) {
    let png = dir.join(png);
    let out = lab()
        .arg("scenario")
        .arg(scenario_file("nested-then.toml"))
        .arg("--gantt")
        .arg(&png)
        .args(extra)
        .output()
        .expect("run lab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("the PNG was written");
    assert!(bytes.len() > 2000, "{} bytes", bytes.len());
    png_size(&bytes)
}

#[test]
fn gantt_writes_a_png_with_a_panel_below_for_node() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let (width, height) = gantt_size(dir.path(), "gantt.png", &[]);
    assert!((600..=4000).contains(&width), "{width} px wide");
    assert!((150..=4000).contains(&height), "{height} px high");
    let (node_width, node_height) = gantt_size(dir.path(), "both.png", &["--node"]);
    assert_eq!(node_width, width, "the Node panel goes below, not beside");
    assert!(
        node_height > height * 3 / 2,
        "two panels ({node_height} px) are taller than one ({height} px)"
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(files, ["both.png", "gantt.png"], "no temp files left");
}

#[test]
fn a_bad_file_gets_its_line_column_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[op]]\nkind = \"teleport\"\nlabel = \"x\"\n",
            "2:8: unknown op kind `teleport`; expected one of: pbkdf2,",
        ),
        (
            "[[op]]\nkind = \"timeout\"\nlabel = \"t\"\nms = 1\ncolour = 3\n",
            "5:1: unknown field `colour`; expected one of",
        ),
        (
            "[[op]]\nkind = \"timeout\"\nlabel = \"t\"\n",
            "2:8: kind `timeout` needs `ms`; expected",
        ),
        (
            "pool_size = 0\n[[op]]\nkind = \"immediate\"\nlabel = \"i\"\n",
            "1:13: `pool_size` 0 is out of range; expected 1..=1024",
        ),
        ("[[op]\n", "1:6: "),
        (
            "[[op]]\nkind = \"message\"\nlabel = \"early\"\nto = \"w\"\n[[op]]\nkind = \"worker\"\nlabel = \"w\"\n",
            "4:6: message `early` is sent before worker `w` has started; expected",
        ),
    ];
    // A label of 65,536+ characters used to panic in the table printer (exit 101).
    let long_label = format!(
        "[[op]]\nkind = \"immediate\"\nlabel = \"{}\"\n",
        "l".repeat(70_000)
    );
    let long_expected = "3:9: `label` of 70000 bytes is longer than the bound of 256 characters";
    let cases: Vec<(&str, &str)> = cases
        .into_iter()
        .chain([(long_label.as_str(), long_expected)])
        .collect();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let line = error_line(lab().arg("scenario").arg(&file).output().expect("run lab"));
        let wanted = format!("{}:{expected}", file.display());
        assert!(line.contains(&wanted), "{line:?} should contain {wanted:?}");
        assert!(line.contains("expected"), "{line}");
    }
    let missing = error_line(
        lab()
            .args(["scenario", "no-such-file.toml"])
            .output()
            .expect("run lab"),
    );
    assert!(missing.contains("no-such-file.toml"), "{missing}");
}

#[test]
fn without_node_on_path_the_error_says_how_to_install_it() {
    let out = lab()
        .arg("scenario")
        .arg(scenario_file("immediate-first-in-io.toml"))
        .arg("--node")
        .env("PATH", "/nonexistent")
        .output()
        .expect("run lab");
    let line = error_line(out);
    assert!(line.contains("`node` was not found on PATH"), "{line}");
    assert!(line.contains("install Node.js"), "{line}");
}

#[test]
fn calibrate_writes_calibration_json_in_the_report_s_schema() {
    require_node();
    let scenarios = tempfile::tempdir().unwrap();
    for name in [
        "immediate-first-in-io.toml",
        "timeout-vs-immediate-main.toml",
    ] {
        std::fs::copy(scenario_file(name), scenarios.path().join(name)).unwrap();
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = lab()
        .arg("calibrate")
        .arg("--scenarios")
        .arg(scenarios.path())
        .args(["--runs", "2", "--no-benches", "--out"])
        .arg(out_dir.path())
        .output()
        .expect("run lab");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("immediate-first-in-io"), "{stdout}");
    let text = std::fs::read_to_string(out_dir.path().join("calibration.json")).expect("written");
    let c: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&c), ["benches", "scenarios"]);
    assert_eq!(c["benches"].as_array().map(Vec::len), Some(0));
    let rows = c["scenarios"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        keys(&rows[0]),
        [
            "agreement",
            "first_difference",
            "name",
            "order_identical",
            "racy",
            "rank_correlation",
            "time_ratio"
        ]
    );
    assert_eq!(rows[0]["name"], "immediate-first-in-io");
    assert_eq!(rows[0]["racy"], false);
    assert_eq!(
        rows[0]["agreement"].as_str().map(|a| a.ends_with("/2")),
        Some(true)
    );
    assert_eq!(rows[1]["racy"], true);
    assert!(rows[1]["time_ratio"].as_f64().is_some_and(|r| r > 0.0));
}

/// A folder holding a `node` that runs the real one with a pool of 1 thread whatever the
/// scenario asks for, and a scenario whose order depends on the pool: a long hash then a short
/// one finish short first on 2 threads, long first on 1.
fn node_with_one_pool_thread() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    require_node();
    let real = which_node();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("node");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nUV_THREADPOOL_SIZE=1 exec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scenario = dir.path().join("long-then-short.toml");
    std::fs::write(
        &scenario,
        "name = \"long-then-short\"\npool_size = 2\n\n\
         [[op]]\nkind = \"pbkdf2\"\nlabel = \"long\"\niterations = 400000\n\n\
         [[op]]\nkind = \"pbkdf2\"\nlabel = \"short\"\niterations = 1000\n",
    )
    .unwrap();
    (dir, scenario)
}

fn which_node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("node"))
        .find(|p| p.is_file())
        .expect("node on PATH")
}

fn path_with_first(dir: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn scenario_with_node_exits_1_when_the_orders_differ() {
    let (dir, scenario) = node_with_one_pool_thread();
    let out = lab()
        .arg("scenario")
        .arg(&scenario)
        .arg("--node")
        .env("PATH", path_with_first(dir.path()))
        .output()
        .expect("run lab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("orders differ from Node's"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("first difference"),
        "the comparison is printed before the exit"
    );
    // The same scenario against the real node agrees, and exits 0.
    let out = lab()
        .arg("scenario")
        .arg(&scenario)
        .arg("--node")
        .output()
        .expect("run lab");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn calibrate_exits_1_naming_the_scenarios_whose_orders_differ() {
    let (dir, scenario) = node_with_one_pool_thread();
    let scenarios = tempfile::tempdir().unwrap();
    std::fs::copy(&scenario, scenarios.path().join("long-then-short.toml")).unwrap();
    let out = lab()
        .arg("calibrate")
        .arg("--scenarios")
        .arg(scenarios.path())
        .args(["--runs", "1", "--no-benches", "--json"])
        .env("PATH", path_with_first(dir.path()))
        .output()
        .expect("run lab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 of 1 scenarios (long-then-short)"),
        "{stderr}"
    );
    // --json: the calibration as one object on stdout, printed before the exit.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let rows = report["calibration"]["scenarios"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "long-then-short");
    assert_eq!(rows[0]["order_identical"], false);
    assert!(report["written"].is_null());
}

#[test]
fn calibrate_costs_writes_a_profile_where_every_event_is_measured_or_says_why_not() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.toml");
    let out = lab()
        .args(["calibrate", "--costs", "--runs", "1", "--json", "--out"])
        .arg(&file)
        .output()
        .expect("run lab");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(printed["written"], file.display().to_string());
    let text = std::fs::read_to_string(&file).expect("the profile is written");
    let events = &printed["profile"]["events"];
    assert_eq!(events.as_object().map(|e| e.len()), Some(15), "{events}");
    // Events derived as differences of two measurements (64 KiB less 1 KiB, a round trip less
    // its submission) may come out at or below 0 on a single noisy run; the others are counts
    // of CPU and must be positive.
    let differences = ["file_kib", "file_trip", "pool_completion"];
    for (name, e) in events.as_object().unwrap() {
        let how = e["how"].as_str().unwrap();
        let node_ns = e["node_ns"].as_f64().unwrap();
        if how.starts_with("not measured") {
            assert_eq!((node_ns, e["ns"].as_u64()), (0.0, Some(0)), "{name}: {e}");
        } else if differences.contains(&name.as_str()) {
            assert!(node_ns.is_finite(), "{name}: {e}");
        } else {
            assert!(node_ns > 0.0, "{name}: {e}");
        }
        assert!(
            text.contains(&format!("[events.{name}]")),
            "{name} missing from {text}"
        );
    }
    // Under the sweep's load both servers' JavaScript threads spend some CPU per request, and
    // less than a millisecond; a hash request costs it more than a hello request.
    for event in ["http_request", "wakeup", "crypto_completion", "worker_task"] {
        for side in ["node_ns", "looplab_ns"] {
            let ns = events[event][side].as_f64().unwrap();
            assert!(ns > 0.0 && ns < 1e6, "{event} {side} = {ns}");
        }
    }
    let node = |event: &str| events[event]["node_ns"].as_f64().unwrap();
    assert!(node("crypto_completion") > node("http_request"), "{events}");
    assert!(events["http_request"]["how"]
        .as_str()
        .unwrap()
        .contains("16 keep-alive"));
}
