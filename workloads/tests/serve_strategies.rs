//! Every `serve` strategy end to end on loopback: the same paths and bodies everywhere, a clean
//! shutdown, `loop-blocking` really blocking, and the loop probe (`ShutdownHandle::sample`).
//!
//! This binary has `harness = false`: cluster workers are this binary re-executed with the same
//! arguments, and `main` sends them to the worker role before any test runs (every cluster test
//! uses the same spec, `spec(cluster())`, which the workers rebuild). Tests run one at a time,
//! since timing is compared. The machine is small and noisy: timings are only compared as
//! ratios with wide margins, and the comparisons get several attempts.

mod serve_support;

use std::io::{BufReader, Read, Write};
use std::time::{Duration, Instant};

use looplab_runtime::cluster::worker_role;
use looplab_workloads::deploy::Strategy;
use looplab_workloads::serve::{serve_cluster_worker, HELLO_BODY};
use serve_support::{
    cluster, connect, expected_hash, get, get_ok, read_response, run_tests, spec, start,
    strategies, Running, FILE_BYTES, ITERATIONS,
};

const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    if let Some(role) = worker_role() {
        if let Err(e) = serve_cluster_worker(&spec(cluster()), role) {
            eprintln!("serve_strategies cluster worker: {e}");
            std::process::exit(2);
        }
        return;
    }
    run_tests(&[
        ("loop_serves_every_path", || serves("loop")),
        ("loop_blocking_serves_every_path", || {
            serves("loop-blocking")
        }),
        ("workers_serves_every_path", || serves("workers")),
        ("cluster_serves_every_path", || serves("cluster")),
        ("tokio_serves_every_path", || serves("tokio")),
        ("tokio_speaks_http_1_1", tokio_speaks_http_1_1),
        (
            "in_flight_answers_finish_on_shutdown",
            in_flight_answers_finish,
        ),
        (
            "loop_blocking_makes_hello_wait",
            loop_blocking_makes_hello_wait,
        ),
        (
            "loop_answers_hello_during_a_hash",
            loop_answers_hello_during_a_hash,
        ),
        ("sample_on_loop_counts_the_window", sample_on_loop),
        (
            "sample_on_one_loop_strategies",
            sample_on_one_loop_strategies,
        ),
        ("sample_on_cluster_merges_workers", sample_on_cluster),
        ("sample_on_tokio_counts_requests", sample_on_tokio),
        ("sample_times_out_on_a_blocked_loop", sample_times_out),
        ("sample_after_shutdown_fails_at_once", sample_after_shutdown),
    ]);
}

fn strategy(name: &str) -> Strategy {
    let found = strategies().into_iter().find(|(n, _)| *n == name);
    found.expect("a known strategy").1
}

/// The named paths, a query string and the mix rotation, with the same bodies everywhere.
fn serves(name: &str) {
    let server = start(spec(strategy(name)));
    let addr = server.addr.clone();
    let (hash, file) = (expected_hash(ITERATIONS), "x".repeat(FILE_BYTES));
    assert_eq!(hash.len(), 64, "the hex of a 32-byte key");
    assert_eq!(get_ok(&addr, "/hello"), HELLO_BODY);
    assert_eq!(get_ok(&addr, "/hash"), hash);
    assert_eq!(get_ok(&addr, "/hash?n=1"), hash);
    assert_eq!(get_ok(&addr, "/hash-sync"), hash);
    assert_eq!(get_ok(&addr, "/file"), file);
    assert_eq!(get_ok(&addr, "/busy"), "done\n");
    let rotation: Vec<String> = (0..6).map(|_| get_ok(&addr, "/anything")).collect();
    let one_round = [HELLO_BODY.to_string(), hash.clone(), file.clone()];
    if name == "cluster" {
        // Each worker rotates on its own; which one answers is the policy's choice.
        for body in &rotation {
            assert!(
                one_round.contains(body),
                "{name}: unexpected mix body {body:?}"
            );
        }
    } else {
        assert_eq!(rotation, [one_round.clone(), one_round].concat(), "{name}");
    }
    let summary = server.stop();
    let answered = if name == "cluster" { 0 } else { 12 };
    assert_eq!(summary.requests, answered, "{name}: {summary:?}");
}

/// Pipelining in order, bodies discarded, `Connection: close`, 400 on a malformed head.
fn tokio_speaks_http_1_1() {
    let server = start(spec(Strategy::Tokio));
    let mut s = connect(&server.addr);
    s.write_all(
        b"POST /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET /hash HTTP/1.1\r\n\r\n\
          GET /file HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut bodies = Vec::new();
    let mut last_head = Vec::new();
    while let Some((status, head, body)) = read_response(&mut r) {
        assert_eq!(status, 200);
        bodies.push(String::from_utf8(body).unwrap());
        last_head = head;
    }
    let (hash, file) = (expected_hash(ITERATIONS), "x".repeat(FILE_BYTES));
    assert_eq!(
        bodies,
        [HELLO_BODY.into(), hash, file, HELLO_BODY.to_string()]
    );
    assert!(
        last_head.contains(&"Connection: close".to_string()),
        "{last_head:?}"
    );

    let mut s = connect(&server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let (status, _, _) = read_response(&mut r).expect("an answer");
    assert_eq!(status, 400);
    assert!(read_response(&mut r).is_none(), "closed after a 400");
    let summary = server.stop();
    assert_eq!(summary.requests, 4);
}

/// PBKDF2 iterations that take about 300 ms here (more on a slower machine).
fn slow_iterations() -> u64 {
    let started = Instant::now();
    looplab_runtime::crypto::pbkdf2_sync(b"a", b"b", 20_000, 32).unwrap();
    let per_iteration = started.elapsed().as_secs_f64() / 20_000.0;
    ((0.3 / per_iteration) as u64).clamp(50_000, 20_000_000)
}

/// A request in progress when shutdown comes is still answered; an idle keep-alive connection
/// is closed; `serve` returns.
fn in_flight_answers_finish() {
    for name in ["loop", "tokio"] {
        let iterations = slow_iterations();
        let mut slow = spec(strategy(name));
        slow.hash_iterations = iterations;
        let server = start(slow);
        let mut idle = connect(&server.addr);
        idle.write_all(b"GET /hello HTTP/1.1\r\n\r\n").unwrap();
        let mut idle = BufReader::new(idle);
        assert!(read_response(&mut idle).is_some());
        let addr = server.addr.clone();
        let hashing = std::thread::spawn(move || get(&addr, "/hash"));
        std::thread::sleep(Duration::from_millis(100));
        server.stop();
        let (status, body) = hashing.join().unwrap();
        assert_eq!(status, 200, "{name}");
        assert_eq!(String::from_utf8(body).unwrap(), expected_hash(iterations));
        let mut rest = Vec::new();
        let read = idle.read_to_end(&mut rest);
        assert!(
            matches!(read, Ok(0)),
            "{name}: idle connection closed: {read:?}"
        );
    }
}

/// Sends `/hello` while a `/hash` runs: how long it waited, as a fraction of the time the hash
/// still had to run (about 1 if it waited for the hash, about 0 if not). `None` if the hash
/// ended before the hello was sent (no overlap to judge).
fn hello_during_hash(server: &Running, lead: Duration) -> Option<f64> {
    let addr = server.addr.clone();
    let hashing = std::thread::spawn(move || {
        let (status, _) = get(&addr, "/hash");
        (status, Instant::now())
    });
    std::thread::sleep(lead);
    let sent = Instant::now();
    get_ok(&server.addr, "/hello");
    let hello_done = Instant::now();
    let (status, hash_done) = hashing.join().unwrap();
    assert_eq!(status, 200);
    let remaining = hash_done.checked_duration_since(sent)?;
    Some(hello_done.duration_since(sent).as_secs_f64() / remaining.as_secs_f64().max(1e-6))
}

/// Up to 5 attempts of [`hello_during_hash`] until `holds`; fails with every fraction seen.
fn hello_wait_attempts(name: &str, holds: impl Fn(f64) -> bool) {
    let mut slow = spec(strategy(name));
    slow.hash_iterations = slow_iterations();
    let server = start(slow);
    let started = Instant::now();
    get_ok(&server.addr, "/hash");
    let lead = started.elapsed() / 4;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let fraction = hello_during_hash(&server, lead);
        if fraction.is_some_and(&holds) {
            server.stop();
            return;
        }
        seen.push(fraction);
    }
    panic!("{name}: /hello waited these fractions of the hash's remaining time: {seen:?}");
}

fn loop_blocking_makes_hello_wait() {
    hello_wait_attempts("loop-blocking", |fraction| fraction >= 0.5);
}

fn loop_answers_hello_during_a_hash() {
    hello_wait_attempts("loop", |fraction| fraction < 0.5);
}

fn sample_on_loop() {
    let server = start(spec(Strategy::Loop));
    let first = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!((first.loops, first.requests), (1, 0), "{first:?}");
    for _ in 0..4 {
        get_ok(&server.addr, "/hash");
    }
    for _ in 0..6 {
        get_ok(&server.addr, "/hello");
    }
    // Long enough for several 10 ms delay samples.
    std::thread::sleep(Duration::from_millis(60));
    let s = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!(
        (s.loops, s.requests, s.pool_tasks),
        (1, 10, Some(4)),
        "{s:?}"
    );
    assert!(s.utilization > 0.0 && s.utilization <= 1.0, "{s:?}");
    assert!(
        s.delay_p50_us >= 5_000.0,
        "samples include the resolution: {s:?}"
    );
    assert!(s.delay_p50_us <= s.delay_p99_us && s.delay_p99_us <= s.delay_max_us);
    assert!(s.pool_wait_p99_us <= s.pool_wait_max_us, "{s:?}");
    let next = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!(
        (next.requests, next.pool_tasks),
        (0, Some(0)),
        "windows do not overlap"
    );
    server.stop();
}

/// `loop-blocking` and `workers` hash off the pool: requests count, pool tasks do not.
fn sample_on_one_loop_strategies() {
    for name in ["loop-blocking", "workers"] {
        let server = start(spec(strategy(name)));
        server.handle.sample(SAMPLE_TIMEOUT).unwrap();
        for _ in 0..3 {
            get_ok(&server.addr, "/hash");
        }
        get_ok(&server.addr, "/file");
        let s = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
        assert_eq!((s.loops, s.requests), (1, 4), "{name}: {s:?}");
        // The file read: open, fstat, read, close.
        assert_eq!(s.pool_tasks, Some(4), "{name}: {s:?}");
        server.stop();
    }
}

fn sample_on_cluster() {
    let server = start(spec(cluster()));
    let first = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!(first.loops, 2, "{first:?}");
    for _ in 0..10 {
        get_ok(&server.addr, "/hash");
    }
    let s = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!(
        (s.loops, s.requests, s.pool_tasks),
        (2, 10, Some(10)),
        "{s:?}"
    );
    assert!(s.utilization > 0.0 && s.utilization <= 1.0, "{s:?}");
    let summary = server.stop();
    assert_eq!(summary.requests, 0, "the primary answers none");
}

fn sample_on_tokio() {
    let server = start(spec(Strategy::Tokio));
    server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    for _ in 0..5 {
        get_ok(&server.addr, "/hash");
    }
    let s = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!((s.loops, s.requests, s.pool_tasks), (0, 5, None), "{s:?}");
    assert_eq!(s.utilization, 0.0);
    server.stop();
}

/// A loop blocked by a long hash cannot answer in 20 ms: the error names the timeout, and the
/// next sample works once the loop is free.
fn sample_times_out() {
    let mut slow = spec(Strategy::LoopBlocking);
    slow.hash_iterations = slow_iterations() * 3;
    let server = start(slow);
    let addr = server.addr.clone();
    let hashing = std::thread::spawn(move || get(&addr, "/hash"));
    let mut outcomes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until one sample lands while the hash holds the loop.
    loop {
        std::thread::sleep(Duration::from_millis(50));
        match server.handle.sample(Duration::from_millis(20)) {
            Err(e) => {
                assert!(e.to_string().contains("no answer within 20 ms"), "{e}");
                break;
            }
            Ok(s) => outcomes.push(s.requests),
        }
        assert!(Instant::now() < deadline, "never blocked: {outcomes:?}");
    }
    assert_eq!(hashing.join().unwrap().0, 200);
    let after = server.handle.sample(SAMPLE_TIMEOUT).unwrap();
    assert_eq!(after.loops, 1);
    server.stop();
}

fn sample_after_shutdown() {
    for name in ["loop", "cluster", "tokio"] {
        let server = start(spec(strategy(name)));
        let handle = server.handle.clone();
        server.stop();
        let started = Instant::now();
        let err = handle.sample(Duration::from_secs(30)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: not at once"
        );
        assert!(err.to_string().contains("has stopped"), "{name}: {err}");
    }
}
