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

fn lab_serve(exe: &Path, args: &[&str], tmpdir: &Path) -> Command {
    let mut command = Command::new(exe);
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
    let lab = Path::new(env!("CARGO_BIN_EXE_lab"));
    let mut child = lab_serve(lab, args, tmpdir)
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
            "--busy",
            "1s",
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

fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a worker of the server this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// The last line of stderr: `lab: error: ...`, one line.
fn error_line(err: &str) -> &str {
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("lab: error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    last
}

#[test]
fn a_primary_whose_workers_all_died_exits_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(
        &[
            "--workload",
            "hello",
            "--strategy",
            "cluster",
            "--cluster",
            "2",
        ],
        tmp.path(),
    );
    let workers = children_of(server.child.id());
    assert_eq!(workers.len(), 2, "{workers:?}");
    for pid in workers {
        kill(pid, libc::SIGKILL);
    }
    // It used to linger with its port closed, silent, until killed.
    let (code, _, err) = wait_exit(&mut server);
    assert_eq!(code, Some(2), "{err}");
    let line = error_line(&err);
    assert!(line.contains("every worker has exited"), "{line}");
    assert!(line.contains("--restart"), "{line}");
}

#[test]
fn a_killed_workers_temp_folder_goes_when_it_is_reaped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(
        &[
            "--workload",
            "file",
            "--strategy",
            "cluster",
            "--cluster",
            "2",
            "--restart",
        ],
        tmp.path(),
    );
    // Each worker has a folder of its own (in the primary's scratch), with its served file.
    let folder = |id: u32| {
        let name = format!("worker-{id}");
        walk_dirs(tmp.path())
            .into_iter()
            .find(|d| d.file_name().is_some_and(|n| n == name.as_str()))
    };
    let worker_1 = folder(1).expect("worker 1 has a temp folder");
    let served = |dir: &Path| {
        walk(dir)
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == "served.bin"))
    };
    assert!(served(&worker_1));
    let pid = children_of(server.child.id())[0];
    kill(pid, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker_1.exists() {
        assert!(
            Instant::now() < deadline,
            "worker 1's folder outlived its reaping"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let worker_2 = folder(2).expect("worker 2 has a temp folder");
    assert!(served(&worker_2), "the other worker keeps its own");
    // SAFETY: kill(2) on the primary this test started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let (code, _, err) = wait_exit(&mut server);
    assert_eq!(code, Some(0), "{err}");
}

/// Every folder under `dir`, `dir` excluded.
fn walk_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .flat_map(|p| {
            let mut below = walk_dirs(&p);
            below.insert(0, p);
            below
        })
        .collect()
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn a_worker_that_cannot_start_ends_the_primary_after_the_restart_limit() {
    // A supervisor's classic fault: its program is replaced by a broken one while it runs.
    // The primary runs from a hard link; once it serves, the link becomes a script that fails,
    // so every replacement worker fails at start.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let exe = dir.path().join("lab");
    std::fs::hard_link(env!("CARGO_BIN_EXE_lab"), &exe)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_lab"), &exe).map(drop))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--workload",
        "hello",
        "--strategy",
        "cluster",
        "--cluster",
        "1",
        "--restart",
    ];
    let mut command = lab_serve(&exe, &args, tmp.path());
    let mut child = command.spawn().expect("start lab serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    let mut server = Server {
        child,
        addr: String::new(),
        stdout,
    };
    let broken = dir.path().join("broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'lab: error: config missing (simulated)' >&2\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &exe).unwrap();
    kill(children_of(server.child.id())[0], libc::SIGKILL);
    // It used to restart the broken worker forever.
    let (code, _, err) = wait_exit(&mut server);
    assert_eq!(code, Some(2), "{err}");
    let line = error_line(&err);
    assert!(line.contains("5 times within 10 s"), "{line}");
    assert!(
        line.contains("config missing (simulated)"),
        "its stderr: {line}"
    );
    assert!(err.contains("before listening"), "{err}");
}

#[test]
fn binding_off_loopback_warns_that_the_server_is_reachable_from_the_network() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(&["--workload", "hello", "--bind", "0.0.0.0"], tmp.path());
    // SAFETY: kill(2) on the server this test started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let (code, _, err) = wait_exit(&mut server);
    assert_eq!(code, Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("0.0.0.0") && warnings[0].contains("network"),
        "{err}"
    );
    let mut loopback = start(&["--workload", "hello"], tmp.path());
    // SAFETY: as above.
    unsafe { libc::kill(loopback.child.id() as i32, libc::SIGTERM) };
    let (_, _, err) = wait_exit(&mut loopback);
    assert!(!err.contains("warning"), "{err}");
}
