//! Helpers of `serve_strategies`: a server on its own thread, blocking HTTP clients, and a tiny
//! test runner (the binary has `harness = false`, see its doc).
//!
//! Invariants that keep every test bounded and leave nothing behind:
//! 1. [`Running`] shuts its server down and joins its thread when dropped, even after a failed
//!    assertion (a cluster primary then stops its workers too);
//! 2. clients use blocking sockets with 30 s timeouts, so a server that never answers fails the
//!    test instead of hanging it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use looplab_runtime::cluster::SchedulingPolicy;
use looplab_workloads::deploy::{Deployment, Kind, Strategy};
use looplab_workloads::serve::{serve, ServeSummary, ShutdownHandle};

/// Client socket timeouts.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Hash iterations of the quick spec.
pub const ITERATIONS: u64 = 1_000;
/// Size of the served file in the quick spec.
pub const FILE_BYTES: usize = 1_000;

/// Every strategy that serves HTTP, as the tests run them.
pub fn strategies() -> [(&'static str, Strategy); 5] {
    [
        Strategy::Loop,
        Strategy::LoopBlocking,
        Strategy::Workers,
        Strategy::Cluster,
        Strategy::Tokio,
    ]
    .map(|s| (s.name(), s))
}

/// The cluster strategy of every cluster test (its workers rebuild [`spec`] with it).
pub fn cluster() -> Strategy {
    Strategy::Cluster
}

/// The quick spec: mix hello, hash, file (1:1:1), pool 2, small hashes and file; 2 worker
/// threads, 2 round-robin cluster workers, 2 tokio threads.
pub fn spec(strategy: Strategy) -> Deployment {
    Deployment {
        pool: 2,
        workers: 2,
        processes: 2,
        threads: 2,
        policy: Some(SchedulingPolicy::RoundRobin),
        hash_iterations: ITERATIONS,
        file_bytes: FILE_BYTES,
        busy_ms: 5,
        ..Deployment::new(
            strategy,
            vec![(Kind::Hello, 1), (Kind::Hash, 1), (Kind::File, 1)],
        )
    }
}

/// The body every strategy answers to a hash request of `iterations`.
pub fn expected_hash(iterations: u64) -> String {
    let key = looplab_runtime::crypto::pbkdf2_sync(b"a", b"b", iterations, 32).unwrap();
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A server running `serve` on a thread of its own.
pub struct Running {
    pub addr: String,
    pub handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<ServeSummary, String>>>,
}

/// Starts `spec` and waits until it listens.
pub fn start(spec: Deployment) -> Running {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        serve(&spec, loopback, move |addr, handle| {
            let _ = tx.send((addr, handle));
        })
        .map_err(|e| e.to_string())
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok((addr, handle)) => Running {
            addr: addr.to_string(),
            handle,
            thread: Some(thread),
        },
        Err(_) if thread.is_finished() => panic!("serve failed: {:?}", thread.join()),
        Err(_) => panic!("the server did not listen within 60 s"),
    }
}

impl Running {
    /// Shuts down and waits for `serve` to return; fails if that takes more than 20 s.
    pub fn stop(mut self) -> ServeSummary {
        self.handle.shutdown();
        let thread = self.thread.take().expect("stopped once");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !thread.is_finished() {
            assert!(
                Instant::now() < deadline,
                "serve did not return after shutdown"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().expect("the serve thread").expect("serve")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

/// One GET on a fresh connection; returns (status code, body).
pub fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = connect(addr);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let (status, _, body) = read_response(&mut reader).expect("an answer");
    (status, body)
}

/// A GET that must be answered 200; returns the body as text.
pub fn get_ok(addr: &str, path: &str) -> String {
    let (status, body) = get(addr, path);
    let body = String::from_utf8(body).expect("a text body");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// A client socket with [`IO_TIMEOUT`].
pub fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Reads one response (Content-Length framed): (status, head lines, body); `None` at the end
/// of the stream.
pub fn read_response(r: &mut impl BufRead) -> Option<(u16, Vec<String>, Vec<u8>)> {
    let mut status_line = String::new();
    if r.read_line(&mut status_line).ok()? == 0 {
        return None;
    }
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut head = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
        head.push(line);
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some((status, head, body))
}

/// One named test.
pub type Test = (&'static str, fn());

/// Runs the tests whose names contain one of the free arguments (all without any), one at a
/// time; exits 1 if one failed. `--list` lists them as libtest does.
pub fn run_tests(tests: &[Test]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    // Free arguments are filters; skip libtest options and the values of those that take one.
    let mut filters = Vec::new();
    let mut skip_value = false;
    for arg in &args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with('-') {
            let takes_value = [
                "--test-threads",
                "--skip",
                "--color",
                "--format",
                "--logfile",
            ];
            skip_value = takes_value.contains(&arg.as_str());
        } else {
            filters.push(arg.clone());
        }
    }
    let chosen: Vec<&Test> = (tests.iter())
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in chosen {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(test);
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => println!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                println!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    if failed.is_empty() {
        println!("\ntest result: ok");
    } else {
        println!("\nfailures: {failed:?}\ntest result: FAILED");
        std::process::exit(1);
    }
}
