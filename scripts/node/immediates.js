// Node twin of the `immediates` bench (runtime/benches/scheduling.rs, `lab bench immediates`):
// cost of queueing and running immediates. The main script queues N `setImmediate(cb)` in a plain
// for loop; cb counts, and the last one (count === N) stops the clock, started just before the
// first setImmediate. ops_per_s = N / s, queueing and running included, like the Rust job.
//
//   node immediates.js [--n 1000000]
//
// Run time is bounded by N; a 60 s guard exits 2 if the loop stalls before the last callback.
// The loop, clock and checks live in scheduled.js (shared with timers.js and ticks.js).
'use strict';
require('./scheduled')('immediates', (cb) => setImmediate(cb));
