//! [`Worker`]: the parent's handle on a worker thread (Node's `Worker` object).
//!
//! Ownership: the parent loop owns each running worker (`EventLoop::hold`, released at its exit
//! event). So the worker runs on when the user drops every `Worker` handle, and dropping the
//! loop terminates and joins it. The user's handles and the loop hold the core strongly; the
//! wake-up's callback holds it weakly, so no reference cycle keeps a finished worker.
//!
//! Events reach the parent in the worker's order (`Online`, messages, `Error`, `Exit`), one
//! callback each, in the poll phase. On `Exit`, in this order:
//! 1. the thread is joined (it has pushed its last event and is returning);
//! 2. the wake-up handle is closed and every callback but the exit one is dropped;
//! 3. the loop releases its hold on the worker;
//! 4. the exit callback runs with the code.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::link::{Event, Link, MESSAGE_BATCH};
use super::port::Listener;
use super::thread::spawn_thread;
use super::{message, Message, PostError, WorkerError, WorkerPort};
use crate::costs::{self, Event as CostEvent};
use crate::{AsyncHandle, EventLoop};

/// Node numbers workers from 1 (the main thread is 0), process-wide.
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

type OnceCallback = Box<dyn FnOnce(&EventLoop)>;
type ErrorCallback = Box<dyn FnOnce(&EventLoop, String)>;
type ExitCallback = Box<dyn FnOnce(&EventLoop, i32)>;

#[derive(Default)]
struct Callbacks {
    message: Option<Listener>,
    online: Option<OnceCallback>,
    error: Option<ErrorCallback>,
    exit: Option<ExitCallback>,
}

/// The parent's handle on a worker thread. Cloning gives another handle to the same worker.
/// Lives on the parent loop's thread (`!Send`). See the [module documentation](super).
#[derive(Clone)]
pub struct Worker {
    core: Rc<Core>,
}

struct Core {
    link: Arc<Link>,
    loop_id: usize,
    handle: RefCell<Option<AsyncHandle>>,
    thread: RefCell<Option<JoinHandle<i32>>>,
    owner_key: Cell<Option<usize>>,
    online: Cell<bool>,
    error: RefCell<Option<String>>,
    exit_code: Cell<Option<i32>>,
    callbacks: RefCell<Callbacks>,
}

/// Identifies a loop for as long as it lives (its wake-up state is one allocation per loop).
fn loop_id(lp: &EventLoop) -> usize {
    Arc::as_ptr(&lp.remote) as *const () as usize
}

/// What the loop holds for a running worker: dropping it (with the loop, or when released at
/// exit) terminates and joins the worker if it is still running.
struct Owner(Rc<Core>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl Worker {
    /// `new Worker(...)`: starts the OS thread `worker-<id>` with its own [`EventLoop`] on the
    /// same pool as `lp` (`lp.pool()`), runs `main` in it, then runs that loop until nothing
    /// keeps it alive (exit code 0) or until terminated (1), `port.exit(code)` (code), or a
    /// panic (an error event, then 1). The worker keeps `lp` alive until it has exited
    /// (see [`Worker::unref`]).
    pub fn spawn(
        lp: &EventLoop,
        name: &str,
        main: impl FnOnce(&EventLoop, WorkerPort) + Send + 'static,
    ) -> Result<Worker, WorkerError> {
        let spawned = Instant::now();
        let thread_id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        let core = Rc::new_cyclic(|weak: &Weak<Core>| {
            let weak = weak.clone();
            let handle = lp.new_async(move |lp| {
                if let Some(core) = weak.upgrade() {
                    core.deliver(lp);
                }
            });
            Core {
                link: Arc::new(Link::new(thread_id, name, handle.sender())),
                loop_id: loop_id(lp),
                handle: RefCell::new(Some(handle)),
                thread: RefCell::new(None),
                owner_key: Cell::new(None),
                online: Cell::new(false),
                error: RefCell::new(None),
                exit_code: Cell::new(None),
                callbacks: RefCell::new(Callbacks::default()),
            }
        });
        let pool = Arc::clone(lp.pool());
        match spawn_thread(Arc::clone(&core.link), pool, Box::new(main), spawned) {
            Ok(thread) => *core.thread.borrow_mut() = Some(thread),
            Err(cause) => {
                let handle = core.handle.borrow_mut().take();
                if let Some(handle) = handle {
                    handle.close(lp, |_| {});
                }
                let name = name.to_owned();
                return Err(WorkerError::Spawn { name, cause });
            }
        }
        let key = lp.hold(Box::new(Owner(Rc::clone(&core))));
        core.owner_key.set(Some(key));
        Ok(Worker { core })
    }

    /// `worker.postMessage(value)`: moves `value` into the worker's queue and wakes its loop;
    /// it arrives in the worker's poll phase. Refused (the value handed back) once the worker
    /// has ended or terminate was requested.
    pub fn post<T: std::any::Any + Send>(&self, value: T) -> Result<(), PostError> {
        costs::charge(CostEvent::WorkerMessage);
        self.core.link.post_to_worker(message(value))
    }

    /// `worker.on('message', callback)`: runs for every message the worker posts, in order, in
    /// `lp`'s poll phase, one callback each. Replaces an earlier listener; messages arriving
    /// while none is set are dropped, as an event nobody listens to is in Node.
    ///
    /// Panics if `lp` is not the loop that spawned the worker (a programming error).
    pub fn on_message(&self, lp: &EventLoop, callback: impl FnMut(&EventLoop, Message) + 'static) {
        self.check_loop(lp);
        let listener: Listener = Rc::new(RefCell::new(Box::new(callback)));
        let old = self.core.callbacks.borrow_mut().message.replace(listener);
        drop(old);
    }

    /// `worker.on('online', callback)`: runs once the worker's loop exists, before its main runs
    /// and before any of its messages. Registered after that, it runs as an immediate.
    /// Replaces an earlier one. Panics if `lp` is not the worker's parent loop.
    pub fn on_online(&self, lp: &EventLoop, callback: impl FnOnce(&EventLoop) + 'static) {
        self.check_loop(lp);
        if self.core.online.get() {
            lp.set_immediate(callback);
        } else {
            self.core.callbacks.borrow_mut().online = Some(Box::new(callback));
        }
    }

    /// `worker.on('error', callback)`: runs with the panic message if the worker's code
    /// panics; the exit callback follows with code 1. Registered after that, it runs as an
    /// immediate. Replaces an earlier one. Panics if `lp` is not the worker's parent loop.
    pub fn on_error(&self, lp: &EventLoop, callback: impl FnOnce(&EventLoop, String) + 'static) {
        self.check_loop(lp);
        if let Some(error) = self.core.error.borrow().clone() {
            lp.set_immediate(move |lp| callback(lp, error));
        } else if self.core.exit_code.get().is_none() {
            self.core.callbacks.borrow_mut().error = Some(Box::new(callback));
        }
    }

    /// `worker.on('exit', callback)`: runs with the exit code once the worker's thread has
    /// ended and been joined. Registered after that, it runs as an immediate. Replaces an
    /// earlier one. Panics if `lp` is not the worker's parent loop.
    pub fn on_exit(&self, lp: &EventLoop, callback: impl FnOnce(&EventLoop, i32) + 'static) {
        self.check_loop(lp);
        if let Some(code) = self.core.exit_code.get() {
            lp.set_immediate(move |lp| callback(lp, code));
        } else {
            self.core.callbacks.borrow_mut().exit = Some(Box::new(callback));
        }
    }

    /// `worker.terminate()`: the worker stops at its next poll phase, its loop is dropped, and
    /// it exits with code 1. Unlike V8's `TerminateExecution`, Rust cannot interrupt a running
    /// closure: a callback that never returns (or a next-tick chain that never ends) is not
    /// stopped; long computations can poll [`WorkerPort::is_terminating`].
    pub fn terminate(&self) {
        if self.core.exit_code.get().is_none() {
            self.core.link.request_terminate();
        }
    }

    /// `worker.unref()`: the worker no longer keeps the parent loop alive. Its events are
    /// still delivered while the loop runs; if the loop is dropped first, the worker is
    /// terminated and joined then.
    pub fn unref(&self, lp: &EventLoop) {
        if let Some(handle) = self.core.handle.borrow().as_ref() {
            handle.unref(lp);
        }
    }

    /// `worker.ref()`: undoes [`Worker::unref`].
    pub fn ref_(&self, lp: &EventLoop) {
        if let Some(handle) = self.core.handle.borrow().as_ref() {
            handle.ref_(lp);
        }
    }

    /// Time from [`Worker::spawn`] to the worker's loop being ready to run its main (the
    /// `'online'` moment); `None` until then.
    pub fn startup(&self) -> Option<Duration> {
        self.core.link.startup()
    }

    /// The exit code, once the exit event has been delivered (or the worker was joined when
    /// its parent loop was dropped).
    pub fn exit_code(&self) -> Option<i32> {
        self.core.exit_code.get()
    }

    /// `worker.threadId`: 1 for the first worker of the process, then 2, 3, ...
    pub fn thread_id(&self) -> u64 {
        self.core.link.thread_id
    }

    /// The name given at spawn (the OS thread is named `worker-<thread_id>`).
    pub fn name(&self) -> &str {
        &self.core.link.name
    }

    fn check_loop(&self, lp: &EventLoop) {
        assert_eq!(
            loop_id(lp),
            self.core.loop_id,
            "worker {} ('{}') was spawned on another loop; register its callbacks on that loop",
            self.core.link.thread_id,
            self.core.link.name
        );
    }
}

impl Core {
    /// The wake-up callback: delivers queued events, at most max(queue length, 1000) of them.
    /// Never inlined: the instruction benches (runtime/benches/instructions.rs) count a worker
    /// message's handling on the parent's side from this function's entry.
    #[inline(never)]
    fn deliver(&self, lp: &EventLoop) {
        let mut budget = self.link.events_len().max(MESSAGE_BATCH);
        while let Some(event) = self.link.take_event() {
            match event {
                Event::Online => {
                    self.online.set(true);
                    let callback = self.callbacks.borrow_mut().online.take();
                    if let Some(callback) = callback {
                        lp.invoke(callback);
                    }
                }
                Event::Message(message) => {
                    let listener = self.callbacks.borrow().message.clone();
                    if let Some(listener) = listener {
                        costs::charge(CostEvent::WorkerMessage);
                        lp.invoke(|lp| (listener.borrow_mut())(lp, message));
                    }
                }
                Event::Error(text) => {
                    *self.error.borrow_mut() = Some(text.clone());
                    let callback = self.callbacks.borrow_mut().error.take();
                    if let Some(callback) = callback {
                        lp.invoke(|lp| callback(lp, text));
                    }
                }
                Event::Exit(code) => return self.finish(lp, code),
            }
            budget -= 1;
            if budget == 0 {
                self.link.wake_parent();
                return;
            }
        }
    }

    /// Exit, in the order of the module documentation.
    fn finish(&self, lp: &EventLoop, code: i32) {
        let thread = self.thread.borrow_mut().take();
        if let Some(thread) = thread {
            // The worker catches every panic, so its thread returns its code.
            let _ = thread.join();
        }
        self.exit_code.set(Some(code));
        let handle = self.handle.borrow_mut().take();
        if let Some(handle) = handle {
            handle.close(lp, |_| {});
        }
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        if let Some(key) = self.owner_key.take() {
            lp.release(key);
        }
        if let Some(exit) = callbacks.exit {
            lp.invoke(|lp| exit(lp, code));
        }
    }

    /// Without a loop (the loop dropped what it held): terminates and joins a still-running worker,
    /// then drops the callbacks and the wake-up handle.
    fn shutdown(&self) {
        let thread = self.thread.borrow_mut().take();
        if let Some(thread) = thread {
            self.link.request_terminate();
            let code = thread.join().unwrap_or(1);
            if self.exit_code.get().is_none() {
                self.exit_code.set(Some(code));
            }
        }
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        drop(callbacks);
        let handle = self.handle.borrow_mut().take();
        drop(handle);
    }
}
