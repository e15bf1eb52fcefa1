//! The load generator against small std::thread servers on loopback (port 0): what it counts,
//! how it checks answers, and that it always stops by its deadline. Each run lasts about a
//! second; assertions are generous ratios, never tight times (the machine is small and noisy).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use looplab_workloads::load::{run, LoadError, LoadReport, LoadSpec};

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// What the server does for the n-th request (from 1) on a connection.
enum Action {
    Reply(&'static [u8]),
    ReplyAfter(Duration, &'static [u8]),
    /// Write these bytes, then close the connection.
    ReplyAndClose(&'static [u8]),
    /// Read the request, never answer.
    Ignore,
}

type Script = dyn Fn(u64) -> Action + Send + Sync;

/// A thread-per-connection HTTP/1.1 server; stops and joins its threads when dropped.
struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(script: impl Fn(u64) -> Action + Send + Sync + 'static) -> TestServer {
        Self::start_on("127.0.0.1:0", script).expect("a loopback port")
    }

    fn start_on(
        bind: &str,
        script: impl Fn(u64) -> Action + Send + Sync + 'static,
    ) -> std::io::Result<TestServer> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let acceptor = {
            let (stop, requests, threads) = (stop.clone(), requests.clone(), threads.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (stop, requests, script) = (stop.clone(), requests.clone(), script.clone());
                    let handle = thread::spawn(move || serve(conn, &stop, &requests, &*script));
                    threads.lock().unwrap().push(handle);
                }
            })
        };
        Ok(TestServer {
            addr,
            stop,
            requests,
            threads,
            acceptor: Some(acceptor),
        })
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for handle in self.threads.lock().unwrap().drain(..) {
            let _ = handle.join();
        }
    }
}

fn serve(mut conn: TcpStream, stop: &AtomicBool, requests: &AtomicU64, script: &Script) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = conn.set_nodelay(true);
    let (mut buf, mut have, mut n) = (vec![0u8; 8192], 0, 0u64);
    while !stop.load(Ordering::SeqCst) {
        match conn.read(&mut buf[have..]) {
            Ok(0) => return,
            Ok(read) => have += read,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.copy_within(end + 4..have, 0);
            have -= end + 4;
            n += 1;
            requests.fetch_add(1, Ordering::SeqCst);
            let sent = match script(n) {
                Action::Reply(bytes) => conn.write_all(bytes),
                Action::ReplyAfter(delay, bytes) => {
                    thread::sleep(delay);
                    conn.write_all(bytes)
                }
                Action::ReplyAndClose(bytes) => {
                    let _ = conn.write_all(bytes);
                    return;
                }
                Action::Ignore => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

fn spec(url: String, connections: usize, duration_ms: u64) -> LoadSpec {
    LoadSpec {
        connections,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::from_millis(200),
        ..LoadSpec::new(url)
    }
}

/// The figures a failing assertion should show (the Debug form carries whole histograms).
fn brief(r: &LoadReport) -> String {
    let l = |s: &looplab_workloads::load::LatencySummary| {
        format!(
            "n {} p50 {} p90 {} p99 {} max {}",
            s.count, s.p50, s.p90, s.p99, s.max
        )
    };
    format!(
        "requests {} attempted {} abandoned {} reconnects {} errors {:?} slots {:?} \
         achieved {:.1}/s latency [{}] uncorrected [{}]",
        r.requests,
        r.attempted,
        r.abandoned,
        r.reconnects,
        r.errors,
        r.intended_requests,
        r.achieved_rate_rps,
        l(&r.latency_us),
        r.latency_uncorrected_us.as_ref().map(l).unwrap_or_default()
    )
}

/// Runs and checks the invariants every report keeps.
fn load(spec: &LoadSpec) -> LoadReport {
    let report = run(spec).expect("a valid spec runs");
    let r = &report;
    assert_eq!(
        r.attempted,
        r.requests + r.errors.total + r.abandoned,
        "{}",
        brief(r)
    );
    assert_eq!(r.latency_us.count, r.requests);
    assert_eq!(r.unfinished_connections, 0);
    assert!(r.abandoned <= spec.connections as u64);
    report
}

#[test]
fn closed_loop_counts_requests_and_no_errors() {
    let server = TestServer::start(|_| Action::Reply(OK_HELLO));
    let spec = LoadSpec {
        expect_body_bytes: Some(5),
        ..spec(server.url(), 4, 1000)
    };
    let r = load(&spec);
    assert!(r.requests > 100, "{}", brief(&r));
    assert_eq!(r.errors.total, 0, "{}", brief(&r));
    assert_eq!(r.reconnects, 0);
    assert!(server.requests.load(Ordering::SeqCst) >= r.requests);
    assert!((r.throughput_rps - r.requests as f64).abs() < 1.0); // a 1 s window
    assert!(r.latency_us.p50 <= r.latency_us.p99 && r.latency_us.p99 <= r.latency_us.max);
    assert!(r.latency_uncorrected_us.is_none());
    assert_eq!((r.params.mode, r.params.connections), ("closed", 4));
    assert!(r.cpu.wall_s > 0.5 && r.cpu.total_s > 0.0, "{:?}", r.cpu);
}

#[test]
fn closed_loop_on_two_threads_via_localhost() {
    let server = TestServer::start(|_| Action::Reply(OK_HELLO));
    let url = format!("http://localhost:{}/x?y=1", server.addr.port());
    let r = load(&LoadSpec {
        threads: 2,
        ..spec(url, 5, 500)
    });
    assert!(r.requests > 50 && r.errors.total == 0, "{}", brief(&r));
}

#[test]
fn ipv6_literals_work_where_loopback_v6_exists() {
    let Ok(server) = TestServer::start_on("[::1]:0", |_| Action::Reply(OK_HELLO)) else {
        return; // no IPv6 loopback on this machine
    };
    let r = load(&spec(server.url(), 2, 300));
    assert!(r.requests > 10 && r.errors.total == 0, "{}", brief(&r));
}

#[test]
fn open_loop_achieves_roughly_its_rate() {
    let server = TestServer::start(|_| Action::Reply(OK_HELLO));
    let r = load(&LoadSpec {
        rate: Some(200.0),
        ..spec(server.url(), 4, 2000)
    });
    assert_eq!(r.intended_rate_rps, Some(200.0));
    let slots = r.intended_requests.expect("open loop counts its slots");
    assert!((390..=410).contains(&slots), "{slots}");
    assert!(
        (150.0..=250.0).contains(&r.achieved_rate_rps),
        "{}",
        brief(&r)
    );
    assert!((150.0..=250.0).contains(&r.throughput_rps), "{}", brief(&r));
    assert_eq!(r.errors.total, 0);
    assert_eq!(r.params.mode, "open");
    let uncorrected = r
        .latency_uncorrected_us
        .as_ref()
        .expect("open loop keeps both");
    assert_eq!(uncorrected.count, r.requests);
}

#[test]
fn a_stalling_server_shows_in_the_corrected_latency_only() {
    // Every 200th answer is 200 ms late: 0.5% of requests, so the uncorrected p99 stays fast,
    // but about 40 requests were due during each stall and the corrected view counts them.
    let server = TestServer::start(|n| match n % 200 {
        0 => Action::ReplyAfter(Duration::from_millis(200), OK_HELLO),
        _ => Action::Reply(OK_HELLO),
    });
    let r = load(&LoadSpec {
        rate: Some(200.0),
        ..spec(server.url(), 1, 2000)
    });
    let corrected = &r.latency_us;
    let uncorrected = r.latency_uncorrected_us.as_ref().expect("open loop");
    assert!(
        uncorrected.max >= 150_000,
        "a stall was measured: {}",
        brief(&r)
    );
    assert!(corrected.p99 >= 50_000, "{}", brief(&r));
    assert!(corrected.p99 > 2 * uncorrected.p99, "{}", brief(&r));
    assert!(corrected.p90 >= uncorrected.p90);
}

#[test]
fn a_500_is_a_status_error() {
    let server = TestServer::start(|_| {
        Action::Reply(b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nhello")
    });
    let r = load(&spec(server.url(), 2, 300));
    assert_eq!(r.requests, 0);
    assert!(
        r.errors.status > 0 && r.errors.status == r.errors.total,
        "{}",
        brief(&r)
    );
    assert_eq!(r.reconnects, 0, "a complete 500 keeps the connection");
}

#[test]
fn a_body_cut_short_is_a_short_body_error() {
    let server = TestServer::start(|_| {
        Action::ReplyAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    });
    let r = load(&spec(server.url(), 2, 300));
    assert_eq!(r.requests, 0);
    assert!(
        r.errors.short_body > 0 && r.errors.short_body == r.errors.total,
        "{}",
        brief(&r)
    );
    assert!(r.reconnects > 0);
}

#[test]
fn a_body_of_another_length_than_expected_is_a_short_body_error() {
    let server = TestServer::start(|_| Action::Reply(OK_HELLO));
    let r = load(&LoadSpec {
        expect_body_bytes: Some(7),
        ..spec(server.url(), 2, 300)
    });
    assert_eq!(r.requests, 0);
    assert!(
        r.errors.short_body > 0 && r.errors.short_body == r.errors.total,
        "{}",
        brief(&r)
    );
}

#[test]
fn chunked_bodies_and_head_requests_are_read_whole() {
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nX-Trailer: t\r\n\r\n";
    let server = TestServer::start(move |_| Action::Reply(chunked));
    let r = load(&LoadSpec {
        expect_body_bytes: Some(5),
        ..spec(server.url(), 2, 300)
    });
    assert!(r.requests > 10 && r.errors.total == 0, "{}", brief(&r));

    let server =
        TestServer::start(|_| Action::Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
    let r = load(&LoadSpec {
        method: "HEAD".into(),
        expect_body_bytes: Some(0),
        ..spec(server.url(), 2, 300)
    });
    assert!(r.requests > 10 && r.errors.total == 0, "{}", brief(&r));
}

#[test]
fn connection_close_answers_make_the_client_reconnect() {
    let server = TestServer::start(|_| {
        Action::ReplyAndClose(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        )
    });
    let r = load(&spec(server.url(), 2, 300));
    assert!(r.requests > 10 && r.errors.total == 0, "{}", brief(&r));
    assert!(r.reconnects >= r.requests - 2, "{}", brief(&r));
}

#[test]
fn nothing_listening_gives_connect_errors() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    for rate in [None, Some(500.0)] {
        let r = load(&LoadSpec {
            rate,
            ..spec(url.clone(), 2, 300)
        });
        assert_eq!(r.requests, 0);
        assert!(
            r.errors.connect > 0 && r.errors.connect == r.errors.total,
            "{}",
            brief(&r)
        );
        assert_eq!(r.latency_us.count, 0);
    }
}

#[test]
fn a_server_that_never_answers_cannot_hold_the_generator_past_its_deadline() {
    let server = TestServer::start(|_| Action::Ignore);
    let spec = LoadSpec {
        timeout: Duration::from_secs(30),
        ..spec(server.url(), 3, 1000)
    };
    let began = Instant::now();
    let r = load(&spec);
    let took = began.elapsed();
    assert!(took < Duration::from_millis(1200 + 1000), "took {took:?}");
    assert_eq!(r.requests, 0);
    assert_eq!(r.errors.total, 0);
    assert_eq!(
        r.abandoned, 0,
        "requests were sent in the warm-up, not in the window"
    );
    assert_eq!(r.attempted, 0);
}

#[test]
fn unanswered_requests_time_out_and_count_as_timeouts() {
    let server = TestServer::start(|_| Action::Ignore);
    let r = load(&LoadSpec {
        timeout: Duration::from_millis(100),
        ..spec(server.url(), 2, 500)
    });
    assert_eq!(r.requests, 0);
    assert!(
        r.errors.timeout >= 2 && r.errors.timeout == r.errors.total,
        "{}",
        brief(&r)
    );
    assert!(
        r.reconnects >= 2,
        "a timed-out connection is replaced: {}",
        brief(&r)
    );
}

#[test]
fn a_bad_spec_is_refused_before_anything_runs() {
    let err = run(&LoadSpec::new("https://127.0.0.1/")).unwrap_err();
    assert!(matches!(err, LoadError::BadUrl { .. }), "{err}");
    let err = run(&LoadSpec {
        connections: 0,
        ..LoadSpec::new("http://127.0.0.1:1/")
    })
    .unwrap_err();
    assert!(err.to_string().contains("connections 0"), "{err}");
}
