//! The listening side: accepts connections, keeps track of them, sweeps their timeouts and
//! closes gracefully.
//!
//! Graceful close (`lab serve` on Ctrl-C):
//! 1. stop accepting (the listener closes);
//! 2. close idle connections now; busy ones answer what they already received, then close;
//! 3. after `grace_ms`, close whatever is left;
//! 4. when no connection remains, stop the sweep timer and call `on_closed`.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use slab::Slab;

use super::conn::Conn;
use super::timeouts::sweep_period_ms;
use super::{Request, Responder};
use crate::tcp::{ListenOptions, TcpListener, TcpStream};
use crate::{Callback, EventLoop, TimerId};

/// Limits and timeouts: Node 20's defaults where Node has one. Every field is a bound on what
/// one client can make the server hold or wait for; `0` disables the headers and request
/// timeouts, as in Node.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Largest request head, request line included (`--max-http-header-size`, 16 KiB); `431`.
    pub max_head_bytes: usize,
    /// Most header lines in one request; `431`.
    pub max_headers: usize,
    /// Largest request body accepted (1 MiB; Node streams bodies and has no limit, this server
    /// buffers each whole, so it needs one); `413`, answered before any of the body is read.
    pub max_body_bytes: usize,
    /// Close a keep-alive connection idle this long (`keepAliveTimeout`, 5 s).
    pub keep_alive_timeout_ms: u64,
    /// Answer `408` when a head takes longer than this to arrive (`headersTimeout`, 60 s).
    pub headers_timeout_ms: u64,
    /// Answer `408` when a whole request, head and body, takes longer than this to arrive
    /// (`requestTimeout`, 300 s).
    pub request_timeout_ms: u64,
    /// Most requests of one connection in flight at once: dispatched to the handler and not
    /// yet handed to the socket (1). Pipelined requests beyond it stay unread in the kernel
    /// until earlier answers go out, so a flood of pipelined requests costs at most this many
    /// answers in memory, plus the 4 MiB output high-water mark. Node dispatches every request
    /// of a read and pauses the socket only once its output backs up, so one read of 2,000
    /// pipelined `/file` requests starts 2,000 reads. With 1, a pipelining client gets its
    /// answers one handler at a time (answers given at once still leave in one write per
    /// batch); raise it for overlap, at the price of that many answers per connection (with
    /// 4 and 8 MiB `/file` answers, `lab serve` peaked at 110 MB VmHWM instead of 30 MB).
    pub max_pipeline_depth: usize,
    /// How the listening socket is set up.
    pub listen: ListenOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1 << 20,
            keep_alive_timeout_ms: 5_000,
            headers_timeout_ms: 60_000,
            request_timeout_ms: 300_000,
            max_pipeline_depth: 1,
            listen: ListenOptions::default(),
        }
    }
}

pub(crate) type Handler = dyn Fn(&EventLoop, Request, Responder);

/// What connections share with their server.
pub(crate) struct Shared {
    pub handler: Box<Handler>,
    pub options: ServerOptions,
    pub conns: RefCell<Slab<Rc<Conn>>>,
    closing: Cell<bool>,
    on_closed: RefCell<Option<Callback>>,
    sweep: Cell<Option<TimerId>>,
}

impl Shared {
    fn snapshot(&self) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .iter()
            .map(|(_, c)| Rc::clone(c))
            .collect()
    }

    /// Called by a connection when it has closed.
    pub fn forget(&self, lp: &EventLoop, id: usize) {
        self.conns.borrow_mut().try_remove(id);
        if self.closing.get() && self.conns.borrow().is_empty() {
            if let Some(timer) = self.sweep.take() {
                lp.clear_timer(timer);
            }
            if let Some(done) = self.on_closed.borrow_mut().take() {
                lp.push_closing(done);
            }
        }
    }
}

/// An HTTP server on one loop: listening itself, or fed connections accepted elsewhere (a
/// cluster worker whose primary accepts and passes each connection on).
pub struct HttpServer {
    listener: Option<TcpListener>,
    shared: Rc<Shared>,
}

impl HttpServer {
    /// Binds `addr` and serves every request with `handler`.
    pub fn bind(
        lp: &EventLoop,
        addr: SocketAddr,
        options: ServerOptions,
        handler: impl Fn(&EventLoop, Request, Responder) + 'static,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr, &options.listen)?;
        Self::on_listener(lp, listener, options, handler)
    }

    /// Serves the connections `listener` accepts (a bound socket, possibly inherited).
    pub fn on_listener(
        lp: &EventLoop,
        listener: TcpListener,
        options: ServerOptions,
        handler: impl Fn(&EventLoop, Request, Responder) + 'static,
    ) -> io::Result<Self> {
        let mut server = Self::without_listener(lp, options, handler);
        let accepted = Rc::clone(&server.shared);
        listener.listen(lp, move |lp, stream| {
            // Accept errors leave the listener running; out of descriptors, it closes queued
            // connections at once, so their clients see a reset (`TcpListener`).
            if let Ok(stream) = stream {
                Conn::start(lp, &accepted, stream);
            }
        })?;
        server.listener = Some(listener);
        Ok(server)
    }

    /// A server with no socket of its own: connections come through [`HttpServer::adopt`].
    pub fn without_listener(
        lp: &EventLoop,
        options: ServerOptions,
        handler: impl Fn(&EventLoop, Request, Responder) + 'static,
    ) -> Self {
        let shared = Rc::new(Shared {
            handler: Box::new(handler),
            options,
            conns: RefCell::new(Slab::new()),
            closing: Cell::new(false),
            on_closed: RefCell::new(None),
            sweep: Cell::new(None),
        });
        let period = sweep_period_ms(&options);
        let swept = Rc::clone(&shared);
        let sweep = lp.set_interval(period, move |lp| {
            for conn in swept.snapshot() {
                conn.check_timeouts(lp);
            }
        });
        lp.unref_timer(sweep);
        shared.sweep.set(Some(sweep));
        Self {
            listener: None,
            shared,
        }
    }

    /// Serves an already connected stream (refused with a close once the server is closing).
    pub fn adopt(&self, lp: &EventLoop, stream: TcpStream) {
        if self.shared.closing.get() {
            stream.close(lp, |_| {});
        } else {
            Conn::start(lp, &self.shared, stream);
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "this server has no listening socket of its own",
            )),
        }
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.shared.conns.borrow().len()
    }

    /// Closes gracefully (see the module documentation); `on_closed` runs once every connection
    /// is gone, at the latest `grace_ms` after this call.
    pub fn close(
        &self,
        lp: &EventLoop,
        grace_ms: u64,
        on_closed: impl FnOnce(&EventLoop) + 'static,
    ) {
        if self.shared.closing.replace(true) {
            return;
        }
        *self.shared.on_closed.borrow_mut() = Some(Box::new(on_closed));
        if let Some(listener) = &self.listener {
            listener.close(lp, |_| {});
        }
        for conn in self.shared.snapshot() {
            conn.finish(lp);
        }
        let shared = Rc::clone(&self.shared);
        let force = lp.set_timeout(grace_ms, move |lp| {
            for conn in shared.snapshot() {
                conn.abort(lp);
            }
        });
        lp.unref_timer(force);
        // Nothing open: done at once (next closing phase).
        self.shared.forget(lp, usize::MAX);
    }
}
