//! One HTTP connection: parse what arrives, dispatch each request, write answers in order.
//!
//! Invariants:
//! 1. Requests get increasing sequence numbers; `slots` holds one entry per request not yet
//!    written, oldest first, so responses leave in request order however late each is sent.
//! 2. Responses completed while a read is being processed are written together after it (one
//!    write for a pipelined batch).
//! 3. Once a close is decided (`Connection: close`, HTTP/1.0, a protocol error, EOF, server
//!    shutdown) nothing more is parsed; the connection closes after the last owed response.
//! 4. Nothing a client sends reaches a panic: every parse failure becomes a status code.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::response::{Responder, Response};
use super::server::Shared;
use super::Request;
use crate::tcp::{ReadEvent, TcpStream};
use crate::EventLoop;

/// Header slots parsed on the stack; `ServerOptions::max_headers` is capped at this.
const HEADER_SLOTS: usize = 128;
/// Stop reading a connection whose unsent output exceeds this (a client that does not read).
const HIGH_WATER_BYTES: usize = 4 << 20;

struct Slot {
    keep_alive: bool,
    head_only: bool,
    bytes: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    inbuf: Vec<u8>,
    next_seq: u64,
    next_out: u64,
    slots: VecDeque<Slot>,
    close_after: Option<u64>,
    stop_parsing: bool,
    closed: bool,
    in_batch: bool,
    paused: bool,
    last_active_ms: u64,
    head_since_ms: Option<u64>,
}

pub(crate) struct Conn {
    id: Cell<usize>,
    stream: TcpStream,
    server: Weak<Shared>,
    state: RefCell<State>,
}

/// The outcome of looking at the start of the buffer.
enum Parsed {
    Partial,
    Invalid(u16),
    Complete {
        request: Request,
        head_len: usize,
        body_len: usize,
        keep_alive: bool,
    },
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn parse(buf: &[u8], max_headers: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut headers[..max_headers.min(HEADER_SLOTS)]);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Invalid(431),
        Err(_) => return Parsed::Invalid(400),
    };
    let version = req.version.unwrap_or(1);
    let mut body_len: Option<usize> = None;
    let mut connection_close = version == 0;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
            else {
                return Parsed::Invalid(400);
            };
            if body_len.is_some_and(|m| m != n) {
                return Parsed::Invalid(400);
            }
            body_len = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Invalid(501);
        } else if h.name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, "close") {
                connection_close = true;
            } else if has_token(h.value, "keep-alive") {
                connection_close = false;
            }
        }
    }
    let request = Request {
        method: req.method.unwrap_or("GET").to_owned(),
        path: req.path.unwrap_or("/").to_owned(),
        version,
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
    };
    Parsed::Complete {
        request,
        head_len,
        body_len: body_len.unwrap_or(0),
        keep_alive: !connection_close,
    }
}

impl Conn {
    pub fn start(lp: &EventLoop, server: &Rc<Shared>, stream: TcpStream) {
        let conn = Rc::new(Conn {
            id: Cell::new(usize::MAX),
            stream,
            server: Rc::downgrade(server),
            state: RefCell::new(State {
                last_active_ms: lp.now(),
                ..State::default()
            }),
        });
        conn.id
            .set(server.conns.borrow_mut().insert(Rc::clone(&conn)));
        conn.start_reading(lp);
    }

    fn start_reading(self: &Rc<Self>, lp: &EventLoop) {
        let conn = Rc::clone(self);
        self.stream.read_start(lp, move |lp, event| match event {
            ReadEvent::Data(bytes) => conn.on_data(lp, bytes),
            ReadEvent::Eof => conn.on_eof(lp),
            ReadEvent::Error(_) => conn.abort(lp),
        });
    }

    fn on_data(self: &Rc<Self>, lp: &EventLoop, bytes: &[u8]) {
        let mut buf = {
            let mut st = self.state.borrow_mut();
            if st.stop_parsing || st.closed {
                return;
            }
            st.last_active_ms = lp.now();
            st.in_batch = true;
            std::mem::take(&mut st.inbuf)
        };
        let consumed = if buf.is_empty() {
            let used = self.parse_requests(lp, bytes);
            buf.extend_from_slice(&bytes[used..]);
            0
        } else {
            buf.extend_from_slice(bytes);
            self.parse_requests(lp, &buf)
        };
        buf.drain(..consumed);
        {
            let mut st = self.state.borrow_mut();
            if !st.stop_parsing {
                st.inbuf = buf;
            }
            st.in_batch = false;
        }
        self.flush(lp);
    }

    /// Dispatches every complete request at the start of `buf`; returns the bytes used.
    fn parse_requests(self: &Rc<Self>, lp: &EventLoop, buf: &[u8]) -> usize {
        let Some(server) = self.server.upgrade() else {
            return buf.len();
        };
        let options = server.options;
        let mut pos = 0;
        while pos < buf.len() && !self.state.borrow().stop_parsing {
            let rest = &buf[pos..];
            match parse(rest, options.max_headers) {
                Parsed::Partial => {
                    if rest.len() > options.max_head_bytes {
                        self.fail(431);
                    } else {
                        let mut st = self.state.borrow_mut();
                        st.head_since_ms.get_or_insert(lp.now());
                    }
                    break;
                }
                Parsed::Invalid(status) => {
                    self.fail(status);
                    break;
                }
                Parsed::Complete {
                    mut request,
                    head_len,
                    body_len,
                    keep_alive,
                } => {
                    if head_len > options.max_head_bytes {
                        self.fail(431);
                        break;
                    }
                    if body_len > options.max_body_bytes {
                        self.fail(413);
                        break;
                    }
                    self.state.borrow_mut().head_since_ms = None;
                    if rest.len() < head_len + body_len {
                        break; // the body is still on its way
                    }
                    request.body = rest[head_len..head_len + body_len].to_vec();
                    pos += head_len + body_len;
                    self.dispatch(lp, &server, request, keep_alive);
                }
            }
        }
        pos
    }

    fn dispatch(
        self: &Rc<Self>,
        lp: &EventLoop,
        server: &Shared,
        request: Request,
        keep_alive: bool,
    ) {
        let seq = {
            let mut st = self.state.borrow_mut();
            let seq = st.next_seq;
            st.next_seq += 1;
            st.slots.push_back(Slot {
                keep_alive,
                head_only: request.method == "HEAD",
                bytes: None,
            });
            if !keep_alive {
                st.close_after = Some(seq);
                st.stop_parsing = true;
            }
            seq
        };
        (server.handler)(lp, request, Responder::new(Rc::clone(self), seq));
    }

    /// Queues an error answer after those already owed, and stops parsing.
    fn fail(&self, status: u16) {
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        st.next_seq += 1;
        let message = format!("{status}\n");
        st.slots.push_back(Slot {
            keep_alive: false,
            head_only: false,
            bytes: Some(Response::text(status, message).encode(None, false)),
        });
        st.close_after = Some(seq);
        st.stop_parsing = true;
        st.inbuf = Vec::new();
    }

    /// Records the answer to request `seq`; written as soon as those before it are.
    pub fn complete(self: &Rc<Self>, lp: &EventLoop, seq: u64, response: &Response) {
        let keep_alive_secs = self
            .server
            .upgrade()
            .map_or(0, |s| s.options.keep_alive_timeout_ms / 1000);
        {
            let mut guard = self.state.borrow_mut();
            let st = &mut *guard;
            if st.closed || seq < st.next_out {
                return;
            }
            let close_after = st.close_after;
            let Some(slot) = st.slots.get_mut((seq - st.next_out) as usize) else {
                return;
            };
            if slot.bytes.is_some() {
                return;
            }
            let keep_alive = slot.keep_alive && close_after != Some(seq);
            let announced = keep_alive.then_some(keep_alive_secs);
            slot.bytes = Some(response.encode(announced, slot.head_only));
            if st.in_batch {
                return;
            }
        }
        self.flush(lp);
    }

    /// Writes every answer that is next in order, then closes if a close is due.
    fn flush(self: &Rc<Self>, lp: &EventLoop) {
        let (out, close_now) = {
            let mut st = self.state.borrow_mut();
            if st.closed {
                return;
            }
            let mut out: Vec<u8> = Vec::new();
            while st.slots.front().is_some_and(|s| s.bytes.is_some()) {
                let bytes = st
                    .slots
                    .pop_front()
                    .and_then(|s| s.bytes)
                    .unwrap_or_default();
                if out.is_empty() {
                    out = bytes;
                } else {
                    out.extend_from_slice(&bytes);
                }
                st.next_out += 1;
            }
            if !out.is_empty() {
                st.last_active_ms = lp.now();
            }
            let close_now = st.close_after.is_some_and(|last| st.next_out > last);
            (out, close_now)
        };
        if !out.is_empty() {
            self.stream.send(lp, out);
        }
        if close_now {
            let conn = Rc::clone(self);
            self.stream.shutdown(lp, move |lp, _| conn.abort(lp));
        } else if self.stream.write_queue_size() > HIGH_WATER_BYTES {
            self.pause_until_drained(lp);
        }
    }

    /// Back-pressure: stop reading until the kernel has taken what we owe this client.
    fn pause_until_drained(self: &Rc<Self>, lp: &EventLoop) {
        if std::mem::replace(&mut self.state.borrow_mut().paused, true) {
            return;
        }
        self.stream.read_stop(lp);
        let conn = Rc::clone(self);
        // An empty write completes once everything queued before it has gone out.
        self.stream.write(lp, Vec::new(), move |lp, result| {
            if result.is_err() {
                // The client is gone (reset): nothing will read this socket again.
                return conn.abort(lp);
            }
            let resume = {
                let mut st = conn.state.borrow_mut();
                st.paused = false;
                !st.closed && !st.stop_parsing
            };
            if resume {
                conn.start_reading(lp);
            }
        });
    }

    fn on_eof(self: &Rc<Self>, lp: &EventLoop) {
        let idle = {
            let mut st = self.state.borrow_mut();
            st.stop_parsing = true;
            if st.next_seq > st.next_out {
                st.close_after = Some(st.next_seq - 1);
                false
            } else {
                true
            }
        };
        if idle {
            self.abort(lp);
        }
    }

    /// Server shutdown: close now if idle, else after the answers already owed.
    pub fn finish(self: &Rc<Self>, lp: &EventLoop) {
        self.on_eof(lp);
    }

    /// Closes at once; owed answers are dropped.
    pub fn abort(&self, lp: &EventLoop) {
        if std::mem::replace(&mut self.state.borrow_mut().closed, true) {
            return;
        }
        self.state.borrow_mut().slots.clear();
        self.stream.close(lp, |_| {});
        if let Some(server) = self.server.upgrade() {
            server.forget(lp, self.id.get());
        }
    }

    /// Called by the server's sweep timer: headers timeout and idle keep-alive timeout. Like
    /// Node, a connection still writing an answer is not idle: its idle time starts when the
    /// kernel has taken the last byte.
    pub fn check_timeouts(self: &Rc<Self>, lp: &EventLoop) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let now = lp.now();
        if self.stream.write_queue_size() > 0 {
            self.state.borrow_mut().last_active_ms = now;
            return;
        }
        let (head_late, idle_too_long) = {
            let st = self.state.borrow();
            if st.closed {
                return;
            }
            let head_late = st.head_since_ms.is_some_and(|since| {
                now.saturating_sub(since) >= server.options.headers_timeout_ms
            });
            let waiting = st.next_seq == st.next_out || st.close_after.is_some();
            let quiet =
                now.saturating_sub(st.last_active_ms) >= server.options.keep_alive_timeout_ms;
            (
                head_late && !st.stop_parsing,
                waiting && quiet && st.head_since_ms.is_none(),
            )
        };
        if head_late {
            self.fail(408);
            self.flush(lp);
        } else if idle_too_long {
            self.abort(lp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Request, usize, usize, bool) {
        match parse(buf, 100) {
            Parsed::Complete {
                request,
                head_len,
                body_len,
                keep_alive,
            } => (request, head_len, body_len, keep_alive),
            Parsed::Partial => panic!("partial"),
            Parsed::Invalid(s) => panic!("invalid {s}"),
        }
    }

    fn invalid(buf: &[u8]) -> u16 {
        match parse(buf, 3) {
            Parsed::Invalid(s) => s,
            _ => 0,
        }
    }

    #[test]
    fn keep_alive_rules_follow_http_versions() {
        assert!(complete(b"GET / HTTP/1.1\r\n\r\n").3);
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").3);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").3);
        assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").3);
    }

    #[test]
    fn content_length_is_checked() {
        let (req, head, body, _) = complete(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), body),
            ("POST", "/x", 5)
        );
        assert_eq!(head, 39);
        assert_eq!(
            invalid(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            invalid(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            invalid(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
    }

    #[test]
    fn malformed_and_crowded_heads_are_refused() {
        assert_eq!(invalid(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n"),
            431
        );
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: x", 100),
            Parsed::Partial
        ));
    }
}
