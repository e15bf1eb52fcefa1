//! Parsing one request head at the start of a buffer with `httparse`, and the framing rules
//! the connection needs from it: body length, keep-alive, refusals.
//!
//! Rules, in the order they apply:
//! 1. a head `httparse` rejects is `400`; more header lines than allowed is `431`;
//! 2. `Content-Length` must be digits only, and repeated copies must agree (else `400`);
//!    none means no body;
//! 3. `Transfer-Encoding` (a chunked body) is `501`: bodies are `Content-Length` only;
//! 4. HTTP/1.0 closes unless `Connection: keep-alive`; HTTP/1.1 keeps alive unless
//!    `Connection: close`.
//!
//! Nothing here panics on any input: it only slices what `httparse` says it parsed.

use super::{Request, ServerOptions};

/// Header slots parsed on the stack; `ServerOptions::max_headers` is capped at this.
const HEADER_SLOTS: usize = 128;

/// The outcome of looking at the start of the buffer.
pub(super) enum Parsed {
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

pub(super) fn parse(buf: &[u8], max_headers: usize) -> Parsed {
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

/// What the start of a connection's input holds, under the server's limits.
pub(super) enum Step {
    /// No bytes at all.
    Nothing,
    /// A request has begun; `need` is its full length once known (head complete), else 0.
    Wait { head_done: bool, need: usize },
    /// Refuse with this status and close.
    Refuse(u16),
    /// A complete request of `len` bytes (head and body).
    Request {
        request: Request,
        len: usize,
        keep_alive: bool,
    },
}

/// Applies `limits` to what [`parse`] finds at the start of `rest`: a head above
/// `max_head_bytes` (complete or not) is `431`, a declared body above `max_body_bytes` is `413`
/// before any of it is buffered.
pub(super) fn step(rest: &[u8], limits: &ServerOptions) -> Step {
    if rest.is_empty() {
        return Step::Nothing;
    }
    match parse(rest, limits.max_headers) {
        Parsed::Partial if rest.len() > limits.max_head_bytes => Step::Refuse(431),
        Parsed::Partial => Step::Wait {
            head_done: false,
            need: 0,
        },
        Parsed::Invalid(status) => Step::Refuse(status),
        Parsed::Complete { head_len, .. } if head_len > limits.max_head_bytes => Step::Refuse(431),
        Parsed::Complete { body_len, .. } if body_len > limits.max_body_bytes => Step::Refuse(413),
        Parsed::Complete {
            mut request,
            head_len,
            body_len,
            keep_alive,
        } => {
            let len = head_len + body_len;
            match rest.get(head_len..len) {
                Some(body) => {
                    request.body = body.to_vec();
                    Step::Request {
                        request,
                        len,
                        keep_alive,
                    }
                }
                None => Step::Wait {
                    head_done: true,
                    need: len,
                },
            }
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
