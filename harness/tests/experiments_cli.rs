//! `lab experiment workers` and `lab experiment cluster` end to end: they start `lab serve`
//! children (workers and cluster strategies), measure, and leave no process behind.

use std::process::Command;

fn experiment(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("experiment")
        .args(args)
        .arg("--json")
        .output()
        .expect("run lab experiment");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn check(report: &serde_json::Value, index: usize) -> bool {
    report["checks"][index]["holds"] == true
}

#[test]
fn workers_keep_the_loop_responsive_and_share_the_pool() {
    let report = experiment(&["workers", "--work", "300ms", "--iterations", "100000"]);
    assert_eq!(report["experiment"], "workers");
    assert_eq!(
        report["completions"].as_array().unwrap().len(),
        7,
        "{report:#}"
    );
    // The responsiveness contrast is wide (hundreds of ms against about one); the wave shape
    // depends on fair core sharing, so it is reported, not asserted here.
    assert!(check(&report, 0) && check(&report, 1), "{report:#}");
}

#[test]
fn cluster_wall_clock_work_scales_past_the_cores() {
    let report = experiment(&["cluster", "--work", "50ms", "--duration", "1s"]);
    assert_eq!(report["experiment"], "cluster");
    let points = report["completions"].as_array().unwrap();
    assert_eq!(points.len(), 6, "{report:#}");
    assert!(check(&report, 0), "{report:#}");
}

#[test]
fn classic_json_is_one_object_with_every_run_and_the_mismatch_count() {
    let report = experiment(&["classic"]);
    let runs = report["experiments"].as_array().expect("experiments");
    assert_eq!(report["runs"], runs.len(), "{report:#}");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["experiment"].as_str().unwrap())
        .collect();
    for name in ["staircase", "multitask", "ordering"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let mismatched = runs
        .iter()
        .filter(|r| {
            r["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["holds"] == false)
        })
        .count();
    assert_eq!(report["mismatches"], mismatched, "{report:#}");
    assert!(report["recorded"].is_null());
}
