//! The worker's side: finding out that this process is a worker, joining the primary, and
//! serving the shared address the same way under every policy.
//!
//! Joining ([`WorkerRole::connect`]):
//! 1. read the id and the channel's descriptor from the environment (set by the primary), take
//!    ownership of the descriptor and make it close-on-exec again;
//! 2. read the setup frame (policy, address, the listening socket under the shared policy),
//!    waiting at most 10 s for it; the primary writes it before the worker even starts;
//! 3. send `Online` and watch the channel on the loop (it keeps the loop alive).
//!
//! Serving ([`WorkerChannel::listen`]): round-robin, connections arrive as `NewConn` frames and
//! each is acknowledged before the callback runs (as Node's `child.js` does); shared, accept on
//! the received socket; reuse-port, bind an own `SO_REUSEPORT` socket. Then `Listening` is sent.
//!
//! Stopping, on the primary's `Shutdown`:
//! 1. close the server (round-robin: refuse further hand-offs, so the primary re-routes them);
//! 2. run the `on_shutdown` callback (close your connections; when nothing is left the loop
//!    ends and the process can exit 0);
//! 3. close the channel once what was sent on it is out.
//!
//! If the channel ends while not stopping (the primary died or closed it), the process exits at
//! once with code 0, as a Node worker does on an unexpected disconnect.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::channel::Channel;
use super::ipc::{Frame, Kind, MAX_MESSAGE_BYTES};
use super::spawn::{IPC_FD_ENV, WORKER_ENV};
use super::{ClusterError, SchedulingPolicy, WorkerId};
use crate::tcp::{ListenOptions, TcpListener, TcpStream};
use crate::EventLoop;

/// How long a worker waits for its setup frame.
const SETUP_TIMEOUT_MS: i32 = 10_000;

/// Whether this process already took its channel descriptor (it can be owned once).
static JOINED: AtomicBool = AtomicBool::new(false);

type ConnectionCb = Rc<RefCell<Box<dyn FnMut(&EventLoop, TcpStream)>>>;
type MessageCb = Box<dyn FnMut(&EventLoop, Vec<u8>)>;
type ShutdownCb = Box<dyn FnOnce(&EventLoop)>;

/// This process runs as cluster worker: what the primary put in its environment.
#[derive(Clone, Debug)]
pub struct WorkerRole {
    id: String,
    ipc_fd: Option<String>,
}

/// `Some` when this process was started by a cluster primary as a worker (like Node's
/// `cluster.isWorker`). A program calls this first and, if `Some`, runs as a worker.
pub fn worker_role() -> Option<WorkerRole> {
    let id = std::env::var_os(WORKER_ENV)?;
    Some(WorkerRole {
        id: id.to_string_lossy().into_owned(),
        ipc_fd: std::env::var_os(IPC_FD_ENV).map(|v| v.to_string_lossy().into_owned()),
    })
}

impl WorkerRole {
    /// The worker's id, if the environment holds a valid one.
    pub fn id(&self) -> Option<WorkerId> {
        self.id.parse().ok()
    }

    fn parse(&self) -> Result<(WorkerId, RawFd), ClusterError> {
        let id = self.id().ok_or_else(|| ClusterError::WorkerEnv {
            var: WORKER_ENV,
            value: self.id.clone(),
        })?;
        let raw = self.ipc_fd.clone().unwrap_or_default();
        let fd = match raw.parse::<RawFd>() {
            Ok(fd) if fd > 2 && is_socket(fd) => fd,
            _ => {
                return Err(ClusterError::WorkerEnv {
                    var: IPC_FD_ENV,
                    value: raw,
                })
            }
        };
        Ok((id, fd))
    }

    /// Joins the primary (see the module doc): after this, the channel is watched by `lp`.
    pub fn connect(self, lp: &EventLoop) -> io::Result<WorkerChannel> {
        let (id, fd) = self.parse()?;
        if JOINED.swap(true, Ordering::AcqRel) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this worker already joined its primary; call WorkerRole::connect once",
            ));
        }
        // SAFETY: the primary made `fd` (checked to be a socket) inheritable for us alone, and
        // JOINED guarantees it is wrapped once; FD_CLOEXEC keeps it from our own children.
        let socket = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            UnixStream::from(OwnedFd::from_raw_fd(fd))
        };
        let join = |cause| ClusterError::Join { cause };
        let channel = Channel::new(socket).map_err(join)?;
        let setup = channel
            .read_frame_blocking(SETUP_TIMEOUT_MS)
            .map_err(join)?;
        let (policy, addr, listener) = parse_setup(setup).map_err(join)?;
        let inner = Rc::new(Inner {
            id,
            policy,
            addr,
            channel: channel.clone(),
            shared_listener: RefCell::new(listener),
            server: RefCell::new(Server::Idle),
            on_message: RefCell::new(None),
            inbox: RefCell::new(VecDeque::new()),
            on_shutdown: RefCell::new(None),
            stopping: Cell::new(false),
        });
        channel.send(lp, Kind::Online, &[], Vec::new())?;
        let (on_frame, on_end) = (Rc::clone(&inner), Rc::clone(&inner));
        channel.start(
            lp,
            move |lp, frame| on_frame.on_frame(lp, frame),
            move |_, _| on_end.on_disconnect(),
        )?;
        Ok(WorkerChannel { inner })
    }
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: fstat writes only into `stat`; an invalid fd gives -1.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut stat) == 0 && (stat.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}

fn parse_setup(frame: Frame) -> io::Result<(SchedulingPolicy, SocketAddr, Option<OwnedFd>)> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("setup frame: {what}"));
    if frame.kind != Kind::Setup {
        return Err(bad("another frame came first"));
    }
    let (&policy, addr) = frame.payload.split_first().ok_or_else(|| bad("empty"))?;
    let policy = SchedulingPolicy::from_byte(policy).ok_or_else(|| bad("unknown policy"))?;
    let addr = std::str::from_utf8(addr)
        .ok()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| bad("bad address"))?;
    Ok((policy, addr, frame.fds.into_iter().next()))
}

enum Server {
    Idle,
    RoundRobin(ConnectionCb),
    Listener(TcpListener),
    Stopped,
}

struct Inner {
    id: WorkerId,
    policy: SchedulingPolicy,
    addr: SocketAddr,
    channel: Channel,
    shared_listener: RefCell<Option<OwnedFd>>,
    server: RefCell<Server>,
    on_message: RefCell<Option<MessageCb>>,
    inbox: RefCell<VecDeque<Vec<u8>>>,
    on_shutdown: RefCell<Option<ShutdownCb>>,
    stopping: Cell<bool>,
}

/// A worker's link to its primary (clones share it).
#[derive(Clone)]
pub struct WorkerChannel {
    inner: Rc<Inner>,
}

impl WorkerChannel {
    /// This worker's id.
    pub fn id(&self) -> WorkerId {
        self.inner.id
    }

    /// The policy the primary chose.
    pub fn policy(&self) -> SchedulingPolicy {
        self.inner.policy
    }

    /// The shared address (with its concrete port).
    pub fn address(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Serves the shared address: `on_connection` gets every connection this worker is given,
    /// whatever the policy. Fails if already listening or stopping, or if binding fails.
    pub fn listen(
        &self,
        lp: &EventLoop,
        on_connection: impl FnMut(&EventLoop, TcpStream) + 'static,
    ) -> io::Result<()> {
        let inner = &self.inner;
        if !matches!(*inner.server.borrow(), Server::Idle) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "this worker already listens or is stopping; call listen once",
            ));
        }
        let callback: ConnectionCb = Rc::new(RefCell::new(Box::new(on_connection)));
        let server = match inner.policy {
            SchedulingPolicy::RoundRobin => Server::RoundRobin(callback),
            SchedulingPolicy::Shared => {
                let fd = inner.shared_listener.borrow_mut().take().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "the primary sent no listening socket",
                    )
                })?;
                Server::Listener(serve(lp, TcpListener::from_std(fd.into())?, callback)?)
            }
            SchedulingPolicy::ReusePort => {
                let options = ListenOptions {
                    backlog: 511,
                    reuse_port: true,
                };
                let listener = TcpListener::bind(inner.addr, &options)?;
                Server::Listener(serve(lp, listener, callback)?)
            }
        };
        *inner.server.borrow_mut() = server;
        inner.channel.send(lp, Kind::Listening, &[], Vec::new())
    }

    /// Runs `callback` when the primary asks this worker to stop (after the server is closed).
    pub fn on_shutdown(&self, lp: &EventLoop, callback: impl FnOnce(&EventLoop) + 'static) {
        if self.inner.stopping.get() {
            lp.push_pending(Box::new(callback));
        } else {
            *self.inner.on_shutdown.borrow_mut() = Some(Box::new(callback));
        }
    }

    /// Sends `bytes` to the primary (a `ClusterEvent::Message`), after everything sent before.
    pub fn send(&self, lp: &EventLoop, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ClusterError::MessageTooLarge { bytes: bytes.len() }.into());
        }
        self.inner.channel.send(lp, Kind::User, bytes, Vec::new())
    }

    /// Messages from the primary go to `callback`, in order; those that arrived before it was
    /// set are delivered first.
    pub fn on_message(&self, lp: &EventLoop, callback: impl FnMut(&EventLoop, Vec<u8>) + 'static) {
        *self.inner.on_message.borrow_mut() = Some(Box::new(callback));
        if !self.inner.inbox.borrow().is_empty() {
            let inner = Rc::clone(&self.inner);
            lp.push_pending(Box::new(move |lp| inner.deliver_inbox(lp)));
        }
    }
}

fn serve(lp: &EventLoop, listener: TcpListener, callback: ConnectionCb) -> io::Result<TcpListener> {
    listener.listen(lp, move |lp, accepted| {
        // An accept error (like EMFILE) ends that round; the next connection retries.
        if let Ok(stream) = accepted {
            (callback.borrow_mut())(lp, stream);
        }
    })?;
    Ok(listener)
}

impl Inner {
    fn on_frame(self: &Rc<Self>, lp: &EventLoop, frame: Frame) {
        match frame.kind {
            Kind::NewConn => self.on_new_connection(lp, frame.fds.into_iter().next()),
            Kind::User => {
                self.inbox.borrow_mut().push_back(frame.payload);
                self.deliver_inbox(lp);
            }
            Kind::Shutdown => self.stop(lp),
            // Frames only a worker sends, or a second setup: a confused peer; ignore them.
            Kind::Setup | Kind::Online | Kind::Listening | Kind::Ack => {}
        }
    }

    /// Round-robin hand-off: acknowledge first, then give the stream to the callback.
    fn on_new_connection(&self, lp: &EventLoop, fd: Option<OwnedFd>) {
        let callback = match &*self.server.borrow() {
            Server::RoundRobin(callback) if !self.stopping.get() => Some(Rc::clone(callback)),
            _ => None,
        };
        let stream = match (callback, fd) {
            (Some(callback), Some(fd)) => TcpStream::from_std(lp, fd.into())
                .ok()
                .map(|stream| (callback, stream)),
            _ => None,
        };
        let accepted = [stream.is_some() as u8];
        // If the ack cannot go out, the channel is ending and this process with it.
        let _ = self.channel.send(lp, Kind::Ack, &accepted, Vec::new());
        if let Some((callback, stream)) = stream {
            (callback.borrow_mut())(lp, stream);
        }
    }

    fn deliver_inbox(&self, lp: &EventLoop) {
        loop {
            let Some(mut callback) = self.on_message.borrow_mut().take() else {
                return;
            };
            let message = self.inbox.borrow_mut().pop_front();
            let Some(message) = message else {
                *self.on_message.borrow_mut() = Some(callback);
                return;
            };
            callback(lp, message);
            lp.drain_ticks();
            let mut slot = self.on_message.borrow_mut();
            if slot.is_none() {
                *slot = Some(callback);
            }
        }
    }

    fn stop(&self, lp: &EventLoop) {
        if self.stopping.replace(true) {
            return;
        }
        let server = std::mem::replace(&mut *self.server.borrow_mut(), Server::Stopped);
        if let Server::Listener(listener) = server {
            listener.close(lp, |_| {});
        }
        self.shared_listener.borrow_mut().take();
        let on_shutdown = self.on_shutdown.borrow_mut().take();
        if let Some(on_shutdown) = on_shutdown {
            on_shutdown(lp);
            lp.drain_ticks();
        }
        self.channel.close_after_flush(lp);
    }

    fn on_disconnect(&self) {
        if !self.stopping.get() {
            // The primary is gone: exit at once, as a Node worker does.
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn role(id: &str, fd: Option<String>) -> WorkerRole {
        WorkerRole {
            id: id.to_string(),
            ipc_fd: fd,
        }
    }

    #[test]
    fn a_hand_made_environment_is_refused_with_the_variable_named() {
        let err = role("x", Some("3".into())).parse().unwrap_err().to_string();
        assert!(err.contains("LOOPLAB_CLUSTER_WORKER=\"x\""), "{err}");
        let err = role("1", None).parse().unwrap_err().to_string();
        assert!(err.contains("LOOPLAB_CLUSTER_IPC_FD"), "{err}");
        assert!(err.contains("do not set it by hand"), "{err}");
        // A descriptor that is open but not a socket.
        let file = tempfile::tempfile().unwrap();
        let fd = Some(file.as_raw_fd().to_string());
        assert!(role("1", fd).parse().is_err());
        let (socket, _peer) = UnixStream::pair().unwrap();
        let parsed = role("7", Some(socket.as_raw_fd().to_string()))
            .parse()
            .unwrap();
        assert_eq!(parsed, (7, socket.as_raw_fd()));
    }
}
