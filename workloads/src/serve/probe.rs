//! What a serving loop did in a measured window: [`LoopSample`], and the loop-side
//! [`LoopProbe`] that measures one loop by differences between two snapshots.
//!
//! Invariants:
//! 1. a probe reads only this loop's counters (utilization, pool statistics, the delay monitor,
//!    the application's answered count), so it runs on the loop and never waits for anything;
//! 2. each [`LoopProbe::window`] call moves the baseline, so consecutive windows never overlap
//!    and nothing is counted twice; the first window starts when the probe was made (when the
//!    server started listening);
//! 3. windows of several loops merge by [`LoopWindow::merge`]: utilization is the mean,
//!    histograms are added, counts summed.

use std::cell::RefCell;
use std::rc::Rc;

use hdrhistogram::Histogram;
use looplab_runtime::metrics::{DelayMonitor, Utilization};
use looplab_runtime::EventLoop;
use serde::{Deserialize, Serialize};

use super::app::App;

/// Loop delay monitor resolution, as `monitorEventLoopDelay({ resolution: 10 })`.
pub(crate) const DELAY_RESOLUTION_MS: u64 = 10;

/// What the serving loops did between two [`ShutdownHandle::sample`](super::ShutdownHandle::sample)
/// calls (the first: since the server started listening).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopSample {
    /// Serving loops sampled: one per cluster worker process; the main loop under `loop`,
    /// `loop-blocking` and `workers`; 0 under `tokio`.
    pub loops: u32,
    /// Mean over the loops of their event-loop utilization in the window (0 to 1).
    pub utilization: f64,
    /// Median loop delay in the window, microseconds, merged over the loops. Like Node's
    /// `monitorEventLoopDelay` the samples include the 10 ms resolution itself.
    pub delay_p50_us: f64,
    /// 99th percentile of the loop delay, microseconds.
    pub delay_p99_us: f64,
    /// Largest loop delay, microseconds.
    pub delay_max_us: f64,
    /// Pool tasks the serving loops submitted that completed in the window (a file read is
    /// four: open, fstat, read, close). `None` where the pool cannot be observed (no loop was
    /// sampled, or a Node twin of the point, whose libuv pool reports nothing).
    pub pool_tasks: Option<u64>,
    /// Mean time those tasks waited in the pool's queue, microseconds (`None` as above).
    pub pool_wait_mean_us: Option<f64>,
    /// 99th percentile of that wait, microseconds (`None` as above).
    pub pool_wait_p99_us: Option<f64>,
    /// Longest wait, microseconds (`None` as above).
    pub pool_wait_max_us: Option<f64>,
    /// Requests answered in the window, by every serving process.
    pub requests: u64,
}

/// One loop's window, before merging; cluster workers send it to their primary.
#[derive(Clone, Debug)]
pub(crate) struct LoopWindow {
    pub utilization: f64,
    pub requests: u64,
    pub pool_tasks: u64,
    pub pool_wait_ns: u64,
    /// Loop delay samples, nanoseconds.
    pub delay_ns: Histogram<u64>,
    /// Pool queue wait of each task, microseconds.
    pub pool_wait_us: Histogram<u64>,
}

impl LoopWindow {
    /// Merges the windows of several loops into one sample (all zeros, and no pool figures, for
    /// none).
    pub fn merge(windows: &[LoopWindow]) -> LoopSample {
        let mut delay_ns = empty_histogram();
        let mut pool_wait_us = empty_histogram();
        for w in windows {
            // Both are auto-resizing, so adding cannot run out of range.
            let _ = delay_ns.add(&w.delay_ns);
            let _ = pool_wait_us.add(&w.pool_wait_us);
        }
        let pool_tasks: u64 = windows.iter().map(|w| w.pool_tasks).sum();
        let pool_wait_ns: u64 = windows.iter().map(|w| w.pool_wait_ns).sum();
        let utilization = if windows.is_empty() {
            0.0
        } else {
            windows.iter().map(|w| w.utilization).sum::<f64>() / windows.len() as f64
        };
        let observed = !windows.is_empty();
        LoopSample {
            loops: windows.len() as u32,
            utilization,
            delay_p50_us: quantile(&delay_ns, 0.5) / 1e3,
            delay_p99_us: quantile(&delay_ns, 0.99) / 1e3,
            delay_max_us: max(&delay_ns) / 1e3,
            pool_tasks: observed.then_some(pool_tasks),
            pool_wait_mean_us: observed.then(|| {
                if pool_tasks == 0 {
                    0.0
                } else {
                    pool_wait_ns as f64 / pool_tasks as f64 / 1e3
                }
            }),
            pool_wait_p99_us: observed.then(|| quantile(&pool_wait_us, 0.99)),
            pool_wait_max_us: observed.then(|| max(&pool_wait_us)),
            requests: windows.iter().map(|w| w.requests).sum(),
        }
    }
}

/// An auto-resizing histogram with 3 significant digits.
pub(crate) fn empty_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits are valid")
}

fn quantile(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64
    }
}

fn max(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.max() as f64
    }
}

/// `later - earlier` for cumulative histograms; `later` itself if they do not fit (never
/// expected: the earlier snapshot of the same histogram is always contained in the later).
fn difference(later: &Histogram<u64>, earlier: &Histogram<u64>) -> Histogram<u64> {
    let mut delta = later.clone();
    if delta.subtract(earlier).is_err() {
        return later.clone();
    }
    delta
}

/// The counters at the start of the current window.
struct Baseline {
    utilization: Utilization,
    requests: u64,
    pool_tasks: u64,
    pool_wait_ns: u64,
    pool_wait_us: Histogram<u64>,
    delay_ns: Histogram<u64>,
}

/// Measures one serving loop: a delay monitor (an unreferenced timer) and the baseline of the
/// window in progress. Lives on the loop's thread.
pub(crate) struct LoopProbe {
    monitor: DelayMonitor,
    app: Rc<App>,
    baseline: RefCell<Baseline>,
}

impl LoopProbe {
    /// Starts the delay monitor and opens the first window (call when the server listens).
    pub fn start(lp: &EventLoop, app: Rc<App>) -> Rc<LoopProbe> {
        let monitor = lp.monitor_delay(DELAY_RESOLUTION_MS);
        let metrics = lp.metrics();
        let baseline = Baseline {
            utilization: lp.utilization(),
            requests: app.answered.get(),
            pool_tasks: metrics.pool.iter().map(|c| c.tasks).sum(),
            pool_wait_ns: metrics.pool.iter().map(|c| c.wait_ns).sum(),
            pool_wait_us: metrics.pool_wait_us,
            delay_ns: monitor.histogram(),
        };
        Rc::new(LoopProbe {
            monitor,
            app,
            baseline: RefCell::new(baseline),
        })
    }

    /// Closes the current window and opens the next one.
    pub fn window(&self, lp: &EventLoop) -> LoopWindow {
        let metrics = lp.metrics();
        let now = Baseline {
            utilization: lp.utilization(),
            requests: self.app.answered.get(),
            pool_tasks: metrics.pool.iter().map(|c| c.tasks).sum(),
            pool_wait_ns: metrics.pool.iter().map(|c| c.wait_ns).sum(),
            pool_wait_us: metrics.pool_wait_us,
            delay_ns: self.monitor.histogram(),
        };
        let before = self.baseline.replace(now);
        let now = self.baseline.borrow();
        LoopWindow {
            utilization: now.utilization.since(&before.utilization).utilization,
            requests: now.requests.saturating_sub(before.requests),
            pool_tasks: now.pool_tasks.saturating_sub(before.pool_tasks),
            pool_wait_ns: now.pool_wait_ns.saturating_sub(before.pool_wait_ns),
            delay_ns: difference(&now.delay_ns, &before.delay_ns),
            pool_wait_us: difference(&now.pool_wait_us, &before.pool_wait_us),
        }
    }

    /// Stops the delay monitor (on shutdown).
    pub fn stop(&self, lp: &EventLoop) {
        self.monitor.disable(lp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(utilization: f64, delays_ns: &[u64], waits_us: &[u64]) -> LoopWindow {
        let mut delay_ns = empty_histogram();
        for &d in delays_ns {
            delay_ns.record(d).unwrap();
        }
        let mut pool_wait_us = empty_histogram();
        for &w in waits_us {
            pool_wait_us.record(w).unwrap();
        }
        LoopWindow {
            utilization,
            requests: 3,
            pool_tasks: waits_us.len() as u64,
            pool_wait_ns: waits_us.iter().sum::<u64>() * 1_000,
            delay_ns,
            pool_wait_us,
        }
    }

    #[test]
    fn windows_merge_by_mean_sum_and_histogram_addition() {
        let a = window(0.2, &[10_000_000, 10_000_000], &[100]);
        let b = window(0.6, &[10_000_000, 50_000_000], &[300]);
        let s = LoopWindow::merge(&[a, b]);
        assert_eq!(s.loops, 2);
        assert!((s.utilization - 0.4).abs() < 1e-9);
        assert_eq!(s.requests, 6);
        assert_eq!(s.pool_tasks, Some(2));
        assert!((s.pool_wait_mean_us.unwrap() - 200.0).abs() < 1e-9);
        assert!((s.delay_p50_us - 10_000.0).abs() < 10.0, "{s:?}");
        assert!((s.delay_max_us - 50_000.0).abs() < 50.0, "{s:?}");
        assert!((s.pool_wait_max_us.unwrap() - 300.0).abs() < 1.0, "{s:?}");
    }

    #[test]
    fn no_window_merges_to_zeros() {
        assert_eq!(LoopWindow::merge(&[]), LoopSample::default());
    }

    #[test]
    fn a_difference_keeps_only_the_later_samples() {
        let mut earlier = empty_histogram();
        earlier.record(90_000).unwrap();
        let mut later = earlier.clone();
        later.record(10).unwrap();
        let delta = difference(&later, &earlier);
        assert_eq!(delta.len(), 1);
        assert_eq!(delta.max(), 10);
    }
}
