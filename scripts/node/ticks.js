// Node twin of the `ticks` bench (runtime/benches/scheduling.rs, `lab bench ticks`): cost of
// queueing and running next-ticks. The main script queues N `process.nextTick(cb)` in a plain for
// loop; cb counts, and the last one (count === N) stops the clock, started just before the first
// nextTick. ops_per_s = N / s, queueing and running included, like the Rust job.
//
//   node ticks.js [--n 1000000]
//
// Run time is bounded by N; a 60 s guard exits 2 if the loop stalls before the last callback.
// The loop, clock and checks live in scheduled.js (shared with timers.js and immediates.js).
'use strict';
require('./scheduled')('ticks', (cb) => process.nextTick(cb));
