//! Readiness-driven I/O on `mio`: handles register a watcher and are called from the poll phase.
//!
//! Sockets never touch the thread pool (NODE_MODEL.md 2.3): a watcher is told which readiness
//! arrived and does the non-blocking reads and writes itself, on the loop thread.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use mio::event::Source;
use mio::{Interest, Token};
use slab::Slab;

use crate::EventLoop;

/// The token of the loop's own waker (async sends and pool completions).
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Size of the event buffer, as libuv's 1024-entry epoll buffer.
pub(crate) const EVENTS_CAPACITY: usize = 1024;

/// Readable always; writable too only while there is something to write (libuv's habit: an
/// idle socket raises no writability events).
pub(crate) fn stream_interest(watching_writes: bool) -> Interest {
    if watching_writes {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}

/// What became ready for one watcher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ready {
    pub readable: bool,
    pub writable: bool,
    pub error: bool,
    pub read_closed: bool,
}

impl Ready {
    fn from_event(event: &mio::event::Event) -> Self {
        Ready {
            readable: event.is_readable(),
            writable: event.is_writable(),
            error: event.is_error(),
            read_closed: event.is_read_closed(),
        }
    }
}

/// A loop-side object that reacts to readiness of the source it registered.
pub(crate) trait IoWatcher {
    fn ready(self: Rc<Self>, lp: &EventLoop, ready: Ready);
}

pub(crate) struct Io {
    pub poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    watchers: RefCell<Slab<Rc<dyn IoWatcher>>>,
}

impl Io {
    pub fn new(poll: mio::Poll) -> Self {
        Self {
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(EVENTS_CAPACITY)),
            watchers: RefCell::new(Slab::new()),
        }
    }

    /// Waits up to `timeout` and appends what became ready to `out`; returns the event count.
    pub fn wait(
        &self,
        timeout: Option<std::time::Duration>,
        out: &mut Vec<(Token, Ready)>,
    ) -> usize {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: the loop iterates again, as libuv does.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return 0,
            Err(e) => panic!("epoll_wait failed on a valid epoll fd: {e}"),
        }
        let mut n = 0;
        for event in events.iter() {
            out.push((event.token(), Ready::from_event(event)));
            n += 1;
        }
        n
    }

    pub fn watcher(&self, token: Token) -> Option<Rc<dyn IoWatcher>> {
        self.watchers.borrow().get(token.0).cloned()
    }
}

impl EventLoop {
    /// Registers `source` for `interest`; readiness is delivered to `watcher` in the poll phase.
    pub(crate) fn register_io(
        &self,
        source: &mut impl Source,
        interest: Interest,
        watcher: Rc<dyn IoWatcher>,
    ) -> io::Result<Token> {
        let mut watchers = self.io.watchers.borrow_mut();
        let entry = watchers.vacant_entry();
        let token = Token(entry.key());
        self.io
            .poll
            .borrow()
            .registry()
            .register(source, token, interest)?;
        entry.insert(watcher);
        Ok(token)
    }

    /// Changes what `source` is watched for (`epoll_ctl(MOD)`; readiness present at the time
    /// of the change is reported, so nothing is lost).
    pub(crate) fn reregister_io(
        &self,
        source: &mut impl Source,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.io
            .poll
            .borrow()
            .registry()
            .reregister(source, token, interest)
    }

    /// Stops watching `source`; the watcher is dropped from the loop.
    pub(crate) fn deregister_io(&self, source: &mut impl Source, token: Token) {
        // Deregistering a source that is being closed can fail harmlessly (EBADF/ENOENT).
        let _ = self.io.poll.borrow().registry().deregister(source);
        self.io.watchers.borrow_mut().try_remove(token.0);
    }
}
