//! The `tokio` strategy: a reference server, what a Rust user would write instead of an event
//! loop. A tokio multi-thread runtime with `threads` workers accepts on a tokio `TcpListener`;
//! each connection is a task that answers its requests in order (pipelining included). `/hash`
//! and `/file` go to tokio's blocking pool (`spawn_blocking`, capped at the spec's `pool`
//! threads like libuv's pool); `/hash-sync` and `/busy` run on the worker thread itself, as
//! they run on the loop in Node. The paths and bodies are the loop strategies' (`app.rs`).
//!
//! Shutdown order ([`ShutdownHandle::shutdown`] sets a watch channel):
//! 1. the accept loop stops and the listener closes;
//! 2. each connection answers the complete requests it has read, then closes once idle;
//! 3. after at most 5 s the connections left are aborted, then the runtime shuts down (waiting
//!    at most 5 s more for blocking tasks already running) before `serve` returns.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::app::{hash_body, BUSY_BODY};
use super::handle::RequestCounter;
use looplab_runtime::http::Response;

use super::tokio_http::{parse_head, Head, KEEP_ALIVE_SECS};
use super::{busy_wait, served_file, Kind, ServeSummary, ShutdownHandle, HELLO_BODY};
use crate::deploy::Deployment;
use crate::error::WorkloadError;
use crate::experiments::io_err;

/// Grace for in-flight answers, then for blocking tasks.
const GRACE: Duration = Duration::from_secs(5);
/// A request head must complete within this (`headersTimeout`).
const HEADERS_TIMEOUT: Duration = Duration::from_secs(60);

/// What every connection task shares.
struct TokioApp {
    mix: Vec<Kind>,
    next: AtomicUsize,
    iterations: u64,
    busy_ms: u64,
    file: PathBuf,
    counter: Arc<RequestCounter>,
}

/// Serves `spec` on a tokio runtime of `spec.threads` worker threads until shut down.
pub(super) fn serve_tokio(
    spec: &Deployment,
    bind: SocketAddr,
    listening: impl FnOnce(SocketAddr, ShutdownHandle) + 'static,
) -> Result<ServeSummary, WorkloadError> {
    let threads = spec.threads;
    if !(1..=1024).contains(&threads) {
        return Err(WorkloadError::Param {
            name: "tokio threads",
            value: threads.to_string(),
            hint: "use 1..=1024 worker threads, like --threads 2",
        });
    }
    let (_dir, file) = served_file(spec)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(spec.pool)
        .thread_name("looplab-tokio")
        .enable_all()
        .build()
        .map_err(io_err("start the tokio runtime"))?;
    let listener = runtime.block_on(TcpListener::bind(bind)).map_err(io_err(
        "start the HTTP server (is the port free? --port 0 picks one)",
    ))?;
    let addr = listener
        .local_addr()
        .map_err(io_err("read the bound address"))?;
    let counter = Arc::new(RequestCounter::default());
    let app = Arc::new(TokioApp {
        mix: spec
            .mix
            .iter()
            .flat_map(|&(kind, weight)| std::iter::repeat_n(kind, weight as usize))
            .collect(),
        next: AtomicUsize::new(0),
        iterations: spec.hash_iterations,
        busy_ms: spec.busy_ms,
        file,
        counter: Arc::clone(&counter),
    });
    // Kept here too, so dropping every handle does not read as a shutdown.
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    listening(
        addr,
        ShutdownHandle::for_tokio(Arc::clone(&stop), Arc::clone(&counter)),
    );
    runtime.block_on(accept_loop(listener, app, stopped));
    runtime.shutdown_timeout(GRACE);
    drop(stop);
    Ok(ServeSummary {
        requests: counter.answered.load(Ordering::Acquire),
        cluster: Vec::new(),
    })
}

/// Accepts until told to stop, then gives the connections [`GRACE`] to finish.
async fn accept_loop(listener: TcpListener, app: Arc<TokioApp>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let for_conns = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Like Node's http server (noDelay): small answers go out at once.
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, Arc::clone(&app), for_conns.clone()));
                }
                // Out of descriptors or the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stop.wait_for(|stopping| *stopping) => break,
        }
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(GRACE, drained).await.is_err() {
        conns.shutdown().await;
    }
}

/// One connection: answers every complete request in order, reads more, until the peer closes,
/// asks to close, sends something invalid, idles past the keep-alive timeout, or the server
/// stops while this connection is idle.
async fn connection(mut stream: TcpStream, app: Arc<TokioApp>, mut stop: watch::Receiver<bool>) {
    let mut inbox = Inbox {
        buf: Vec::with_capacity(4096),
        discard: 0,
    };
    loop {
        // 1. Answer what is complete.
        if answer_complete(&mut stream, &mut inbox, &app)
            .await
            .is_break()
        {
            return;
        }
        // 2. Read more, unless stopping and idle.
        if read_more(&mut stream, &mut inbox, &mut stop)
            .await
            .is_break()
        {
            return;
        }
    }
}

/// What a connection has read and not answered yet.
struct Inbox {
    /// Bytes read, from the start of the next request (or of a body still being skipped).
    buf: Vec<u8>,
    /// Body bytes of an answered request still to skip, some perhaps not read yet.
    discard: usize,
}

/// Answers every complete request in `inbox`, in order. Breaks when the connection must close:
/// an invalid request (answered with its status), a failed write, or a request that did not
/// ask to be kept alive.
async fn answer_complete(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    app: &TokioApp,
) -> ControlFlow<()> {
    loop {
        let skipped = inbox.discard.min(inbox.buf.len());
        inbox.buf.drain(..skipped);
        inbox.discard -= skipped;
        if inbox.discard > 0 {
            return ControlFlow::Continue(());
        }
        match parse_head(&inbox.buf) {
            Head::Partial => return ControlFlow::Continue(()),
            Head::Invalid(status) => {
                let answer = Response::text(status, "bad request\n").encode(None, false);
                let _ = stream.write_all(&answer).await;
                return ControlFlow::Break(());
            }
            Head::Complete {
                head_len,
                path,
                body_len,
                keep_alive,
                head_only,
            } => {
                inbox.buf.drain(..head_len);
                inbox.discard = body_len;
                let answer = app.answer(&path).await;
                let bytes = answer.encode(keep_alive.then_some(KEEP_ALIVE_SECS), head_only);
                if stream.write_all(&bytes).await.is_err() || !keep_alive {
                    return ControlFlow::Break(());
                }
            }
        }
    }
}

/// Reads more into `inbox`, within the keep-alive timeout when idle and the headers timeout
/// when a request is half read (answered 408). Breaks when the peer closes, the read fails or
/// times out, or the server is stopping and this connection is idle.
async fn read_more(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    stop: &mut watch::Receiver<bool>,
) -> ControlFlow<()> {
    let idle = inbox.buf.is_empty() && inbox.discard == 0;
    let stopping = *stop.borrow();
    if stopping && idle {
        return ControlFlow::Break(());
    }
    let limit = if idle {
        Duration::from_secs(KEEP_ALIVE_SECS)
    } else {
        HEADERS_TIMEOUT
    };
    if inbox.buf.capacity() - inbox.buf.len() < 1024 {
        inbox.buf.reserve(4096);
    }
    tokio::select! {
        read = tokio::time::timeout(limit, stream.read_buf(&mut inbox.buf)) => match read {
            Ok(Ok(0)) | Ok(Err(_)) => ControlFlow::Break(()),
            Ok(Ok(_)) => ControlFlow::Continue(()),
            Err(_) if idle => ControlFlow::Break(()),
            Err(_) => {
                let answer = Response::text(408, "request timeout\n").encode(None, false);
                let _ = stream.write_all(&answer).await;
                ControlFlow::Break(())
            }
        },
        // Wake up to close if idle; a request being read is still answered. (The guard
        // `wait_for` returns must not live across an await: it is not `Send`.)
        _ = async { drop(stop.wait_for(|stopping| *stopping).await) }, if !stopping => {
            ControlFlow::Continue(())
        }
    }
}

impl TokioApp {
    /// Does the work `path` asks for and counts the answer.
    async fn answer(&self, path: &str) -> Response {
        let kind = Kind::for_path(path).unwrap_or_else(|| {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            self.mix[i % self.mix.len()]
        });
        let answer = match kind {
            Kind::Hello => Response::text(200, HELLO_BODY),
            Kind::HashSync => text_or_500(hash_body(self.iterations)),
            Kind::Busy => {
                busy_wait(self.busy_ms);
                Response::text(200, BUSY_BODY)
            }
            Kind::Hash => {
                let iterations = self.iterations;
                let body = tokio::task::spawn_blocking(move || hash_body(iterations)).await;
                text_or_500(body.unwrap_or_else(|e| Err(e.to_string())))
            }
            Kind::File => {
                let file = self.file.clone();
                match tokio::task::spawn_blocking(move || std::fs::read(file)).await {
                    Ok(Ok(bytes)) => Response::bytes(200, bytes),
                    Ok(Err(e)) => Response::text(500, e.to_string()),
                    Err(e) => Response::text(500, e.to_string()),
                }
            }
        };
        self.counter.answered.fetch_add(1, Ordering::AcqRel);
        answer
    }
}

fn text_or_500(body: Result<String, String>) -> Response {
    match body {
        Ok(body) => Response::text(200, body),
        Err(e) => Response::text(500, e),
    }
}
