//! `lab serve`: prints where it listens, serves every workload's path, refuses bad input with
//! exit 2, and stops cleanly (exit 0) on SIGINT and on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind, even when an assertion failed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server {
        child,
        addr,
        stdout,
    }
}

/// One GET on a fresh connection; returns (status line, body).
fn get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
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
        .expect("a full head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, raw[split + 4..].to_vec())
}

fn stop_with(server: &mut Server, signal: i32) -> (Option<i32>, String) {
    let pid = server.child.id() as i32;
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            let mut rest = String::new();
            let _ = server.stdout.read_to_string(&mut rest);
            return (status.code(), rest);
        }
        assert!(Instant::now() < deadline, "lab serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_every_path_and_stops_on_sigint() {
    let mut server = start(&[
        "--workload",
        "hello",
        "--iterations",
        "1000",
        "--file-bytes",
        "1000",
    ]);
    assert!(server.addr.starts_with("127.0.0.1:"), "{}", server.addr);
    let (status, body) = get(&server.addr, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"hello world\n");
    let (status, body) = get(&server.addr, "/hash");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), 64, "hex of a 32-byte key");
    assert_eq!(
        get(&server.addr, "/hash-sync").1,
        body,
        "same key on the loop"
    );
    assert_eq!(get(&server.addr, "/file").1.len(), 1000);
    let (code, rest) = stop_with(&mut server, libc::SIGINT);
    assert_eq!(code, Some(0));
    assert!(rest.contains("stopped after 4 requests"), "{rest}");
}

#[test]
fn the_sweeps_workload_names_serve_the_same_thing() {
    // net is hello; web is the default mix (hello 8, hash 1, file 1), as in a sweep.
    let mut net = start(&["--workload", "net"]);
    assert_eq!(get(&net.addr, "/").1, b"hello world\n");
    assert_eq!(stop_with(&mut net, libc::SIGTERM).0, Some(0));
    let mut web = start(&[
        "--workload",
        "web",
        "--iterations",
        "1000",
        "--file-bytes",
        "100",
    ]);
    let lengths: Vec<usize> = (0..10).map(|_| get(&web.addr, "/").1.len()).collect();
    assert_eq!(
        lengths.iter().filter(|&&n| n == 12).count(),
        8,
        "{lengths:?}"
    );
    assert!(
        lengths.contains(&64) && lengths.contains(&100),
        "{lengths:?}"
    );
    assert_eq!(stop_with(&mut web, libc::SIGTERM).0, Some(0));
}

#[test]
fn mix_rotates_by_weight_and_stops_on_sigterm() {
    let mut server = start(&[
        "--workload",
        "mix",
        "--mix",
        "hello:2,hash:1",
        "--iterations",
        "1000",
    ]);
    let lengths: Vec<usize> = (0..6).map(|_| get(&server.addr, "/").1.len()).collect();
    assert_eq!(lengths, [12, 12, 64, 12, 12, 64]);
    let (code, _) = stop_with(&mut server, libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        // A workload, strategy or policy outside its choices is clap's usage error (the
        // choices and the closest one; tests/cli.rs), like a mistyped flag.
        &["--workload", "mix", "--mix", "hello:x"][..],
        &["--workload", "hello", "--pool", "0"][..],
        &["--workload", "hash", "--iterations", "0"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .output()
            .expect("run lab serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("lab: error: "), "{args:?}: {err}");
    }
}

/// One GET; returns the `X-Worker` header.
fn worker_of(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw.lines()
        .find_map(|l| l.strip_prefix("X-Worker: "))
        .unwrap_or_else(|| panic!("no X-Worker in {raw}"))
        .to_string()
}

/// Child process ids of `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[test]
fn cluster_spreads_requests_and_leaves_no_process_behind() {
    let mut server = start(&[
        "--workload",
        "hello",
        "--strategy",
        "cluster",
        "--cluster",
        "2",
    ]);
    let seen: std::collections::BTreeSet<String> =
        (0..6).map(|_| worker_of(&server.addr, "/")).collect();
    assert_eq!(seen.len(), 2, "round-robin reaches both workers: {seen:?}");
    let workers = children_of(server.child.id());
    assert_eq!(workers.len(), 2, "{workers:?}");
    let (code, rest) = stop_with(&mut server, libc::SIGTERM);
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("every worker exited"), "{rest}");
    for pid in workers {
        // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
        let gone = unsafe { libc::kill(pid as i32, 0) } == -1;
        assert!(gone, "worker {pid} outlived its primary");
    }
}

#[test]
fn workers_strategy_answers_cpu_work_from_worker_threads() {
    let mut server = start(&[
        "--workload",
        "hash-sync",
        "--strategy",
        "workers",
        "--workers",
        "2",
        "--iterations",
        "1000",
    ]);
    let (status, body) = get(&server.addr, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        body,
        get(&server.addr, "/hash").1,
        "same key whoever computes it"
    );
    assert_eq!(get(&server.addr, "/hello").1, b"hello world\n");
    let (code, rest) = stop_with(&mut server, libc::SIGINT);
    assert_eq!(code, Some(0));
    assert!(rest.contains("stopped after 3 requests"), "{rest}");
}
