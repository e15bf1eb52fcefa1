//! [`WorkerPool`]: K workers running one task handler, fed from a FIFO queue on the parent,
//! like the `piscina` package.
//!
//! Rules:
//! 1. tasks wait in one FIFO queue on the parent; each goes to the worker idle the longest;
//! 2. a worker runs one task at a time, as a message callback on its own loop (CPU work on the
//!    worker's thread, never on the libuv-style pool); a panicking handler fails only its task;
//! 3. the answer comes back as a message; the task's callback runs on the submitting loop;
//! 4. a worker keeps the parent loop alive only while it runs a task (piscina unrefs idle
//!    workers), and every worker does after [`WorkerPool::close`];
//! 5. closing: queued and running tasks finish, then each worker is told to stop listening and
//!    exits with code 0. Dropping the last handle closes the same way, but the callbacks of
//!    unfinished tasks are dropped without running.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::link::panic_message;
use super::{downcast, message, Message, Worker, WorkerError, WorkerPort};
use crate::{costs, EventLoop};

/// The largest number of workers one pool may have.
pub const MAX_POOL_WORKERS: usize = 256;

/// What a pool's workers run for each task.
pub type TaskHandler = dyn Fn(Message) -> Message + Send + Sync;

type TaskCallback = Box<dyn FnOnce(&EventLoop, Result<Message, WorkerError>)>;

/// Parent → worker.
enum Request {
    Task(Message),
    Close,
}

/// Worker → parent: the handler's value, or its panic message.
struct Reply(Result<Message, String>);

enum Slot {
    Idle,
    Busy(TaskCallback),
    Closing,
    Gone,
}

/// A pool of worker threads running one handler (see the module documentation).
/// Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct WorkerPool {
    core: Rc<PoolCore>,
}

struct PoolCore {
    workers: Vec<Worker>,
    slots: RefCell<Vec<Slot>>,
    idle: RefCell<VecDeque<usize>>,
    queue: RefCell<VecDeque<(Message, TaskCallback)>>,
    closed: Cell<bool>,
}

/// The script of every pool worker: answer each task, stop listening when told to close.
fn serve(handler: Arc<TaskHandler>) -> impl FnOnce(&EventLoop, WorkerPort) + Send + 'static {
    move |lp, port| {
        let reply = port.clone();
        port.on_message(lp, move |lp, request| match downcast::<Request>(request) {
            Ok(Request::Task(task)) => {
                let result = catch_unwind(AssertUnwindSafe(|| handler(task)))
                    .map_err(|payload| panic_message(&*payload));
                // Refused only while being terminated: the answer has nowhere to go then.
                let _ = reply.post(Reply(result));
            }
            Ok(Request::Close) => reply.off_message(lp),
            Err(_) => {}
        });
    }
}

impl WorkerPool {
    /// Starts `size` workers (1..=[`MAX_POOL_WORKERS`]) on `lp`'s pool, each running `handler`
    /// for the tasks it is given. Idle workers do not keep `lp` alive.
    pub fn new(
        lp: &EventLoop,
        size: usize,
        handler: impl Fn(Message) -> Message + Send + Sync + 'static,
    ) -> Result<WorkerPool, WorkerError> {
        if !(1..=MAX_POOL_WORKERS).contains(&size) {
            return Err(WorkerError::PoolSize(size));
        }
        let handler: Arc<TaskHandler> = Arc::new(handler);
        let mut workers = Vec::with_capacity(size);
        for index in 0..size {
            match Worker::spawn(
                lp,
                &format!("pool-worker-{index}"),
                serve(Arc::clone(&handler)),
            ) {
                Ok(worker) => {
                    worker.unref(lp);
                    workers.push(worker);
                }
                Err(e) => {
                    for worker in &workers {
                        worker.terminate();
                    }
                    return Err(e);
                }
            }
        }
        let core = Rc::new_cyclic(|weak: &Weak<PoolCore>| {
            for (index, worker) in workers.iter().enumerate() {
                let w = weak.clone();
                worker.on_message(lp, move |lp, reply| {
                    if let Some(core) = w.upgrade() {
                        core.on_reply(lp, index, reply);
                    }
                });
                let w = weak.clone();
                worker.on_exit(lp, move |lp, code| {
                    if let Some(core) = w.upgrade() {
                        core.on_exit(lp, index, code);
                    }
                });
            }
            PoolCore {
                slots: RefCell::new((0..size).map(|_| Slot::Idle).collect()),
                idle: RefCell::new((0..size).collect()),
                workers,
                queue: RefCell::new(VecDeque::new()),
                closed: Cell::new(false),
            }
        });
        Ok(WorkerPool { core })
    }

    /// `pool.run(task)`: queues `task`; `callback` runs on `lp` with the handler's answer, or
    /// an error if the handler panicked or the worker exited first. Fails at once if the pool
    /// is closed or has no worker left (the callback is then dropped).
    pub fn run<T: std::any::Any + Send>(
        &self,
        lp: &EventLoop,
        task: T,
        callback: impl FnOnce(&EventLoop, Result<Message, WorkerError>) + 'static,
    ) -> Result<(), WorkerError> {
        if self.core.closed.get() {
            return Err(WorkerError::PoolClosed);
        }
        if !self.core.any_alive() {
            return Err(WorkerError::NoWorkers);
        }
        let entry = (message(task), Box::new(callback) as TaskCallback);
        self.core.queue.borrow_mut().push_back(entry);
        self.core.pump(lp);
        Ok(())
    }

    /// Lets queued and running tasks finish, then ends every worker (exit code 0). The workers
    /// keep `lp` alive until they have exited and been joined. Later `run` calls fail.
    pub fn close(&self, lp: &EventLoop) {
        self.core.closed.set(true);
        for worker in &self.core.workers {
            worker.ref_(lp);
        }
        self.core.pump(lp);
    }

    /// Number of workers started.
    pub fn size(&self) -> usize {
        self.core.workers.len()
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.core.queue.borrow().len()
    }

    /// The pool's workers (for their ids, exit codes and start-up times).
    pub fn workers(&self) -> &[Worker] {
        &self.core.workers
    }
}

impl PoolCore {
    fn any_alive(&self) -> bool {
        self.slots.borrow().iter().any(|s| !matches!(s, Slot::Gone))
    }

    /// Hands queued tasks to idle workers; once closed and drained, tells idle workers to stop.
    fn pump(&self, lp: &EventLoop) {
        loop {
            if self.queue.borrow().is_empty() {
                break;
            }
            let Some(index) = self.idle.borrow_mut().pop_front() else {
                break;
            };
            let Some((task, callback)) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            match self.workers[index].post(Request::Task(task)) {
                Ok(()) => {
                    self.slots.borrow_mut()[index] = Slot::Busy(callback);
                    self.workers[index].ref_(lp);
                }
                Err(refused) => {
                    // The worker is ending; the task goes back to the head for another one.
                    self.slots.borrow_mut()[index] = Slot::Gone;
                    if let Ok(Request::Task(task)) = downcast::<Request>(refused.0) {
                        self.queue.borrow_mut().push_front((task, callback));
                    }
                }
            }
        }
        if self.closed.get() && self.queue.borrow().is_empty() {
            let idle: Vec<usize> = self.idle.borrow_mut().drain(..).collect();
            for index in idle {
                self.slots.borrow_mut()[index] = Slot::Closing;
                // A refusal means the worker is already ending, which is what closing wants.
                let _ = self.workers[index].post(Request::Close);
            }
        }
    }

    fn on_reply(&self, lp: &EventLoop, index: usize, reply: Message) {
        let slot = std::mem::replace(&mut self.slots.borrow_mut()[index], Slot::Idle);
        let Slot::Busy(callback) = slot else {
            self.slots.borrow_mut()[index] = slot;
            return;
        };
        if !self.closed.get() {
            self.workers[index].unref(lp);
        }
        self.idle.borrow_mut().push_back(index);
        self.pump(lp);
        let thread_id = self.workers[index].thread_id();
        let result = match downcast::<Reply>(reply) {
            Ok(Reply(Ok(value))) => Ok(value),
            Ok(Reply(Err(message))) => Err(WorkerError::TaskPanicked { thread_id, message }),
            Err(_) => Err(WorkerError::TaskPanicked {
                thread_id,
                message: "the worker answered with something that is not a pool reply".into(),
            }),
        };
        costs::charge(costs::Event::WorkerTask);
        callback(lp, result);
    }

    fn on_exit(&self, lp: &EventLoop, index: usize, code: i32) {
        let slot = std::mem::replace(&mut self.slots.borrow_mut()[index], Slot::Gone);
        self.idle.borrow_mut().retain(|&i| i != index);
        let thread_id = self.workers[index].thread_id();
        if let Slot::Busy(callback) = slot {
            callback(lp, Err(WorkerError::WorkerExited { thread_id, code }));
        }
        if !self.any_alive() {
            let orphans: Vec<_> = self.queue.borrow_mut().drain(..).collect();
            for (_, callback) in orphans {
                callback(lp, Err(WorkerError::NoWorkers));
            }
        }
    }
}

impl Drop for PoolCore {
    fn drop(&mut self) {
        for worker in &self.workers {
            // Messages are handled in order: a busy worker finishes its task first.
            let _ = worker.post(Request::Close);
        }
    }
}
