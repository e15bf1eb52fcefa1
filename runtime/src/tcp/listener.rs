//! Listening TCP sockets: bound with `socket2` (so `SO_REUSEADDR`, `SO_REUSEPORT` and the backlog
//! are ours to set), then accepted on readiness in the poll phase.
//!
//! Each readiness event accepts until the kernel has no more connections (`WouldBlock`), like
//! libuv's `uv__server_io`. Readiness is edge-triggered, so a round must not end with
//! connections still queued: no new edge would come for them until yet another client arrives.
//!
//! Out of descriptors (`EMFILE`, `ENFILE`), libuv's `uv__emfile_trick`:
//! 1. each listener holds a reserve descriptor (`/dev/null`), opened when it starts listening
//!    (libuv keeps one per loop);
//! 2. on exhaustion it closes the reserve, accepts and at once closes every queued connection
//!    (their clients see a reset or EOF instead of waiting forever), and opens the reserve
//!    again; the round ends at `WouldBlock` and nothing is reported, as in libuv;
//! 3. without a reserve (it could not be reopened), the error is reported to the callback and
//!    the listener tries again after [`RETRY_MS`] from an unreferenced timer, so queued
//!    connections are not stranded and a full descriptor table cannot spin the loop.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::TcpStream;
use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

type ConnectionCb = Box<dyn FnMut(&EventLoop, io::Result<TcpStream>)>;

/// Delay before accepting again after descriptor exhaustion without a reserve.
const RETRY_MS: u64 = 100;

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
    /// Given up to shed queued connections when descriptors run out.
    reserve: RefCell<Option<File>>,
    retry_armed: Cell<bool>,
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").or_else(|_| File::open("/")).ok()
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
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
                reserve: RefCell::new(None),
                retry_armed: Cell::new(false),
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
        *self.inner.reserve.borrow_mut() = open_reserve();
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
        self.inner.reserve.borrow_mut().take();
        lp.push_closing(Box::new(on_close));
    }
}

impl Inner {
    fn accept_all(self: &Rc<Self>, lp: &EventLoop) {
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
                Err(e) if out_of_descriptors(&e) && self.shed_queue() => return,
                Err(e) if out_of_descriptors(&e) => {
                    self.retry_later(lp);
                    (Err(e), true)
                }
                Err(e) => (Err(e), true),
            };
            if !self.deliver(lp, result) || last {
                return;
            }
        }
    }

    /// Hands one accepted stream (or error) to the callback; false if there is none.
    fn deliver(&self, lp: &EventLoop, result: io::Result<TcpStream>) -> bool {
        let Some(mut callback) = self.on_connection.borrow_mut().take() else {
            return false;
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
        true
    }

    /// The reserve-descriptor trick (module docs, step 2); true if the queue was emptied.
    fn shed_queue(&self) -> bool {
        let Some(reserve) = self.reserve.borrow_mut().take() else {
            return false;
        };
        drop(reserve);
        let emptied = loop {
            let accepted = match &*self.socket.borrow() {
                Some(socket) => socket.accept(),
                None => break true,
            };
            match accepted {
                // Closed unread: the client sees a reset (or EOF).
                Ok((socket, _)) => drop(socket),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break e.kind() == io::ErrorKind::WouldBlock,
            }
        };
        *self.reserve.borrow_mut() = open_reserve();
        emptied
    }

    /// Module docs, step 3.
    fn retry_later(self: &Rc<Self>, lp: &EventLoop) {
        if self.retry_armed.replace(true) {
            return;
        }
        let inner = Rc::clone(self);
        let timer = lp.set_timeout(RETRY_MS, move |lp| {
            inner.retry_armed.set(false);
            inner.accept_all(lp);
        });
        lp.unref_timer(timer);
    }
}

impl IoWatcher for Inner {
    fn ready(self: Rc<Self>, lp: &EventLoop, _ready: Ready) {
        self.accept_all(lp);
    }
}
