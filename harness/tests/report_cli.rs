//! `lab report` on the real binary: where it writes, what it prints, and its exit codes on
//! missing and corrupt results folders. The folder is the reports crate's fixture (real
//! measurements, see `reports/tests/fixtures/README.md`), copied to a temp dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../reports/tests/fixtures/sweep"
);

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("the lab binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_fixture(parent: &Path) -> PathBuf {
    let dir = parent.join("run");
    fs::create_dir(&dir).unwrap();
    for entry in fs::read_dir(FIXTURE).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn report_writes_into_the_results_folder_and_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_fixture(tmp.path());
    let out = lab(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    // The answer in words, one line per workload, then where the report is.
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some(format!("report: {}", dir.join("report.html").display()).as_str())
    );
    let answers = &lines[..lines.len() - 1];
    assert!(!answers.is_empty(), "{stdout}");
    for line in answers {
        assert!(line.contains(". Load: "), "{line}");
        assert!(
            !line.contains("tokio"),
            "a reference is never the answer: {line}"
        );
    }
    assert!(answers.iter().any(|l| l.starts_with("hash ")), "{stdout}");
    assert!(
        text(&out.stderr).contains("warning(s)"),
        "the fixture has warnings: {}",
        text(&out.stderr)
    );
    for file in [
        "report.html",
        "summary.md",
        "points.csv",
        "charts/throughput-hash.png",
        "charts/throughput-hash.svg",
        "charts/gantt-staircase-p2.png",
    ] {
        let len = fs::metadata(dir.join(file)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{file} is missing or empty");
    }
}

#[test]
fn report_out_writes_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_fixture(tmp.path());
    let other = tmp.path().join("other");
    let out = lab(&[
        "report",
        dir.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(other.join("report.html").is_file());
    assert!(other.join("charts/heat-map.png").is_file());
    assert!(!dir.join("report.html").exists());
}

#[test]
fn missing_and_corrupt_folders_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let out = lab(&["report", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("lab: error: results folder"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    let dir = copy_fixture(tmp.path());
    fs::write(
        dir.join("results.jsonl"),
        "{\"schema\": 1, \"point_id\": \n",
    )
    .unwrap();
    let out = lab(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("results.jsonl:1: corrupt JSON"), "{stderr}");
    assert!(text(&out.stdout).is_empty());

    let out = lab(&["report"]);
    assert_eq!(out.status.code(), Some(2), "DIR is required");
}
