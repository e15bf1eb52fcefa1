//! The HTTP server's connection lifecycle, against `runtime/src/http/mod.rs` and `server.rs`:
//!
//! - clients that leave early (truncated head or body, gone before or in the middle of the
//!   answer) neither panic nor stall the server, and their connections are forgotten; one
//!   reset in the middle of a large answer is closed at once, not left to the idle sweep;
//! - a slow reader of a large answer is not taken for an idle connection;
//! - timeouts: an idle keep-alive connection is closed after `keep_alive_timeout_ms`; a request
//!   whose handler is still working is not idle; a head not complete after
//!   `headers_timeout_ms` gets `408`, however it trickles in;
//! - 1,000 concurrent connections are all served;
//! - graceful close: idle connections close at once, a request in flight gets its answer
//!   (`Connection: close`) and then its connection closes, new connections are refused, and
//!   after the grace period whatever is left is closed.
//!
//! Timeouts are lowered to a few hundred milliseconds; every timing assertion is a lower bound
//! or a generous upper bound (the 5 s read timeout), never a tight window.

mod http_support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use http_support::{gated_routes, get, pattern, routes, Client, TestServer};
use looplab_runtime::http::ServerOptions;

fn start() -> TestServer {
    TestServer::start(ServerOptions::default(), routes)
}

fn fast_timeouts() -> ServerOptions {
    ServerOptions {
        keep_alive_timeout_ms: 200,
        headers_timeout_ms: 300,
        ..ServerOptions::default()
    }
}

const SETTLE: Duration = Duration::from_secs(5);

#[test]
fn clients_that_leave_early_do_not_disturb_the_server() {
    let server = start();
    let mut bystander = Client::connect(server.addr);
    assert_eq!(bystander.request(&get("/first")).text(), "/first");

    let truncated: [&[u8]; 4] = [
        b"GET /trunc",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Half",
        b"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly ten b",
        // Gone before the (pool-computed) answer is ready.
        b"GET /late/gone HTTP/1.1\r\n\r\n",
    ];
    for request in truncated {
        let mut client = Client::connect(server.addr);
        client.send(request);
        drop(client);
    }
    // Half-closed after a partial head: the server sees EOF with nothing owed.
    let mut half = Client::connect(server.addr);
    half.send(b"GET /half HTTP/1.1\r\n");
    half.shutdown_write();
    half.assert_closed();

    assert_eq!(
        server.wait_for_connections(1, SETTLE),
        1,
        "only the bystander"
    );
    assert_eq!(bystander.request(&get("/after")).text(), "/after");
    let outcome = server.stop();
    assert!(outcome.on_closed_ran);
}

/// Requests `/big/<size>`, reads the first 64 KiB, then (after `linger`) drops the socket with
/// unread data, so the server's next write fails with a reset.
fn leave_mid_response(server: &TestServer, size: usize, linger: Duration) {
    let mut client = Client::connect(server.addr);
    client.send(&get(&format!("/big/{size}")));
    let mut got = 0;
    while got < 64 * 1024 {
        let chunk = client.read_some(16 * 1024).expect("the answer starts");
        assert!(!chunk.is_empty(), "closed before 64 KiB");
        got += chunk.len();
    }
    std::thread::sleep(linger);
    drop(client);
}

#[test]
fn a_client_leaving_mid_response_does_not_stall_the_server() {
    let server = start();
    let mut bystander = Client::connect(server.addr);
    assert_eq!(bystander.request(&get("/first")).text(), "/first");
    let size = 8 << 20;
    for _ in 0..3 {
        leave_mid_response(&server, size, Duration::ZERO);
        assert_eq!(bystander.request(&get("/between")).text(), "/between");
    }
    // The next large answer arrives whole.
    let mut client = Client::connect(server.addr);
    let reply = client.request(&get(&format!("/big/{size}")));
    assert_eq!(reply.body.len(), size);
    assert!(reply.body == pattern(size), "the body is corrupted");
    server.stop();
}

#[test]
fn a_connection_reset_mid_response_is_closed_at_once() {
    let options = ServerOptions {
        keep_alive_timeout_ms: 60_000, // the sweep must not be what closes it
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    // 32 MiB: far above the 4 MiB high-water mark, so the server stops reading this client;
    // the pause lets the server get there before the reset (the test passes either way once
    // the server closes on write errors).
    leave_mid_response(&server, 32 << 20, Duration::from_millis(300));
    assert_eq!(
        server.wait_for_connections(0, SETTLE),
        0,
        "the reset connection is kept"
    );
    server.stop();
}

#[test]
fn a_slow_reader_of_a_large_answer_is_not_cut_off() {
    let server = TestServer::start(fast_timeouts(), routes);
    // Far more than the kernel buffers (4 MiB send side): most of it waits in the server.
    let size = 16 << 20;
    let mut client = Client::connect(server.addr);
    client.send(&get(&format!("/big/{size}")));
    let head = client.read_head();
    assert_eq!(head.content_length(), size);
    // Five keep-alive timeouts without reading.
    std::thread::sleep(Duration::from_secs(1));
    let mut body = Vec::with_capacity(size);
    while body.len() < size {
        let chunk = client.read_some(1 << 20).expect("the rest of the answer");
        assert!(
            !chunk.is_empty(),
            "closed after {} of {size} bytes",
            body.len()
        );
        body.extend_from_slice(&chunk);
    }
    assert!(body == pattern(size), "the body is corrupted");
    server.stop();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let options = fast_timeouts();
    let server = TestServer::start(options, routes);
    let mut client = Client::connect(server.addr);
    assert_eq!(client.request(&get("/once")).text(), "/once");
    let answered = Instant::now();
    client.assert_closed(); // read timeout 5 s: 25 times the keep-alive timeout
    let waited = answered.elapsed();
    assert!(
        waited >= Duration::from_millis(options.keep_alive_timeout_ms / 2),
        "closed after {waited:?}, before the keep-alive timeout"
    );
    assert_eq!(server.wait_for_connections(0, SETTLE), 0);
    server.stop();
}

#[test]
fn a_request_still_being_handled_is_not_idle() {
    let (gate, handler) = gated_routes();
    let server = TestServer::start(fast_timeouts(), handler);
    let mut client = Client::connect(server.addr);
    client.send(&get("/gate"));
    gate.wait_received("/gate");
    // Five keep-alive timeouts (and three headers timeouts) with the handler still working.
    std::thread::sleep(Duration::from_secs(1));
    gate.release();
    let reply = client.read_reply();
    assert_eq!((reply.status, reply.text().as_str()), (200, "released"));
    server.stop();
}

#[test]
fn an_incomplete_head_gets_408_after_the_headers_timeout() {
    let options = fast_timeouts();
    let server = TestServer::start(options, routes);
    let mut client = Client::connect(server.addr);
    let sent = Instant::now();
    client.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n");
    let reply = client.read_reply();
    let waited = sent.elapsed();
    assert_eq!(reply.status, 408);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(
        waited >= Duration::from_millis(options.headers_timeout_ms / 2),
        "408 after {waited:?}, before the headers timeout"
    );
    client.assert_closed();
    server.stop();
}

#[test]
fn a_head_trickling_in_still_gets_408() {
    let server = TestServer::start(fast_timeouts(), routes);
    let mut client = Client::connect(server.addr);
    client.send(b"GET /trickle HTTP/1.1\r\n");
    let mut writer = client.stream().try_clone().expect("clone the socket");
    // A header line every 50 ms: never idle, never complete. Bounded: 100 lines, 5 s.
    let trickle = std::thread::spawn(move || {
        use std::io::Write;
        for i in 0..100 {
            if writer
                .write_all(format!("X-{i}: y\r\n").as_bytes())
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let reply = client.read_reply();
    assert_eq!(reply.status, 408);
    client.assert_closed();
    trickle.join().expect("the trickling thread");
    server.stop();
}

/// Lifts the soft descriptor limit to the hard one (1,000 clients + 1,000 server sockets).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[test]
fn a_thousand_concurrent_connections_are_all_served() {
    raise_fd_limit();
    let options = ServerOptions {
        keep_alive_timeout_ms: 120_000, // none may be closed as idle while the others connect
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    let count = 1_000;
    let mut clients: Vec<Client> = (0..count).map(|_| Client::connect(server.addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let path = if i % 10 == 0 {
            format!("/late/{i}")
        } else {
            format!("/c/{i}")
        };
        client.send(&get(&path));
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let reply = client.read_reply();
        assert_eq!(reply.status, 200, "connection {i}");
        assert!(reply.text().ends_with(&format!("/{i}")), "connection {i}");
    }
    assert_eq!(
        server.connections(),
        count,
        "every connection is open and kept"
    );
    drop(clients);
    assert_eq!(server.wait_for_connections(0, Duration::from_secs(10)), 0);
    server.stop();
}

#[test]
fn graceful_close_lets_the_request_in_flight_finish() {
    let (gate, handler) = gated_routes();
    let server = TestServer::start(ServerOptions::default(), handler);
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.request(&get("/idle")).text(), "/idle");
    let mut busy = Client::connect(server.addr);
    busy.send(&get("/timer")); // answered by a TIMER_MS timer
    gate.wait_received("/timer");

    server.close(5_000); // a command that takes about a millisecond: the answer is still due
    idle.assert_closed();
    let reply = busy.read_reply();
    assert_eq!((reply.status, reply.text().as_str()), (200, "timer"));
    assert_eq!(reply.header("connection"), Some("close"));
    busy.assert_closed();

    let addr = server.addr;
    let outcome = server.stop();
    assert!(
        outcome.on_closed_ran,
        "on_closed runs once the last connection is gone"
    );
    assert_eq!(outcome.connections_left, 0);
    let late = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(late.is_err(), "a stopped server accepted a new connection");
}

#[test]
fn close_refuses_new_connections_at_once() {
    let (gate, handler) = gated_routes();
    let server = TestServer::start(ServerOptions::default(), handler);
    let addr = server.addr;
    let mut busy = Client::connect(addr);
    busy.send(&get("/gate"));
    gate.wait_received("/gate");

    server.close(5_000);
    // The request is held in flight: the loop (and the server object) are certainly alive.
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    gate.release();
    assert_eq!(busy.read_reply().text(), "released");
    busy.assert_closed();
    server.stop();
    match refused {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Ok(_) => panic!("a connection made after close was accepted"),
    }
}

#[test]
fn close_gives_up_on_what_is_left_after_the_grace_period() {
    let (gate, handler) = gated_routes();
    let server = TestServer::start(ServerOptions::default(), handler);
    let mut busy = Client::connect(server.addr);
    busy.send(&get("/gate"));
    gate.wait_received("/gate");
    let closed_at = Instant::now();
    server.close(300);
    busy.assert_closed(); // no answer: the grace period ran out first
    assert!(closed_at.elapsed() >= Duration::from_millis(150));
    assert_eq!(server.wait_for_connections(0, SETTLE), 0);
    // The pool work still holds the loop; let it finish into the closed connection.
    gate.release();
    let outcome = server.stop();
    assert!(outcome.on_closed_ran);
}
