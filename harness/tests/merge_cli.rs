//! `lab merge` through the real binary, on folders written with the reports crate: shards join
//! into one folder with every record once and attributed to its source, merges of merges stay
//! flat, a parent folder stands for the shards inside it, a split with a shard missing is
//! refused naming it (or merged with a warning, `--allow-missing`), and every refusal is one
//! line on stderr, exit status 2, with nothing written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use looplab_reports::store::{Coords, Meta, PointRecord, ResultsDir, RESULTS_FILE};
use serde_json::json;

fn lab_merge(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("merge")
        .args(args)
        .output()
        .expect("run lab")
}

/// `lab merge INPUTS... --out OUT`.
fn merge(inputs: &[&Path], out: &Path) -> Output {
    let mut args = inputs.to_vec();
    args.extend([Path::new("--out"), out]);
    lab_merge(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit status 2, one stderr line starting with `lab: error: `; returns the message.
fn refused(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(out.stdout.is_empty());
    err.trim_end()
        .strip_prefix("lab: error: ")
        .unwrap_or_else(|| panic!("{err}"))
        .to_string()
}

fn record(point: &str, repetition: u32) -> PointRecord {
    let metrics = BTreeMap::from([("throughput_per_s".to_string(), 100.0)]);
    let coords = Coords::from_schema1_id(point).unwrap();
    PointRecord::ok(&coords, repetition, metrics, None)
}

/// A shard folder `parent/name` of sweep `sweep`, holding two repetitions of each point.
fn shard(parent: &Path, name: &str, sweep: &str, shard: &str, points: &[&str]) -> PathBuf {
    let mut meta = Meta::new(sweep, json!({ "pool_sizes": [1, 2] }));
    meta.shard = Some(shard.into());
    meta.machine.hostname = format!("host-{name}");
    meta.started_at = format!("2024-05-0{}T12:00:00Z", &shard[..1]);
    meta.finished_at = Some(format!("2024-05-0{}T13:00:00Z", &shard[..1]));
    let mut dir = ResultsDir::create(parent, name, &meta).unwrap();
    for point in points {
        dir.append(&record(point, 0)).unwrap();
        dir.append(&record(point, 1)).unwrap();
    }
    dir.path().to_path_buf()
}

fn three_shards(parent: &Path) -> [PathBuf; 3] {
    [
        shard(
            parent,
            "s1",
            "sweep-7",
            "1/3",
            &["loop/hash/p1", "loop/hash/p4"],
        ),
        shard(parent, "s2", "sweep-7", "2/3", &["loop/hash/p2"]),
        shard(
            parent,
            "s3",
            "sweep-7",
            "3/3",
            &["workers/hash/k2", "cluster/hash/c2"],
        ),
    ]
}

#[test]
fn three_shards_merge_into_every_record_once_with_its_source() {
    let tmp = tempfile::tempdir().unwrap();
    let [s1, s2, s3] = three_shards(tmp.path());
    let out_path = tmp.path().join("all");
    let out = merge(&[&s1, &s2, &s3], &out_path);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("merged 3 folders (3 sources) into "),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 points, 10 repetitions (0 failed), 3 machines"),
        "{stdout}"
    );

    let merged = ResultsDir::open(&out_path).unwrap();
    let meta = merged.meta();
    assert_eq!(meta.sweep_id, "sweep-7");
    assert_eq!(meta.shard, None);
    assert_eq!(meta.machine.hostname, "host-s1");
    assert_eq!(meta.started_at, "2024-05-01T12:00:00Z");
    assert_eq!(meta.finished_at.as_deref(), Some("2024-05-03T13:00:00Z"));
    let folders: Vec<&str> = meta.sources.iter().map(|s| s.folder.as_str()).collect();
    assert_eq!(
        folders,
        [&s1, &s2, &s3].map(|p| p.to_str().unwrap()).to_vec()
    );
    let shards: Vec<Option<&str>> = meta.sources.iter().map(|s| s.shard.as_deref()).collect();
    assert_eq!(shards, [Some("1/3"), Some("2/3"), Some("3/3")]);
    assert_eq!(meta.sources[2].machine.hostname, "host-s3");

    let records = merged.records().unwrap();
    assert_eq!(records.len(), 10);
    let mut by_key: BTreeMap<(String, u32), u32> = BTreeMap::new();
    for r in &records {
        let source = r.source.expect("every merged record has a source");
        assert!(by_key
            .insert((r.point_id.clone(), r.repetition), source)
            .is_none());
    }
    for (input, source) in [(&s1, 0), (&s2, 1), (&s3, 2)] {
        for r in ResultsDir::open(input).unwrap().records().unwrap() {
            assert_eq!(by_key[&(r.point_id.clone(), r.repetition)], source, "{r:?}");
        }
    }
}

#[test]
fn a_merge_of_a_merge_keeps_sources_flat_and_an_unfinished_input_leaves_no_end() {
    let tmp = tempfile::tempdir().unwrap();
    let [s1, s2, s3] = three_shards(tmp.path());
    let first = tmp.path().join("first");
    // Shard 3 of 3 is left out of the first merge on purpose.
    let partial = lab_merge(&[
        &s1,
        &s2,
        Path::new("--out"),
        &first,
        Path::new("--allow-missing"),
    ]);
    assert!(partial.status.success(), "stderr: {}", stderr(&partial));
    assert_eq!(
        stderr(&partial),
        "lab: warning: shard 3 of 3 is missing from the inputs; merging the 2 present\n"
    );
    let mut unfinished = ResultsDir::open_to_write(&s3).unwrap();
    let mut meta = unfinished.meta().clone();
    meta.finished_at = None;
    unfinished.write_meta(&meta).unwrap();

    let all = tmp.path().join("all");
    let out = merge(&[&first, &s3], &all);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "lab: warning: {} did not finish (meta.json has no finished_at): its points may be \
             incomplete; `lab sweep --resume` of it finishes it\n",
            s3.display()
        )
    );
    let merged = ResultsDir::open(&all).unwrap();
    let hosts: Vec<&str> = merged
        .meta()
        .sources
        .iter()
        .map(|s| s.machine.hostname.as_str())
        .collect();
    assert_eq!(hosts, ["host-s1", "host-s2", "host-s3"]);
    assert_eq!(merged.meta().finished_at, None);
    for r in merged.records().unwrap() {
        let expected = match r.point_id.as_str() {
            "loop/hash/p1" | "loop/hash/p4" => 0,
            "loop/hash/p2" => 1,
            _ => 2,
        };
        assert_eq!(r.source, Some(expected), "{r:?}");
    }
}

#[test]
fn folders_of_different_sweeps_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = shard(tmp.path(), "a", "sweep-7", "1/2", &["loop/hash/p1"]);
    let b = shard(tmp.path(), "b", "sweep-8", "2/2", &["loop/hash/p2"]);
    let out_path = tmp.path().join("all");
    let message = refused(&merge(&[&a, &b], &out_path));
    assert_eq!(
        message,
        format!(
            "cannot merge {} (sweep sweep-7) with {} (sweep sweep-8): they are different \
             sweeps; merge only the shards of one sweep",
            a.display(),
            b.display()
        )
    );
    assert!(!out_path.exists());
}

#[test]
fn a_point_measured_in_two_folders_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = shard(tmp.path(), "a", "sweep-7", "1/2", &["loop/hash/p1"]);
    let b = shard(
        tmp.path(),
        "b",
        "sweep-7",
        "2/2",
        &["loop/hash/p2", "loop/hash/p1"],
    );
    let out_path = tmp.path().join("all");
    let message = refused(&merge(&[&a, &b], &out_path));
    assert!(
        message.starts_with(&format!(
            "point loop/hash/p1 repetition 0 is in both {} and {};",
            a.display(),
            b.display()
        )),
        "{message}"
    );
    assert!(!out_path.exists());
}

#[test]
fn a_missing_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let a = shard(tmp.path(), "a", "sweep-7", "1/2", &["loop/hash/p1"]);
    let missing = tmp.path().join("nope");
    let message = refused(&merge(&[&a, &missing], &tmp.path().join("all")));
    assert_eq!(
        message,
        format!(
            "results folder {} does not exist; check the path (results live under lab-results/)",
            missing.display()
        )
    );
}

#[test]
fn a_corrupt_results_file_is_named_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let a = shard(tmp.path(), "a", "sweep-7", "1/2", &["loop/hash/p1"]);
    let b = shard(tmp.path(), "b", "sweep-7", "2/2", &["loop/hash/p2"]);
    let results = b.join(RESULTS_FILE);
    let text = fs::read_to_string(&results).unwrap();
    fs::write(
        &results,
        text.replacen("\n", "\n{\"schema\": 1, \"poi\n", 1),
    )
    .unwrap();
    let out_path = tmp.path().join("all");
    let message = refused(&merge(&[&a, &b], &out_path));
    assert!(
        message.starts_with(&format!("{}:2: corrupt JSON", results.display())),
        "{message}"
    );
    assert!(!out_path.exists());
}

#[test]
fn an_existing_output_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let [s1, s2, _] = three_shards(tmp.path());
    let out_path = tmp.path().join("all");
    fs::create_dir(&out_path).unwrap();
    fs::write(out_path.join("notes.txt"), "keep me").unwrap();
    let message = refused(&merge(&[&s1, &s2], &out_path));
    assert_eq!(
        message,
        format!(
            "{} already exists and is not an empty folder; choose another name or remove it",
            out_path.display()
        )
    );
    assert_eq!(
        fs::read_to_string(out_path.join("notes.txt")).unwrap(),
        "keep me"
    );
    // An input given as the output is the same case.
    let message = refused(&merge(&[&s1, &s2], &s1));
    assert!(message.contains("already exists"), "{message}");
}

#[test]
fn fewer_than_two_folders_or_one_folder_twice_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let [s1, _, _] = three_shards(tmp.path());
    let out_path = tmp.path().join("all");
    let message = refused(&merge(&[&s1], &out_path));
    assert!(
        message.starts_with("lab merge needs at least 2 results folders, got 1;"),
        "{message}"
    );
    let message = refused(&merge(&[&s1, &s1], &out_path));
    assert!(
        message.ends_with("are the same folder; list each folder once"),
        "{message}"
    );
    assert!(!out_path.exists());
}

#[test]
fn a_parent_folder_stands_for_the_shards_inside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("shards");
    three_shards(&parent);
    // Not results folders: a stray file and a folder without meta.json are left out.
    fs::write(parent.join("notes.txt"), "x").unwrap();
    fs::create_dir(parent.join("logs")).unwrap();
    let out_path = tmp.path().join("all");
    let out = merge(&[&parent], &out_path);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let merged = ResultsDir::open(&out_path).unwrap();
    let shards: Vec<Option<&str>> = merged
        .meta()
        .sources
        .iter()
        .map(|s| s.shard.as_deref())
        .collect();
    assert_eq!(shards, [Some("1/3"), Some("2/3"), Some("3/3")]);
    assert_eq!(merged.records().unwrap().len(), 10);
    // The merged folder inside the parent is not taken for a shard on a second merge.
    let inside = parent.join("merged");
    assert!(merge(&[&parent], &inside).status.success());
    let again = tmp.path().join("again");
    let message = refused(&merge(&[&parent], &again));
    assert!(message.contains("it was measured twice"), "{message}");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let message = refused(&merge(&[&empty], &again));
    assert!(message.ends_with("is neither a results folder (no meta.json) nor a folder holding results folders; give the shards' folders or the folder they were written into"), "{message}");
}

#[test]
fn a_split_with_shards_missing_is_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("shards");
    let s1 = shard(&parent, "a", "sweep-7", "1/4", &["loop/hash/p1"]);
    shard(&parent, "b", "sweep-7", "3/4", &["loop/hash/p2"]);
    let out_path = tmp.path().join("all");
    assert_eq!(
        refused(&merge(&[&parent], &out_path)),
        "shards 2, 4 of 4 are missing from the inputs; run them (lab sweep --shard I/4 with the \
         same options, or --resume its folder) and merge again, or pass --allow-missing to merge \
         what is there"
    );
    assert!(!out_path.exists());
    shard(&parent, "c", "sweep-7", "4/4", &["loop/hash/p4"]);
    assert_eq!(
        refused(&merge(&[&parent], &out_path)),
        "shard 2 of 4 is missing from the inputs; run it (lab sweep --shard 2/4 with the same \
         options, or --resume its folder) and merge again, or pass --allow-missing to merge what \
         is there"
    );
    let other_split = shard(tmp.path(), "d", "sweep-7", "2/2", &["loop/hash/k2"]);
    let message = refused(&merge(&[&s1, &other_split], &out_path));
    assert!(
        message.ends_with(
            "is shard 2/2: shards of different splits; merge the folders of one split (one N)"
        ),
        "{message}"
    );
    let allowed = lab_merge(&[
        &parent,
        Path::new("--out"),
        &out_path,
        Path::new("--allow-missing"),
    ]);
    assert!(allowed.status.success(), "stderr: {}", stderr(&allowed));
    assert!(
        stderr(&allowed).contains("shard 2 of 4 is missing"),
        "{}",
        stderr(&allowed)
    );
    assert_eq!(
        ResultsDir::open(&out_path)
            .unwrap()
            .records()
            .unwrap()
            .len(),
        6
    );
}
