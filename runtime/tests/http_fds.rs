//! No file descriptor outlives a stopped HTTP server: after serving a mix of connections (kept
//! alive, closed by `Connection: close` and HTTP/1.0, refused with `400`, left mid-head, left
//! mid-answer, in flight at close) and a graceful close, the process has exactly the
//! descriptors it had before the server started (listener, connections, epoll and waker fds all
//! closed).
//!
//! Alone in its own test binary, so no other test opens or closes descriptors meanwhile.

mod http_support;

use std::time::{Duration, Instant};

use http_support::{gated_routes, get, Client, TestServer};
use looplab_runtime::http::ServerOptions;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Polls until the descriptor count is back to `baseline`, for at most `within`; the last count.
fn wait_for_fds(baseline: usize, within: Duration) -> usize {
    let start = Instant::now();
    loop {
        let now = open_fds();
        if now <= baseline || start.elapsed() > within {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one connection of every kind against `server`; returns those still open.
fn exercise(server: &TestServer, gate: &http_support::Gate) -> Vec<Client> {
    let mut kept = Client::connect(server.addr);
    let batch: Vec<u8> = ["/late/a", "/b"].iter().flat_map(|p| get(p)).collect();
    kept.send(&batch);
    assert_eq!(kept.read_reply().text(), "/late/a");
    assert_eq!(kept.read_reply().text(), "/b");

    let mut closing = Client::connect(server.addr);
    closing.request(b"GET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
    closing.assert_closed();
    let mut old = Client::connect(server.addr);
    old.request(b"GET /old HTTP/1.0\r\n\r\n");
    old.assert_closed();
    let mut bad = Client::connect(server.addr);
    assert_eq!(bad.request(b"BAD\r\n\r\n").status, 400);
    bad.assert_closed();

    let mut mid_head = Client::connect(server.addr);
    mid_head.send(b"GET /never HTTP/1.1\r\nHost:");
    let mut mid_answer = Client::connect(server.addr);
    mid_answer.send(&get("/big/8388608"));
    let head = mid_answer.read_head();
    assert_eq!(head.status, 200);
    drop(mid_answer);

    let mut in_flight = Client::connect(server.addr);
    in_flight.send(&get("/gate"));
    gate.wait_received("/gate");
    vec![kept, mid_head, in_flight]
}

#[test]
fn no_descriptor_outlives_the_server() {
    let baseline = open_fds();
    let (gate, handler) = gated_routes();
    let server = TestServer::start(ServerOptions::default(), handler);
    let mut clients = exercise(&server, &gate);
    assert!(
        open_fds() > baseline,
        "counting works: the server and its clients hold descriptors"
    );

    server.close(5_000);
    gate.release();
    let in_flight = clients.last_mut().expect("the in-flight client");
    assert_eq!(in_flight.read_reply().text(), "released");
    in_flight.assert_closed();
    drop(clients);
    let outcome = server.stop();
    assert!(outcome.on_closed_ran);
    assert_eq!(outcome.connections_left, 0);

    let left = wait_for_fds(baseline, Duration::from_secs(5));
    assert_eq!(
        left, baseline,
        "descriptors left open after the server stopped"
    );
}
