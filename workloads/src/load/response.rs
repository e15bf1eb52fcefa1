//! Reading one HTTP/1.1 answer from a connection: the head parsed by httparse into a stack
//! array, the body skipped (never kept) whatever its framing: Content-Length, chunked (with
//! extensions and trailers), or until the server closes.
//!
//! Invariants:
//! - [`Inbox`] is the connection's only buffer, reused for every answer; bytes past the end
//!   of an answer stay in it (a server that sends more than it should breaks the next head).
//! - Every read is bounded by the connection's [`Guard`].
//! - The end of the stream inside a head is an `io` error, inside a body a `short_body` error.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::client::{Failure, Guard};
use super::stats::ErrorKind;

/// Bytes of the read buffer: also the largest response head accepted.
const INBOX_BYTES: usize = 16 * 1024;
/// Headers parsed per response head; more is a malformed answer.
const MAX_HEADERS: usize = 48;

/// What came back, before checking.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body_bytes: u64,
    pub close: bool,
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

/// Reads one whole answer: its final head, then its body, skipped.
pub(crate) async fn read_answer(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    guard: &mut Guard,
    head_only: bool,
    started: Instant,
) -> Result<Answer, Failure> {
    let head = read_head(stream, inbox, guard, head_only, started).await?;
    let mut body = Body {
        stream,
        inbox,
        guard,
        started,
    };
    let body_bytes = match head.framing {
        Framing::Empty => 0,
        Framing::Length(n) => body.skip(n).await.map(|()| n)?,
        Framing::Chunked => body.skip_chunked().await?,
        Framing::UntilClose => body.skip_to_end().await?,
    };
    Ok(Answer {
        status: head.status,
        body_bytes,
        close: head.close,
    })
}

/// Reads until a final (non-1xx) head is complete and consumes it.
async fn read_head(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    guard: &mut Guard,
    head_only: bool,
    started: Instant,
) -> Result<Head, Failure> {
    loop {
        if !inbox.pending().is_empty() {
            match parse_head(inbox.pending(), head_only) {
                Err(kind) => return Err(Failure::Error(kind)),
                Ok(Some((n, head))) => {
                    inbox.consume(n);
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(None) => {}
            }
        }
        if inbox.fill(stream, guard, started).await? == 0 {
            return Err(Failure::Error(ErrorKind::Io));
        }
    }
}

/// `Ok(None)` while the head is incomplete; `Ok(Some((head bytes, head)))` once it is.
fn parse_head(bytes: &[u8], head_only: bool) -> Result<Option<(usize, Head)>, ErrorKind> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let n = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorKind::Io),
    };
    let status = response.code.unwrap_or(0);
    let (mut length, mut chunked) = (None, false);
    let (mut saw_close, mut saw_keep_alive) = (false, false);
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value).map_err(|_| ErrorKind::Io)?;
            let n: u64 = value.trim().parse().map_err(|_| ErrorKind::Io)?;
            if length.is_some_and(|m| m != n) {
                return Err(ErrorKind::Io);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = last_token_is(header.value, b"chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                saw_close |= token.eq_ignore_ascii_case(b"close");
                saw_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps alive unless it says close.
    let mut close = saw_close || (response.version == Some(0) && !saw_keep_alive);
    let framing = if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };
    Ok(Some((
        n,
        Head {
            status,
            framing,
            close,
        },
    )))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(token))
}

/// The body of one answer, read through the connection's inbox and skipped.
struct Body<'a> {
    stream: &'a mut TcpStream,
    inbox: &'a mut Inbox,
    guard: &'a mut Guard,
    started: Instant,
}

impl Body<'_> {
    /// More bytes; the end of the stream inside a body is a short body.
    async fn more(&mut self) -> Result<(), Failure> {
        match self
            .inbox
            .fill(self.stream, self.guard, self.started)
            .await?
        {
            0 => Err(Failure::Error(ErrorKind::ShortBody)),
            _ => Ok(()),
        }
    }

    async fn skip(&mut self, mut remaining: u64) -> Result<(), Failure> {
        loop {
            let take = remaining.min(self.inbox.pending().len() as u64);
            self.inbox.consume(take as usize);
            remaining -= take;
            if remaining == 0 {
                return Ok(());
            }
            self.more().await?;
        }
    }

    /// Skips chunks and trailers; returns the data bytes.
    async fn skip_chunked(&mut self) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            let size = match httparse::parse_chunk_size(self.inbox.pending()) {
                Ok(httparse::Status::Complete((n, size))) => {
                    self.inbox.consume(n);
                    size
                }
                Ok(httparse::Status::Partial) => {
                    self.more().await?;
                    continue;
                }
                Err(_) => return Err(Failure::Error(ErrorKind::Io)),
            };
            if size == 0 {
                self.skip_trailers().await?;
                return Ok(total);
            }
            total = total.saturating_add(size);
            self.skip(size.saturating_add(2)).await?;
        }
    }

    async fn skip_trailers(&mut self) -> Result<(), Failure> {
        loop {
            match self.inbox.pending().windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.inbox.consume(2);
                    return Ok(());
                }
                Some(line) => self.inbox.consume(line + 2),
                None => self.more().await?,
            }
        }
    }

    /// A body without a length ends when the server closes.
    async fn skip_to_end(&mut self) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            let n = self.inbox.pending().len();
            total += n as u64;
            self.inbox.consume(n);
            if self
                .inbox
                .fill(self.stream, self.guard, self.started)
                .await?
                == 0
            {
                return Ok(total);
            }
        }
    }
}

/// The connection's read buffer; `start..end` holds bytes read but not yet consumed.
pub(crate) struct Inbox {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Inbox {
    pub(crate) fn new() -> Inbox {
        Inbox {
            buf: vec![0; INBOX_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more; `Ok(0)` at end of stream. A full buffer holding one unfinished head is a
    /// malformed (too large) answer.
    async fn fill(
        &mut self,
        stream: &mut TcpStream,
        guard: &mut Guard,
        started: Instant,
    ) -> Result<usize, Failure> {
        if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(Failure::Error(ErrorKind::Io));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let read = stream.read(&mut self.buf[self.end..]);
        let n = guard
            .bound(started, ErrorKind::Timeout, read)
            .await?
            .map_err(|_| Failure::Error(ErrorKind::Io))?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes(), false).unwrap().unwrap().1
    }

    #[test]
    fn heads_give_status_framing_and_close() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.close),
            (200, Framing::Length(12), false)
        );
        let h =
            head("HTTP/1.1 500 X\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.close),
            (500, Framing::Chunked, true)
        );
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(h.close);
        let h = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.close);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
        assert_eq!(h.unwrap().unwrap().1.framing, Framing::Empty);
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(None)
        );
        assert_eq!(parse_head(b"garbage\r\n\r\n", false), Err(ErrorKind::Io));
        let conflicting = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_head(conflicting, false), Err(ErrorKind::Io));
        let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
        assert_eq!(parse_head(bad_length, false), Err(ErrorKind::Io));
    }
}
