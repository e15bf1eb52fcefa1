//! `lab serve --strategy cluster` under faults: Ctrl-C at a terminal (SIGINT to the whole
//! process group) drains in-flight requests as SIGTERM to the primary does; workers that fail
//! at start are reported with their stderr and end the primary (with `--restart`, after too
//! many quick failures); a primary whose workers are all gone exits with a message; a killed
//! worker's temp folder goes when it is reaped. Also the warning of `--bind` off loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `lab serve` in its own process group (as a shell runs a foreground job).
struct Server {
    child: Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind, even when an assertion failed: the whole group.
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn lab_serve(args: &[&str], tmpdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .env("TMPDIR", tmpdir)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn start(args: &[&str], tmpdir: &Path) -> Server {
    let mut child = lab_serve(args, tmpdir).spawn().expect("start lab serve");
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

/// Waits for the primary's exit (at most 20 s); its code and the rest of its stdout and stderr.
fn wait_exit(server: &mut Server) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            let mut out = String::new();
            let _ = server.stdout.read_to_string(&mut out);
            let mut err = String::new();
            if let Some(mut stderr) = server.child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            return (status.code(), out, err);
        }
        assert!(Instant::now() < deadline, "lab serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
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

fn gone(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
    unsafe { libc::kill(pid as i32, 0) == -1 }
}

/// Sends one GET on a fresh connection now and reads the answer on another thread.
fn get_in_background(addr: &str, path: &str) -> std::thread::JoinHandle<String> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    std::thread::spawn(move || {
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

#[test]
fn sigint_to_the_process_group_drains_in_flight_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(
        &[
            "--workload",
            "busy",
            "--busy-ms",
            "1000",
            "--strategy",
            "cluster",
            "--cluster",
            "2",
        ],
        tmp.path(),
    );
    let workers = children_of(server.child.id());
    assert_eq!(workers.len(), 2, "{workers:?}");
    let requests: Vec<_> = (0..2)
        .map(|_| get_in_background(&server.addr, "/busy"))
        .collect();
    // Both requests are being answered (each worker spins 1 s) when Ctrl-C reaches the group.
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill(2) on the process group this test created.
    assert_eq!(
        unsafe { libc::kill(-(server.child.id() as i32), libc::SIGINT) },
        0
    );
    for request in requests {
        assert_eq!(
            request.join().unwrap(),
            "HTTP/1.1 200 OK",
            "an in-flight request was dropped"
        );
    }
    let (code, out, err) = wait_exit(&mut server);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("every worker exited"), "{out}");
    assert!(
        !err.contains("exited with code 130"),
        "workers drained: {err}"
    );
    for pid in workers {
        assert!(gone(pid), "worker {pid} outlived its primary");
    }
}
