// Node twin of the `pool-roundtrip` bench (runtime/benches/pool.rs, `lab bench pool-roundtrip`):
// throughput of near-empty work items through the libuv thread pool. Each item is
// `crypto.randomFill` of a 1-byte Buffer (one Buffer per in-flight slot), so the cost is the
// round trip: submit, queue, thread wake-up, completion, loop wake-up, callback. K items are kept
// in flight; each completion submits the next until N were submitted. After an untimed warm-up of
// 10,000 items, the time from the first submit to the last completion gives ops_per_s = N / s.
//
//   node pool-roundtrip.js [--n 200000] [--inflight 1024] [--pool 4]
//
// The pool is sized from UV_THREADPOOL_SIZE at its first use, so the script re-executes itself
// with UV_THREADPOOL_SIZE=P when the variable differs. Gives up (exit 2) after 60 s.
'use strict';
const crypto = require('crypto');

const NAME = 'pool-roundtrip';
const { fail, parseArgs, usePool, giveUpAfterLimit, checkAtExit } = require('./common')(NAME);

const WARMUP = 10_000;

// Keeps `inflight` randomFill calls in the pool until `total` completed; calls done(seconds).
function pump(total, inflight, done) {
  const bufs = Array.from({ length: Math.min(inflight, total) }, () => Buffer.alloc(1));
  let submitted = 0;
  let completed = 0;
  const submit = (buf) => {
    submitted++;
    crypto.randomFill(buf, onFilled);
  };
  function onFilled(err, buf) {
    if (err) fail(err.message);
    completed++;
    if (submitted < total) submit(buf);
    else if (completed === total) done(Number(process.hrtime.bigint() - start) / 1e9);
  }
  const start = process.hrtime.bigint();
  bufs.forEach(submit);
}

const opts = parseArgs({ n: 200_000, inflight: 1024, pool: 4 });
usePool(opts.pool);

let finished = false;
giveUpAfterLimit();
checkAtExit(() => finished, () => 'the loop ran dry before the last completion');
pump(WARMUP, opts.inflight, () =>
  pump(opts.n, opts.inflight, (seconds) => {
    finished = true;
    const out = { bench: NAME, runtime: 'node', node: process.version, params: opts, ops_per_s: opts.n / seconds };
    console.log(JSON.stringify(out));
  }),
);
