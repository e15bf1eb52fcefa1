//! TCP streams on the loop: non-blocking sockets driven by readiness in the poll phase.
//!
//! Minimal on purpose (a client is what the experiments need): connect, write with a queue
//! drained on writability, read start/stop, close with a close callback, ref/unref.
//! Like libuv, a stream counts as an active handle only while it connects, reads or has queued
//! writes; a write that completes at once has its callback deferred to the pending phase; and
//! the close callback runs in the closing phase, never synchronously.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use mio::{Interest, Token};

use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

type ConnectCb = Box<dyn FnOnce(&EventLoop, io::Result<TcpStream>)>;
type WriteCb = Box<dyn FnOnce(&EventLoop, io::Result<()>)>;
type ReadCb = Rc<RefCell<Box<dyn FnMut(&EventLoop, ReadEvent<'_>)>>>;

/// What a read callback receives.
#[derive(Debug)]
pub enum ReadEvent<'a> {
    /// Bytes that arrived.
    Data(&'a [u8]),
    /// The peer closed its side.
    Eof,
    /// The connection failed.
    Error(io::Error),
}

struct WriteReq {
    data: Vec<u8>,
    offset: usize,
    done: Option<WriteCb>,
}

#[derive(Default)]
struct State {
    connecting: Option<ConnectCb>,
    writes: VecDeque<WriteReq>,
    reader: Option<ReadCb>,
    closed: bool,
    unreferenced: bool,
    counted_active: bool,
}

struct Inner {
    socket: RefCell<mio::net::TcpStream>,
    token: Cell<Token>,
    state: RefCell<State>,
}

/// A TCP connection owned by one loop. Cloning gives another reference to the same socket.
#[derive(Clone)]
pub struct TcpStream {
    inner: Rc<Inner>,
}

impl TcpStream {
    /// Starts connecting to `addr`; `on_connect` runs in the poll phase with the stream or error.
    pub fn connect(
        lp: &EventLoop,
        addr: SocketAddr,
        on_connect: impl FnOnce(&EventLoop, io::Result<TcpStream>) + 'static,
    ) {
        let socket = match mio::net::TcpStream::connect(addr) {
            Ok(socket) => socket,
            Err(e) => {
                // libuv reports synchronous connect errors through the pending queue.
                lp.push_pending(Box::new(move |lp| on_connect(lp, Err(e))));
                return;
            }
        };
        let inner = Rc::new(Inner {
            socket: RefCell::new(socket),
            token: Cell::new(Token(0)),
            state: RefCell::new(State {
                connecting: Some(Box::new(on_connect)),
                ..State::default()
            }),
        });
        let registered = lp.register_io(
            &mut *inner.socket.borrow_mut(),
            Interest::READABLE | Interest::WRITABLE,
            Rc::clone(&inner) as Rc<dyn IoWatcher>,
        );
        match registered {
            Ok(token) => {
                inner.token.set(token);
                inner.update_active(lp);
            }
            Err(e) => {
                let cb = inner.state.borrow_mut().connecting.take();
                if let Some(cb) = cb {
                    lp.push_pending(Box::new(move |lp| cb(lp, Err(e))));
                }
            }
        }
    }

    /// Queues `data`; `on_written` runs once all of it is handed to the kernel (or on error).
    pub fn write(
        &self,
        lp: &EventLoop,
        data: Vec<u8>,
        on_written: impl FnOnce(&EventLoop, io::Result<()>) + 'static,
    ) {
        let mut state = self.inner.state.borrow_mut();
        if state.closed {
            drop(state);
            let e = io::Error::from_raw_os_error(libc::EPIPE);
            lp.push_pending(Box::new(move |lp| on_written(lp, Err(e))));
            return;
        }
        let was_idle = state.writes.is_empty() && state.connecting.is_none();
        state.writes.push_back(WriteReq {
            data,
            offset: 0,
            done: Some(Box::new(on_written)),
        });
        drop(state);
        if was_idle {
            // Try at once; callbacks of writes that complete now are deferred to pending.
            self.inner.flush(lp, true);
        }
        self.inner.update_active(lp);
    }

    /// Starts delivering reads to `on_read` (data, EOF or error) from the poll phase.
    pub fn read_start(
        &self,
        lp: &EventLoop,
        on_read: impl FnMut(&EventLoop, ReadEvent<'_>) + 'static,
    ) {
        self.inner.state.borrow_mut().reader = Some(Rc::new(RefCell::new(Box::new(on_read))));
        self.inner.update_active(lp);
        // Readiness is edge-triggered: data that arrived before reading started must be read now.
        let inner = Rc::clone(&self.inner);
        lp.push_pending(Box::new(move |lp| inner.read_ready(lp)));
    }

    /// Stops reading.
    pub fn read_stop(&self, lp: &EventLoop) {
        self.inner.state.borrow_mut().reader = None;
        self.inner.update_active(lp);
    }

    /// `uv_unref`: this stream no longer keeps the loop alive.
    pub fn unref(&self, lp: &EventLoop) {
        self.inner.state.borrow_mut().unreferenced = true;
        self.inner.update_active(lp);
    }

    /// Closes the socket. Queued writes fail with `ECANCELED`; `on_close` runs in the closing
    /// phase.
    pub fn close(&self, lp: &EventLoop, on_close: impl FnOnce(&EventLoop) + 'static) {
        let mut state = self.inner.state.borrow_mut();
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        state.reader = None;
        let connecting = state.connecting.take();
        let writes: Vec<WriteReq> = state.writes.drain(..).collect();
        drop(state);
        lp.deregister_io(&mut *self.inner.socket.borrow_mut(), self.inner.token.get());
        let _ = self
            .inner
            .socket
            .borrow()
            .shutdown(std::net::Shutdown::Both);
        self.inner.update_active(lp);
        if let Some(cb) = connecting {
            lp.push_pending(Box::new(|lp| {
                cb(lp, Err(io::Error::from_raw_os_error(libc::ECANCELED)))
            }));
        }
        for write in writes {
            if let Some(done) = write.done {
                lp.push_pending(Box::new(|lp| {
                    done(lp, Err(io::Error::from_raw_os_error(libc::ECANCELED)))
                }));
            }
        }
        lp.push_closing(Box::new(on_close));
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.borrow().peer_addr()
    }
}

impl Inner {
    /// Keeps the loop's active-handle count in step with libuv's notion of an active stream.
    fn update_active(&self, lp: &EventLoop) {
        let mut state = self.state.borrow_mut();
        let active = !state.closed
            && !state.unreferenced
            && (state.connecting.is_some() || state.reader.is_some() || !state.writes.is_empty());
        if active != state.counted_active {
            state.counted_active = active;
            lp.add_active_handles(if active { 1 } else { -1 });
        }
    }

    fn finish_connect(self: &Rc<Self>, lp: &EventLoop) -> bool {
        let socket = self.socket.borrow();
        let result = match socket.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match socket.peer_addr() {
                Ok(_) => Ok(()),
                // Not connected yet: a spurious wake-up; keep waiting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
                Err(e) => Err(e),
            },
        };
        drop(socket);
        let Some(cb) = self.state.borrow_mut().connecting.take() else {
            return true;
        };
        let _ = socket_nodelay(&self.socket.borrow());
        self.update_active(lp);
        let stream = TcpStream {
            inner: Rc::clone(self),
        };
        match result {
            Ok(()) => cb(lp, Ok(stream)),
            Err(e) => cb(lp, Err(e)),
        }
        true
    }

    /// Writes queued data until done or the kernel pushes back.
    fn flush(self: &Rc<Self>, lp: &EventLoop, deferred: bool) {
        loop {
            let mut state = self.state.borrow_mut();
            if state.closed {
                return;
            }
            let Some(req) = state.writes.front_mut() else {
                return;
            };
            let written = self.socket.borrow_mut().write(&req.data[req.offset..]);
            let outcome = match written {
                Ok(n) => {
                    req.offset += n;
                    if req.offset < req.data.len() {
                        continue;
                    }
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let done = state.writes.pop_front().and_then(|r| r.done);
            drop(state);
            self.update_active(lp);
            if let Some(done) = done {
                if deferred {
                    lp.push_pending(Box::new(move |lp| done(lp, outcome)));
                } else {
                    done(lp, outcome);
                }
            }
        }
    }

    fn read_ready(self: &Rc<Self>, lp: &EventLoop) {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let Some(reader) = self.state.borrow().reader.clone() else {
                return;
            };
            let read = self.socket.borrow_mut().read(&mut buf);
            let event = match read {
                Ok(0) => ReadEvent::Eof,
                Ok(n) => ReadEvent::Data(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => ReadEvent::Error(e),
            };
            let last = !matches!(event, ReadEvent::Data(_));
            (reader.borrow_mut())(lp, event);
            lp.drain_ticks();
            if last {
                return;
            }
        }
    }
}

fn socket_nodelay(socket: &mio::net::TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)
}

impl IoWatcher for Inner {
    fn ready(self: Rc<Self>, lp: &EventLoop, ready: Ready) {
        if self.state.borrow().closed {
            return;
        }
        let connecting = self.state.borrow().connecting.is_some();
        if connecting
            && (!(ready.writable || ready.error || ready.read_closed) || !self.finish_connect(lp))
        {
            return;
        }
        if ready.writable {
            self.flush(lp, false);
        }
        if ready.readable || ready.read_closed || ready.error {
            self.read_ready(lp);
        }
    }
}
