// Node twin of the `pbkdf2` bench (runtime/benches/pbkdf2.rs, `lab bench pbkdf2`): one
// PBKDF2-HMAC-SHA512 hash of password 'a', salt 'b'. `ms` is the median of R timed
// `crypto.pbkdf2Sync` calls (all in `runs`); `async_ms` is the median of R `crypto.pbkdf2` calls
// run one after another, each timed from the call to its callback (one trip through the pool,
// whose size is UV_THREADPOOL_SIZE or Node's default 4; the Rust bench uses 4).
//
//   node pbkdf2.js [--iterations 100000] [--keylen 64] [--runs 7]
//
// Stops with exit 2 once 60 s have passed (checked between hashes; a hash is not interrupted).
'use strict';
const crypto = require('crypto');

const NAME = 'pbkdf2';
const { LIMIT_MS, fail, parseArgs, checkAtExit } = require('./common')(NAME);

const msSince = (t) => Number(process.hrtime.bigint() - t) / 1e6;
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];

const opts = parseArgs({ iterations: 100_000, keylen: 64, runs: 7 });
const { iterations, keylen, runs } = opts;
const deadline = process.hrtime.bigint() + BigInt(LIMIT_MS) * 1_000_000n;
const checkDeadline = () => process.hrtime.bigint() > deadline && fail(`gave up after ${LIMIT_MS} ms`);

const sync = [];
for (let i = 0; i < runs; i++) {
  checkDeadline();
  const t = process.hrtime.bigint();
  crypto.pbkdf2Sync('a', 'b', iterations, keylen, 'sha512');
  sync.push(msSince(t));
}

const asyncRuns = [];
checkAtExit(() => asyncRuns.length === runs, () => `the loop ran dry after ${asyncRuns.length} of ${runs} async hashes`);
(function next() {
  if (asyncRuns.length === runs) {
    const out = { bench: NAME, runtime: 'node', node: process.version, params: opts };
    console.log(JSON.stringify({ ...out, ms: median(sync), async_ms: median(asyncRuns), runs: sync }));
    return;
  }
  checkDeadline();
  const t = process.hrtime.bigint();
  crypto.pbkdf2('a', 'b', iterations, keylen, 'sha512', (err) => {
    if (err) fail(err.message);
    asyncRuns.push(msSince(t));
    next();
  });
})();
