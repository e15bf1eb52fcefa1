//! Responses: what a handler sends, how it goes on the wire, and the [`Responder`] that keeps a
//! pipelined connection's answers in request order.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::conn::Conn;
use crate::EventLoop;

/// A response to send.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra header lines (Content-Length, Date and Connection are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.into().into_bytes(),
        }
    }

    /// An `application/octet-stream` response.
    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body,
        }
    }

    /// Adds a header line.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The bytes on the wire. `keep_alive_secs` is `Some(timeout)` to keep the connection open
    /// (announced in `Keep-Alive: timeout=N`, as Node does) and `None` to close it; `head_only`
    /// leaves the body out (a `HEAD` request) but keeps its length.
    pub fn encode(&self, keep_alive_secs: Option<u64>, head_only: bool) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        DATE.with(|d| head.push_str(d.borrow_mut().header()));
        match keep_alive_secs {
            Some(secs) => {
                let _ = write!(
                    head,
                    "Connection: keep-alive\r\nKeep-Alive: timeout={secs}\r\n\r\n"
                );
            }
            None => head.push_str("Connection: close\r\n\r\n"),
        }
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The `Date` header, formatted once per second (RFC 9110 IMF-fixdate).
struct DateCache {
    second: u64,
    line: String,
}

thread_local! {
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: u64::MAX, line: String::new() })
    };
}

impl DateCache {
    fn header(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.second {
            self.second = now;
            self.line = format!("Date: {}\r\n", imf_fixdate(now));
        }
        &self.line
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time in seconds.
fn imf_fixdate(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// The right to answer one request. Send with [`Responder::send`], now or later (for example
/// from a pool completion). Dropped unsent while its loop runs, it answers `500`.
pub struct Responder {
    conn: Rc<Conn>,
    seq: u64,
    sent: bool,
}

impl Responder {
    pub(crate) fn new(conn: Rc<Conn>, seq: u64) -> Self {
        Self {
            conn,
            seq,
            sent: false,
        }
    }

    /// Sends the response. If the client has gone, it is dropped silently.
    pub fn send(mut self, lp: &EventLoop, response: Response) {
        self.sent = true;
        self.conn.complete(lp, self.seq, &response);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        let (conn, seq) = (Rc::clone(&self.conn), self.seq);
        EventLoop::with_current(|lp| {
            let response = Response::text(500, "the handler dropped this request unanswered\n");
            conn.complete(lp, seq, &response);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 GMT");
    }

    #[test]
    fn encoding_adds_length_date_and_connection() {
        let wire = Response::text(200, "hi").encode(Some(5), false);
        let text = String::from_utf8(wire).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Date: "));
        assert!(text.contains("Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"));
        assert!(text.ends_with("\r\n\r\nhi"));
        let head = Response::text(404, "gone").encode(None, true);
        let text = String::from_utf8(head).unwrap();
        assert!(text.contains("Content-Length: 4\r\n") && text.ends_with("close\r\n\r\n"));
    }
}
