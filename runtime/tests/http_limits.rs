//! The HTTP server's bounds under hostile clients (issue 13), against `runtime/src/http/mod.rs`:
//!
//! - a flood of pipelined requests in one write never has more than
//!   [`ServerOptions::max_pipeline_depth`] of them in the handler at once; all are answered, in
//!   order; another connection is served meanwhile; answers each above the output high-water
//!   mark keep flowing past the depth bound;
//! - a body trickled in slower than `request_timeout_ms` allows gets `408` and a close;
//! - a declared body above the default limit is refused with `413` before any of it is buffered.
//!
//! Timeouts are lowered to a few hundred milliseconds; every timing assertion is a lower bound
//! or the 5 s read timeout, never a tight window.

mod http_support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use http_support::{get, routes, Client, TestServer, IO_TIMEOUT};
use looplab_runtime::http::{Request, Responder, Response, ServerOptions};
use looplab_runtime::{EventLoop, WorkSpec};

/// Requests in the handler now, and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// `/work/<i>` answers `<i>` (plus filler) from the pool; anything else as [`routes`] does.
fn pool_routes(
    in_flight: Arc<InFlight>,
) -> impl Fn(&EventLoop, Request, Responder) + Send + 'static {
    move |lp: &EventLoop, req: Request, res: Responder| {
        let Some(index) = req.path.strip_prefix("/work/").map(str::to_owned) else {
            return routes(lp, req, res);
        };
        let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.max.fetch_max(now, Ordering::SeqCst);
        let counter = Arc::clone(&in_flight);
        lp.queue_work(
            WorkSpec::cpu("work"),
            move || vec![b'.'; 16 * 1024],
            move |lp, mut filler| {
                counter.now.fetch_sub(1, Ordering::SeqCst);
                filler.splice(0..0, format!("{index}\n").into_bytes());
                res.send(lp, Response::bytes(200, filler));
            },
        );
    }
}

#[test]
fn a_pipelined_flood_is_bounded_and_other_connections_are_served() {
    const REQUESTS: usize = 2_000;
    let in_flight = Arc::new(InFlight::default());
    let server = TestServer::start(
        ServerOptions::default(),
        pool_routes(Arc::clone(&in_flight)),
    );
    let addr = server.addr;
    let flood = thread::spawn(move || {
        let mut client = Client::connect(addr);
        let batch: Vec<u8> = (0..REQUESTS)
            .flat_map(|i| get(&format!("/work/{i}")))
            .collect();
        client.send(&batch);
        for i in 0..REQUESTS {
            let reply = client.read_reply();
            let first_line = reply.text().lines().next().map(str::to_owned);
            assert_eq!(first_line, Some(i.to_string()), "answer {i} out of order");
        }
    });
    let mut bystander = Client::connect(addr);
    let mut hellos = 0;
    while !flood.is_finished() || hellos == 0 {
        let reply = bystander.request(&get("/hello"));
        assert_eq!((reply.status, reply.text().as_str()), (200, "/hello"));
        hellos += 1;
    }
    flood
        .join()
        .expect("the flooding client got every answer in order");
    let depth = ServerOptions::default().max_pipeline_depth;
    let max = in_flight.max.load(Ordering::SeqCst);
    assert!(
        (1..=depth).contains(&max),
        "{max} pipelined requests were in the handler at once; the bound is {depth}"
    );
    server.stop();
}

#[test]
fn pipelined_answers_above_the_high_water_mark_keep_flowing() {
    // Each answer alone is above the 4 MiB mark, and there are more requests than the depth:
    // dispatching must resume once the socket drains, however much it took at once.
    const REQUESTS: usize = 12;
    let handler = |lp: &EventLoop, req: Request, res: Responder| {
        let tag = req.path.into_bytes();
        lp.queue_work(
            WorkSpec::cpu("big"),
            move || [tag, vec![b'.'; 6 << 20]].concat(),
            move |lp, body| res.send(lp, Response::bytes(200, body)),
        );
    };
    let server = TestServer::start(ServerOptions::default(), handler);
    let mut client = Client::connect(server.addr);
    let batch: Vec<u8> = (0..REQUESTS).flat_map(|i| get(&format!("/{i}/"))).collect();
    client.send(&batch);
    for i in 0..REQUESTS {
        let reply = client.read_reply();
        assert!(
            reply.body.starts_with(format!("/{i}/").as_bytes()),
            "answer {i}"
        );
    }
    server.stop();
}

#[test]
fn a_trickled_body_gets_408_after_the_request_timeout() {
    let options = ServerOptions {
        headers_timeout_ms: 200,
        request_timeout_ms: 400,
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    // Before the connection: the server's clock for this request cannot start earlier.
    let started = Instant::now();
    let mut client = Client::connect(server.addr);
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    // One byte every 50 ms: never idle long enough for the keep-alive timeout.
    let mut writer: TcpStream = client.stream().try_clone().expect("clone the socket");
    let trickle = thread::spawn(move || {
        for _ in 0..1000 {
            if writer.write_all(b"x").is_err() || started.elapsed() > 2 * IO_TIMEOUT {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let reply = client.read_reply();
    assert_eq!(reply.status, 408, "body: {}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    // The server times requests with the loop's cached millisecond clock (as libuv does), which
    // may trail real time by a millisecond or two; what matters is that the 408 came from the
    // request timeout (400 ms), not from the headers timeout (200 ms).
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(390), "408 after {waited:?}");
    client.assert_closed();
    drop(client);
    trickle.join().expect("the trickling writer ends");
    let mut other = Client::connect(server.addr);
    assert_eq!(other.request(&get("/after")).status, 200);
    server.stop();
}

#[test]
fn a_body_above_the_default_limit_is_refused_before_it_is_buffered() {
    let server = TestServer::start(ServerOptions::default(), routes);
    let limit = ServerOptions::default().max_body_bytes;
    assert!(
        limit <= 1 << 20,
        "default body limit {limit} is above 1 MiB"
    );
    let mut client = Client::connect(server.addr);
    let head = format!(
        "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        limit + 1
    );
    let reply = client.request(head.as_bytes());
    assert_eq!(reply.status, 413);
    client.assert_closed();
    server.stop();
}
