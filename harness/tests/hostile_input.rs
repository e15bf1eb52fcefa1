//! Issue 13, reliability under hostile input: values at or past every documented bound, given
//! to the real `lab` binary. Each is refused before anything is allocated, hashed or started,
//! with exit 2 and one line naming the value and the bound; never a panic (exit 101) or an
//! abort.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run lab")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit 2, one line on stderr, no panic, and the line contains each of `needles`.
fn refused(args: &[&str], needles: &[&str]) {
    let out = lab(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "{args:?}: `{needle}` missing in {err}"
        );
    }
}

#[test]
fn huge_sizes_and_bad_floats_are_refused_not_panics() {
    let max = u64::MAX.to_string();
    refused(
        &[
            "serve",
            "--workload",
            "file",
            "--port",
            "0",
            "--file-bytes",
            &max,
        ],
        &["--file-bytes", &max, "67108864"],
    );
    refused(
        &[
            "serve",
            "--workload",
            "file",
            "--port",
            "0",
            "--file-bytes",
            "100000000000",
        ],
        &["--file-bytes", "67108864"],
    );
    refused(
        &["bench", "fs-read", "--size", &max],
        &["--size", &max, "67108864"],
    );
    for duration in ["NaN", "inf", "1e300", "-1", "0", "3"] {
        refused(
            &["experiment", "cluster", &format!("--duration={duration}")],
            &["--duration", "10s"],
        );
    }
    refused(
        &["experiment", "cluster", "--duration=2h"],
        &["duration", "1h"],
    );
    refused(&["experiment", "workers", "--work=2m"], &["work", "60s"]);
}

#[test]
fn unbounded_counts_are_refused_before_work_starts() {
    refused(
        &[
            "serve",
            "--workload",
            "mix",
            "--port",
            "0",
            "--mix",
            "hello:4294967295",
        ],
        &["hello:4294967295", "0..=1000"],
    );
    refused(
        &[
            "serve",
            "--workload",
            "mix",
            "--port",
            "0",
            "--mix",
            "hello:1000,hash:1000,file:1000,busy:1000,hash-sync:1000,hello:1000,hello:1000,\
             hello:1000,hello:1000,hello:1000,hello:1",
        ],
        &["10001", "10000 in all"],
    );
    // Worker processes and threads have bounds too (before, nothing in `lab serve` bounded
    // the processes of a cluster).
    refused(
        &[
            "serve",
            "--workload",
            "hello",
            "--port",
            "0",
            "--strategy",
            "cluster",
            "--cluster",
            "100000",
        ],
        &["--cluster 100000 is out of range", "1..=1024"],
    );
    refused(
        &[
            "serve",
            "--workload",
            "hash",
            "--port",
            "0",
            "--strategy",
            "workers",
            "--workers",
            "1000",
        ],
        &["--workers 1000 is out of range", "1..=256"],
    );
    // Refused at once: before, the server hashed 10^8 iterations to validate them.
    let started = std::time::Instant::now();
    refused(
        &[
            "serve",
            "--workload",
            "hash",
            "--port",
            "0",
            "--iterations",
            "100000000",
        ],
        &["--iterations", "100000000", "10000000"],
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    refused(
        &["bench", "timers", "--n", "100000000000"],
        &["--n", "10000000"],
    );
    refused(
        &["bench", "pbkdf2", "--iterations", "4000000000"],
        &["10000000"],
    );
    refused(&["bench", "pbkdf2", "--keylen", "2000000000"], &["1024"]);
    refused(
        &[
            "bench",
            "fs-read",
            "--size",
            "67108864",
            "--inflight",
            "100",
        ],
        &["--inflight x --size", "1 GiB"],
    );
    refused(
        &["experiment", "staircase", "--calls", "100000000"],
        &["10000"],
    );
}

/// A finished results folder with one point of id `id`, five repetitions.
fn folder(parent: &Path, name: &str, id: &str, throughput: f64) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = json!({
        "schema": 1,
        "sweep_id": "sweep-test",
        "machine": {
            "hostname": "vm", "cpu_model": "AMD EPYC", "cores": 2, "logical_cpus": 2,
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
    for (repetition, jitter) in [1.0, 1.01, 0.99, 1.005, 0.995].iter().enumerate() {
        let record = json!({
            "schema": 1, "point_id": id, "repetition": repetition, "ok": true, "error": null,
            "metrics": { "throughput_per_s": throughput * jitter, "p99_us": 1000.0 / jitter },
            "histogram_base64": null
        });
        lines.push_str(&format!("{record}\n"));
    }
    std::fs::write(dir.join("results.jsonl"), lines).unwrap();
    dir
}

#[test]
fn check_renders_a_point_id_longer_than_a_format_width() {
    let tmp = tempfile::tempdir().unwrap();
    let id = format!("loop/{}/p1", "x".repeat(70_000));
    let base = folder(tmp.path(), "base", &id, 400.0);
    let file = tmp.path().join("base.json").display().to_string();
    let out = lab(&["baseline", &base.display().to_string(), "--save", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let slow = folder(tmp.path(), "slow", &id, 200.0);
    let slow = slow.display().to_string();
    let out = lab(&["check", &slow, "--no-experiments", "--baseline", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains(&id), "the id is printed whole");
}

#[test]
fn report_refuses_a_histogram_that_claims_4_gib() {
    // 52 bytes of base64 whose V2 header claims 4,294,967,295 bytes of counts: before, `lab
    // report` tried to allocate them.
    const FORGED: &str = "HISTFAAAAB942pNpmSz8HwgYIIAZSjOCiGuTlzDYf4AIAADaUAiD";
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(tmp.path(), "forged", "loop/hash/p1/c8", 400.0);
    let results = dir.join("results.jsonl");
    let text = std::fs::read_to_string(&results).unwrap();
    let forged = text.replace(
        "\"histogram_base64\":null",
        &format!("\"histogram_base64\":\"{FORGED}\""),
    );
    assert_ne!(text, forged);
    std::fs::write(&results, forged).unwrap();
    let out = lab(&["report", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains(
            "loop/hash/p1/c8 repetition 0: latency histogram header: claims 4294967295 bytes"
        ),
        "{summary}"
    );
}

/// A keep-alive server on a thread that answers every request `200 OK` with a 2-byte body.
fn ok_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if n == 0 || conn.write_all(answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn load_with_no_successful_request_exits_1_and_prints_no_percentiles() {
    // Before: exit 0 and "p50 0" for both. Now a failed threshold, like k6's: exit 1.
    let out = lab(&["load", "--url", "http://127.0.0.1:1/", "-d", "300ms"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no request succeeded: "), "{err}");
    assert!(err.contains(" errors (connect "), "{err}");
    assert!(!stdout(&out).contains("p50"), "{}", stdout(&out));
    assert!(stdout(&out).contains("none: no request succeeded"));

    let url = ok_server();
    let args = ["load", "--url", &url, "-c", "2", "-d", "300ms"];
    let out = lab(&[&args[..], &["--expect-status", "404"]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("got status 200, expected 404"), "{err}");
    assert!(!stdout(&out).contains("p50"), "{}", stdout(&out));
    let out = lab(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("p50"), "{}", stdout(&out));
}

#[test]
fn load_connections_are_bounded() {
    // Before: 100,000 connections ran 5-14 s, took 4 GB and reported 0 errors.
    refused(
        &[
            "load",
            "--url",
            "http://127.0.0.1:1/",
            "-c",
            "100000",
            "-d",
            "200ms",
        ],
        &["connections 100000", "1 to 10000"],
    );
}

#[test]
fn temp_folders_are_private() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    // Before: the scratch folder and the served file's folder were 0755.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["serve", "--workload", "file", "--port", "0"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening"), "{line}");
    let mut dirs = Vec::new();
    for scratch in std::fs::read_dir(tmp.path()).unwrap() {
        let scratch = scratch.unwrap().path();
        dirs.push(scratch.clone());
        for inner in std::fs::read_dir(&scratch).unwrap() {
            dirs.push(inner.unwrap().path());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        dirs.len(),
        2,
        "the scratch folder and the served file's: {dirs:?}"
    );
    for dir in dirs {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
}

#[test]
fn an_os_error_is_printed_once() {
    // Before: "cannot write .../x.json: Not a directory (os error 20): Not a directory (os
    // error 20)", the io::Error both in the message and as its source.
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(tmp.path(), "res", "loop/hash/p1/c8", 400.0);
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let save = file.join("x.json").display().to_string();
    let out = lab(&["baseline", &dir.display().to_string(), "--save", &save]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("os error 20").count(), 1, "{err}");
    let report_out = file.join("sub").display().to_string();
    let out = lab(&["report", &dir.display().to_string(), "--out", &report_out]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("os error 20").count(), 1, "{err}");
}
