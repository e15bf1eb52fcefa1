//! Folders written by the previous version (record schema 1: ids without coordinates,
//! `experiments.json` version 1) through the real binary: `lab report`, `lab baseline` and
//! `lab check`, `lab merge` and `lab sweep --resume` all still read them.
//!
//! The fixtures are real sweeps of the version before schema 2 (a service sweep over every
//! serving strategy at pool 1 and 2, and a batch sweep of loop, cluster and rayon), kept as
//! they were written: `meta.json`, `results.jsonl`, `experiments.json`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema1");

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("the lab binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy(name: &str, parent: &Path) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir(&dir).unwrap();
    for entry in fs::read_dir(Path::new(FIXTURES).join(name)).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn ids(results: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_to_string(results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| format!("{} {}", r["point_id"], r["repetition"]))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_schema1_folder_renders_with_every_point_and_its_recorded_timelines() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["service", "batch"] {
        let dir = copy(name, tmp.path());
        let out = lab(&["report", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let csv = fs::read_to_string(dir.join("points.csv")).unwrap();
        let points: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let expected = if name == "service" { 10 } else { 3 };
        assert_eq!(points.len(), expected, "{name}: {csv}");
        assert!(
            dir.join("charts/gantt-staircase-p2.png").is_file(),
            "{name}"
        );
        assert!(
            dir.join("charts/gantt-multitask-p4.png").is_file(),
            "{name}"
        );
    }
}

#[test]
fn a_schema1_folder_is_checked_against_its_own_baseline_and_its_invariants() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy("service", tmp.path());
    let base = tmp.path().join("base.json");
    let out = lab(&[
        "baseline",
        dir.to_str().unwrap(),
        "--save",
        base.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = lab(&[
        "check",
        dir.to_str().unwrap(),
        "--baseline",
        base.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    // Compared with itself nothing changed; the staircase and multitask runs of the version-1
    // file are judged (pools 1, 2 and 4, and 4), the pools it did not record are listed.
    let invariants = report["invariants"].as_array().unwrap();
    let rule = |r: &serde_json::Value| r["rule"].as_str().unwrap().to_string();
    let judged: Vec<String> = invariants
        .iter()
        .filter(|i| i["status"] != "not_applicable")
        .map(rule)
        .collect();
    for expected in [
        "staircase: 6 hashes on a pool of 1",
        "staircase: 6 hashes on a pool of 4",
        "multitask on a pool of 4",
    ] {
        assert!(judged.iter().any(|r| r.starts_with(expected)), "{judged:?}");
    }
    let missing: Vec<&serde_json::Value> = invariants
        .iter()
        .filter(|i| rule(i).starts_with("multitask on a pool of 1"))
        .collect();
    assert_eq!(missing[0]["status"], "not_applicable");
    assert!(
        missing[0]["detail"]
            .as_str()
            .unwrap()
            .contains("lab experiment classic --out"),
        "{missing:?}"
    );
    let regressed = report["comparisons"].as_array().map_or(0, |c| {
        c.iter().filter(|c| c["verdict"] == "regressed").count()
    });
    assert_eq!(regressed, 0, "{report}");
}

#[test]
fn a_schema1_folder_merges_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy("batch", tmp.path());
    let original = ids(&dir.join("results.jsonl"));
    // Two halves of the folder, as two shards would have written them, merge into the whole.
    let lines: Vec<String> = fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (half, records) in [(&a, &lines[..1]), (&b, &lines[1..])] {
        fs::create_dir(half).unwrap();
        fs::copy(dir.join("meta.json"), half.join("meta.json")).unwrap();
        fs::write(
            half.join("results.jsonl"),
            format!("{}\n", records.join("\n")),
        )
        .unwrap();
    }
    let merged = tmp.path().join("merged");
    let out = lab(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ids(&merged.join("results.jsonl")), original);

    // Drop the last repetition and finish the sweep: only it runs again, with coordinates.
    let results = dir.join("results.jsonl");
    let kept: Vec<String> = fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    fs::write(&results, format!("{}\n", kept[..kept.len() - 1].join("\n"))).unwrap();
    let out = lab(&["sweep", "--resume", dir.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ids(&results), original);
    let last: serde_json::Value = serde_json::from_str(
        fs::read_to_string(&results)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["schema"], 2);
    assert_eq!(last["coords"]["mode"], "batch");
    assert!(dir.join("report.html").is_file());
}
