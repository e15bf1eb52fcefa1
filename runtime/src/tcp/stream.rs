//! TCP streams on the loop: non-blocking sockets driven by readiness in the poll phase.
//!
//! Like libuv's `uv_tcp_t`:
//! 1. a stream counts as an active handle only while it connects, reads, has queued writes or a
//!    pending shutdown (and is referenced);
//! 2. `write` tries the socket at once; what the kernel does not take waits in a queue drained
//!    on writability (back-pressure is visible through [`TcpStream::write_queue_size`]); a write
//!    callback for data written at once is deferred to the pending phase; like libuv, the socket
//!    is watched for writability only while connecting or while that queue is not empty, so a
//!    request/response exchange costs one readiness event, not two;
//! 3. `shutdown` half-closes after every queued write has gone out;
//! 4. the close callback runs in the closing phase, never synchronously; queued writes and a
//!    pending shutdown fail with `ECANCELED`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use mio::{Interest, Token};

use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

type ConnectCb = Box<dyn FnOnce(&EventLoop, io::Result<TcpStream>)>;
type DoneCb = Box<dyn FnOnce(&EventLoop, io::Result<()>)>;
type ReadCb = Rc<RefCell<Box<dyn FnMut(&EventLoop, ReadEvent<'_>)>>>;

/// Size of the stack buffer each read uses (libuv hands out 64 KiB buffers too).
const READ_BUFFER: usize = 64 * 1024;
/// Reads per readiness event before yielding to other handles (libuv's `uv__read` does 32), so
/// one fast sender cannot stall the loop.
const READS_PER_EVENT: usize = 32;

thread_local! {
    /// One read buffer per loop thread, allocated (and zeroed) once, not per read.
    static READ_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

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
    done: Option<DoneCb>,
}

#[derive(Default)]
struct State {
    connecting: Option<ConnectCb>,
    writes: VecDeque<WriteReq>,
    queued_bytes: usize,
    shutdown: Option<DoneCb>,
    reader: Option<ReadCb>,
    closed: bool,
    unreferenced: bool,
    counted_active: bool,
}

struct Inner {
    socket: RefCell<mio::net::TcpStream>,
    token: Cell<Token>,
    watching_writes: Cell<bool>,
    state: RefCell<State>,
}

/// A TCP connection owned by one loop. Cloning gives another reference to the same socket.
#[derive(Clone)]
pub struct TcpStream {
    inner: Rc<Inner>,
}

fn canceled() -> io::Error {
    io::Error::from_raw_os_error(libc::ECANCELED)
}

impl TcpStream {
    fn new_inner(socket: mio::net::TcpStream, state: State) -> Rc<Inner> {
        let watching_writes = Cell::new(state.connecting.is_some());
        Rc::new(Inner {
            socket: RefCell::new(socket),
            token: Cell::new(Token(0)),
            watching_writes,
            state: RefCell::new(state),
        })
    }

    fn register(lp: &EventLoop, inner: Rc<Inner>) -> io::Result<Self> {
        let token = lp.register_io(
            &mut *inner.socket.borrow_mut(),
            inner.interest(),
            Rc::clone(&inner) as Rc<dyn IoWatcher>,
        )?;
        inner.token.set(token);
        inner.update_active(lp);
        Ok(TcpStream { inner })
    }

    /// Adopts a connected socket from elsewhere (for example one received from another process
    /// over a Unix socket), made non-blocking and registered with this loop.
    pub fn from_std(lp: &EventLoop, socket: std::net::TcpStream) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Self::accepted(lp, mio::net::TcpStream::from_std(socket))
    }

    /// Wraps a socket a listener accepted.
    pub(crate) fn accepted(lp: &EventLoop, socket: mio::net::TcpStream) -> io::Result<Self> {
        // Node's HTTP server sets TCP_NODELAY on every connection; so do we.
        socket.set_nodelay(true)?;
        Self::register(lp, Self::new_inner(socket, State::default()))
    }

    /// Starts connecting to `addr`; `on_connect` runs in the poll phase with the stream or error.
    /// Errors found at once are reported through the pending queue, as libuv does.
    pub fn connect(
        lp: &EventLoop,
        addr: SocketAddr,
        on_connect: impl FnOnce(&EventLoop, io::Result<TcpStream>) + 'static,
    ) {
        let socket = match mio::net::TcpStream::connect(addr) {
            Ok(socket) => socket,
            Err(e) => return lp.push_pending(Box::new(move |lp| on_connect(lp, Err(e)))),
        };
        let state = State {
            connecting: Some(Box::new(on_connect)),
            ..State::default()
        };
        let inner = Self::new_inner(socket, state);
        if let Err(e) = Self::register(lp, Rc::clone(&inner)) {
            let cb = inner.state.borrow_mut().connecting.take();
            if let Some(cb) = cb {
                lp.push_pending(Box::new(move |lp| cb(lp, Err(e))));
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
        self.queue_write(lp, data, Some(Box::new(on_written)));
    }

    /// Queues `data` without a completion callback.
    pub fn send(&self, lp: &EventLoop, data: Vec<u8>) {
        self.queue_write(lp, data, None);
    }

    fn queue_write(&self, lp: &EventLoop, data: Vec<u8>, done: Option<DoneCb>) {
        let mut state = self.inner.state.borrow_mut();
        if state.closed || state.shutdown.is_some() {
            drop(state);
            if let Some(done) = done {
                let e = io::Error::from_raw_os_error(libc::EPIPE);
                lp.push_pending(Box::new(move |lp| done(lp, Err(e))));
            }
            return;
        }
        let was_idle = state.writes.is_empty() && state.connecting.is_none();
        state.queued_bytes += data.len();
        state.writes.push_back(WriteReq {
            data,
            offset: 0,
            done,
        });
        drop(state);
        if was_idle {
            self.inner.flush(lp, true);
        }
        self.inner.update_active(lp);
    }

    /// Bytes accepted by `write` but not yet taken by the kernel (Node's `writableLength`).
    pub fn write_queue_size(&self) -> usize {
        self.inner.state.borrow().queued_bytes
    }

    /// Half-closes the sending side once every queued write is out (`uv_shutdown`).
    pub fn shutdown(
        &self,
        lp: &EventLoop,
        on_done: impl FnOnce(&EventLoop, io::Result<()>) + 'static,
    ) {
        let mut state = self.inner.state.borrow_mut();
        if state.closed || state.shutdown.is_some() {
            drop(state);
            lp.push_pending(Box::new(move |lp| on_done(lp, Err(canceled()))));
            return;
        }
        state.shutdown = Some(Box::new(on_done));
        let idle = state.writes.is_empty() && state.connecting.is_none();
        drop(state);
        if idle {
            self.inner.finish_shutdown(lp);
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
        lp.push_pending(Box::new(move |lp| inner.read_ready(lp, false)));
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

    /// `uv_ref`: this stream keeps the loop alive again while active.
    pub fn ref_(&self, lp: &EventLoop) {
        self.inner.state.borrow_mut().unreferenced = false;
        self.inner.update_active(lp);
    }

    /// Whether [`TcpStream::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.state.borrow().closed
    }

    /// Closes the socket. Queued writes and a pending shutdown fail with `ECANCELED`;
    /// `on_close` runs in the closing phase.
    pub fn close(&self, lp: &EventLoop, on_close: impl FnOnce(&EventLoop) + 'static) {
        let mut state = self.inner.state.borrow_mut();
        if std::mem::replace(&mut state.closed, true) {
            return;
        }
        state.reader = None;
        state.queued_bytes = 0;
        let connecting = state.connecting.take();
        let shutdown = state.shutdown.take();
        let writes: Vec<WriteReq> = state.writes.drain(..).collect();
        drop(state);
        lp.deregister_io(&mut *self.inner.socket.borrow_mut(), self.inner.token.get());
        let _ = self.inner.socket.borrow().shutdown(Shutdown::Both);
        self.inner.update_active(lp);
        if let Some(cb) = connecting {
            lp.push_pending(Box::new(|lp| cb(lp, Err(canceled()))));
        }
        let dones = writes.into_iter().filter_map(|w| w.done).chain(shutdown);
        for done in dones {
            lp.push_pending(Box::new(|lp| done(lp, Err(canceled()))));
        }
        lp.push_closing(Box::new(on_close));
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.borrow().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.borrow().local_addr()
    }
}

impl Inner {
    fn interest(&self) -> Interest {
        crate::io::stream_interest(self.watching_writes.get())
    }

    /// Watches for writability only while it is needed (connecting, or writes queued).
    fn watch_writes(&self, lp: &EventLoop, on: bool) {
        if self.watching_writes.replace(on) == on || self.state.borrow().closed {
            return;
        }
        let token = self.token.get();
        if let Err(e) = lp.reregister_io(&mut *self.socket.borrow_mut(), token, self.interest()) {
            // The socket is unusable; the next read or write reports the real error.
            let _ = e;
        }
    }

    /// Keeps the loop's active-handle count in step with libuv's notion of an active stream.
    fn update_active(&self, lp: &EventLoop) {
        let mut state = self.state.borrow_mut();
        let busy = state.connecting.is_some()
            || state.reader.is_some()
            || !state.writes.is_empty()
            || state.shutdown.is_some();
        let active = !state.closed && !state.unreferenced && busy;
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
                Ok(_) => socket.set_nodelay(true),
                // Not connected yet: a spurious wake-up; keep waiting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
                Err(e) => Err(e),
            },
        };
        drop(socket);
        let Some(cb) = self.state.borrow_mut().connecting.take() else {
            return true;
        };
        let queued = !self.state.borrow().writes.is_empty();
        self.watch_writes(lp, queued);
        self.update_active(lp);
        cb(
            lp,
            result.map(|()| TcpStream {
                inner: Rc::clone(self),
            }),
        );
        lp.drain_ticks();
        true
    }

    /// Writes queued data until done or the kernel pushes back; then a pending shutdown.
    fn flush(self: &Rc<Self>, lp: &EventLoop, deferred: bool) {
        loop {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            if state.closed {
                return;
            }
            let Some(req) = state.writes.front_mut() else {
                break;
            };
            let written = self.socket.borrow_mut().write(&req.data[req.offset..]);
            let outcome = match written {
                Ok(n) => {
                    req.offset += n;
                    state.queued_bytes -= n;
                    if req.offset < req.data.len() {
                        continue;
                    }
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(guard);
                    self.watch_writes(lp, true);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let done = state.writes.pop_front();
            if outcome.is_err() {
                if let Some(failed) = &done {
                    state.queued_bytes -= failed.data.len() - failed.offset;
                }
            }
            drop(guard);
            self.update_active(lp);
            if let Some(done) = done.and_then(|r| r.done) {
                if deferred {
                    lp.push_pending(Box::new(move |lp| done(lp, outcome)));
                } else {
                    done(lp, outcome);
                    lp.drain_ticks();
                }
            }
        }
        self.watch_writes(lp, false);
        if self.state.borrow().shutdown.is_some() {
            self.finish_shutdown(lp);
        }
    }

    fn finish_shutdown(self: &Rc<Self>, lp: &EventLoop) {
        let Some(done) = self.state.borrow_mut().shutdown.take() else {
            return;
        };
        let result = self.socket.borrow().shutdown(Shutdown::Write);
        self.update_active(lp);
        lp.push_pending(Box::new(move |lp| done(lp, result)));
    }

    /// Reads what is there. `short_read_drains` says a short read may end the pass: true for a
    /// plain readable event; false when the peer's FIN may also be waiting (the event said so,
    /// or nobody knows, as when reading starts), since a FIN raises no further edge.
    fn read_ready(self: &Rc<Self>, lp: &EventLoop, short_read_drains: bool) {
        READ_BUF.with(|cell| {
            // Borrowed for the whole pass; a (never expected) nested pass gets a fresh buffer.
            let mut buf = cell.take();
            buf.resize(READ_BUFFER, 0);
            self.read_into(lp, &mut buf, short_read_drains);
            cell.replace(buf);
        });
    }

    fn read_into(self: &Rc<Self>, lp: &EventLoop, buf: &mut [u8], short_read_drains: bool) {
        for _ in 0..READS_PER_EVENT {
            let Some(reader) = self.state.borrow().reader.clone() else {
                return;
            };
            let read = self.socket.borrow_mut().read(buf);
            // A short read drained the socket; anything arriving later raises a new edge. Like
            // libuv's uv__read, stop there instead of paying a read that returns EAGAIN.
            let drained = short_read_drains && matches!(read, Ok(n) if n > 0 && n < buf.len());
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
                // libuv stops reading after EOF or an error.
                self.state.borrow_mut().reader = None;
                self.update_active(lp);
                return;
            }
            if drained {
                return;
            }
        }
        // More may be waiting, and readiness is edge-triggered: continue next iteration.
        let inner = Rc::clone(self);
        lp.push_pending(Box::new(move |lp| inner.read_ready(lp, short_read_drains)));
    }
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
        if ready.writable || ready.error {
            self.flush(lp, false);
        }
        if ready.readable || ready.read_closed || ready.error {
            self.read_ready(lp, !(ready.read_closed || ready.error));
        }
    }
}
