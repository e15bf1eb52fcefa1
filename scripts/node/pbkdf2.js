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
const LIMIT_MS = 60_000;

function fail(msg) {
  console.error(`${NAME}: ${msg}`);
  process.exit(2);
}

function parseArgs(defaults) {
  const opts = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !Object.hasOwn(defaults, name)) {
      fail(`unknown option ${argv[i]} (options: ${Object.keys(defaults).map((k) => '--' + k).join(' ')})`);
    }
    const value = Number(argv[i + 1]);
    if (!Number.isSafeInteger(value) || value < 1) fail(`--${name} needs a positive integer, got ${argv[i + 1]}`);
    opts[name] = value;
  }
  return opts;
}

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
process.on('exit', (code) => {
  if (asyncRuns.length !== runs && code === 0) {
    console.error(`${NAME}: the loop ran dry after ${asyncRuns.length} of ${runs} async hashes`);
    process.exitCode = 2;
  }
});
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
