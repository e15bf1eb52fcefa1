//! `worker` and `message` ops on the runtime.
//!
//! A `worker` op spawns a [`Worker`] on the run's pool. Its main:
//! 1. listens to its parent if the scenario sends it messages (and stops listening after the
//!    last one, so that, as in Node, the worker exits once its loop has nothing left);
//! 2. schedules the op's `ops` in the worker's own context (`worker-N`).
//!
//! The parent records the worker op when its exit event arrives, then schedules its `then`
//! (unless an op failed: then the exit ends the run). A message carries its label and the time
//! it was sent; the receiver records it and schedules its `then` in the receiver's context. A
//! message to a worker that is not running fails at once and ends the run: its worker, started
//! later, would wait for it forever.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use looplab_runtime::worker::{self, Worker};
use looplab_runtime::EventLoop;

use super::model::{Op, OpKind};
use super::run::Ctx;

/// What a message carries: the message op's label and when it was sent (ms since the start).
type Envelope = (String, f64);

/// Starts the worker of `op` (on the main thread).
pub(crate) fn start(lp: &EventLoop, ctx: &Rc<Ctx>, op: &Arc<Op>, start_ms: f64) {
    let OpKind::Worker { ops } = &op.kind else {
        return;
    };
    let n = ctx.workers_started.get() + 1;
    ctx.workers_started.set(n);
    let thread = format!("worker-{n}");
    let shared = Arc::clone(&ctx.shared);
    let expected = shared.expected.get(&op.label).copied().unwrap_or(0);
    let ops = ops.clone();
    let spawned = Worker::spawn(lp, &op.label, move |wlp, port| {
        let wctx = Ctx::new(shared, thread, Some(port.clone()));
        if expected > 0 {
            let received = Cell::new(0);
            let listener = Rc::clone(&wctx);
            port.on_message(wlp, move |wlp, message| {
                receive(wlp, &listener, message);
                received.set(received.get() + 1);
                if received.get() == expected {
                    if let Some(port) = &listener.port {
                        port.off_message(wlp);
                    }
                }
            });
        }
        wctx.schedule_all(wlp, &ops);
    });
    let handle = match spawned {
        Ok(handle) => handle,
        Err(e) => return ctx.fail(lp, &op.label, e),
    };
    let receiver = Rc::clone(ctx);
    handle.on_message(lp, move |lp, message| receive(lp, &receiver, message));
    let (failed, label) = (Rc::clone(ctx), op.label.clone());
    handle.on_error(lp, move |lp, error| failed.fail(lp, &label, error));
    let (done, op_done) = (Rc::clone(ctx), Arc::clone(op));
    handle.on_exit(lp, move |lp, _code| {
        done.workers.borrow_mut().remove(&op_done.label);
        if done.failed() {
            return done.abort(lp);
        }
        done.complete(lp, &op_done, start_ms, done.thread.clone());
    });
    ctx.workers.borrow_mut().insert(op.label.clone(), handle);
}

/// Sends the message `op`: to the worker `to` from the main thread, or to the parent.
pub(crate) fn send(lp: &EventLoop, ctx: &Rc<Ctx>, op: &Arc<Op>, to: Option<&str>, start_ms: f64) {
    let envelope: Envelope = (op.label.clone(), start_ms);
    let posted = match (to, &ctx.port) {
        (None, Some(port)) => port.post(envelope).map_err(|e| e.to_string()),
        (Some(worker), None) => match ctx.workers.borrow().get(worker) {
            Some(handle) => handle.post(envelope).map_err(|e| e.to_string()),
            None => Err(format!(
                "worker `{worker}` is not running when the message is sent; expected the worker \
                 started before the message is sent (they are issued in callbacks whose order \
                 depends on timing: chain them with `then`)"
            )),
        },
        _ => Err("internal: a message in the wrong context".to_string()),
    };
    if let Err(e) = posted {
        ctx.fail(lp, &op.label, e);
    }
}

/// Records a received message and schedules its `then` here.
fn receive(lp: &EventLoop, ctx: &Rc<Ctx>, message: worker::Message) {
    let Ok((label, start_ms)) = worker::downcast::<Envelope>(message) else {
        return ctx.fail(lp, "message", "internal: a message of an unknown type");
    };
    match ctx.shared.messages.get(&label).cloned() {
        Some(op) => ctx.complete(lp, &op, start_ms, ctx.thread.clone()),
        None => ctx.fail(lp, &label, "internal: a message with an unknown label"),
    }
}
