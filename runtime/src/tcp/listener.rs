//! Listening TCP sockets: bound with `socket2` (so `SO_REUSEADDR`, `SO_REUSEPORT` and the backlog
//! are ours to set), then accepted on readiness in the poll phase.
//!
//! Each readiness event accepts until the kernel has no more connections (`WouldBlock`), like
//! libuv's `uv__server_io`. A failed accept (for example `EMFILE`) is reported to the callback
//! and ends that round, so a full descriptor table cannot spin the loop.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::TcpStream;
use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

type ConnectionCb = Box<dyn FnMut(&EventLoop, io::Result<TcpStream>)>;

/// How to bind and listen.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// Accept queue length (Node's default is 511).
    pub backlog: i32,
    /// Set `SO_REUSEPORT`, so several sockets (processes) can listen on one port and the kernel
    /// spreads connections among them. `SO_REUSEADDR` is always set, as libuv does.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            backlog: 511,
            reuse_port: false,
        }
    }
}

struct Inner {
    /// `None` once closed: the fd is closed at `close`, not when the last clone is dropped, so
    /// the kernel refuses new connections from then on.
    socket: RefCell<Option<mio::net::TcpListener>>,
    token: Cell<Option<Token>>,
    on_connection: RefCell<Option<ConnectionCb>>,
    referenced: Cell<bool>,
    closed: Cell<bool>,
}

/// A listening socket owned by one loop.
#[derive(Clone)]
pub struct TcpListener {
    inner: Rc<Inner>,
}

fn bind_socket(addr: SocketAddr, options: &ListenOptions) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the listener is closed")
}

impl TcpListener {
    /// Binds and listens on `addr` (port 0 picks a free port). Errors name the address.
    pub fn bind(addr: SocketAddr, options: &ListenOptions) -> io::Result<Self> {
        let socket = bind_socket(addr, options)
            .map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))?;
        Self::from_std(socket)
    }

    /// Adopts a listening socket from elsewhere (for example inherited from a parent process).
    pub fn from_std(socket: std::net::TcpListener) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            inner: Rc::new(Inner {
                socket: RefCell::new(Some(mio::net::TcpListener::from_std(socket))),
                token: Cell::new(None),
                on_connection: RefCell::new(None),
                referenced: Cell::new(true),
                closed: Cell::new(false),
            }),
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &*self.inner.socket.borrow() {
            Some(socket) => socket.local_addr(),
            None => Err(closed_error()),
        }
    }

    /// Starts accepting; `on_connection` gets each new stream (or an accept error). The listener
    /// is an active handle from now on, until closed or unreferenced.
    pub fn listen(
        &self,
        lp: &EventLoop,
        on_connection: impl FnMut(&EventLoop, io::Result<TcpStream>) + 'static,
    ) -> io::Result<()> {
        if self.inner.closed.get() || self.inner.token.get().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the listener is closed or already listening",
            ));
        }
        *self.inner.on_connection.borrow_mut() = Some(Box::new(on_connection));
        let mut socket = self.inner.socket.borrow_mut();
        let socket = socket.as_mut().ok_or_else(closed_error)?;
        let token = lp.register_io(
            socket,
            Interest::READABLE,
            Rc::clone(&self.inner) as Rc<dyn IoWatcher>,
        )?;
        self.inner.token.set(Some(token));
        if self.inner.referenced.get() {
            lp.add_active_handles(1);
        }
        // Connections queued before registration raise no new edge: accept them now.
        let inner = Rc::clone(&self.inner);
        lp.push_pending(Box::new(move |lp| inner.accept_all(lp)));
        Ok(())
    }

    /// `uv_unref`: the listener no longer keeps the loop alive.
    pub fn unref(&self, lp: &EventLoop) {
        if self.inner.referenced.replace(false) && self.is_counted() {
            lp.add_active_handles(-1);
        }
    }

    /// `uv_ref`.
    pub fn ref_(&self, lp: &EventLoop) {
        if !self.inner.referenced.replace(true) && self.is_counted() {
            lp.add_active_handles(1);
        }
    }

    fn is_counted(&self) -> bool {
        self.inner.token.get().is_some() && !self.inner.closed.get()
    }

    /// Stops accepting and closes the socket; `on_close` runs in the closing phase.
    pub fn close(&self, lp: &EventLoop, on_close: impl FnOnce(&EventLoop) + 'static) {
        if self.inner.closed.get() {
            return;
        }
        if self.is_counted() && self.inner.referenced.get() {
            lp.add_active_handles(-1);
        }
        self.inner.closed.set(true);
        let socket = self.inner.socket.borrow_mut().take();
        if let (Some(mut socket), Some(token)) = (socket, self.inner.token.get()) {
            lp.deregister_io(&mut socket, token);
        }
        self.inner.on_connection.borrow_mut().take();
        lp.push_closing(Box::new(on_close));
    }
}

impl Inner {
    fn accept_all(&self, lp: &EventLoop) {
        loop {
            if self.closed.get() {
                return;
            }
            let accepted = match &*self.socket.borrow() {
                Some(socket) => socket.accept(),
                None => return,
            };
            let (result, last) = match accepted {
                Ok((socket, _)) => (TcpStream::accepted(lp, socket), false),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => (Err(e), true),
            };
            let Some(mut callback) = self.on_connection.borrow_mut().take() else {
                return;
            };
            callback(lp, result);
            lp.drain_ticks();
            // Put the callback back unless the listener was closed from inside it.
            if !self.closed.get() {
                let mut slot = self.on_connection.borrow_mut();
                if slot.is_none() {
                    *slot = Some(callback);
                }
            }
            if last {
                return;
            }
        }
    }
}

impl IoWatcher for Inner {
    fn ready(self: Rc<Self>, lp: &EventLoop, _ready: Ready) {
        self.accept_all(lp);
    }
}
