//! An HTTP/1.1 server on the loop's TCP handles, parsing with `httparse`, shaped like Node's
//! `http.createServer`: a handler gets each request and a [`Responder`] it may use at once or
//! later, from a pool completion, exactly as a Node handler may reply from a callback.
//!
//! ```
//! use looplab_runtime::http::{HttpServer, Response, ServerOptions};
//! use looplab_runtime::{EventLoop, RunMode};
//!
//! let lp = EventLoop::new().unwrap();
//! let addr = "127.0.0.1:0".parse().unwrap();
//! let server = HttpServer::bind(&lp, addr, ServerOptions::default(), |lp, _req, res| {
//!     res.send(lp, Response::text(200, "hello"));
//! })
//! .unwrap();
//! assert!(server.local_addr().unwrap().port() > 0);
//! server.close(&lp, 0, |_| {});
//! lp.run(RunMode::Default);
//! ```
//!
//! Behaviour, with Node 20's defaults where Node has one:
//! 1. keep-alive for HTTP/1.1 unless `Connection: close`; for HTTP/1.0 only with
//!    `Connection: keep-alive`;
//! 2. pipelined requests are answered in arrival order, each response waiting for those before
//!    it; at most [`ServerOptions::max_pipeline_depth`] of one connection's requests are in
//!    flight, and none is dispatched while its unsent output is above 4 MiB: the rest wait
//!    unread in the kernel (see `conn.rs` for the memory this bounds);
//! 3. `Content-Length` request bodies (chunked request bodies get `501` and a close);
//! 4. a request head above 16 KiB (`--max-http-header-size`) or with more than
//!    [`ServerOptions::max_headers`] header lines gets `431`, a malformed one `400`, a body above
//!    [`ServerOptions::max_body_bytes`] (1 MiB) `413`; each then closes that connection only;
//! 5. an idle keep-alive connection closes after 5 s (`keepAliveTimeout`); a head that does not
//!    complete within 60 s (`headersTimeout`), or a whole request within 300 s
//!    (`requestTimeout`), gets `408` and a close; all are enforced by one unreferenced sweep
//!    timer per server (`timeouts.rs`);
//! 6. a response the handler never sent is answered `500` when its [`Responder`] is dropped.

mod conn;
mod parse;
mod response;
mod server;
mod timeouts;

pub use response::{Responder, Response};
pub use server::{HttpServer, ServerOptions};

/// One parsed request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}
