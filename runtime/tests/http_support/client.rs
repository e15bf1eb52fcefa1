//! The client side of the HTTP tests: blocking loopback sockets with timeouts, and a reader
//! that parses one response at a time (status, headers, `Content-Length` body) while keeping
//! bytes that arrived ahead, as pipelined answers do.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use super::IO_TIMEOUT;

/// A `GET` request for `path` (HTTP/1.1, keep-alive).
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// One parsed response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header lines as received.
    pub headers: Vec<(String, String)>,
    /// The body, `Content-Length` bytes (empty for a head read with [`Client::read_head`]).
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Content-Length` header as a number.
    pub fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|v| v.parse().ok())
            .expect("every response carries a numeric Content-Length")
    }
}

/// A blocking loopback client; its reader keeps bytes that arrived ahead (pipelining).
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects with [`IO_TIMEOUT`] on connect, reads and writes.
    pub fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Like [`Self::connect`], returning the error.
    pub fn try_connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// The socket (for timeouts and shutdowns).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes all of `bytes` in one call.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader
            .get_mut()
            .write_all(bytes)
            .expect("write to the server");
    }

    /// Sends `bytes` and reads one response.
    pub fn request(&mut self, bytes: &[u8]) -> Reply {
        self.send(bytes);
        self.read_reply()
    }

    /// Reads one full response; panics on an error, a timeout or a close.
    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply().expect("read one response")
    }

    /// Reads one full response (head, then `Content-Length` body bytes).
    pub fn try_read_reply(&mut self) -> io::Result<Reply> {
        let mut reply = self.try_read_head()?;
        let mut body = vec![0; reply.content_length()];
        self.reader.read_exact(&mut body)?;
        reply.body = body;
        Ok(reply)
    }

    /// Reads a response head only (the answer to a `HEAD` request has no body).
    pub fn read_head(&mut self) -> Reply {
        self.try_read_head().expect("read one response head")
    }

    fn try_read_head(&mut self) -> io::Result<Reply> {
        let status_line = self.read_line()?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| io::Error::other(format!("bad header line {line:?}")))?;
            headers.push((name.to_owned(), value.trim().to_owned()));
            if headers.len() > 100 {
                return Err(io::Error::other("more than 100 response headers"));
            }
        }
        Ok(Reply {
            status,
            headers,
            body: Vec::new(),
        })
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = String::from_utf8(line).map_err(io::Error::other)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads up to `n` raw bytes (fewer at EOF).
    pub fn read_some(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let got = self.reader.read(&mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Whether the server closed the connection within the read timeout: `Ok(true)` on EOF or
    /// reset, `Ok(false)` if it stayed open and silent, an error if unexpected bytes arrived.
    pub fn closed_by_server(&mut self) -> io::Result<bool> {
        match self.reader.fill_buf() {
            Ok([]) => Ok(true),
            Ok(extra) => Err(io::Error::other(format!(
                "{} unexpected bytes: {:?}",
                extra.len(),
                String::from_utf8_lossy(&extra[..extra.len().min(80)])
            ))),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Asserts the server closes the connection (within the read timeout).
    pub fn assert_closed(&mut self) {
        let closed = self
            .closed_by_server()
            .expect("nothing after the last answer");
        assert!(
            closed,
            "the server left the connection open for {IO_TIMEOUT:?}"
        );
    }

    /// Half-closes the sending side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream().shutdown(Shutdown::Write);
    }
}
