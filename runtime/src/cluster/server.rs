//! The shared address on the primary's side, one shape per policy:
//! 1. round-robin: the primary binds, listens and accepts on its loop ([`Acceptor`]); each
//!    accepted socket goes to the hand-off bookkeeping, never to a stream on this loop;
//! 2. shared (`none`): the primary binds and listens but never accepts; a copy of the socket
//!    goes to every worker in its setup frame, and the kernel picks who accepts;
//! 3. reuse-port: the primary binds a `SO_REUSEPORT` socket without listening on it, which fixes
//!    the port (port 0 becomes a concrete one) and reserves it; a bound socket that does not
//!    listen gets no connections, so only the workers' own sockets do.
//!
//! Every socket is bound like libuv binds: `SO_REUSEADDR`, IPv6-only for IPv6 addresses,
//! non-blocking, close-on-exec, backlog 511.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::{ClusterError, SchedulingPolicy};
use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

/// Node's default backlog.
const BACKLOG: i32 = 511;

type AcceptCb = Box<dyn FnMut(&EventLoop, OwnedFd)>;

/// The primary's socket for the shared address.
pub(crate) enum SharedAddress {
    /// Round-robin: accepting on the loop.
    RoundRobin(Acceptor),
    /// Shared: listening, handed to workers.
    Shared(std::net::TcpListener),
    /// Reuse-port: bound only, to hold the port.
    ReusePort {
        /// Kept open only so the port stays ours.
        _reserved: Socket,
    },
    /// Closed at shutdown or once every worker is gone.
    Closed,
}

/// Binds `addr` for `policy`; returns the socket and the concrete address.
pub(crate) fn open(
    policy: SchedulingPolicy,
    addr: SocketAddr,
) -> Result<(SharedAddress, SocketAddr), ClusterError> {
    let bind_err = |cause| ClusterError::Bind { addr, cause };
    let reuse_port = policy == SchedulingPolicy::ReusePort;
    let socket = bind(addr, reuse_port).map_err(bind_err)?;
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    let shared = match policy {
        SchedulingPolicy::ReusePort => SharedAddress::ReusePort { _reserved: socket },
        SchedulingPolicy::Shared => {
            socket.listen(BACKLOG).map_err(bind_err)?;
            SharedAddress::Shared(socket.into())
        }
        SchedulingPolicy::RoundRobin => {
            socket.listen(BACKLOG).map_err(bind_err)?;
            SharedAddress::RoundRobin(Acceptor::new(socket.into()))
        }
    };
    Ok((shared, local))
}

fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

impl SharedAddress {
    /// A copy of the listening socket for one worker's setup frame (shared policy only).
    pub fn worker_copy(&self) -> io::Result<Option<OwnedFd>> {
        match self {
            SharedAddress::Shared(listener) => Ok(Some(listener.try_clone()?.into())),
            _ => Ok(None),
        }
    }

    /// Closes the primary's socket (the port is released once workers close theirs).
    pub fn close(&mut self, lp: &EventLoop) {
        if let SharedAddress::RoundRobin(acceptor) = self {
            acceptor.close(lp);
        }
        *self = SharedAddress::Closed;
    }
}

struct AcceptorInner {
    socket: RefCell<Option<mio::net::TcpListener>>,
    token: Cell<Option<Token>>,
    on_accept: RefCell<Option<AcceptCb>>,
}

/// Accepts on the primary's loop and passes each raw socket on (round-robin policy).
pub(crate) struct Acceptor {
    inner: Rc<AcceptorInner>,
}

impl Acceptor {
    fn new(listener: std::net::TcpListener) -> Self {
        Self {
            inner: Rc::new(AcceptorInner {
                socket: RefCell::new(Some(mio::net::TcpListener::from_std(listener))),
                token: Cell::new(None),
                on_accept: RefCell::new(None),
            }),
        }
    }

    /// Starts accepting; an active handle of `lp` until closed.
    pub fn start(
        &self,
        lp: &EventLoop,
        on_accept: impl FnMut(&EventLoop, OwnedFd) + 'static,
    ) -> io::Result<()> {
        *self.inner.on_accept.borrow_mut() = Some(Box::new(on_accept));
        let token = {
            let mut socket = self.inner.socket.borrow_mut();
            let Some(socket) = socket.as_mut() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            let watcher = Rc::clone(&self.inner) as Rc<dyn IoWatcher>;
            lp.register_io(socket, Interest::READABLE, watcher)?
        };
        self.inner.token.set(Some(token));
        lp.add_active_handles(1);
        let inner = Rc::clone(&self.inner);
        lp.push_pending(Box::new(move |lp| inner.accept_all(lp)));
        Ok(())
    }

    fn close(&self, lp: &EventLoop) {
        let socket = self.inner.socket.borrow_mut().take();
        if let (Some(mut socket), Some(token)) = (socket, self.inner.token.take()) {
            lp.deregister_io(&mut socket, token);
            lp.add_active_handles(-1);
        }
        self.inner.on_accept.borrow_mut().take();
    }
}

impl AcceptorInner {
    /// Accepts until the kernel has nothing more; an error (like `EMFILE`) ends the round, as in
    /// libuv, so a full descriptor table cannot spin the loop.
    fn accept_all(&self, lp: &EventLoop) {
        loop {
            let accepted = match &*self.socket.borrow() {
                Some(socket) => socket.accept(),
                None => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let Some(mut callback) = self.on_accept.borrow_mut().take() else {
                return;
            };
            callback(lp, OwnedFd::from(stream));
            lp.drain_ticks();
            let mut slot = self.on_accept.borrow_mut();
            if slot.is_none() && self.socket.borrow().is_some() {
                *slot = Some(callback);
            }
        }
    }
}

impl IoWatcher for AcceptorInner {
    fn ready(self: Rc<Self>, lp: &EventLoop, _ready: Ready) {
        self.accept_all(lp);
    }
}
