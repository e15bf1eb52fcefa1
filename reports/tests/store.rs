//! The results folder through its public API: round trips, atomic appends leaving nothing
//! behind, and one clear error for each way a folder can be wrong.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use looplab_reports::store::{
    Coords, Machine, Meta, PointRecord, ResultsDir, Source, StoreError, LOCK_FILE, META_FILE,
    RESULTS_FILE, SCHEMA_VERSION,
};
use serde_json::json;

fn meta() -> Meta {
    let mut meta = Meta::new("sweep-42", json!({ "pool_sizes": [1, 2, 4], "seed": 7 }));
    meta.git_revision = Some("0123abcd".into());
    meta
}

fn record(point: &str, repetition: u32, throughput: f64) -> PointRecord {
    let metrics = BTreeMap::from([
        ("throughput_per_s".to_string(), throughput),
        ("p99_us".to_string(), 1250.5),
    ]);
    let coords = Coords::from_schema1_id(point).unwrap();
    PointRecord::ok(&coords, repetition, metrics, Some("SElTVEZBQUFB".into()))
}

fn with_three_records(parent: &Path) -> ResultsDir {
    let mut dir = ResultsDir::create(parent, "run", &meta()).unwrap();
    dir.append(&record("loop/hash/p1", 0, 100.0)).unwrap();
    dir.append(&record("loop/hash/p1", 1, 101.0)).unwrap();
    let mut failed = record("cluster/file/k2", 0, 0.0);
    failed.ok = false;
    failed.error = Some("child exited with status 3".into());
    failed.metrics.clear();
    failed.histogram_base64 = None;
    dir.append(&failed).unwrap();
    dir
}

#[test]
fn appended_records_come_back_in_order_after_reopening() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());

    let reopened = ResultsDir::open(dir.path()).unwrap();
    let records = reopened.records().unwrap();
    let ids: Vec<(&str, u32, bool)> = records
        .iter()
        .map(|r| (r.point_id.as_str(), r.repetition, r.ok))
        .collect();
    assert_eq!(
        ids,
        [
            ("loop/hash/p1", 0, true),
            ("loop/hash/p1", 1, true),
            ("cluster/file/k2", 0, false)
        ]
    );
    assert_eq!(records[1], record("loop/hash/p1", 1, 101.0));
    assert_eq!(
        records[2].error.as_deref(),
        Some("child exited with status 3")
    );
    let done = reopened.done_points().unwrap();
    assert_eq!(done.len(), 3);
    assert!(done.contains(&("cluster/file/k2".to_string(), 0)));
    let text = fs::read_to_string(dir.path().join(RESULTS_FILE)).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
}

#[test]
fn meta_round_trips_and_can_be_rewritten() {
    let parent = tempfile::tempdir().unwrap();
    let original = meta();
    let mut dir = ResultsDir::create(parent.path(), "run", &original).unwrap();
    assert_eq!(ResultsDir::open(dir.path()).unwrap().meta(), &original);

    let mut finished = original.clone();
    finished.finished_at = Some("2030-01-02T03:04:05Z".into());
    dir.write_meta(&finished).unwrap();
    let reopened = ResultsDir::open(dir.path()).unwrap();
    assert_eq!(reopened.meta(), &finished);
    assert_eq!(reopened.meta().config["pool_sizes"], json!([1, 2, 4]));
    assert!(reopened.records().unwrap().is_empty());
}

#[test]
fn started_at_is_rfc3339_utc() {
    let started = meta().started_at;
    let b = started.as_bytes();
    assert_eq!(started.len(), 20, "{started}");
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16], b[19]),
        (b'-', b'-', b'T', b':', b':', b'Z')
    );
    assert!(started.as_str() >= "2024-01-01T00:00:00Z", "{started}");
}

#[test]
fn appending_leaves_no_temp_files_behind() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The lock file stays (an unlocked file is no lock); temp files do not.
    assert_eq!(names, [LOCK_FILE, META_FILE, RESULTS_FILE]);
}

#[test]
fn a_corrupt_line_is_reported_with_file_and_line() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let results = dir.path().join(RESULTS_FILE);
    let text = fs::read_to_string(&results).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"schema\": 1, \"point_id\": \"loop/ha";
    fs::write(&results, lines.join("\n") + "\n").unwrap();

    let err = ResultsDir::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptRecord { line: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}:2: corrupt JSON", results.display())),
        "{message}"
    );
    assert!(
        message.ends_with("delete the line or re-run the point"),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn a_missing_results_folder_is_a_clear_error() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("lab-results").join("nope");
    let err = ResultsDir::open(&missing).unwrap_err();
    assert!(matches!(err, StoreError::MissingDir { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "results folder {} does not exist; check the path (results live under lab-results/)",
            missing.display()
        )
    );
}

#[test]
fn a_missing_results_file_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let results = dir.path().join(RESULTS_FILE);
    fs::remove_file(&results).unwrap();
    let err = ResultsDir::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::MissingFile { .. }), "{err:?}");
    assert!(err.to_string().contains(&results.display().to_string()));
}

#[test]
fn another_schema_version_is_refused() {
    let parent = tempfile::tempdir().unwrap();
    let mut future = meta();
    future.schema = SCHEMA_VERSION + 1;
    let dir = ResultsDir::create(parent.path(), "meta-v2", &future).unwrap();
    let err = ResultsDir::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(META_FILE), "{err}");

    let mut dir = ResultsDir::create(parent.path(), "record-v2", &meta()).unwrap();
    dir.append(&record("loop/a", 0, 1.0)).unwrap();
    let mut newer = record("loop/a", 1, 1.0);
    newer.schema = 9;
    dir.append(&newer).unwrap();
    let err = dir.records().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: schema version 9 is not supported (this looplab reads versions 1 to 2); \
             read it with the looplab version that wrote it",
            dir.path().join(RESULTS_FILE).display()
        )
    );
}

#[test]
fn create_refuses_a_non_empty_folder_but_accepts_an_empty_one() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let err = ResultsDir::create(parent.path(), "run", &meta()).unwrap_err();
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    assert_eq!(
        ResultsDir::open(dir.path())
            .unwrap()
            .records()
            .unwrap()
            .len(),
        3
    );

    fs::create_dir(parent.path().join("empty")).unwrap();
    ResultsDir::create(parent.path(), "empty", &meta()).unwrap();

    for bad in ["", "..", "a/b"] {
        let err = ResultsDir::create(parent.path(), bad, &meta()).unwrap_err();
        assert!(matches!(err, StoreError::BadName { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn non_finite_metrics_are_refused_before_writing() {
    let parent = tempfile::tempdir().unwrap();
    let mut dir = ResultsDir::create(parent.path(), "run", &meta()).unwrap();
    let mut bad = record("loop/a", 0, f64::NAN);
    bad.metrics.insert("cpu_utilization".into(), 0.5);
    let err = dir.append(&bad).unwrap_err();
    assert!(err.to_string().contains("`throughput_per_s`"), "{err}");
    assert!(dir.records().unwrap().is_empty());
}

#[test]
fn append_all_writes_every_record_or_none() {
    let parent = tempfile::tempdir().unwrap();
    let mut dir = ResultsDir::create(parent.path(), "run", &meta()).unwrap();
    dir.append(&record("loop/a", 0, 1.0)).unwrap();
    let batch = [record("loop/b", 0, 2.0), record("loop/b", 1, 3.0)];
    dir.append_all(&batch).unwrap();
    let ids: Vec<(String, u32)> = dir
        .records()
        .unwrap()
        .into_iter()
        .map(|r| (r.point_id, r.repetition))
        .collect();
    assert_eq!(
        ids,
        [
            ("loop/a".into(), 0),
            ("loop/b".into(), 0),
            ("loop/b".into(), 1)
        ] as [(String, u32); 3]
    );

    let refused = [record("loop/c", 0, 1.0), record("loop/c", 1, f64::INFINITY)];
    let err = dir.append_all(&refused).unwrap_err();
    assert!(
        matches!(err, StoreError::NonFiniteMetric { repetition: 1, .. }),
        "{err:?}"
    );
    assert_eq!(dir.records().unwrap().len(), 3);
    dir.append_all(&[]).unwrap();
    assert_eq!(dir.records().unwrap().len(), 3);
}

#[test]
fn machine_detection_finds_cores_and_kernel() {
    let machine = Machine::detect();
    assert!(machine.cores >= 1, "{machine:?}");
    assert!(!machine.kernel.is_empty(), "{machine:?}");
    assert!(!machine.hostname.is_empty(), "{machine:?}");
    if cfg!(target_os = "linux") {
        assert!(machine.memory_bytes > 0, "{machine:?}");
        assert_ne!(machine.kernel, "unknown", "{machine:?}");
        // Affinity and cgroup quotas can only lower what this process may use.
        assert!(machine.logical_cpus >= machine.cores, "{machine:?}");
        assert!(machine.physical_cores >= 1, "{machine:?}");
        assert!(
            machine.physical_cores <= machine.logical_cpus,
            "{machine:?}"
        );
    }
}

#[test]
fn a_folder_written_before_the_optional_fields_still_opens() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("old");
    fs::create_dir(&dir).unwrap();
    let meta = json!({
        "schema": 1,
        "sweep_id": "sweep-old",
        "machine": {
            "hostname": "h", "cpu_model": "c", "cores": 2, "memory_bytes": 1024,
            "os": "Debian GNU/Linux 12", "kernel": "6.1.0"
        },
        "looplab_version": "0.1.0",
        "git_revision": null,
        "started_at": "2024-05-01T12:00:00Z",
        "finished_at": null,
        "config": {}
    });
    fs::write(dir.join(META_FILE), meta.to_string()).unwrap();
    let line = json!({
        "schema": 1, "point_id": "loop/hash/p1", "repetition": 0, "ok": true,
        "error": null, "metrics": { "throughput_per_s": 1.0 }, "histogram_base64": null
    });
    fs::write(dir.join(RESULTS_FILE), format!("{line}\n")).unwrap();

    let opened = ResultsDir::open(&dir).unwrap();
    let meta = opened.meta();
    assert_eq!(meta.sweep_id, "sweep-old");
    assert_eq!(
        (meta.rustc_version.as_deref(), meta.shard.as_deref()),
        (None, None)
    );
    assert!(meta.sources.is_empty());
    assert_eq!(meta.machine.logical_cpus, 0);
    assert_eq!(opened.records().unwrap()[0].source, None);
}

#[test]
fn merged_metadata_and_record_sources_round_trip() {
    let parent = tempfile::tempdir().unwrap();
    let mut merged = meta();
    merged.rustc_version = Some("rustc 1.95.0 (abc 2026-01-01)".into());
    merged.sources = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, folder)| Source {
            folder: folder.to_string(),
            machine: Machine::detect(),
            shard: Some(format!("{}/2", i + 1)),
            git_revision: Some("0123abcd-dirty".into()),
            started_at: "2024-05-01T12:00:00Z".into(),
            finished_at: None,
        })
        .collect();
    let mut dir = ResultsDir::create(parent.path(), "merged", &merged).unwrap();
    let mut from_b = record("loop/hash/p1", 0, 1.0);
    from_b.source = Some(1);
    dir.append(&from_b).unwrap();
    dir.append(&record("loop/hash/p2", 0, 1.0)).unwrap();

    let reopened = ResultsDir::open(dir.path()).unwrap();
    assert_eq!(reopened.meta(), &merged);
    let records = reopened.records().unwrap();
    assert_eq!(records[0], from_b);
    assert_eq!(records[1].source, None);
    let text = fs::read_to_string(dir.path().join(RESULTS_FILE)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("\"source\":1"), "{}", lines[0]);
    assert!(!lines[1].contains("\"source\""), "{}", lines[1]);
}

#[test]
fn a_schema1_line_reads_with_coordinates_from_its_id() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let results = dir.path().join(RESULTS_FILE);
    let mut text = fs::read_to_string(&results).unwrap();
    text.push_str(
        "{\"schema\":1,\"point_id\":\"workers/web/p2/w2/c16\",\"repetition\":0,\"ok\":true,\
         \"error\":null,\"metrics\":{},\"histogram_base64\":null}\n",
    );
    fs::write(&results, text).unwrap();
    let records = ResultsDir::open(dir.path()).unwrap().records().unwrap();
    let old = &records[3];
    assert_eq!(
        old.coords,
        Coords::from_schema1_id("workers/web/p2/w2/c16").unwrap()
    );
    assert_eq!(
        (old.coords.workers, old.coords.parallelism),
        (Some(2), Some(2))
    );
    assert_eq!(records[0].schema, SCHEMA_VERSION);
}

#[test]
fn a_repetition_recorded_twice_is_refused_naming_both_lines() {
    let parent = tempfile::tempdir().unwrap();
    let mut dir = with_three_records(parent.path());
    dir.append(&record("loop/hash/p1", 1, 99.0)).unwrap();
    let message = ResultsDir::open(dir.path()).unwrap_err().to_string();
    assert!(
        message.ends_with(
            ":4: point loop/hash/p1 repetition 1 is already recorded on line 2; delete one of the two lines"
        ),
        "{message}"
    );
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_folder() {
    let parent = tempfile::tempdir().unwrap();
    let dir = with_three_records(parent.path());
    let message = ResultsDir::open_to_write(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!(
            "is being written by another lab process (PID {})",
            std::process::id()
        )),
        "{message}"
    );
    // Readers are not writers: they need no lock.
    assert_eq!(
        ResultsDir::open(dir.path())
            .unwrap()
            .records()
            .unwrap()
            .len(),
        3
    );
    let path = dir.path().to_path_buf();
    drop(dir);
    let mut resumed = ResultsDir::open_to_write(&path).unwrap();
    resumed.append(&record("loop/hash/p1", 2, 1.0)).unwrap();
    // A folder opened to read cannot be written.
    let mut reader = ResultsDir::open(&path).unwrap();
    assert!(matches!(
        reader.append(&record("loop/hash/p1", 3, 1.0)),
        Err(StoreError::ReadOnly { .. })
    ));
}
