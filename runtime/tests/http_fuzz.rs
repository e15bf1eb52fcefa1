//! A seeded random-mutation fuzzer for the HTTP server (issue 13), through real loopback
//! connections, so the parser, the framing limits, pipelining and the close paths are all on
//! the way.
//!
//! Each case takes one to four requests from a small corpus (valid, pipelined, chunked, huge
//! heads, many headers, bodies), concatenates them, applies a few random mutations (flip,
//! insert, delete, duplicate, splice in framing tokens, truncate), sends the result in one to
//! four writes split at random points, half-closes, and reads until the server closes.
//! It asserts, for every case:
//! 1. the server closes within the 5 s read timeout (never hangs on any input);
//! 2. what came back is a sequence of well-formed answers (status line, headers with exactly
//!    one `Content-Length`, that many body bytes) with a status this server gives; only a reset
//!    may cut the last one short;
//!
//! and every 250 cases and at the end, that `/hello` on a fresh connection is still answered;
//! a panic on a server thread fails the test when the server stops.
//!
//! Deterministic: `FUZZ_SEED` (default 13) and `FUZZ_CASES` (default 10,000, a few seconds) set
//! the run; a failure names the seed and case, and the case's bytes.

mod http_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Instant;

use http_support::{get, Client, TestServer, IO_TIMEOUT};
use looplab_runtime::http::{Request, Responder, Response, ServerOptions};
use looplab_runtime::EventLoop;

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let many: String = (0..150).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let huge = "h".repeat(20 * 1024);
    [
        "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "GET /late/a HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        "POST /late/echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world".to_string(),
        "GET /old HTTP/1.0\r\n\r\n".to_string(),
        "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_string(),
        "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_string(),
        format!("GET /many HTTP/1.1\r\n{many}\r\n"),
        format!("GET /huge HTTP/1.1\r\nX-Big: {huge}\r\n\r\n"),
        "POST /big HTTP/1.1\r\nContent-Length: 70000\r\n\r\n".to_string() + &"b".repeat(70_000),
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_string(),
        "GET\n/lf HTTP/1.1\nHost: t\n\n".to_string(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

const TOKENS: [&[u8]; 12] = [
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b":",
    b" ",
    b"\0",
    b"\xff",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"GET /x HTTP/1.1\r\n\r\n",
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.below(bytes.len() + 1);
    match rng.below(6) {
        0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
        1 => bytes.insert(at, rng.next() as u8),
        2 => {
            let end = (at + rng.below(16)).min(bytes.len());
            bytes.drain(at..end);
        }
        3 => {
            let end = (at + rng.below(64)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        4 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            bytes.splice(at..at, token.iter().copied());
        }
        _ => bytes.truncate(at.max(1)),
    }
}

fn make_case(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..1 + rng.below(4) {
        bytes.extend_from_slice(&corpus[rng.below(corpus.len())]);
    }
    for _ in 0..rng.below(4) {
        mutate(rng, &mut bytes);
    }
    bytes
}

/// `/late...` answers from a 1 ms timer, so answers complete out of order; bodies are echoed
/// except for `HEAD`, whose answer carries no body on the wire (so the checker need not know
/// which requests were `HEAD`).
fn handler(lp: &EventLoop, req: Request, res: Responder) {
    let body = if req.method == "HEAD" {
        Vec::new()
    } else {
        req.body
    };
    if req.path.starts_with("/late") {
        lp.set_timeout(1, move |lp| res.send(lp, Response::bytes(200, body)));
    } else {
        res.send(lp, Response::bytes(200, body));
    }
}

/// Checks one connection's answers (rule 2); the number of answers.
fn check_answers(bytes: &[u8], reset: bool) -> Result<usize, String> {
    let (mut pos, mut count) = (0, 0);
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(head_len) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            let prefix = &b"HTTP/1.1 "[..rest.len().min(9)];
            return match reset && rest.starts_with(prefix) {
                true => Ok(count),
                false => Err(format!("answer {count}: no complete head")),
            };
        };
        let head = std::str::from_utf8(&rest[..head_len]).map_err(|e| e.to_string())?;
        let body_len = check_head(head).map_err(|e| format!("answer {count}: {e}"))?;
        let end = head_len + 4 + body_len;
        if rest.len() < end {
            return match reset {
                true => Ok(count),
                false => Err(format!("answer {count}: body cut short")),
            };
        }
        pos += end;
        count += 1;
    }
    Ok(count)
}

/// A status line this server gives and exactly one `Content-Length`; the body length.
fn check_head(head: &str) -> Result<usize, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    if !["200", "400", "408", "413", "431", "501"].contains(&status) {
        return Err(format!("unexpected status {status_line:?}"));
    }
    let mut lengths = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value.parse::<usize>().map_err(|e| e.to_string())?);
        }
    }
    match lengths[..] {
        [n] => Ok(n),
        _ => Err(format!("{} Content-Length headers", lengths.len())),
    }
}

/// Runs one case (rules 1 and 2).
fn run_case(addr: SocketAddr, rng: &mut Rng, bytes: &[u8]) -> Result<usize, String> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut cuts: Vec<usize> = (0..rng.below(4)).map(|_| rng.below(bytes.len())).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        // The server may have refused and closed already: what it sent still counts.
        if stream.write_all(&bytes[start..end]).is_err() {
            break;
        }
        start = end;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut answers = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let reset = loop {
        match stream.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => answers.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no close within {IO_TIMEOUT:?} (hung)"));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    check_answers(&answers, reset)
}

fn assert_hello(addr: SocketAddr, context: &str) {
    let mut client = Client::connect(addr);
    let reply = client.request(&get("/hello"));
    assert_eq!(reply.status, 200, "/hello after {context}");
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_requests_get_well_formed_answers_or_a_clean_close() {
    let (seed, cases) = (
        env_number("FUZZ_SEED", 13),
        env_number("FUZZ_CASES", 10_000),
    );
    // One server with the defaults, one with a deeper pipeline and a small body limit.
    let deep = ServerOptions {
        max_pipeline_depth: 8,
        max_body_bytes: 64 * 1024,
        ..ServerOptions::default()
    };
    let servers = [
        TestServer::start(ServerOptions::default(), handler),
        TestServer::start(deep, handler),
    ];
    let corpus = corpus();
    let mut rng = Rng(seed);
    let (started, mut answers) = (Instant::now(), 0);
    for case in 0..cases {
        let addr = servers[(case % 2) as usize].addr;
        let bytes = make_case(&mut rng, &corpus);
        match run_case(addr, &mut rng, &bytes) {
            Ok(n) => answers += n,
            Err(e) => panic!(
                "seed {seed} case {case}: {e}; sent {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
            ),
        }
        if case % 250 == 249 {
            assert_hello(addr, &format!("case {case}"));
        }
    }
    for server in servers {
        assert_hello(server.addr, "the last case");
        server.stop();
    }
    eprintln!(
        "fuzz: seed {seed}, {cases} cases, {answers} answers checked in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
