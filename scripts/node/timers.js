// Node twin of the `timers` bench (runtime/benches/scheduling.rs, `lab bench timers`): cost of
// scheduling and firing timers. The main script schedules N `setTimeout(cb, 1)` in a plain for
// loop; cb counts, and the last one (count === N) stops the clock, started just before the first
// setTimeout. ops_per_s = N / s, scheduling and firing included, like the Rust job.
//
//   node timers.js [--n 1000000]
//
// Run time is bounded by N; a 60 s guard exits 2 if the loop stalls before the last callback.
// The loop, clock and checks live in scheduled.js (shared with immediates.js and ticks.js).
'use strict';
require('./scheduled')('timers', (cb) => setTimeout(cb, 1));
