// What a serving loop did in a measured window, the Node side of looplab's `LoopSample`
// (`workloads/src/serve/probe.rs`): event-loop utilization from
// `performance.eventLoopUtilization()` deltas, loop delay from `monitorEventLoopDelay` (reset at
// each window), requests answered. Node cannot see its libuv pool's queue, so the pool fields
// are `null` (absent), never zero.
//
// Windows of several loops (cluster workers) merge as looplab's do: utilization is the mean,
// requests are summed; the delay percentiles come from the loops' delay distributions added
// together, rebuilt from each histogram's percentile points (exact when one loop has samples).
'use strict';

const { performance, monitorEventLoopDelay } = require('node:perf_hooks');

/** Delay monitor resolution, ms: looplab's (`DELAY_RESOLUTION_MS`), so delays compare. */
const DELAY_RESOLUTION_MS = 10;

/** Measures this process' loop; `answered()` is the count of requests answered so far. */
class LoopProbe {
  constructor(answered) {
    this.answered = answered;
    this.monitor = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    this.monitor.enable();
    this.elu = performance.eventLoopUtilization();
    this.requests = answered();
  }

  /** Closes the current window (a plain object, sent as is over the cluster IPC). */
  window() {
    const elu = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(elu, this.elu).utilization;
    const requests = this.answered();
    const h = this.monitor;
    const count = h.count;
    const out = {
      utilization: Number.isFinite(utilization) ? utilization : 0,
      requests: requests - this.requests,
      count,
      p50_ns: count ? h.percentile(50) : 0,
      p99_ns: count ? h.percentile(99) : 0,
      max_ns: count ? h.max : 0,
      points: count ? [...h.percentiles.entries()] : [],
    };
    h.reset();
    this.elu = elu;
    this.requests = requests;
    return out;
  }

  stop() {
    this.monitor.disable();
  }
}

/** The value at quantile `q` of weighted (value, weight) pairs sorted by value. */
function quantile(pairs, total, q) {
  let seen = 0;
  for (const [value, weight] of pairs) {
    seen += weight;
    if (seen >= q * total) return value;
  }
  return pairs.length ? pairs[pairs.length - 1][0] : 0;
}

/** The delay percentiles of several windows, as one distribution. */
function mergedDelays(windows) {
  const sampled = windows.filter((w) => w.count > 0);
  if (sampled.length === 0) return { p50: 0, p99: 0, max: 0 };
  const max = Math.max(...sampled.map((w) => w.max_ns));
  if (sampled.length === 1) return { p50: sampled[0].p50_ns, p99: sampled[0].p99_ns, max };
  const pairs = [];
  for (const w of sampled) {
    let previous = 0;
    for (const [percentile, value] of w.points) {
      pairs.push([value, ((percentile - previous) / 100) * w.count]);
      previous = percentile;
    }
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const total = pairs.reduce((sum, [, weight]) => sum + weight, 0);
  return { p50: quantile(pairs, total, 0.5), p99: quantile(pairs, total, 0.99), max };
}

/** The `LoopSample` of some loops' windows (looplab's `LoopWindow::merge`). */
function merge(windows) {
  const delays = mergedDelays(windows);
  const n = windows.length;
  return {
    loops: n,
    utilization: n ? windows.reduce((sum, w) => sum + w.utilization, 0) / n : 0,
    delay_p50_us: delays.p50 / 1e3,
    delay_p99_us: delays.p99 / 1e3,
    delay_max_us: delays.max / 1e3,
    pool_tasks: null,
    pool_wait_mean_us: null,
    pool_wait_p99_us: null,
    pool_wait_max_us: null,
    requests: windows.reduce((sum, w) => sum + w.requests, 0),
  };
}

module.exports = { LoopProbe, merge, DELAY_RESOLUTION_MS };
