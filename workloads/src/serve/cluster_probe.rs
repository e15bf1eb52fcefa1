//! Sampling a cluster: the primary asks every live worker over the cluster IPC, each worker
//! answers its own [`LoopWindow`], and the primary merges them into one [`LoopSample`].
//!
//! Wire format, one cluster message each (the serve workers exchange no other messages, and the
//! tags keep these apart from any that may come):
//! - request, primary to worker: `looplab-probe?` followed by the sequence number in decimal;
//! - answer, worker to primary: `looplab-probe!` followed by a JSON [`WireWindow`], whose
//!   histograms are HdrHistogram V2 serializations in hex.
//!
//! A gather ends when every worker it asked has answered or exited; answers that cannot be
//! decoded count as answered with nothing. Gathers still open at shutdown are dropped, which
//! makes their callers' `sample` fail at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use looplab_runtime::cluster::{Cluster, WorkerChannel, WorkerId};
use looplab_runtime::EventLoop;
use serde::{Deserialize, Serialize};

use super::handle::Reply;
use super::probe::{LoopProbe, LoopWindow};

const REQUEST_TAG: &[u8] = b"looplab-probe?";
const ANSWER_TAG: &[u8] = b"looplab-probe!";

/// A [`LoopWindow`] as a worker sends it.
#[derive(Serialize, Deserialize)]
struct WireWindow {
    seq: u64,
    utilization: f64,
    requests: u64,
    pool_tasks: u64,
    pool_wait_ns: u64,
    delay_ns: String,
    pool_wait_us: String,
}

fn to_hex(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec fails only for histograms V2 cannot describe; send none then.
    let _ = V2Serializer::new().serialize(h, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Histogram<u64>> {
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    Deserializer::new().deserialize(&mut bytes?.as_slice()).ok()
}

fn encode_answer(seq: u64, w: &LoopWindow) -> Vec<u8> {
    let wire = WireWindow {
        seq,
        utilization: w.utilization,
        requests: w.requests,
        pool_tasks: w.pool_tasks,
        pool_wait_ns: w.pool_wait_ns,
        delay_ns: to_hex(&w.delay_ns),
        pool_wait_us: to_hex(&w.pool_wait_us),
    };
    let mut bytes = ANSWER_TAG.to_vec();
    // A struct of numbers and strings always serializes.
    bytes.extend(serde_json::to_vec(&wire).unwrap_or_default());
    bytes
}

/// `Some((seq, window))` for a probe answer (`window` is `None` if it does not decode), `None`
/// for any other message.
fn decode_answer(bytes: &[u8]) -> Option<(u64, Option<LoopWindow>)> {
    let json = bytes.strip_prefix(ANSWER_TAG)?;
    let wire: WireWindow = match serde_json::from_slice(json) {
        Ok(wire) => wire,
        // Without the sequence number the gather cannot be told; it ends by exit or shutdown.
        Err(_) => return None,
    };
    let window = window_from(&wire);
    Some((wire.seq, window))
}

fn window_from(wire: &WireWindow) -> Option<LoopWindow> {
    Some(LoopWindow {
        utilization: wire.utilization,
        requests: wire.requests,
        pool_tasks: wire.pool_tasks,
        pool_wait_ns: wire.pool_wait_ns,
        delay_ns: from_hex(&wire.delay_ns)?,
        pool_wait_us: from_hex(&wire.pool_wait_us)?,
    })
}

/// The worker's side: answers every probe request from the primary with this loop's window.
/// The channel is held in `slot` (emptied on shutdown, so the callback holds no cycle).
pub(super) fn answer_probes(
    lp: &EventLoop,
    channel: &WorkerChannel,
    probe: Rc<LoopProbe>,
    slot: Rc<RefCell<Option<WorkerChannel>>>,
) {
    channel.on_message(lp, move |lp, bytes| {
        let Some(seq) = bytes
            .strip_prefix(REQUEST_TAG)
            .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u64>().ok())
        else {
            return;
        };
        let window = probe.window(lp);
        if let Some(channel) = &*slot.borrow() {
            // A failed send means the channel is ending, and this worker with it.
            let _ = channel.send(lp, &encode_answer(seq, &window));
        }
    });
}

struct Gather {
    waiting: BTreeSet<WorkerId>,
    windows: Vec<LoopWindow>,
    reply: Reply,
}

/// The primary's side: the gathers in progress, by sequence number.
#[derive(Default)]
pub(super) struct Gathers {
    next_seq: u64,
    open: BTreeMap<u64, Gather>,
}

impl Gathers {
    /// Asks every live worker for its window; answers at once when there is none. The sends
    /// happen outside the borrow, so an event they might raise finds `gathers` free.
    pub fn start(gathers: &RefCell<Gathers>, lp: &EventLoop, cluster: &Cluster, reply: Reply) {
        let seq = {
            let mut g = gathers.borrow_mut();
            g.next_seq += 1;
            g.next_seq
        };
        let mut request = REQUEST_TAG.to_vec();
        request.extend(seq.to_string().into_bytes());
        let waiting: BTreeSet<WorkerId> = (cluster.worker_pids().into_iter())
            .filter(|(id, _)| cluster.send(lp, *id, &request).is_ok())
            .map(|(id, _)| id)
            .collect();
        let gather = Gather {
            waiting,
            windows: Vec::new(),
            reply,
        };
        let mut g = gathers.borrow_mut();
        g.open.insert(seq, gather);
        g.finish_complete();
    }

    /// Takes a worker's message; false if it was not a probe answer.
    pub fn on_message(&mut self, id: WorkerId, bytes: &[u8]) -> bool {
        let Some((seq, window)) = decode_answer(bytes) else {
            return false;
        };
        if let Some(gather) = self.open.get_mut(&seq) {
            if gather.waiting.remove(&id) {
                gather.windows.extend(window);
            }
        }
        self.finish_complete();
        true
    }

    /// A worker exited: no gather waits for it any more.
    pub fn on_exit(&mut self, id: WorkerId) {
        for gather in self.open.values_mut() {
            gather.waiting.remove(&id);
        }
        self.finish_complete();
    }

    /// Drops every open gather (their callers get an error at once).
    pub fn clear(&mut self) {
        self.open.clear();
    }

    fn finish_complete(&mut self) {
        let done: Vec<u64> = (self.open.iter())
            .filter(|(_, g)| g.waiting.is_empty())
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            if let Some(gather) = self.open.remove(&seq) {
                // The caller may have given up (timed out); nobody to tell then.
                let _ = gather.reply.send(LoopWindow::merge(&gather.windows));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::probe::empty_histogram;

    #[test]
    fn a_window_survives_the_wire() {
        let mut delay_ns = empty_histogram();
        delay_ns.record(10_200_000).unwrap();
        delay_ns.record(31_000_000).unwrap();
        let mut pool_wait_us = empty_histogram();
        pool_wait_us.record(42).unwrap();
        let window = LoopWindow {
            utilization: 0.25,
            requests: 7,
            pool_tasks: 1,
            pool_wait_ns: 42_000,
            delay_ns,
            pool_wait_us,
        };
        let bytes = encode_answer(9, &window);
        let (seq, back) = decode_answer(&bytes).unwrap();
        let back = back.unwrap();
        assert_eq!(seq, 9);
        assert_eq!(back.requests, 7);
        assert_eq!(back.delay_ns, window.delay_ns);
        assert_eq!(back.pool_wait_us, window.pool_wait_us);
        assert!(decode_answer(b"hello").is_none());
        assert!(decode_answer(b"looplab-probe!{not json").is_none());
    }

    #[test]
    fn a_gather_ends_when_every_worker_answered_or_exited() {
        let (reply, answers) = std::sync::mpsc::channel();
        let mut gathers = Gathers::default();
        gathers.open.insert(
            1,
            Gather {
                waiting: [1, 2].into(),
                windows: Vec::new(),
                reply,
            },
        );
        let window = LoopWindow {
            utilization: 0.5,
            requests: 3,
            pool_tasks: 0,
            pool_wait_ns: 0,
            delay_ns: empty_histogram(),
            pool_wait_us: empty_histogram(),
        };
        assert!(gathers.on_message(1, &encode_answer(1, &window)));
        assert!(answers.try_recv().is_err(), "worker 2 has not answered");
        assert!(!gathers.on_message(2, b"user message"));
        gathers.on_exit(2);
        let sample = answers.try_recv().unwrap();
        assert_eq!((sample.loops, sample.requests), (1, 3));
    }
}
