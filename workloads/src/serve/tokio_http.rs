//! The HTTP/1.1 of the `tokio` reference server: parsing one request head, as a pure function
//! (responses are encoded by the runtime's `Response::encode`, so both servers send the same
//! bytes). The rules follow the runtime's server (`looplab_runtime::http`):
//! 1. keep-alive for HTTP/1.1 unless `Connection: close`; for HTTP/1.0 only with
//!    `Connection: keep-alive`;
//! 2. `Content-Length` bodies (read and discarded: no handler reads a body); chunked request
//!    bodies get `501`, a malformed head `400`, a head above 16 KiB or with more than 100
//!    header lines `431`; each of those closes the connection;
//! 3. responses carry `Content-Length`, `Date` and `Connection` (with `Keep-Alive: timeout=5`),
//!    the same head the runtime's server sends.

/// Largest request head (Node's `--max-http-header-size`).
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines in a head.
const MAX_HEADERS: usize = 100;
/// Idle keep-alive connections close after this long (`keepAliveTimeout`).
pub(crate) const KEEP_ALIVE_SECS: u64 = 5;

/// One parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// More bytes are needed.
    Partial,
    /// Refuse with this status and close.
    Invalid(u16),
    /// A whole head.
    Complete {
        /// Bytes of the head, to consume.
        head_len: usize,
        /// The path without its query.
        path: String,
        /// Body bytes that follow, to discard.
        body_len: usize,
        /// Keep the connection open after answering.
        keep_alive: bool,
        /// A `HEAD` request: no body in the answer.
        head_only: bool,
    },
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses the head at the start of `buf`.
pub(crate) fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => return Head::Invalid(431),
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::Invalid(431),
        Err(_) => return Head::Invalid(400),
    };
    if head_len > MAX_HEAD_BYTES {
        return Head::Invalid(431);
    }
    let mut body_len: Option<usize> = None;
    let mut keep_alive = req.version == Some(1);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (n, body_len) {
                (None, _) => return Head::Invalid(400),
                (Some(n), Some(m)) if n != m => return Head::Invalid(400),
                (Some(n), _) => body_len = Some(n),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Head::Invalid(501);
        } else if h.name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, "close") {
                keep_alive = false;
            } else if has_token(h.value, "keep-alive") {
                keep_alive = true;
            }
        }
    }
    let target = req.path.unwrap_or("/");
    Head::Complete {
        head_len,
        path: target.split('?').next().unwrap_or("/").to_string(),
        body_len: body_len.unwrap_or(0),
        keep_alive,
        head_only: req.method == Some("HEAD"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &[u8]) -> (usize, String, usize, bool, bool) {
        match parse_head(raw) {
            Head::Complete {
                head_len,
                path,
                body_len,
                keep_alive,
                head_only,
            } => (head_len, path, body_len, keep_alive, head_only),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heads_parse_with_the_runtimes_rules() {
        let raw = b"GET /hash?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /";
        assert_eq!(complete(raw), (35, "/hash".into(), 0, true, false));
        let raw = b"POST /hello HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        let (_, _, body, keep_alive, _) = complete(raw);
        assert_eq!((body, keep_alive), (3, false));
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").3);
        assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").3);
        assert!(complete(b"HEAD / HTTP/1.1\r\n\r\n").4);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost"), Head::Partial);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Head::Invalid(400)
        );
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_head(te), Head::Invalid(501));
        let two = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_head(two), Head::Invalid(400));
        let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD_BYTES]].concat();
        assert_eq!(parse_head(&big), Head::Invalid(431));
    }
}
