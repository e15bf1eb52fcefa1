//! What `lab serve` serves: the HTTP workloads, on one event loop with the pool.
//!
//! Every server answers the same paths, so a client can ask for one kind of work by name:
//! `/hello` (fixed small body, no pool), `/hash` (one PBKDF2 on the pool, like `crypto.pbkdf2`),
//! `/hash-sync` (the same on the loop, like `pbkdf2Sync`), `/file` (read a file of S bytes through
//! the pool, like `fs.readFile`), `/busy` (the course's `doWork`: spin on the loop until a
//! wall-clock deadline, so its duration does not stretch when cores are shared). Any other path gets the server's workload; for `mix` that is a
//! weighted, deterministic rotation over those kinds (weights 8:1:1 serve 8 hellos, 1 hash and
//! 1 file read in every 10 requests).

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use looplab_runtime::http::{HttpServer, Request, Responder, Response, ServerOptions};
use looplab_runtime::{crypto, fs, AsyncSender, EventLoop, RunMode, ThreadPool};

use crate::experiments::{io_err, ExperimentError};

/// The body of `/hello`.
pub const HELLO_BODY: &str = "hello world\n";
/// Salt and password of the hash workloads (the course's).
const PASSWORD: &[u8] = b"a";
const SALT: &[u8] = b"b";
/// Key length of the hash workloads; the body is its hex form.
pub const HASH_KEYLEN: usize = 32;

/// One kind of request work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Fixed small body, no pool.
    Hello,
    /// PBKDF2 on the pool.
    Hash,
    /// PBKDF2 on the loop.
    HashSync,
    /// Read a file through the pool.
    File,
    /// Busy-wait on the loop for a wall-clock time.
    Busy,
}

impl Kind {
    /// Parses a workload name.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "hello" => Kind::Hello,
            "hash" => Kind::Hash,
            "hash-sync" => Kind::HashSync,
            "file" => Kind::File,
            "busy" => Kind::Busy,
            _ => return None,
        })
    }

    /// The path that asks for this kind.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Hello => "/hello",
            Kind::Hash => "/hash",
            Kind::HashSync => "/hash-sync",
            Kind::File => "/file",
            Kind::Busy => "/busy",
        }
    }
}

/// Names `lab serve --workload` accepts.
pub const WORKLOADS: [&str; 6] = ["hello", "hash", "hash-sync", "file", "busy", "mix"];

/// What to serve and how.
#[derive(Clone, Debug)]
pub struct ServeSpec {
    /// Work for paths other than the named ones: one kind, or a weighted mix.
    pub mix: Vec<(Kind, u32)>,
    /// Pool threads.
    pub pool: usize,
    /// Address to bind (port 0 picks one).
    pub bind: SocketAddr,
    /// PBKDF2 iterations per hash request.
    pub hash_iterations: u64,
    /// Size of the file `/file` reads.
    pub file_bytes: usize,
    /// Wall-clock milliseconds `/busy` spins for.
    pub busy_ms: u64,
}

/// Counts of what a server did, for its exit message.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeSummary {
    /// Requests answered.
    pub requests: u64,
}

struct App {
    mix: Vec<Kind>,
    next: Cell<usize>,
    iterations: u64,
    busy_ms: u64,
    file: PathBuf,
    answered: Cell<u64>,
}

/// The course's `doWork(ms)`: spin until the wall clock says `ms` passed. Unlike a fixed amount
/// of CPU work, it takes `ms` however the cores are shared.
pub fn busy_wait(ms: u64) {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        std::hint::spin_loop();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl App {
    fn pick(&self, path: &str) -> Kind {
        let named = [
            Kind::Hello,
            Kind::Hash,
            Kind::HashSync,
            Kind::File,
            Kind::Busy,
        ];
        if let Some(kind) = named.into_iter().find(|k| k.path() == path) {
            return kind;
        }
        let i = self.next.get();
        self.next.set((i + 1) % self.mix.len());
        self.mix[i]
    }

    fn handle(self: &Rc<Self>, lp: &EventLoop, req: Request, res: Responder) {
        let path = req.path.split('?').next().unwrap_or("/");
        let app = Rc::clone(self);
        let reply = move |lp: &EventLoop, res: Responder, response| {
            app.answered.set(app.answered.get() + 1);
            res.send(lp, response);
        };
        match self.pick(path) {
            Kind::Hello => reply(lp, res, Response::text(200, HELLO_BODY)),
            Kind::HashSync => {
                let key = crypto::pbkdf2_sync(PASSWORD, SALT, self.iterations, HASH_KEYLEN);
                let response = match key {
                    Ok(key) => Response::text(200, hex(&key)),
                    Err(e) => Response::text(500, e.to_string()),
                };
                reply(lp, res, response);
            }
            Kind::Hash => {
                let queued = crypto::pbkdf2(
                    lp,
                    PASSWORD,
                    SALT,
                    self.iterations,
                    HASH_KEYLEN,
                    move |lp, key| reply(lp, res, Response::text(200, hex(&key))),
                );
                // Arguments were validated when the spec was built; a failure here drops `res`,
                // which answers 500.
                drop(queued);
            }
            Kind::Busy => {
                busy_wait(self.busy_ms);
                reply(lp, res, Response::text(200, "done\n"));
            }
            Kind::File => fs::read_file(lp, &self.file, move |lp, bytes| {
                let response = match bytes {
                    Ok(bytes) => Response::bytes(200, bytes),
                    Err(e) => Response::text(500, e.to_string()),
                };
                reply(lp, res, response);
            }),
        }
    }
}

/// Lets another thread (a signal handler) stop a running server gracefully.
#[derive(Clone)]
pub struct ShutdownHandle(AsyncSender);

impl ShutdownHandle {
    /// Asks the server to stop accepting, finish what it has, and return.
    pub fn shutdown(&self) {
        self.0.send();
    }
}

/// Serves until shut down. `listening` is called once the socket is bound, with its address
/// and a handle that stops the server. In-flight requests get up to 5 s to finish.
pub fn serve(
    spec: &ServeSpec,
    listening: impl FnOnce(SocketAddr, ShutdownHandle),
) -> Result<ServeSummary, ExperimentError> {
    if spec.mix.is_empty() || spec.mix.iter().all(|(_, w)| *w == 0) {
        return Err(ExperimentError::Param {
            name: "mix",
            value: "empty".into(),
            hint: "give at least one kind a weight, like hello:8,hash:1,file:1",
        });
    }
    crypto::pbkdf2_sync(PASSWORD, SALT, spec.hash_iterations, 1)?;
    let pool: Arc<ThreadPool> = ThreadPool::with_size(spec.pool)?;
    let lp = EventLoop::with_pool(pool).map_err(io_err("create the event loop"))?;
    let dir = tempfile::Builder::new()
        .prefix("looplab-serve-")
        .tempdir()
        .map_err(io_err("create a temp dir"))?;
    let file = dir.path().join("served.bin");
    std::fs::write(&file, vec![b'x'; spec.file_bytes])
        .map_err(io_err(format!("write {}", file.display())))?;
    let app = Rc::new(App {
        mix: spec
            .mix
            .iter()
            .flat_map(|&(kind, weight)| std::iter::repeat_n(kind, weight as usize))
            .collect(),
        next: Cell::new(0),
        iterations: spec.hash_iterations,
        busy_ms: spec.busy_ms,
        file,
        answered: Cell::new(0),
    });
    let handler_app = Rc::clone(&app);
    let server = Rc::new(
        HttpServer::bind(
            &lp,
            spec.bind,
            ServerOptions::default(),
            move |lp, req, res| handler_app.handle(lp, req, res),
        )
        .map_err(io_err(
            "start the HTTP server (is the port free? --port 0 picks one)",
        ))?,
    );
    let addr = server
        .local_addr()
        .map_err(io_err("read the bound address"))?;
    let stopping = Rc::clone(&server);
    let stop = Rc::new(Cell::new(None));
    let stop_handle = Rc::clone(&stop);
    let handle = lp.new_async(move |lp| {
        stopping.close(lp, 5_000, |_| {});
        if let Some(h) = stop_handle.take() {
            looplab_runtime::AsyncHandle::close(h, lp, |_| {});
        }
    });
    listening(addr, ShutdownHandle(handle.sender()));
    stop.set(Some(handle));
    lp.run(RunMode::Default);
    Ok(ServeSummary {
        requests: app.answered.get(),
    })
}

/// Parses `hello:8,hash:1,file:1` (or one workload name) into weights.
pub fn parse_mix(text: &str) -> Result<Vec<(Kind, u32)>, String> {
    text.split(',')
        .map(|part| {
            let (name, weight) = part.split_once(':').unwrap_or((part, "1"));
            let kind = Kind::parse(name.trim()).ok_or_else(|| {
                format!("unknown kind `{name}` in mix; use hello, hash, hash-sync, file or busy")
            })?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("weight `{weight}` of `{name}` is not a whole number"))?;
            Ok((kind, weight))
        })
        .collect()
}
