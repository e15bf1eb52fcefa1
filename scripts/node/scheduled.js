// Shared body of timers.js, immediates.js and ticks.js (each passes its name and how to schedule
// one callback). The main script schedules N callbacks in a plain for loop, all the same function
// cb; cb counts, and the last one (count === N) stops the clock, started just before the first
// schedule. ops_per_s = N / s, scheduling and running included, like the Rust job. Takes
// [--n 1000000]. Run time is bounded by N; a 60 s guard exits 2 if the loop stalls before the
// last callback, and an exit check exits 2 if the loop ran dry before it.
'use strict';
const common = require('./common');

module.exports = function scheduled(name, schedule) {
  const { parseArgs, giveUpAfterLimit, checkAtExit } = common(name);
  const opts = parseArgs({ n: 1_000_000 });
  const n = opts.n;
  let count = 0;
  giveUpAfterLimit();
  checkAtExit(() => count === n, () => `the loop ran dry after ${count} of ${n} callbacks`);

  function cb() {
    if (++count === n) {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      console.log(JSON.stringify({ bench: name, runtime: 'node', node: process.version, params: opts, ops_per_s: n / seconds }));
    }
  }

  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) schedule(cb);
};
