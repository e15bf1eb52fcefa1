//! The body of a worker thread, from an empty thread to its `Exit` event.
//!
//! Order (each step finishes before the next starts):
//! 1. build an [`EventLoop`] on the parent's pool, attach the [`WorkerPort`] to it;
//! 2. record the start-up time and push `Online`;
//! 3. unless terminate was already requested, run the worker's main, then run the loop until
//!    nothing keeps it alive (again after a `stop()` from the worker's own code, as Node's
//!    worker re-enters `uv_run` while the loop is alive);
//! 4. the outcome gives the code: returned normally → 0 (1 if terminate was requested);
//!    a [`Stop`] unwind → its code; any other panic → an `Error` event, then 1;
//! 5. detach the port (inbox closed, unread messages dropped), drop the loop;
//! 6. push `Exit(code)` and return `code`; the parent joins the thread when it sees `Exit`.
//!
//! Steps 3 and 5 run under `catch_unwind`, so `Exit` is always pushed and a parent waiting
//! for it is never left hanging.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::link::{panic_message, Event, Link, Stop};
use super::WorkerPort;
use crate::{EventLoop, RunMode, ThreadPool};

/// Stack size of a worker thread: Node's default `resourceLimits.stackSizeMb` is 4.
const STACK_BYTES: usize = 4 << 20;

/// The worker's script: runs once inside the worker, before its loop.
pub(crate) type WorkerMain = Box<dyn FnOnce(&EventLoop, WorkerPort) + Send>;

/// Starts the OS thread `worker-<thread_id>`.
pub(crate) fn spawn_thread(
    link: Arc<Link>,
    pool: Arc<ThreadPool>,
    main: WorkerMain,
    spawned: Instant,
) -> std::io::Result<JoinHandle<i32>> {
    std::thread::Builder::new()
        .name(format!("worker-{}", link.thread_id))
        .stack_size(STACK_BYTES)
        .spawn(move || run(link, pool, main, spawned))
}

fn run(link: Arc<Link>, pool: Arc<ThreadPool>, main: WorkerMain, spawned: Instant) -> i32 {
    let code = match EventLoop::with_pool(pool) {
        Ok(lp) => run_loop(&link, lp, main, spawned),
        Err(e) => {
            link.push_event(Event::Error(format!(
                "worker {} could not create its event loop: {e}; the process may be out of file \
                 descriptors (raise ulimit -n) or run fewer workers",
                link.thread_id
            )));
            1
        }
    };
    link.push_event(Event::Exit(code));
    code
}

fn run_loop(link: &Arc<Link>, lp: EventLoop, main: WorkerMain, spawned: Instant) -> i32 {
    let port = WorkerPort::attach(&lp, Arc::clone(link));
    link.set_startup(spawned.elapsed());
    link.push_event(Event::Online);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if link.terminating() {
            return;
        }
        main(&lp, port.clone());
        while !link.terminating() && lp.run(RunMode::Default) {}
    }));
    let code = match outcome {
        Ok(()) if link.terminating() => 1,
        Ok(()) => 0,
        Err(payload) => match payload.downcast::<Stop>() {
            Ok(stop) => stop.code,
            Err(payload) => {
                link.push_event(Event::Error(panic_message(&*payload)));
                1
            }
        },
    };
    // Dropping user state (captured by the loop's callbacks) may panic too; the exit code stands.
    let _ = catch_unwind(AssertUnwindSafe(move || {
        port.detach();
        drop(port);
        drop(lp);
    }));
    code
}
