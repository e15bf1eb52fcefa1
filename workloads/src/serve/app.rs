//! The request handler every loop strategy shares: picks the kind of work for a path and does it
//! on the loop, on the pool, or (with the `workers` strategy) in a worker thread. `loop-blocking`
//! runs `/hash` on the loop too. The `tokio` reference server answers with the same bodies
//! ([`hash_body`], [`BUSY_BODY`]).

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use looplab_runtime::http::{Request, Responder, Response};
use looplab_runtime::worker::{self, Message, WorkerPool};
use looplab_runtime::{crypto, fs, EventLoop};

use super::{busy_wait, Kind, HASH_KEYLEN, HELLO_BODY};

const PASSWORD: &[u8] = b"a";
const SALT: &[u8] = b"b";
/// The body of `/busy`.
pub(crate) const BUSY_BODY: &str = "done\n";

/// CPU work sent to a worker thread under the `workers` strategy.
pub(crate) struct CpuTask {
    pub kind: Kind,
    pub iterations: u64,
    pub busy_ms: u64,
}

/// Runs a [`CpuTask`] (inside a worker thread) and returns the response body.
pub(crate) fn run_cpu_task(task: Message) -> Message {
    let body = match worker::downcast::<CpuTask>(task) {
        Ok(task) => cpu_body(&task),
        Err(_) => Err("not a CpuTask".to_string()),
    };
    worker::message(body)
}

fn cpu_body(task: &CpuTask) -> Result<String, String> {
    match task.kind {
        Kind::Busy => {
            busy_wait(task.busy_ms);
            Ok(BUSY_BODY.into())
        }
        _ => hash_body(task.iterations),
    }
}

/// The body of a hash request: the hex form of `pbkdf2Sync('a', 'b', iterations, 32, 'sha512')`,
/// computed on the calling thread.
pub(crate) fn hash_body(iterations: u64) -> Result<String, String> {
    crypto::pbkdf2_sync(PASSWORD, SALT, iterations, HASH_KEYLEN)
        .map(|key| hex(&key))
        .map_err(|e| e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text_or_500(body: Result<String, String>) -> Response {
    match body {
        Ok(body) => Response::text(200, body),
        Err(e) => Response::text(500, e),
    }
}

pub(crate) struct App {
    pub mix: Vec<Kind>,
    pub next: Cell<usize>,
    pub iterations: u64,
    pub busy_ms: u64,
    pub file: PathBuf,
    pub answered: Cell<u64>,
    /// Who answers, sent as `X-Worker` (cluster and workers strategies).
    pub tag: Option<String>,
    /// Worker threads for CPU work (`workers` strategy).
    pub offload: Option<WorkerPool>,
    /// Run `/hash` on the loop, like `pbkdf2Sync` (`loop-blocking` strategy).
    pub hash_on_loop: bool,
}

impl App {
    fn pick(&self, path: &str) -> Kind {
        let kind = Kind::for_path(path).unwrap_or_else(|| {
            let i = self.next.get();
            self.next.set((i + 1) % self.mix.len());
            self.mix[i]
        });
        match kind {
            Kind::Hash if self.hash_on_loop => Kind::HashSync,
            kind => kind,
        }
    }

    fn reply(&self, lp: &EventLoop, res: Responder, response: Response) {
        self.answered.set(self.answered.get() + 1);
        let response = match &self.tag {
            Some(tag) => response.with_header("X-Worker", tag.clone()),
            None => response,
        };
        res.send(lp, response);
    }

    pub fn handle(self: &Rc<Self>, lp: &EventLoop, req: Request, res: Responder) {
        let path = req.path.split('?').next().unwrap_or("/");
        let kind = self.pick(path);
        let app = Rc::clone(self);
        if let (Some(pool), Kind::Hash | Kind::HashSync | Kind::Busy) = (&self.offload, kind) {
            let task = CpuTask {
                kind,
                iterations: self.iterations,
                busy_ms: self.busy_ms,
            };
            // A refused task (pool closing) drops `res`, which answers 500.
            let _ = pool.run(lp, task, move |lp, result| {
                let body = result.map_err(|e| e.to_string()).and_then(|m| {
                    worker::downcast::<Result<String, String>>(m).unwrap_or(Err("bad reply".into()))
                });
                app.reply(lp, res, text_or_500(body));
            });
            return;
        }
        match kind {
            Kind::Hello => self.reply(lp, res, Response::text(200, HELLO_BODY)),
            Kind::HashSync | Kind::Busy => {
                let task = CpuTask {
                    kind,
                    iterations: self.iterations,
                    busy_ms: self.busy_ms,
                };
                self.reply(lp, res, text_or_500(cpu_body(&task)));
            }
            Kind::Hash => {
                // Arguments were validated at start; a refusal drops `res`, which answers 500.
                let _ = crypto::pbkdf2(
                    lp,
                    PASSWORD,
                    SALT,
                    self.iterations,
                    HASH_KEYLEN,
                    move |lp, key| app.reply(lp, res, Response::text(200, hex(&key))),
                );
            }
            Kind::File => fs::read_file(lp, &self.file, move |lp, bytes| {
                let response = match bytes {
                    Ok(bytes) => Response::bytes(200, bytes),
                    Err(e) => Response::text(500, e.to_string()),
                };
                app.reply(lp, res, response);
            }),
        }
    }
}
