//! One end of a primary–worker channel on an event loop: frames in and out of a non-blocking
//! Unix stream socket, read and written on readiness in the poll phase.
//!
//! Invariants:
//! 1. frames go out in `send` order; a frame that the kernel does not take at once waits in a
//!    queue drained on writability, and the socket is watched for writability only while that
//!    queue is not empty (as TCP streams are);
//! 2. frames are delivered in arrival order, one handler call each, ticks drained after each;
//! 3. the channel ends once: on end of stream, a read or write error or a protocol error, `on_end`
//!    runs (`Ok` for a clean end of stream) after the socket is closed; [`Channel::close`] ends it
//!    without calling `on_end`;
//! 4. an open, started channel is an active, referenced handle of its loop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use mio::{Interest, Token};

use super::ipc::{self, Decoder, Frame, Kind};
use crate::io::{IoWatcher, Ready};
use crate::EventLoop;

type FrameCb = Box<dyn FnMut(&EventLoop, Frame)>;
type EndCb = Box<dyn FnOnce(&EventLoop, io::Result<()>)>;

/// Bytes read per `recvmsg`.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before yielding to other handles (as TCP streams do).
const READS_PER_EVENT: usize = 32;

thread_local! {
    /// One read buffer per loop thread, allocated once, not per readiness event.
    static READ_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

struct Outgoing {
    bytes: Vec<u8>,
    offset: usize,
    /// Attached to the first byte; emptied once any part of the frame went out.
    fds: Vec<OwnedFd>,
}

struct Inner {
    socket: RefCell<Option<mio::net::UnixStream>>,
    token: Cell<Option<Token>>,
    watching_writes: Cell<bool>,
    decoder: RefCell<Decoder>,
    writes: RefCell<VecDeque<Outgoing>>,
    on_frame: RefCell<Option<FrameCb>>,
    on_end: RefCell<Option<EndCb>>,
    close_when_flushed: Cell<bool>,
}

/// A framed, descriptor-passing channel (clones share it).
#[derive(Clone)]
pub(crate) struct Channel {
    inner: Rc<Inner>,
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the cluster IPC channel is closed",
    )
}

impl Channel {
    /// Wraps one end of a socket pair; nothing is watched until [`Channel::start`].
    pub fn new(socket: UnixStream) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            inner: Rc::new(Inner {
                socket: RefCell::new(Some(mio::net::UnixStream::from_std(socket))),
                token: Cell::new(None),
                watching_writes: Cell::new(false),
                decoder: RefCell::new(Decoder::default()),
                writes: RefCell::new(VecDeque::new()),
                on_frame: RefCell::new(None),
                on_end: RefCell::new(None),
                close_when_flushed: Cell::new(false),
            }),
        })
    }

    /// Before `start`: blocks up to `timeout_ms` for one whole frame. Bytes after it stay
    /// buffered for the loop.
    pub fn read_frame_blocking(&self, timeout_ms: i32) -> io::Result<Frame> {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms.max(0) as u64);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            if let Some(frame) = self.inner.decoder.borrow_mut().next_frame()? {
                return Ok(frame);
            }
            let fd = self.raw_fd()?;
            match self.inner.recv(fd, &mut buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !ipc::wait_readable(fd, left.as_millis() as i32)? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no frame from the cluster primary within {timeout_ms} ms"),
                ));
            }
        }
    }

    fn raw_fd(&self) -> io::Result<i32> {
        match &*self.inner.socket.borrow() {
            Some(socket) => Ok(socket.as_raw_fd()),
            None => Err(closed()),
        }
    }

    /// Registers with `lp`: frames go to `on_frame`, the end of the channel to `on_end`.
    pub fn start(
        &self,
        lp: &EventLoop,
        on_frame: impl FnMut(&EventLoop, Frame) + 'static,
        on_end: impl FnOnce(&EventLoop, io::Result<()>) + 'static,
    ) -> io::Result<()> {
        *self.inner.on_frame.borrow_mut() = Some(Box::new(on_frame));
        *self.inner.on_end.borrow_mut() = Some(Box::new(on_end));
        let token = {
            let mut socket = self.inner.socket.borrow_mut();
            let socket = socket.as_mut().ok_or_else(closed)?;
            let watcher = Rc::clone(&self.inner) as Rc<dyn IoWatcher>;
            lp.register_io(socket, self.inner.interest(), watcher)?
        };
        self.inner.token.set(Some(token));
        lp.add_active_handles(1);
        // Frames may already be buffered (read before start) or waiting in the socket.
        let inner = Rc::clone(&self.inner);
        lp.push_pending(Box::new(move |lp| inner.read_ready(lp)));
        self.inner.flush(lp);
        Ok(())
    }

    /// Whether the channel is still open.
    pub fn is_open(&self) -> bool {
        self.inner.socket.borrow().is_some() && !self.inner.close_when_flushed.get()
    }

    /// Queues one frame; descriptors are sent with it (and closed here once sent).
    pub fn send(
        &self,
        lp: &EventLoop,
        kind: Kind,
        payload: &[u8],
        fds: Vec<OwnedFd>,
    ) -> io::Result<()> {
        if !self.is_open() {
            return Err(closed());
        }
        let bytes = ipc::encode(kind, payload, fds.len())?;
        self.inner.writes.borrow_mut().push_back(Outgoing {
            bytes,
            offset: 0,
            fds,
        });
        if self.inner.writes.borrow().len() == 1 {
            self.inner.flush(lp);
        }
        Ok(())
    }

    /// Reads and delivers, now, every frame already in the socket (for a peer known to be
    /// dead, whose last frames must not be lost to the order of readiness events).
    pub fn read_now(&self, lp: &EventLoop) {
        while self.inner.socket.borrow().is_some() && self.inner.read_pass(lp) {}
    }

    /// Closes at once; queued frames are dropped and `on_end` is not called.
    pub fn close(&self, lp: &EventLoop) {
        self.inner.on_end.borrow_mut().take();
        self.inner.shut(lp);
    }

    /// Closes once every queued frame is out (or at once if none is queued).
    pub fn close_after_flush(&self, lp: &EventLoop) {
        self.inner.close_when_flushed.set(true);
        if self.inner.writes.borrow().is_empty() {
            self.close(lp);
        }
    }
}

impl Inner {
    fn interest(&self) -> Interest {
        crate::io::stream_interest(self.watching_writes.get())
    }

    fn recv(&self, fd: i32, buf: &mut [u8]) -> io::Result<usize> {
        let mut fds = Vec::new();
        let result = ipc::recv_with_fds(fd, buf, &mut fds);
        let mut decoder = self.decoder.borrow_mut();
        decoder.push_fds(fds);
        if let Ok(n) = result {
            decoder.push_bytes(&buf[..n]);
        }
        result
    }

    fn watch_writes(&self, lp: &EventLoop, on: bool) {
        if self.watching_writes.replace(on) == on {
            return;
        }
        let (Some(token), Some(socket)) = (self.token.get(), &mut *self.socket.borrow_mut()) else {
            return;
        };
        // On failure the socket is unusable and the next send or read reports why.
        let _ = lp.reregister_io(socket, token, self.interest());
    }

    /// Writes queued frames until done or the kernel pushes back.
    fn flush(self: &Rc<Self>, lp: &EventLoop) {
        if self.token.get().is_none() {
            return; // Not started: the queue goes out from `start`.
        }
        loop {
            let Some(fd) = self.socket.borrow().as_ref().map(|s| s.as_raw_fd()) else {
                return;
            };
            let mut writes = self.writes.borrow_mut();
            let Some(out) = writes.front_mut() else {
                break;
            };
            match ipc::send_with_fds(fd, &out.bytes[out.offset..], &out.fds) {
                Ok(n) => {
                    out.offset += n;
                    out.fds.clear();
                    if out.offset == out.bytes.len() {
                        writes.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(writes);
                    self.watch_writes(lp, true);
                    return;
                }
                Err(e) => {
                    drop(writes);
                    let inner = Rc::clone(self);
                    // Reported from the pending phase so a `send` never re-enters its caller.
                    lp.push_pending(Box::new(move |lp| inner.end(lp, Err(e))));
                    return;
                }
            }
        }
        self.watch_writes(lp, false);
        if self.close_when_flushed.get() {
            self.on_end.borrow_mut().take();
            self.shut(lp);
        }
    }

    /// Reads what is there and delivers every complete frame.
    fn read_ready(self: &Rc<Self>, lp: &EventLoop) {
        if self.read_pass(lp) {
            // Edge-triggered readiness: continue in the next iteration.
            let inner = Rc::clone(self);
            lp.push_pending(Box::new(move |lp| inner.read_ready(lp)));
        }
    }

    /// One bounded pass of reads and deliveries; true if more may be waiting.
    fn read_pass(self: &Rc<Self>, lp: &EventLoop) -> bool {
        let mut buf = READ_BUF.with(Cell::take);
        buf.resize(READ_CHUNK, 0);
        let more = self.read_into(lp, &mut buf);
        READ_BUF.with(|cell| cell.replace(buf));
        more
    }

    fn read_into(self: &Rc<Self>, lp: &EventLoop, buf: &mut [u8]) -> bool {
        let mut outcome = None;
        let mut more = true;
        for _ in 0..READS_PER_EVENT {
            let Some(fd) = self.socket.borrow().as_ref().map(|s| s.as_raw_fd()) else {
                return false;
            };
            match self.recv(fd, buf) {
                Ok(0) => {
                    outcome = Some(Ok(()));
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(e) => {
                    outcome = Some(Err(e));
                    break;
                }
            }
        }
        if let Err(e) = self.deliver(lp) {
            self.end(lp, Err(e));
            return false;
        }
        match outcome {
            Some(Ok(())) if self.decoder.borrow().has_partial() => {
                self.end(lp, Err(io::ErrorKind::UnexpectedEof.into()))
            }
            Some(result) => self.end(lp, result),
            None => return more,
        }
        false
    }

    fn deliver(&self, lp: &EventLoop) -> io::Result<()> {
        loop {
            if self.socket.borrow().is_none() {
                return Ok(());
            }
            let Some(frame) = self.decoder.borrow_mut().next_frame()? else {
                return Ok(());
            };
            let Some(mut callback) = self.on_frame.borrow_mut().take() else {
                return Ok(());
            };
            callback(lp, frame);
            lp.drain_ticks();
            let mut slot = self.on_frame.borrow_mut();
            if slot.is_none() && self.socket.borrow().is_some() {
                *slot = Some(callback);
            }
        }
    }

    fn end(&self, lp: &EventLoop, result: io::Result<()>) {
        let on_end = self.on_end.borrow_mut().take();
        self.shut(lp);
        if let Some(on_end) = on_end {
            on_end(lp, result);
            lp.drain_ticks();
        }
    }

    /// Deregisters and closes the socket; drops queued frames and their descriptors.
    fn shut(&self, lp: &EventLoop) {
        let Some(mut socket) = self.socket.borrow_mut().take() else {
            return;
        };
        if let Some(token) = self.token.take() {
            lp.deregister_io(&mut socket, token);
            lp.add_active_handles(-1);
        }
        self.writes.borrow_mut().clear();
        self.on_frame.borrow_mut().take();
    }
}

impl IoWatcher for Inner {
    fn ready(self: Rc<Self>, lp: &EventLoop, ready: Ready) {
        if ready.writable || ready.error {
            self.flush(lp);
        }
        if ready.readable || ready.read_closed || ready.error {
            self.read_ready(lp);
        }
    }
}
