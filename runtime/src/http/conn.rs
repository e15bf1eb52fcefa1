//! One HTTP connection: parse what arrives, dispatch each request, write answers in order, with
//! bounded memory whatever the client sends.
//!
//! Invariants:
//! 1. Requests get increasing sequence numbers; `slots` holds one entry per request dispatched
//!    and not yet handed to the socket, oldest first, so responses leave in request order
//!    however late each is sent.
//! 2. A request is dispatched only while fewer than [`ServerOptions::max_pipeline_depth`] are
//!    in `slots` and unsent output (`out` plus the socket's write queue) is at most
//!    [`HIGH_WATER_BYTES`]. While either bound holds a request back the socket is not read: the
//!    client's further bytes wait in the kernel, whose window pushes back on it (Node pauses a
//!    socket whose responses do not drain). So one connection holds at most one read plus
//!    `max_head_bytes + max_body_bytes` of input, and `HIGH_WATER_BYTES` plus
//!    `max_pipeline_depth` answers of output, however many requests it pipelines.
//! 3. [`Conn::pump`] is the only place that dispatches, moves answers to `out` and writes. A
//!    handler answering at once re-enters it only to record the answer; the running pump picks
//!    it up, so a pipelined batch of immediate answers leaves in one write.
//! 4. Once a close is decided (`Connection: close`, HTTP/1.0, a protocol error, a timeout,
//!    EOF, server shutdown) nothing more is parsed; the connection closes after the last owed
//!    response.
//! 5. Nothing a client sends reaches a panic: every parse failure becomes a status code.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::parse::{step, Step};
use super::response::{Responder, Response};
use super::server::{ServerOptions, Shared};
use super::Request;
use crate::costs::{self, Event};
use crate::tcp::{ReadEvent, TcpStream};
use crate::EventLoop;

/// Unsent output above which no further request is dispatched (and the socket is not read)
/// until the socket has taken all of it: a client that does not read its answers.
pub(crate) const HIGH_WATER_BYTES: usize = 4 << 20;

struct Slot {
    keep_alive: bool,
    head_only: bool,
    bytes: Option<Vec<u8>>,
}

/// A request whose first bytes have been parsed but which is not complete yet.
#[derive(Clone, Copy)]
pub(super) struct Arriving {
    /// When its first bytes were parsed (the headers and request timeouts start here).
    pub since_ms: u64,
    /// The head is complete; the body is on its way.
    pub head_done: bool,
    /// Bytes needed before parsing again is worth it (0: unknown).
    pub need: usize,
}

#[derive(Default)]
pub(super) struct State {
    inbuf: Vec<u8>,
    /// Bytes of `inbuf` already dispatched (compacted on the next read).
    in_start: usize,
    next_seq: u64,
    next_out: u64,
    slots: VecDeque<Slot>,
    out: Vec<u8>,
    close_after: Option<u64>,
    pub stop_parsing: bool,
    pub closed: bool,
    pumping: bool,
    shutting_down: bool,
    reading: bool,
    draining: bool,
    pub last_active_ms: u64,
    pub arriving: Option<Arriving>,
}

impl State {
    /// Nothing owed: no answer outstanding, or only those before a decided close.
    pub fn waiting(&self) -> bool {
        self.next_seq == self.next_out || self.close_after.is_some()
    }
}

pub(crate) struct Conn {
    id: Cell<usize>,
    pub(super) stream: TcpStream,
    server: Weak<Shared>,
    pub(super) options: ServerOptions,
    pub(super) state: RefCell<State>,
}

impl Conn {
    pub fn start(lp: &EventLoop, server: &Rc<Shared>, stream: TcpStream) {
        let conn = Rc::new(Conn {
            id: Cell::new(usize::MAX),
            stream,
            server: Rc::downgrade(server),
            options: server.options,
            state: RefCell::new(State {
                last_active_ms: lp.now(),
                ..State::default()
            }),
        });
        conn.id
            .set(server.conns.borrow_mut().insert(Rc::clone(&conn)));
        conn.set_reading(lp, true);
    }

    fn set_reading(self: &Rc<Self>, lp: &EventLoop, on: bool) {
        if std::mem::replace(&mut self.state.borrow_mut().reading, on) == on {
            return;
        }
        if !on {
            return self.stream.read_stop(lp);
        }
        let conn = Rc::clone(self);
        self.stream.read_start(lp, move |lp, event| match event {
            ReadEvent::Data(bytes) => conn.on_data(lp, bytes),
            ReadEvent::Eof => conn.on_eof(lp),
            ReadEvent::Error(_) => conn.abort(lp),
        });
    }

    fn on_data(self: &Rc<Self>, lp: &EventLoop, bytes: &[u8]) {
        {
            let mut guard = self.state.borrow_mut();
            let st = &mut *guard;
            if st.stop_parsing || st.closed {
                return;
            }
            st.last_active_ms = lp.now();
            st.inbuf.drain(..st.in_start);
            st.in_start = 0;
            st.inbuf.extend_from_slice(bytes);
            // A head can only complete with a newline; a body only once it is all here.
            if let Some(arriving) = st.arriving {
                let waiting_for_head = !arriving.head_done
                    && !bytes.contains(&b'\n')
                    && st.inbuf.len() <= self.options.max_head_bytes;
                if waiting_for_head || st.inbuf.len() < arriving.need {
                    return;
                }
            }
        }
        self.pump(lp);
    }

    /// Dispatches buffered requests while the bounds allow, moves answers that are next in
    /// order to `out` and writes them, until neither makes progress; then closes if a close is
    /// due, or reads on or pauses (invariants 2 and 3).
    fn pump(self: &Rc<Self>, lp: &EventLoop) {
        if std::mem::replace(&mut self.state.borrow_mut().pumping, true) {
            return;
        }
        loop {
            self.take_answered(lp);
            if self.may_dispatch() && self.dispatch_next(lp) {
                continue;
            }
            // A refusal is answered at once.
            self.take_answered(lp);
            // Writing may bring the output back under the high-water mark: look again.
            if !self.send_out(lp) {
                break;
            }
        }
        self.state.borrow_mut().pumping = false;
        self.close_or_steer(lp);
    }

    fn may_dispatch(&self) -> bool {
        let st = self.state.borrow();
        !st.stop_parsing
            && !st.closed
            && st.slots.len() < self.options.max_pipeline_depth.max(1)
            && st.out.len() + self.stream.write_queue_size() <= HIGH_WATER_BYTES
    }

    fn next_step(&self) -> Step {
        let st = self.state.borrow();
        step(&st.inbuf[st.in_start..], &self.options)
    }

    /// Dispatches the request at the start of the buffer if it is complete; false if there is
    /// none yet (or it was refused).
    fn dispatch_next(self: &Rc<Self>, lp: &EventLoop) -> bool {
        match self.next_step() {
            Step::Nothing => false,
            Step::Wait { head_done, need } => {
                let mut st = self.state.borrow_mut();
                let since_ms = st.arriving.map_or_else(|| lp.now(), |a| a.since_ms);
                st.arriving = Some(Arriving {
                    since_ms,
                    head_done,
                    need,
                });
                false
            }
            Step::Refuse(status) => {
                self.fail(status);
                false
            }
            Step::Request {
                request,
                len,
                keep_alive,
            } => {
                {
                    let mut st = self.state.borrow_mut();
                    st.in_start += len;
                    st.arriving = None;
                }
                self.dispatch(lp, request, keep_alive);
                true
            }
        }
    }

    fn dispatch(self: &Rc<Self>, lp: &EventLoop, request: Request, keep_alive: bool) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let seq = {
            let mut st = self.state.borrow_mut();
            let seq = st.next_seq;
            st.next_seq += 1;
            st.slots.push_back(Slot {
                keep_alive,
                head_only: request.method == "HEAD",
                bytes: None,
            });
            if !keep_alive {
                st.close_after = Some(seq);
                st.stop_parsing = true;
            }
            seq
        };
        costs::charge(Event::HttpRequest);
        (server.handler)(lp, request, Responder::new(Rc::clone(self), seq));
    }

    /// Queues an error answer after those already owed, and stops parsing.
    pub(super) fn fail(&self, status: u16) {
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.slots.push_back(Slot {
            keep_alive: false,
            head_only: false,
            bytes: Some(Response::text(status, format!("{status}\n")).encode(None, false)),
        });
        st.close_after = Some(seq);
        st.stop_parsing = true;
        st.arriving = None;
        st.inbuf = Vec::new();
        st.in_start = 0;
    }

    /// Records the answer to request `seq`; written as soon as those before it are.
    pub fn complete(self: &Rc<Self>, lp: &EventLoop, seq: u64, response: &Response) {
        {
            let mut guard = self.state.borrow_mut();
            let st = &mut *guard;
            if st.closed || seq < st.next_out {
                return;
            }
            let close_after = st.close_after;
            let Some(slot) = st.slots.get_mut((seq - st.next_out) as usize) else {
                return;
            };
            if slot.bytes.is_some() {
                return;
            }
            let keep_alive = slot.keep_alive && close_after != Some(seq);
            let announced = keep_alive.then_some(self.options.keep_alive_timeout_ms / 1000);
            slot.bytes = Some(response.encode(announced, slot.head_only));
        }
        self.pump(lp);
    }

    /// Moves every answer that is next in order from `slots` to `out`.
    fn take_answered(&self, lp: &EventLoop) {
        let mut st = self.state.borrow_mut();
        let mut moved = false;
        while st.slots.front().is_some_and(|s| s.bytes.is_some()) {
            let bytes = st.slots.pop_front().and_then(|s| s.bytes);
            let bytes = bytes.unwrap_or_default();
            if st.out.is_empty() {
                st.out = bytes;
            } else {
                st.out.extend_from_slice(&bytes);
            }
            st.next_out += 1;
            moved = true;
        }
        if moved {
            st.last_active_ms = lp.now();
        }
    }

    /// Hands `out` to the socket; false if there was nothing to send.
    fn send_out(&self, lp: &EventLoop) -> bool {
        let out = std::mem::take(&mut self.state.borrow_mut().out);
        if out.is_empty() {
            return false;
        }
        self.stream.send(lp, out);
        true
    }

    /// Closes if a close is due; else reads while another request may be dispatched, and
    /// arranges to pump again once a socket over the high-water mark has drained.
    fn close_or_steer(self: &Rc<Self>, lp: &EventLoop) {
        let (done, close_now, stop_parsing) = {
            let mut guard = self.state.borrow_mut();
            let st = &mut *guard;
            let due = st.close_after.is_some_and(|last| st.next_out > last);
            // Shut down once: a second shutdown fails, and its callback would close at once.
            let close_now = due && !std::mem::replace(&mut st.shutting_down, true);
            (st.closed || st.shutting_down, close_now, st.stop_parsing)
        };
        if close_now {
            let conn = Rc::clone(self);
            return self.stream.shutdown(lp, move |lp, _| conn.abort(lp));
        }
        if done {
            return;
        }
        if self.stream.write_queue_size() > HIGH_WATER_BYTES {
            self.pump_when_drained(lp);
        }
        // After a close is decided, reading goes on only to notice a reset; bytes are dropped.
        let read_on = stop_parsing || self.may_dispatch();
        self.set_reading(lp, read_on);
    }

    /// Back-pressure: pump again once the kernel has taken everything owed to this client.
    fn pump_when_drained(self: &Rc<Self>, lp: &EventLoop) {
        if std::mem::replace(&mut self.state.borrow_mut().draining, true) {
            return;
        }
        let conn = Rc::clone(self);
        // An empty write completes once everything queued before it has gone out.
        self.stream.write(lp, Vec::new(), move |lp, result| {
            conn.state.borrow_mut().draining = false;
            match result {
                // The client is gone (reset): nothing will read this socket again.
                Err(_) => conn.abort(lp),
                Ok(()) => conn.pump(lp),
            }
        });
    }

    fn on_eof(self: &Rc<Self>, lp: &EventLoop) {
        // The stream stops reading by itself after EOF.
        self.state.borrow_mut().reading = false;
        self.close_when_answered(lp);
    }

    /// Server shutdown: close now if idle, else after the answers already owed.
    pub fn finish(self: &Rc<Self>, lp: &EventLoop) {
        self.close_when_answered(lp);
    }

    fn close_when_answered(self: &Rc<Self>, lp: &EventLoop) {
        let idle = {
            let mut st = self.state.borrow_mut();
            st.stop_parsing = true;
            st.arriving = None;
            if st.next_seq > st.next_out {
                st.close_after = Some(st.next_seq - 1);
                false
            } else {
                true
            }
        };
        if idle {
            self.abort(lp);
        }
    }

    /// Closes at once; owed answers are dropped.
    pub fn abort(&self, lp: &EventLoop) {
        if std::mem::replace(&mut self.state.borrow_mut().closed, true) {
            return;
        }
        {
            let mut st = self.state.borrow_mut();
            st.slots.clear();
            st.inbuf = Vec::new();
            st.out = Vec::new();
        }
        self.stream.close(lp, |_| {});
        if let Some(server) = self.server.upgrade() {
            server.forget(lp, self.id.get());
        }
    }

    /// The sweep's verdict was a late request: answer `408` after what is owed, then close.
    pub(super) fn time_out_request(self: &Rc<Self>, lp: &EventLoop) {
        self.fail(408);
        self.pump(lp);
    }
}
