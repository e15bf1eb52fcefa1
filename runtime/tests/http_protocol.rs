//! The HTTP server's wire behaviour, against the promises of `runtime/src/http/mod.rs`, driven
//! by blocking loopback clients:
//!
//! - keep-alive: HTTP/1.1 keeps the connection, `Connection: close` ends it after the answer,
//!   HTTP/1.0 closes unless it asks for `keep-alive`; the `Keep-Alive` header advertises the
//!   configured timeout, as Node's does;
//! - pipelining: requests sent in one write are answered in request order even when the first
//!   answer comes last (from the pool); a POST body in the batch is body, not a request; an
//!   error answer comes after the answers owed before it, then the connection closes;
//! - a request split over several writes (mid-line, mid-body) is parsed whole, and a large POST
//!   body reaches the handler byte for byte;
//! - protocol errors: malformed `400`, head above 16 KiB `431`, too many header lines `431`,
//!   body above the limit `413`, chunked body `501`; each closes only its own connection;
//! - `HEAD` gets the body's `Content-Length` but no body; a dropped `Responder` answers `500`;
//! - IPv6 loopback is served like IPv4.
//!
//! No assertion depends on how long anything takes; every read has a 5 s timeout.

mod http_support;

use std::net::{SocketAddr, TcpListener};

use http_support::{get, pattern, routes, Client, TestServer};
use looplab_runtime::http::ServerOptions;

fn start() -> TestServer {
    TestServer::start(ServerOptions::default(), routes)
}

/// A connection that got one answer: proof the server still serves after something else.
fn keep_alive_client(server: &TestServer) -> Client {
    let mut client = Client::connect(server.addr);
    assert_eq!(client.request(&get("/before")).text(), "/before");
    client
}

fn assert_still_served(client: &mut Client) {
    let reply = client.request(&get("/after"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "/after"));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start();
    let mut client = Client::connect(server.addr);
    for i in 0..5 {
        let path = format!("/req/{i}");
        let reply = client.request(&get(&path));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), path);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        assert!(reply.header("date").is_some(), "every answer has a Date");
    }
    assert_eq!(server.connections(), 1, "five requests, one connection");
    drop(client);
    server.stop();
}

#[test]
fn connection_close_ends_the_connection_after_the_answer() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let reply = client.request(b"GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!((reply.status, reply.text().as_str()), (200, "/bye"));
    assert_eq!(reply.header("connection"), Some("close"));
    client.assert_closed();
    server.stop();
}

#[test]
fn http_1_0_closes_unless_it_asks_for_keep_alive() {
    let server = start();

    let mut plain = Client::connect(server.addr);
    let reply = plain.request(b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!((reply.status, reply.text().as_str()), (200, "/old"));
    assert_eq!(reply.header("connection"), Some("close"));
    plain.assert_closed();

    let mut kept = Client::connect(server.addr);
    for path in ["/one", "/two"] {
        let request = format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let reply = kept.request(request.as_bytes());
        assert_eq!((reply.status, reply.text()), (200, path.to_owned()));
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    server.stop();
}

#[test]
fn keep_alive_header_advertises_the_configured_timeout() {
    let options = ServerOptions {
        keep_alive_timeout_ms: 2_000,
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    let mut client = Client::connect(server.addr);
    let reply = client.request(&get("/"));
    // Node: `Keep-Alive: timeout=${Math.floor(keepAliveTimeout / 1000)}`.
    assert_eq!(reply.header("keep-alive"), Some("timeout=2"));
    server.stop();
}

#[test]
fn pipelined_requests_are_answered_in_request_order() {
    // Deep enough for all five to be in flight at once (the default is one at a time).
    let options = ServerOptions {
        max_pipeline_depth: 8,
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    let mut client = Client::connect(server.addr);
    // The first answer comes from the pool, after the three immediate ones are ready.
    let paths = ["/late/first", "/second", "/third", "/late/fourth", "/fifth"];
    let batch: Vec<u8> = paths.iter().flat_map(|p| get(p)).collect();
    client.send(&batch);
    for path in paths {
        let reply = client.read_reply();
        assert_eq!((reply.status, reply.text()), (200, path.to_owned()));
    }
    assert_still_served(&mut client);
    server.stop();
}

#[test]
fn a_pipelined_post_body_is_not_mistaken_for_the_next_request() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut batch = get("/late/a");
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET /fake HTTP/1.1");
    batch.extend(get("/b"));
    client.send(&batch);
    assert_eq!(client.read_reply().text(), "/late/a");
    assert_eq!(client.read_reply().text(), "GET /fake HTTP/1.1");
    assert_eq!(client.read_reply().text(), "/b");
    server.stop();
}

#[test]
fn an_error_in_a_pipeline_comes_after_the_answers_owed_before_it() {
    let server = start();
    let mut client = Client::connect(server.addr);
    let mut batch: Vec<u8> = ["/late/a", "/b"].iter().flat_map(|p| get(p)).collect();
    batch.extend_from_slice(b"GARBAGE\r\n\r\n");
    batch.extend(get("/never"));
    client.send(&batch);
    assert_eq!(client.read_reply().text(), "/late/a");
    assert_eq!(client.read_reply().text(), "/b");
    let error = client.read_reply();
    assert_eq!(error.status, 400);
    assert_eq!(error.header("connection"), Some("close"));
    client.assert_closed();
    server.stop();
}

#[test]
fn a_request_split_over_several_writes_is_parsed_whole() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.stream().set_nodelay(true).expect("nodelay");
    let pieces: [&[u8]; 6] = [
        b"POST /ec",
        b"ho HTTP/1.1\r\nHo",
        b"st: t\r\nContent-Len",
        b"gth: 11\r\n\r",
        b"\nhello ",
        b"world",
    ];
    for piece in pieces {
        client.send(piece);
        // Give the server a chance to see each piece on its own; correctness does not depend
        // on it (a merged read is parsed the same way).
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let reply = client.read_reply();
    assert_eq!((reply.status, reply.text().as_str()), (200, "hello world"));
    assert_still_served(&mut client);
    server.stop();
}

#[test]
fn a_large_post_body_reaches_the_handler_intact() {
    // Above the default 1 MiB limit, so raised.
    let options = ServerOptions {
        max_body_bytes: 4 << 20,
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    let mut client = Client::connect(server.addr);
    let body = pattern(3 << 20); // 3 MiB: many reads on the server side
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The echo comes back only after the whole body has gone, so writing cannot deadlock.
    client.send(head.as_bytes());
    for chunk in body.chunks(100_000) {
        client.send(chunk);
    }
    let reply = client.read_reply();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), body.len());
    assert!(
        reply.body == body,
        "the echoed body differs from the one sent"
    );
    assert_still_served(&mut client);
    server.stop();
}

/// Sends `request` on a fresh connection; expects `status`, then a close; and checks that a
/// connection opened before it is still served.
fn assert_refused_with(server: &TestServer, request: &[u8], status: u16) {
    let mut bystander = keep_alive_client(server);
    let mut client = Client::connect(server.addr);
    client.send(request);
    let reply = client.read_reply();
    assert_eq!(reply.status, status, "body: {}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    client.assert_closed();
    assert_still_served(&mut bystander);
}

#[test]
fn a_malformed_request_gets_400_and_closes_only_its_connection() {
    let server = start();
    assert_refused_with(&server, b"NOT AN HTTP REQUEST\r\n\r\n", 400);
    assert_refused_with(&server, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400);
    assert_refused_with(
        &server,
        b"POST / HTTP/1.1\r\nContent-Length: twelve\r\n\r\n",
        400,
    );
    server.stop();
}

#[test]
fn a_head_above_16_kib_gets_431() {
    let server = start();
    let filler = "a".repeat(20 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n");
    assert_refused_with(&server, request.as_bytes(), 431);
    // Just under the limit is fine.
    let mut client = Client::connect(server.addr);
    let filler = "b".repeat(15 * 1024);
    let request = format!("GET /big-head HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n");
    assert_eq!(client.request(request.as_bytes()).status, 200);
    server.stop();
}

#[test]
fn too_many_header_lines_get_431() {
    let server = start();
    let max = ServerOptions::default().max_headers;
    let head_with = |count: usize| {
        let lines: String = (0..count).map(|i| format!("X-H{i}: {i}\r\n")).collect();
        format!("GET /many HTTP/1.1\r\n{lines}\r\n")
    };
    assert_refused_with(&server, head_with(max + 20).as_bytes(), 431);
    let mut client = Client::connect(server.addr);
    assert_eq!(client.request(head_with(max).as_bytes()).status, 200);
    server.stop();
}

#[test]
fn a_body_above_the_limit_gets_413() {
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let server = TestServer::start(options, routes);
    let body = "z".repeat(2048);
    let request = format!("POST /echo HTTP/1.1\r\nContent-Length: 2048\r\n\r\n{body}");
    assert_refused_with(&server, request.as_bytes(), 413);
    let mut client = Client::connect(server.addr);
    let request = format!(
        "POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n{}",
        &body[..1024]
    );
    assert_eq!(client.request(request.as_bytes()).body.len(), 1024);
    server.stop();
}

#[test]
fn a_chunked_request_body_gets_501() {
    let server = start();
    assert_refused_with(
        &server,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        501,
    );
    server.stop();
}

#[test]
fn head_gets_the_content_length_but_no_body() {
    let server = start();
    let mut client = Client::connect(server.addr);
    client.send(b"HEAD /big/1000 HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_head();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), 1000);
    // Had a body followed the head, this would read it as the next status line.
    let reply = client.request(&get("/next"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "/next"));
    server.stop();
}

#[test]
fn a_dropped_responder_answers_500() {
    let server = start();
    let mut client = Client::connect(server.addr);
    for path in ["/drop", "/drop-late"] {
        let reply = client.request(&get(path));
        assert_eq!(reply.status, 500, "{path}");
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    // Pipelined behind a late drop, answers keep their order.
    let batch: Vec<u8> = ["/drop-late", "/x"].iter().flat_map(|p| get(p)).collect();
    client.send(&batch);
    assert_eq!(client.read_reply().status, 500);
    assert_eq!(client.read_reply().text(), "/x");
    server.stop();
}

#[test]
fn ipv6_loopback_is_served() {
    let v6: SocketAddr = "[::1]:0".parse().expect("an IPv6 address");
    if TcpListener::bind(v6).is_err() {
        eprintln!("skipped: ::1 is not available on this machine");
        return;
    }
    let server = TestServer::start_at(v6, ServerOptions::default(), routes).expect("bind [::1]");
    assert!(server.addr.is_ipv6());
    let mut client = Client::connect(server.addr);
    let reply = client.request(&get("/v6"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "/v6"));
    server.stop();
}
