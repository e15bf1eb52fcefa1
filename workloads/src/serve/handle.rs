//! [`ShutdownHandle`]: what `serve` gives its caller to stop the server and to sample its loops
//! from another thread; and [`ProbeEndpoint`], the loop's side of a sample.
//!
//! How a sample travels on a loop strategy:
//! 1. the caller queues a one-shot reply channel on a std channel and wakes the loop through an
//!    unreferenced async handle (so the probe never keeps the loop alive);
//! 2. in its poll phase the loop answers every queued request (a cluster primary first gathers
//!    its workers' windows; see `cluster_probe`);
//! 3. the caller waits on its reply channel for at most its timeout.
//!
//! On shutdown the endpoint closes its async handle and drops its queue: requests already
//! queued see their reply channel disconnect, later ones fail to queue, and both return an
//! error at once instead of waiting for the timeout.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use looplab_runtime::{AsyncHandle, AsyncSender, EventLoop};
use tokio::sync::watch;

use super::LoopSample;
use crate::error::WorkloadError;

/// Where the loop sends one sample.
pub(crate) type Reply = mpsc::Sender<LoopSample>;

/// Lets other threads stop a running server gracefully ([`ShutdownHandle::shutdown`]) and
/// measure its serving loops over a window ([`ShutdownHandle::sample`]). `Send + Sync`; clones
/// share the server.
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Stop,
    probe: Probe,
    stopped: Arc<AtomicBool>,
}

#[derive(Clone)]
enum Stop {
    /// Wakes the loop's shutdown handle.
    Loop(AsyncSender),
    /// Tells the tokio server's accept loop and connections.
    Tokio(Arc<watch::Sender<bool>>),
}

#[derive(Clone)]
enum Probe {
    Loop {
        requests: mpsc::Sender<Reply>,
        wake: AsyncSender,
    },
    Tokio(Arc<RequestCounter>),
}

/// The tokio server's answered requests, and the count at the previous sample.
#[derive(Default)]
pub(crate) struct RequestCounter {
    pub answered: AtomicU64,
    sampled: Mutex<u64>,
}

impl ShutdownHandle {
    /// A handle for a loop-based server: `stop` wakes its shutdown handle, `probe` its probe.
    pub(crate) fn for_loop(stop: AsyncSender, probe: &ProbeEndpoint) -> Self {
        Self {
            stop: Stop::Loop(stop),
            probe: Probe::Loop {
                requests: probe.requests.clone(),
                wake: probe.wake.clone(),
            },
            stopped: Arc::default(),
        }
    }

    /// A handle for the tokio server.
    pub(crate) fn for_tokio(stop: Arc<watch::Sender<bool>>, counter: Arc<RequestCounter>) -> Self {
        Self {
            stop: Stop::Tokio(stop),
            probe: Probe::Tokio(counter),
            stopped: Arc::default(),
        }
    }

    /// Asks the server to stop accepting, finish what it has (at most 5 s), and return.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        match &self.stop {
            Stop::Loop(sender) => sender.send(),
            Stop::Tokio(sender) => {
                sender.send_replace(true);
            }
        }
    }

    /// What the serving loops did since the previous `sample` (the first call: since the server
    /// started listening). Call it from any thread but the server's own; it blocks until the
    /// loops answer, at most `timeout`. Fails at once after [`ShutdownHandle::shutdown`] or once
    /// the server has stopped, and with an error naming `timeout` if the loops do not answer in
    /// time (a window that timed out still ends when the loops get to it: the next sample starts
    /// there).
    pub fn sample(&self, timeout: Duration) -> Result<LoopSample, WorkloadError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(stopped());
        }
        match &self.probe {
            Probe::Tokio(counter) => Ok(counter.sample()),
            Probe::Loop { requests, wake } => {
                let (reply, answer) = mpsc::channel();
                requests.send(reply).map_err(|_| stopped())?;
                wake.send();
                answer.recv_timeout(timeout).map_err(|e| match e {
                    mpsc::RecvTimeoutError::Timeout => WorkloadError::Io {
                        what: "sample the serving loops".into(),
                        cause: io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "no answer within {} ms; a loop may be blocked for longer \
                                 (raise the timeout)",
                                timeout.as_millis()
                            ),
                        ),
                    },
                    mpsc::RecvTimeoutError::Disconnected => stopped(),
                })
            }
        }
    }
}

fn stopped() -> WorkloadError {
    WorkloadError::Io {
        what: "sample the serving loops".into(),
        cause: io::Error::new(
            io::ErrorKind::NotConnected,
            "the server is shutting down or has stopped; sample before shutdown",
        ),
    }
}

impl RequestCounter {
    fn sample(&self) -> LoopSample {
        let mut sampled = self.sampled.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.answered.load(Ordering::Acquire);
        let requests = now.saturating_sub(*sampled);
        *sampled = now;
        LoopSample {
            requests,
            ..LoopSample::default()
        }
    }
}

/// The loop's side of the probe: an unreferenced async handle and the queue of requests.
pub(crate) struct ProbeEndpoint {
    requests: mpsc::Sender<Reply>,
    wake: AsyncSender,
    handle: Cell<Option<AsyncHandle>>,
    queue: Rc<RefCell<Option<mpsc::Receiver<Reply>>>>,
}

impl ProbeEndpoint {
    /// Listens for sample requests on `lp`; `answer` gets each one's reply channel, on the loop.
    pub fn open(lp: &EventLoop, mut answer: impl FnMut(&EventLoop, Reply) + 'static) -> Self {
        let (requests, receiver) = mpsc::channel::<Reply>();
        let queue = Rc::new(RefCell::new(Some(receiver)));
        let queued = Rc::clone(&queue);
        let handle = lp.new_async(move |lp| loop {
            let next = queued.borrow().as_ref().and_then(|r| r.try_recv().ok());
            let Some(reply) = next else { break };
            answer(lp, reply);
        });
        handle.unref(lp);
        Self {
            requests,
            wake: handle.sender(),
            handle: Cell::new(Some(handle)),
            queue,
        }
    }

    /// Stops answering: closes the async handle and drops the queue (see the module doc).
    pub fn close(&self, lp: &EventLoop) {
        if let Some(handle) = self.handle.take() {
            handle.close(lp, |_| {});
        }
        self.queue.borrow_mut().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_goes_to_other_threads() {
        fn send_sync<T: Send + Sync + Clone + 'static>() {}
        send_sync::<ShutdownHandle>();
    }

    #[test]
    fn the_tokio_counter_reports_each_window_once() {
        let counter = RequestCounter::default();
        counter.answered.fetch_add(3, Ordering::AcqRel);
        assert_eq!(counter.sample().requests, 3);
        assert_eq!(counter.sample(), LoopSample::default());
    }
}
