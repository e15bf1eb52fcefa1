//! `lab sweep` running points through the real binary: tiny sweeps whose `results.jsonl` holds
//! every point with sane values, in service and batch mode; a second writer refused while a
//! sweep runs; Ctrl-C then `--resume` (no point lost, none repeated); shards merged equal the
//! whole plan; and no process left behind, checked by PID.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tiny service sweep: short windows, one connection pair, one repetition unless overridden.
fn tiny(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sweep",
        "--quiet",
        "--pool-sizes",
        "1",
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
        "--repetitions",
        "1",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(out.display().to_string());
    // looplab alone unless the test asks for runtimes (the built-in sweeps have Node too).
    if !extra.contains(&"--runtimes") {
        args.extend(["--runtimes".to_string(), "looplab".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn meta(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
        .expect("meta JSON")
}

fn metric(record: &Value, name: &str) -> f64 {
    record["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("metric {name} in {record}"))
}

/// Every live process below `root` (by parent links in /proc).
fn descendants(root: u32) -> BTreeSet<u32> {
    let mut parents: BTreeMap<u32, u32> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.insert(pid, ppid);
        }
    }
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (&child, &parent) in &parents {
            if parent == p && found.insert(child) {
                frontier.push(child);
            }
        }
    }
    found
}

/// Whether `pid` is still a live process (a zombie counts as gone: it runs nothing).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rfind(')')
            .map(|i| stat[i + 1..].trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Runs `lab` with `args` to the end, watching its process tree; returns the output and
/// every PID seen below it.
fn run_watched(args: &[String], until: Option<&dyn Fn() -> bool>) -> (Output, BTreeSet<u32>) {
    let mut child: Child = lab()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab");
    let pid = child.id();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut signalled = false;
    while child.try_wait().expect("poll lab").is_none() {
        seen.extend(descendants(pid));
        if let Some(until) = until {
            if !signalled && until() {
                // SAFETY: kill(2) on our own unreaped child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                signalled = true;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lab did not finish in 240 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("lab output"), seen)
}

fn assert_none_left(seen: &BTreeSet<u32>) {
    assert!(!seen.is_empty(), "the sweep started processes");
    // Reaping may lag the parent's exit by a moment for processes adopted by init.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = seen.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("looplab-sweep-test-")
        .tempdir()
        .expect("temp dir")
}

#[test]
fn a_tiny_service_sweep_records_every_point_and_leaves_no_process() {
    let tmp = temp();
    let out = tmp.path().join("run");
    let args = tiny(
        &out,
        &[
            "--strategies",
            "loop,cluster",
            "--workloads",
            "net,hash",
            "--cluster-counts",
            "2",
        ],
    );
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    // The answer in words, one line per workload; then the results folder (scripts rely on
    // it), then the report rendered into it.
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("net (looplab's model): "), "{stdout}");
    assert!(lines[1].starts_with("hash (looplab's model): "), "{stdout}");
    assert!(
        lines[1].contains("unknown: fewer than 3 repetitions"),
        "{stdout}"
    );
    assert_eq!(
        lines[2..],
        [
            format!("results: {}", out.display()),
            format!("report: {}", out.join("report.html").display())
        ],
        "stderr: {}",
        text(&output.stderr)
    );
    assert_none_left(&seen);
    for file in [
        "report.html",
        "summary.md",
        "points.csv",
        "experiments.json",
    ] {
        assert!(out.join(file).is_file(), "{file} written after the sweep");
    }
    // The recorded set, from a point process of its own (reaped: `assert_none_left` above).
    let experiments: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("experiments.json")).unwrap())
            .unwrap();
    let configs: BTreeSet<(String, u64)> = experiments["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["experiment"].as_str().unwrap().to_string(),
                r["pool"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, u64)> = [1, 2, 4]
        .map(|p| ("staircase".to_string(), p))
        .into_iter()
        .chain((1..=5).map(|p| ("multitask".to_string(), p)))
        .collect();
    assert_eq!(configs, expected);
    let records = records(&out);
    // One round, in its shuffled order: every point once.
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|r| r["point_id"].as_str().unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(
        ids,
        [
            "loop/net/c2",
            "loop/hash/p1/c2",
            "cluster/net/k2/c2",
            "cluster/hash/p1/k2/c2"
        ]
        .into()
    );
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["repetition"], 0);
        assert!(metric(r, "throughput_per_s") > 0.0, "{r}");
        assert!(metric(r, "requests") > 0.0);
        assert_eq!(metric(r, "errors"), 0.0, "{r}");
        assert!(metric(r, "p50_us") > 0.0 && metric(r, "p50_us") <= metric(r, "p99_us"));
        assert!(metric(r, "p99_us") <= metric(r, "max_us"));
        assert!(metric(r, "cpu_util_cores") > 0.0, "{r}");
        assert!(metric(r, "machine_cpu_util_cores") > 0.0, "{r}");
        assert!(metric(r, "peak_rss_bytes") > 1e6, "{r}");
        assert!(metric(r, "generator_cpu_s") > 0.0);
        let u = metric(r, "loop_utilization");
        assert!(u > 0.0 && u <= 1.0, "{r}");
        let histogram = looplab_reports::histogram::decode(r["histogram_base64"].as_str().unwrap())
            .expect("histogram decodes");
        assert!(!histogram.is_empty());
        let cluster = r["point_id"].as_str().unwrap().starts_with("cluster");
        // A cluster point is the primary and its two workers; their loops are sampled.
        assert_eq!(
            metric(r, "processes"),
            if cluster { 3.0 } else { 1.0 },
            "{r}"
        );
        assert_eq!(metric(r, "loops"), if cluster { 2.0 } else { 1.0 }, "{r}");
        if r["point_id"].as_str().unwrap().contains("/hash/") {
            assert!(
                metric(r, "pool_tasks") > 0.0,
                "hashing goes through the pool: {r}"
            );
        }
    }
    let meta = meta(&out);
    assert!(meta["finished_at"].is_string(), "{meta}");
    assert!(meta["sweep_id"].as_str().unwrap().starts_with("sweep-"));
    assert!(meta["rustc_version"]
        .as_str()
        .unwrap()
        .starts_with("rustc "));
    assert!(meta["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(meta["config"]["strategies"][1], "cluster");
}

#[test]
fn a_sweep_with_json_ends_with_one_object_holding_the_answers() {
    let tmp = temp();
    let out = tmp.path().join("run");
    let args = tiny(
        &out,
        &[
            "--strategies",
            "loop,cluster",
            "--cluster-counts",
            "2",
            "--workloads",
            "net,hash",
            "--json",
        ],
    );
    let output = lab().args(&args).output().unwrap();
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let value: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(value["results"], out.display().to_string());
    assert_eq!(
        value["report"],
        out.join("report.html").display().to_string()
    );
    let answers = value["answers"].as_array().unwrap();
    let workloads: Vec<&str> = answers
        .iter()
        .map(|a| a["workload"].as_str().unwrap())
        .collect();
    assert_eq!(workloads, ["net", "hash"], "{value:#}");
    for a in answers {
        assert!(a["sentence"]
            .as_str()
            .unwrap()
            .starts_with(a["workload"].as_str().unwrap()));
        assert_eq!(a["flavour"], "looplab");
        assert!(a["throughput_per_s"].as_f64().unwrap() > 0.0, "{a:#}");
        assert_eq!(a["repetitions"], 1);
        // One repetition: the rule cannot judge the best against the other strategy's best,
        // and the record says why (too few repetitions, or a generator at its limit, which
        // the rule checks first).
        let other = &a["over_runner_up"];
        let certainty = other["certainty"].as_str().unwrap();
        assert!(
            certainty == "unknown: fewer than 3 repetitions (1)"
                || certainty == "unknown: the load generator was the limit",
            "{a:#}"
        );
        assert!(other["ci95"].is_null());
        assert_ne!(other["against"], a["best"]);
    }
}

#[test]
fn a_batch_sweep_runs_every_strategy() {
    let tmp = temp();
    let config = tmp.path().join("batch.toml");
    std::fs::write(
        &config,
        "mode = \"batch\"\nruntimes = [\"looplab\"]\nduration = \"5s\"\nwarmup = \"0ms\"\nrepetitions = 2\n\
         strategies = [\"loop\", \"loop-blocking\", \"workers\", \"cluster\", \"tokio\", \"rayon\"]\n\
         workloads = [\"hash\", \"file\"]\npool_sizes = [2]\ncluster_counts = [2]\n\
         worker_counts = [2]\njobs = 8\nhash_iterations = 2000\nfile_bytes = 4096\n\
         file_mode = \"write-read\"\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    let args: Vec<String> = [
        "sweep",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|r| r["point_id"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [
        "loop/hash/p2",
        "loop/file/p2",
        "loop-blocking/hash",
        "workers/hash/w2",
        "cluster/hash/p2/k2",
        "cluster/file/p2/k2",
        "tokio/hash",
        "tokio/file",
        "rayon/hash",
    ]
    .into();
    assert_eq!(ids, expected);
    assert_eq!(records.len(), 2 * expected.len(), "two repetitions each");
    // Interleaved: every point's first repetition before any point's second.
    let rounds: Vec<u64> = records
        .iter()
        .map(|r| r["repetition"].as_u64().unwrap())
        .collect();
    assert_eq!(rounds, [[0; 9], [1; 9]].concat(), "rounds in order");
    let order = |round: u64| -> Vec<&str> {
        records
            .iter()
            .filter(|r| r["repetition"] == round)
            .map(|r| r["point_id"].as_str().unwrap())
            .collect()
    };
    assert_ne!(order(0), order(1), "each round in its own shuffled order");
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(metric(r, "jobs"), 8.0);
        assert_eq!(metric(r, "completed"), 8.0, "{r}");
        assert_eq!(metric(r, "errors"), 0.0);
        assert!(metric(r, "makespan_s") > 0.0);
        // No job takes longer than the batch.
        assert!(
            metric(r, "max_us") <= metric(r, "makespan_s") * 1e6 * 1.05 + 1_000.0,
            "{r}"
        );
        let cluster = r["point_id"].as_str().unwrap().starts_with("cluster");
        assert_eq!(
            metric(r, "processes"),
            if cluster { 2.0 } else { 1.0 },
            "{r}"
        );
    }
}

#[test]
fn an_interrupted_sweep_resumes_without_losing_or_repeating_a_point() {
    let tmp = temp();
    let out = tmp.path().join("run");
    let mut args = tiny(
        &out,
        &["--strategies", "loop", "--workloads", "net,hash,file"],
    );
    // Two repetitions of 0.8 s windows: long enough to interrupt in the middle.
    let reps = args.iter().position(|a| a == "--repetitions").unwrap();
    args[reps + 1] = "2".into();
    let dur = args.iter().position(|a| a == "--duration").unwrap();
    args[dur + 1] = "700ms".into();
    let results = out.join("results.jsonl");
    // Once a repetition is recorded, a second writer tries the folder (and is refused), then
    // the sweep is interrupted.
    let second_writer = std::cell::RefCell::new(None);
    let one_recorded = || {
        let recorded = std::fs::read_to_string(&results)
            .map(|t| t.lines().count() >= 1)
            .unwrap_or(false);
        if recorded && second_writer.borrow().is_none() {
            let resume = ["sweep", "--quiet", "--resume", out.to_str().unwrap()];
            *second_writer.borrow_mut() = Some(lab().args(resume).output().unwrap());
        }
        recorded
    };
    let (output, seen) = run_watched(&args, Some(&one_recorded));
    let second = second_writer.into_inner().expect("a second writer tried");
    let refusal = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{refusal}");
    assert_eq!(refusal.lines().count(), 1, "{refusal}");
    assert!(
        refusal.contains("is being written by another lab process (PID "),
        "{refusal}"
    );
    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr: {}",
        text(&output.stderr)
    );
    // Ctrl-C prints the resume line and nothing else (no broken pipe from the stopped
    // point, no closing summary).
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the plan's line, then the resume line: {stderr}"
    );
    assert!(
        lines[0].starts_with("lab sweep: 3 points to run"),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        format!(
            "lab: interrupted; everything measured so far is in {0}; finish it with `lab sweep --resume {0}`",
            out.display()
        ),
    );
    assert_none_left(&seen);
    let before = records(&out);
    assert!(
        !before.is_empty() && before.len() < 6,
        "interrupted part-way: {} records",
        before.len()
    );
    assert!(meta(&out)["finished_at"].is_null());

    // Other sweep options do not go with --resume.
    let refused = lab()
        .args([
            "sweep",
            "--resume",
            out.to_str().unwrap(),
            "--pool-sizes",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("drop the other sweep options"));

    let resume: Vec<String> = ["sweep", "--quiet", "--resume", out.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (output, seen) = run_watched(&resume, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let after = records(&out);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "nothing measured is rewritten"
    );
    let pairs: Vec<(String, u64)> = after
        .iter()
        .map(|r| {
            (
                r["point_id"].as_str().unwrap().to_string(),
                r["repetition"].as_u64().unwrap(),
            )
        })
        .collect();
    let unique: BTreeSet<_> = pairs.iter().cloned().collect();
    assert_eq!(unique.len(), pairs.len(), "no repetition twice: {pairs:?}");
    assert_eq!(
        unique.len(),
        6,
        "every repetition of the 3 points: {pairs:?}"
    );
    assert!(meta(&out)["finished_at"].is_string());
}

#[test]
fn shards_merged_equal_the_whole_plan() {
    let tmp = temp();
    let axes = ["--strategies", "loop", "--workloads", "net,hash,file"];
    let plan = lab()
        .args([
            "sweep",
            "--plan",
            "--runtimes",
            "looplab",
            "--pool-sizes",
            "1",
        ])
        .args(["--connections", "2"])
        .args(axes)
        .output()
        .unwrap();
    assert!(plan.status.success());
    let planned: BTreeSet<String> = text(&plan.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next()?.parse::<u32>().ok()?;
            words
                .next()
                .filter(|id| id.contains('/'))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(planned.len(), 3, "{}", text(&plan.stdout));
    let mut shards: Vec<PathBuf> = Vec::new();
    for i in 1..=2 {
        let out = tmp.path().join(format!("shard{i}"));
        let mut args = tiny(&out, &axes);
        args.extend(["--shard".to_string(), format!("{i}/2")]);
        let status = lab().args(&args).status().unwrap();
        assert!(status.success());
        assert_eq!(meta(&out)["shard"], format!("{i}/2"));
        shards.push(out);
    }
    assert_eq!(meta(&shards[0])["sweep_id"], meta(&shards[1])["sweep_id"]);
    let merged = tmp.path().join("merged");
    let output = lab()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let ids: BTreeSet<String> = records(&merged)
        .iter()
        .map(|r| r["point_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, planned);
    assert_eq!(records(&merged).len(), 3);
}

#[test]
fn windows_measured_beside_a_busy_process_are_flagged_in_the_report() {
    let tmp = temp();
    let out = tmp.path().join("run");
    let args = tiny(&out, &["--strategies", "loop", "--workloads", "net"]);
    // A stranger keeping one of the cores busy for the whole sweep; killed and reaped after.
    let mut busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("start a busy loop");
    let (output, seen) = run_watched(&args, None);
    let _ = busy.kill();
    let _ = busy.wait();
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let record = &records(&out)[0];
    let foreign = metric(record, "foreign_cpu_cores");
    assert!(
        foreign > 0.25,
        "the busy loop is someone else's CPU: {record}"
    );
    assert!(metric(record, "sentinel_ms") > 0.0, "{record}");
    assert!(record["metrics"]["steal_cores"].is_number(), "{record}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Unstable windows"), "{summary}");
    assert!(summary.contains("other processes"), "{summary}");
}

#[test]
fn an_aa_sweep_runs_two_interleaved_halves_and_reports_their_false_alarms() {
    let tmp = temp();
    let out = tmp.path().join("aa");
    let mut args = tiny(
        &out,
        &["--strategies", "loop", "--workloads", "hash,net", "--aa"],
    );
    let at = args.iter().position(|a| a == "--repetitions").unwrap();
    args[at + 1] = "3".into();
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    assert_eq!(meta(&out)["aa"], true);
    // Two points, 3 repetitions per half: repetitions 0..6 of each, half A even, half B odd.
    let mut reps: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in records(&out) {
        let point = r["point_id"].as_str().unwrap().to_string();
        reps.entry(point)
            .or_default()
            .push(r["repetition"].as_u64().unwrap());
    }
    assert_eq!(reps.len(), 2, "{reps:?}");
    for (point, mut r) in reps {
        r.sort_unstable();
        assert_eq!(r, [0, 1, 2, 3, 4, 5], "{point}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("A/A: the two interleaved halves"),
        "{summary}"
    );
    assert!(summary.contains("comparisons called a change"), "{summary}");
    assert!(summary.contains("with 3 repetitions per side"), "{summary}");
}

/// A tiny sweep on both runtimes: every strategy with a Node twin, both workloads kinds.
fn two_runtimes(out: &Path) -> Vec<String> {
    let axes = [
        "--runtimes",
        "looplab,node",
        "--strategies",
        "loop,loop-blocking,workers,cluster,tokio",
        "--workloads",
        "hash,net",
        "--cluster-counts",
        "2",
        "--worker-counts",
        "2",
    ];
    tiny(out, &axes)
}

#[test]
fn a_two_runtime_sweep_records_both_and_leaves_no_node_process() {
    let tmp = temp();
    let out = tmp.path().join("two");
    let (output, seen) = run_watched(&two_runtimes(&out), None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|r| r["point_id"].as_str().unwrap())
        .collect();
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert!(metric(r, "throughput_per_s") > 0.0, "{r}");
        let node = r["coords"]["runtime"] == "node";
        assert_eq!(
            node,
            r["point_id"].as_str().unwrap().starts_with("node:"),
            "{r}"
        );
    }
    // Every looplab point but tokio's has its Node twin; Node has no tokio.
    for id in ids.iter().filter(|id| !id.starts_with("node:")) {
        let twin = format!("node:{id}");
        assert_eq!(
            ids.contains(twin.as_str()),
            !id.starts_with("tokio/"),
            "{id}"
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("### looplab against Node.js"), "{summary}");
    assert!(summary.contains("| hash on Node.js |"), "{summary}");
}

#[test]
fn a_two_runtime_sweep_interrupted_leaves_no_node_process() {
    let tmp = temp();
    let out = tmp.path().join("two");
    let results = out.join("results.jsonl");
    let some_recorded = || std::fs::read_to_string(&results).is_ok_and(|t| t.lines().count() >= 3);
    let (output, seen) = run_watched(&two_runtimes(&out), Some(&some_recorded));
    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr: {}",
        text(&output.stderr)
    );
    assert_none_left(&seen);
}

#[test]
fn a_node_sweep_without_node_is_one_line_and_exit_2() {
    let tmp = temp();
    let out = tmp.path().join("none");
    let output = lab()
        .args(two_runtimes(&out))
        .env("LOOPLAB_NODE", "/nonexistent/node")
        .output()
        .expect("run lab");
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("install Node.js 20"), "{err}");
    assert!(!out.exists(), "nothing was started");
}

/// A sweep of the user's app (`runtimes = ["command"]`), service mode, one connection pair.
fn app_sweep(out: &Path, command: &str, paths: &str, strategies: &str) -> Vec<String> {
    let config = out.with_extension("toml");
    let text = format!(
        "mode = \"service\"\nruntimes = [\"command\"]\ncommand = {command:?}\npaths = {paths}\n\
         strategies = [{strategies}]\nworkloads = [\"hash\", \"net\"]\npool_sizes = [2]\n\
         cluster_counts = [2]\nconnections = [2]\nduration = \"300ms\"\nwarmup = \"100ms\"\n\
         repetitions = 1\n"
    );
    std::fs::write(&config, text).unwrap();
    [
        "sweep",
        "--quiet",
        "--config",
        &config.display().to_string(),
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

#[test]
fn the_users_app_gets_its_deployment_in_its_environment_and_only_its_paths() {
    let tmp = temp();
    let out = tmp.path().join("contract");
    let seen_dir = tmp.path().join("seen");
    std::fs::create_dir(&seen_dir).unwrap();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contract-app.js");
    let command = format!(
        "env CONTRACT_OUT={} node {}",
        seen_dir.display(),
        app.display()
    );
    let paths = "{ hash = \"/h\", net = \"/n\" }";
    let args = app_sweep(&out, &command, paths, "\"loop\", \"cluster\"");
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    assert_eq!(records.len(), 4, "loop and cluster, hash and net");
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(
            metric(r, "errors"),
            0.0,
            "the sweep waited for the port: {r}"
        );
        assert!(
            r["metrics"].get("loop_utilization").is_none(),
            "absent, not zero: {r}"
        );
    }
    // One file per app process (the contract app is one process, whatever the strategy).
    let mut got: Vec<Value> = std::fs::read_dir(&seen_dir)
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    got.sort_by_key(|v| {
        (
            v["env"]["LAB_STRATEGY"].to_string(),
            v["env"]["LAB_WORKLOAD"].to_string(),
        )
    });
    assert_eq!(got.len(), 4, "{got:?}");
    for v in &got {
        let env = &v["env"];
        let (strategy, workload) = (
            env["LAB_STRATEGY"].as_str().unwrap(),
            env["LAB_WORKLOAD"].as_str().unwrap(),
        );
        let processes = if strategy == "cluster" { "2" } else { "1" };
        assert_eq!(env["LAB_PROCESSES"], processes, "{v}");
        assert_eq!(env["HOST"], "127.0.0.1", "{v}");
        assert!(env["PORT"].as_str().unwrap().parse::<u16>().is_ok(), "{v}");
        let pool = if workload == "hash" { "2" } else { "4" };
        assert_eq!(env["UV_THREADPOOL_SIZE"], pool, "{v}");
        assert_eq!(env["LAB_POOL"], pool, "{v}");
        let path = if workload == "hash" { "/h" } else { "/n" };
        let hits = v["hits"].as_object().unwrap();
        assert_eq!(hits.keys().collect::<Vec<_>>(), [path], "{v}");
    }
}

#[test]
fn the_fastify_example_app_is_swept_like_any_point() {
    let tmp = temp();
    let out = tmp.path().join("fastify");
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/examples/fastify-app.js");
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../node/node_modules/fastify")
            .is_dir(),
        "fastify is not installed: run scripts/setup"
    );
    let command = format!("node {}", app.display());
    let paths = "{ hash = \"/api/hash\", net = \"/api/hello\" }";
    let (output, seen) = run_watched(
        &app_sweep(&out, &command, paths, "\"loop\", \"cluster\""),
        None,
    );
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert!(
            r["point_id"].as_str().unwrap().starts_with("command:"),
            "{r}"
        );
        assert!(metric(r, "throughput_per_s") > 0.0, "{r}");
        let processes = if r["coords"]["strategy"] == "cluster" {
            3.0
        } else {
            1.0
        };
        assert_eq!(
            metric(r, "processes"),
            processes,
            "the tree was sampled: {r}"
        );
    }
}

#[test]
fn the_command_runtime_without_a_command_is_one_line_and_exit_2() {
    let tmp = temp();
    let out = tmp.path().join("nocommand");
    let args = tiny(&out, &["--runtimes", "command"]);
    let output = lab().args(&args).output().expect("run lab");
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no command is set"), "{err}");
}

#[test]
fn a_batch_sweep_runs_on_node_too() {
    let tmp = temp();
    let config = tmp.path().join("batch.toml");
    std::fs::write(
        &config,
        "mode = \"batch\"\nruntimes = [\"looplab\", \"node\"]\nduration = \"5s\"\n\
         warmup = \"0ms\"\nrepetitions = 1\nstrategies = [\"loop\", \"loop-blocking\", \
         \"workers\", \"cluster\"]\nworkloads = [\"hash\", \"file\"]\npool_sizes = [2]\n\
         cluster_counts = [2]\nworker_counts = [2]\njobs = 8\nhash_iterations = 2000\n\
         file_bytes = 4096\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    let args: Vec<String> = ["sweep", "--quiet", "--config"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            config.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ])
        .collect();
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    let on_node: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["coords"]["runtime"] == "node")
        .map(|r| r["point_id"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [
        "node:loop/hash/p2",
        "node:loop/file/p2",
        "node:loop-blocking/hash",
        "node:workers/hash/w2",
        "node:cluster/hash/p2/k2",
        "node:cluster/file/p2/k2",
    ]
    .into();
    assert_eq!(on_node, expected);
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(metric(r, "errors"), 0.0, "{r}");
        assert!(metric(r, "throughput_per_s") > 0.0, "{r}");
    }
}

#[test]
fn a_cost_profile_makes_looplab_pay_per_request_and_names_its_points() {
    use looplab_reports::store::costs::{CostProfile, EventCost};
    let tmp = temp();
    let profile_path = tmp.path().join("heavy.toml");
    let cost = EventCost {
        ns: 200_000,
        spread_ns: 0,
        node_ns: 0.0,
        looplab_ns: 0.0,
        how: "test: 200 µs per request".into(),
    };
    let events = [("http_request".to_string(), cost)].into();
    CostProfile::new("v20".into(), 1, events)
        .write(&profile_path)
        .unwrap();
    let out = tmp.path().join("costs");
    let costs = format!("native,{}", profile_path.display());
    let args = tiny(
        &out,
        &[
            "--strategies",
            "loop",
            "--workloads",
            "net",
            "--costs",
            &costs,
        ],
    );
    let (output, seen) = run_watched(&args, None);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_none_left(&seen);
    let records = records(&out);
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r["point_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {records:?}"))
    };
    let (native, heavy) = (by_id("loop/net/c2"), by_id("looplab+heavy:loop/net/c2"));
    assert_eq!(heavy["coords"]["costs"], "heavy");
    // 200 µs of CPU per request on one loop: at most 5,000 requests/s, each costing >= 0.2 ms.
    assert!(metric(heavy, "throughput_per_s") < 5_000.0, "{heavy}");
    assert!(metric(heavy, "cpu_ms_per_op") >= 0.2, "{heavy}");
    assert!(
        metric(native, "throughput_per_s") > 2.0 * metric(heavy, "throughput_per_s"),
        "{native} {heavy}"
    );
    assert!(metric(heavy, "loop_utilization") > metric(native, "loop_utilization"));
}

#[test]
fn a_missing_cost_profile_is_one_line_and_exit_2() {
    let tmp = temp();
    let out = tmp.path().join("nocosts");
    let args = tiny(&out, &["--costs", "/nonexistent/profile.toml"]);
    let output = lab().args(&args).output().expect("run lab");
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/profile.toml"), "{err}");
    assert!(err.contains("lab calibrate --costs"), "{err}");
}

/// A scheduler's retry of a shard task: `--shard auto --out-parent P` names the folder by the
/// sweep and shard, so running the same command again finds it and resumes it (here its
/// measured point was lost, as when a task dies before writing it), in place of a second
/// folder that would hold the same points twice.
#[test]
fn a_shard_run_again_under_out_parent_resumes_its_folder() {
    let tmp = temp();
    let parent = tmp.path().join("shards");
    let mut args = tiny(
        &parent,
        &["--strategies", "loop", "--workloads", "hash,file"],
    );
    let at = args.iter().position(|a| a == "--out").unwrap();
    args[at] = "--out-parent".into();
    args.extend(["--shard".into(), "auto".into()]);
    let shard_task = || {
        lab()
            .args(&args)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("CI_NODE_INDEX")
            .env("LAB_SHARD_INDEX", "1")
            .env("LAB_SHARDS", "2")
            .output()
            .unwrap()
    };
    let first = shard_task();
    assert!(first.status.success(), "stderr: {}", text(&first.stderr));
    let folders: Vec<PathBuf> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name,
        format!(
            "{}-shard-1-of-2",
            meta(folder)["sweep_id"].as_str().unwrap()
        )
    );
    assert_eq!(records(folder).len(), 1);
    let started = meta(folder)["started_at"].clone();
    std::fs::write(folder.join("results.jsonl"), "").unwrap();

    let again = shard_task();
    assert!(again.status.success(), "stderr: {}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains(&format!("{} exists: resuming it", folder.display())),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        1,
        "no second folder"
    );
    assert_eq!(
        records(folder).len(),
        1,
        "the lost point measured again, once"
    );
    assert_eq!(
        meta(folder)["started_at"],
        started,
        "the same folder, resumed"
    );
}
