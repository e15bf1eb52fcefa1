//! Stage 3, middle step: measuring one repetition's window, given the point's running
//! processes.
//!
//! - Service ([`measure_service`]): the load generator runs in this process; exactly when it
//!   opens its window, the point's process tree and the machine are sampled (`/proc`) and the
//!   serving loops are probed (a first `sample`, discarded); when it closes, again. Usage is
//!   the difference, over the generator's own window.
//! - Batch ([`measure_batch`]): every process warms up, then the tree and the machine are
//!   sampled around one measured batch per process, run at once.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use looplab_workloads::load::{self, LoadSpec, WindowEdge};

use super::child::PointProcess;
use super::procs::{machine_sample, sample_tree, MachineSample, TreeSample};
use super::record::{BatchWindow, ServiceWindow, Usage};
use crate::point::{Reply, SAMPLE_TIMEOUT};

/// The process tree of `roots` and the machine at one instant.
struct Snapshot {
    tree: TreeSample,
    machine: MachineSample,
    at: Instant,
}

impl Snapshot {
    fn take(roots: &[u32]) -> Self {
        Self {
            tree: sample_tree(roots),
            machine: machine_sample(),
            at: Instant::now(),
        }
    }

    /// Usage from `self` until now.
    fn until_now(&self, roots: &[u32]) -> Usage {
        let now = Snapshot::take(roots);
        Usage {
            tree: now.tree.since(&self.tree),
            machine_busy_s: now.machine.busy_s - self.machine.busy_s,
            machine_steal_s: now.machine.steal_s - self.machine.steal_s,
            wall_s: now.at.duration_since(self.at).as_secs_f64(),
            sentinel_ms: None,
        }
    }
}

/// The speed sentinel: milliseconds of a fixed CPU probe (PBKDF2-SHA512 of
/// [`SENTINEL_ITERATIONS`] iterations, about 5 ms on this machine's cores at full speed),
/// taken by the executor before a repetition's processes start and after they stop, when the
/// machine runs nothing of the lab's but this. A core slowed by its neighbours or its
/// hypervisor takes longer; the record keeps the mean of the two.
pub fn sentinel_ms() -> f64 {
    let started = Instant::now();
    let _ = looplab_runtime::crypto::pbkdf2_sync(b"looplab", b"sentinel", SENTINEL_ITERATIONS, 32);
    started.elapsed().as_secs_f64() * 1e3
}

/// Iterations of the sentinel's hash.
pub const SENTINEL_ITERATIONS: u64 = 10_000;

/// A service window and, when the loops could not be probed, why (the record is kept
/// without loop figures).
pub struct Measured {
    /// What was measured.
    pub window: ServiceWindow,
    /// Why the loop figures are missing, if they are.
    pub probe_error: Option<String>,
}

/// Runs the generator of `spec` against `process`, sampling at the window's edges.
pub fn measure_service(process: &mut PointProcess, spec: &LoadSpec) -> Result<Measured> {
    let roots = [process.pid()];
    let mut opened: Option<Snapshot> = None;
    let mut usage = None;
    let mut loops = None;
    // The user's app has no probes: its loop figures are absent, not an error.
    let probes = process.speaks_protocol();
    let mut probe_error = None;
    let report = load::run_with_window(spec, &mut |edge| match edge {
        WindowEdge::Open => {
            opened = Some(Snapshot::take(&roots));
            // Discard what the loops did before the window.
            if !probes {
                return;
            }
            if let Err(e) = process.request("sample", SAMPLE_TIMEOUT) {
                probe_error = Some(format!("{e:#}"));
            }
        }
        WindowEdge::Close => {
            usage = opened.as_ref().map(|o| o.until_now(&roots));
            if probes && probe_error.is_none() {
                match process.request("sample", SAMPLE_TIMEOUT) {
                    Ok(Reply::Sample(sample)) => loops = Some(sample),
                    Ok(other) => probe_error = Some(format!("unexpected answer {other:?}")),
                    Err(e) => probe_error = Some(format!("{e:#}")),
                }
            }
        }
    })?;
    let usage = usage.ok_or_else(|| anyhow!("the load generator never opened its window"))?;
    Ok(Measured {
        window: ServiceWindow {
            report,
            usage,
            loops,
        },
        probe_error,
    })
}

/// Warms every process up for `warmup`, then runs one measured batch in each at once.
/// `cap` bounds how long a process may take to answer.
pub fn measure_batch(
    processes: &mut [PointProcess],
    warmup: Duration,
    cap: Duration,
) -> Result<BatchWindow> {
    let each = |processes: &mut [PointProcess], command: &str| -> Result<Vec<Reply>> {
        for p in processes.iter_mut() {
            p.send(command)?;
        }
        processes
            .iter_mut()
            .map(|p| p.wait_reply(command, cap + warmup))
            .collect()
    };
    if !warmup.is_zero() {
        each(processes, &format!("warmup {}", warmup.as_millis()))?;
    }
    let roots: Vec<u32> = processes.iter().map(PointProcess::pid).collect();
    let before = Snapshot::take(&roots);
    let replies = each(processes, "run")?;
    let usage = before.until_now(&roots);
    let lines = replies
        .into_iter()
        .map(|reply| match reply {
            Reply::Batch(line) => Ok(line),
            other => Err(anyhow!("the point answered `run` with {other:?}")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BatchWindow { lines, usage })
}
