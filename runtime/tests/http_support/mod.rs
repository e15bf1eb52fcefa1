//! Shared helpers of the HTTP integration tests (`http_protocol`, `http_lifecycle`, `http_fds`):
//! a server on its own loop thread, a small set of routes, and (in `client.rs`) blocking
//! loopback clients.
//!
//! Invariants that keep every test bounded:
//! 1. the server's `EventLoop` is created inside its own thread (it is `!Send`); the test talks
//!    to it only through a command channel plus an [`AsyncSender`] wake-up;
//! 2. every client socket has 5 s read and write timeouts and connects with a 5 s timeout, so a
//!    missing answer fails the test instead of hanging it;
//! 3. stopping closes the server gracefully and waits at most [`STOP_TIMEOUT`] for its thread;
//!    a panic on the server thread is re-raised in the test.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use looplab_runtime::http::{HttpServer, Request, Responder, Response, ServerOptions};
use looplab_runtime::{crypto, AsyncHandle, AsyncSender, EventLoop, RunMode, ThreadPool, WorkSpec};

mod client;
pub use client::{get, Client};

/// Read, write and connect timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the server thread to finish after a close.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The loopback address with a free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

enum Command {
    Connections(mpsc::Sender<usize>),
    Close {
        grace_ms: u64,
        done: mpsc::Sender<()>,
    },
}

/// What the server thread saw by the time its loop ended.
#[derive(Debug)]
pub struct ServerOutcome {
    /// The `on_closed` callback of `HttpServer::close` ran.
    pub on_closed_ran: bool,
    /// `HttpServer::connections()` after the loop returned.
    pub connections_left: usize,
}

/// An `HttpServer` serving on a dedicated thread.
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    wake: AsyncSender,
    closing: Cell<bool>,
    thread: Option<JoinHandle<ServerOutcome>>,
}

type Started = io::Result<(SocketAddr, AsyncSender)>;

impl TestServer {
    /// Starts a server on 127.0.0.1 with a free port; panics if it cannot bind.
    pub fn start(
        options: ServerOptions,
        handler: impl Fn(&EventLoop, Request, Responder) + Send + 'static,
    ) -> Self {
        Self::start_at(loopback(), options, handler).expect("bind the test server on loopback")
    }

    /// Starts a server on `addr`; the bind error if it cannot.
    pub fn start_at(
        addr: SocketAddr,
        options: ServerOptions,
        handler: impl Fn(&EventLoop, Request, Responder) + Send + 'static,
    ) -> io::Result<Self> {
        let (started_tx, started_rx) = mpsc::channel::<Started>();
        let (commands, command_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("http-test-server".into())
            .spawn(move || serve(addr, options, handler, started_tx, command_rx))?;
        let started = started_rx
            .recv_timeout(IO_TIMEOUT)
            .map_err(|e| io::Error::other(format!("the server thread did not start: {e}")));
        match started.and_then(|r| r) {
            Ok((addr, wake)) => Ok(Self {
                addr,
                commands,
                wake,
                closing: Cell::new(false),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    fn command(&self, command: Command) {
        self.commands
            .send(command)
            .expect("the server thread is running");
        self.wake.send();
    }

    /// `HttpServer::connections()`, asked on the loop thread. Only while the loop runs.
    pub fn connections(&self) -> usize {
        let (tx, rx) = mpsc::channel();
        self.command(Command::Connections(tx));
        rx.recv_timeout(IO_TIMEOUT)
            .expect("the server loop answers a connections query")
    }

    /// Polls [`Self::connections`] until it equals `n`, for at most `within`; the last count.
    pub fn wait_for_connections(&self, n: usize, within: Duration) -> usize {
        let start = Instant::now();
        loop {
            let count = self.connections();
            if count == n || start.elapsed() > within {
                return count;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Calls `HttpServer::close(grace_ms)` on the loop and returns once it has been called.
    pub fn close(&self, grace_ms: u64) {
        if self.closing.replace(true) {
            return;
        }
        let (done, rx) = mpsc::channel();
        self.command(Command::Close { grace_ms, done });
        rx.recv_timeout(IO_TIMEOUT)
            .expect("the server loop runs the close command");
    }

    /// Closes (grace 1 s unless [`Self::close`] was called) and joins the server thread.
    pub fn stop(mut self) -> ServerOutcome {
        self.close(1_000);
        let thread = self.thread.take().expect("joined once");
        let start = Instant::now();
        while !thread.is_finished() {
            assert!(
                start.elapsed() < STOP_TIMEOUT,
                "the server loop did not end within {STOP_TIMEOUT:?} of close"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        match thread.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that failed before `stop`: ask the loop to end, do not wait for it.
        if self.thread.is_some() && !self.closing.get() {
            let (done, _rx) = mpsc::channel();
            let _ = self.commands.send(Command::Close { grace_ms: 0, done });
            self.wake.send();
        }
    }
}

/// The server thread: bind, report the address, run until closed and drained.
fn serve(
    addr: SocketAddr,
    options: ServerOptions,
    handler: impl Fn(&EventLoop, Request, Responder) + 'static,
    started: mpsc::Sender<Started>,
    commands: mpsc::Receiver<Command>,
) -> ServerOutcome {
    let bound = ThreadPool::with_size(2)
        .map_err(io::Error::other)
        .and_then(EventLoop::with_pool)
        .and_then(|lp| {
            let server = HttpServer::bind(&lp, addr, options, handler)?;
            let addr = server.local_addr()?;
            Ok((lp, Rc::new(server), addr))
        });
    let (lp, server, addr) = match bound {
        Ok(parts) => parts,
        Err(e) => {
            let _ = started.send(Err(e));
            return ServerOutcome {
                on_closed_ran: false,
                connections_left: 0,
            };
        }
    };
    let on_closed_ran = Rc::new(Cell::new(false));
    let slot: Rc<RefCell<Option<AsyncHandle>>> = Rc::new(RefCell::new(None));
    let (s, closed, handle_slot) = (Rc::clone(&server), Rc::clone(&on_closed_ran), slot.clone());
    let handle = lp.new_async(move |lp| {
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Connections(reply) => {
                    let _ = reply.send(s.connections());
                }
                Command::Close { grace_ms, done } => {
                    let closed = Rc::clone(&closed);
                    s.close(lp, grace_ms, move |_| closed.set(true));
                    // Still answers queries, but no longer keeps the loop alive.
                    if let Some(handle) = handle_slot.borrow().as_ref() {
                        handle.unref(lp);
                    }
                    let _ = done.send(());
                }
            }
        }
    });
    let _ = started.send(Ok((addr, handle.sender())));
    *slot.borrow_mut() = Some(handle);
    lp.run(RunMode::Default);
    // Break the handle -> callback -> slot -> handle cycle.
    slot.borrow_mut().take();
    ServerOutcome {
        on_closed_ran: on_closed_ran.get(),
        connections_left: server.connections(),
    }
}

/// The routes most tests use:
/// - `/late...`: answered from a pool completion (a small PBKDF2), body = the path;
/// - `/echo`: body = the request body;
/// - `/drop`, `/drop-late`: the responder is dropped unsent, at once or after pool work;
/// - `/big/<n>`: `n` bytes of a repeating pattern (see [`pattern`]);
/// - anything else: body = the path, at once.
pub fn routes(lp: &EventLoop, req: Request, res: Responder) {
    let path = req.path.clone();
    if path.starts_with("/late") {
        crypto::pbkdf2(lp, b"pw", b"salt", 1_000, 16, move |lp, _key| {
            res.send(lp, Response::text(200, path));
        })
        .expect("valid pbkdf2 arguments");
    } else if path == "/echo" {
        res.send(lp, Response::bytes(200, req.body));
    } else if path == "/drop" {
        drop(res);
    } else if path == "/drop-late" {
        crypto::pbkdf2(lp, b"pw", b"salt", 1_000, 16, move |_, _key| drop(res))
            .expect("valid pbkdf2 arguments");
    } else if let Some(n) = path.strip_prefix("/big/") {
        let n: usize = n.parse().expect("a byte count after /big/");
        res.send(lp, Response::bytes(200, pattern(n)));
    } else {
        res.send(lp, Response::text(200, path));
    }
}

/// Lets a test hold requests in flight for as long as it likes, so that "while a request is in
/// flight" is a fact the test controls, not a race against a timer.
pub struct Gate {
    release: mpsc::Sender<()>,
    received: mpsc::Receiver<String>,
}

impl Gate {
    /// Waits (at most [`IO_TIMEOUT`]) until the handler has received a request for `path`.
    pub fn wait_received(&self, path: &str) {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(got) if got == path => return,
                Ok(_) => continue,
                Err(e) => panic!("the handler never received {path}: {e}"),
            }
        }
    }

    /// Lets one held `/gate` request be answered.
    pub fn release(&self) {
        let _ = self.release.send(());
    }
}

/// [`routes`] plus:
/// - `/gate`: pool work that waits until [`Gate::release`] (at most [`GATE_LIMIT`]), then
///   answers `released` (or `gave up`);
/// - `/timer`: answered `timer` from a [`TIMER_MS`] timer;
///
/// and every request's path is reported to [`Gate::wait_received`].
pub fn gated_routes() -> (
    Gate,
    impl Fn(&EventLoop, Request, Responder) + Send + 'static,
) {
    let (release, gate) = mpsc::channel::<()>();
    let (report, received) = mpsc::channel::<String>();
    let gate = Arc::new(Mutex::new(gate));
    let handler = move |lp: &EventLoop, req: Request, res: Responder| {
        let _ = report.send(req.path.clone());
        match req.path.as_str() {
            "/gate" => {
                let gate = Arc::clone(&gate);
                lp.queue_work(
                    WorkSpec::cpu("gate"),
                    move || {
                        let gate = gate.lock().unwrap_or_else(|e| e.into_inner());
                        gate.recv_timeout(GATE_LIMIT).is_ok()
                    },
                    move |lp, released| {
                        let body = if released { "released" } else { "gave up" };
                        res.send(lp, Response::text(200, body));
                    },
                );
            }
            "/timer" => {
                lp.set_timeout(TIMER_MS, move |lp| {
                    res.send(lp, Response::text(200, "timer"))
                });
            }
            _ => routes(lp, req, res),
        }
    };
    (Gate { release, received }, handler)
}

/// Delay of the `/timer` route: hundreds of times what a close command takes to reach the loop,
/// so a test can close the server while that answer is still due.
pub const TIMER_MS: u64 = 500;

/// Longest a `/gate` request waits for its release.
pub const GATE_LIMIT: Duration = Duration::from_secs(10);

/// `n` bytes that differ from one position to the next, so a lost or repeated slice shows.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}
