//! The Node twins (`node/point.js`) against `lab point`: for strategies loop, loop-blocking,
//! workers and cluster, both serve the same Task, and every workload route answers the same
//! status and body on both; the twin's samples and batch lines read as looplab's types (the
//! pool figures absent), and its batch histogram decodes with `looplab_reports::histogram`.
//!
//! Needs `node` (20) and `node/node_modules` (`scripts/setup` installs both); without them it
//! fails saying so, never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use looplab_workloads::deploy::{Deployment, Kind, Strategy};
use looplab_workloads::serve::LoopSample;
use serde_json::{json, Value};

const ROUTES: [&str; 5] = ["/hello", "/hash", "/hash-sync", "/file", "/busy"];
const POOL: usize = 2;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails, naming the fix, when node or the twins' packages are missing.
fn require_node() {
    let version = Command::new("node").arg("--version").output();
    match version {
        Ok(out) if out.status.success() => {}
        _ => panic!("`node` is not on PATH; the Node twins need Node.js 20: run scripts/setup"),
    }
    let modules = repo().join("node/node_modules/piscina");
    assert!(
        modules.is_dir(),
        "{} is missing; install the Node twins' packages: run scripts/setup \
         (npm ci --prefix node)",
        modules.display()
    );
}

/// A running point (lab's or node's): killed and reaped on drop, whatever happened.
struct Point {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    what: &'static str,
}

impl Drop for Point {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Point {
    fn start(mut command: Command, what: &'static str) -> Point {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start the {what} point: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Point {
            child,
            stdin,
            stdout,
            what,
        }
    }

    fn lab(task: &Value) -> Point {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command.args(["point", "--task", &task.to_string()]);
        Point::start(command, "lab")
    }

    fn node(task: &Value) -> Point {
        let mut command = Command::new("node");
        command
            .arg(repo().join("node/point.js"))
            .args(["--task", &task.to_string()])
            .env("UV_THREADPOOL_SIZE", POOL.to_string());
        Point::start(command, "node")
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read a reply");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{} point said {line:?}: {e}", self.what))
    }

    fn send(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").expect("send a command");
        self.line()
    }

    /// `stop`, then the process must exit 0 within 15 s.
    fn stop(mut self) {
        writeln!(self.stdin, "stop").expect("send stop");
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the point") {
                assert!(status.success(), "{} point exited with {status}", self.what);
                return;
            }
            assert!(Instant::now() < until, "{} point did not stop", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn deployment(strategy: Strategy) -> Deployment {
    Deployment {
        pool: POOL,
        workers: 2,
        processes: 2,
        threads: 2,
        hash_iterations: 1_000,
        file_bytes: 1_000,
        busy_ms: 5,
        ..Deployment::new(strategy, vec![(Kind::Hello, 1)])
    }
}

/// One GET on a fresh connection: (status, body).
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, raw[split + 4..].to_vec())
}

fn addr_of(ready: &Value) -> String {
    ready["ready"]["addr"]
        .as_str()
        .unwrap_or_else(|| panic!("not ready: {ready}"))
        .to_string()
}

fn same_answers(strategy: Strategy) {
    let task = json!({ "serve": deployment(strategy) });
    let (mut lab, mut node) = (Point::lab(&task), Point::node(&task));
    let (lab_addr, node_addr) = (addr_of(&lab.line()), addr_of(&node.line()));
    for path in ROUTES {
        let (lab_status, lab_body) = get(&lab_addr, path);
        let (node_status, node_body) = get(&node_addr, path);
        assert_eq!(lab_status, 200, "{strategy} {path} on lab");
        assert_eq!(node_status, lab_status, "{strategy} {path}: status");
        assert!(
            node_body == lab_body,
            "{strategy} {path}: node answered {:?}, lab {:?}",
            String::from_utf8_lossy(&node_body),
            String::from_utf8_lossy(&lab_body)
        );
    }
    let reply = node.send("sample");
    let sample: LoopSample = serde_json::from_value(reply["sample"].clone())
        .unwrap_or_else(|e| panic!("{strategy}: the twin's sample {reply} is no LoopSample: {e}"));
    let loops = if strategy == Strategy::Cluster { 2 } else { 1 };
    assert_eq!(sample.loops, loops, "{sample:?}");
    assert_eq!(sample.requests, ROUTES.len() as u64, "{sample:?}");
    assert_eq!(
        sample.pool_tasks, None,
        "Node cannot see its pool: {sample:?}"
    );
    assert!(lab.send("sample")["sample"]["pool_tasks"].is_u64());
    lab.stop();
    node.stop();
}

#[test]
fn node_twins_answer_every_route_as_lab_point_does() {
    require_node();
    for strategy in [
        Strategy::Loop,
        Strategy::LoopBlocking,
        Strategy::Workers,
        Strategy::Cluster,
    ] {
        same_answers(strategy);
    }
}

#[test]
fn a_node_batch_histogram_decodes_as_looplabs() {
    require_node();
    let d = Deployment {
        mix: vec![(Kind::Hello, 4), (Kind::Hash, 1), (Kind::File, 1)],
        ..deployment(Strategy::Loop)
    };
    let jobs = 60;
    let mut node = Point::node(&json!({ "batch": { "deployment": d, "jobs": jobs } }));
    assert_eq!(node.line(), json!({ "ready": { "addr": null } }));
    let reply = node.send("run");
    let line = &reply["batch"];
    assert_eq!(line["completed"], jobs, "{reply}");
    assert_eq!(line["pool_tasks"], Value::Null, "{reply}");
    let text = line["histogram_base64"].as_str().expect("a histogram");
    let histogram = looplab_reports::histogram::decode(text)
        .unwrap_or_else(|e| panic!("the twin's histogram does not decode: {e}"));
    assert_eq!(histogram.len(), jobs);
    let makespan_us = line["makespan_s"].as_f64().unwrap() * 1e6;
    // 3 significant digits: a recorded value is within 0.1% of the latency it stands for.
    assert!(
        (histogram.max() as f64) <= makespan_us * 1.001 + 1.0,
        "{} µs > makespan {makespan_us} µs",
        histogram.max()
    );
    assert!(histogram.min() >= 1);
    node.stop();
}
