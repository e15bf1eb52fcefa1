// Node twin of the `fs-read` bench (runtime/benches/fs_read.rs, `lab bench fs-read`): throughput
// of `fs.readFile` (open, fstat, read, close: 4 pool trips each) of one file of S bytes written to
// a private temp dir. C reads are kept in flight; each completion starts the next until N reads
// completed. Every result must be S bytes long; failures and wrong lengths count in `errors`
// (exit 2 if any). ops_per_s = N / s from the first readFile to the last callback. The temp dir
// is removed at the end and on every failure path (exception, signal, time-out).
//
//   node fs-read.js [--n 2000] [--size 65536] [--concurrency 16] [--pool 4]
//
// The pool is sized from UV_THREADPOOL_SIZE at its first use, so the script re-executes itself
// with UV_THREADPOOL_SIZE=P when the variable differs. Gives up (exit 2) after 60 s.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const NAME = 'fs-read';

let dir = null;
function cleanup() {
  if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
}
const { fail, parseArgs, usePool, giveUpAfterLimit, checkAtExit } = require('./common')(NAME, { cleanup });

function main(opts) {
  const { n, size, concurrency } = opts;
  let issued = 0;
  let completed = 0;
  let errors = 0;
  process.on('uncaughtException', (err) => fail(`uncaught ${err}`));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => fail(`stopped by ${sig}`));
  checkAtExit(() => completed === n, () => `the loop ran dry after ${completed} of ${n} reads`);
  process.on('exit', cleanup);
  giveUpAfterLimit();

  dir = fs.mkdtempSync(os.tmpdir() + '/looplab-');
  const file = path.join(dir, 'data.bin');
  fs.writeFileSync(file, Buffer.alloc(size, 7));

  const readNext = () => {
    issued++;
    fs.readFile(file, onRead);
  };
  function onRead(err, data) {
    if (err || data.length !== size) errors++;
    completed++;
    if (issued < n) readNext();
    else if (completed === n) finish(Number(process.hrtime.bigint() - start) / 1e9);
  }
  function finish(seconds) {
    try {
      const out = { bench: NAME, runtime: 'node', node: process.version, params: opts, ops_per_s: n / seconds, errors };
      console.log(JSON.stringify(out));
      if (errors > 0) {
        console.error(`${NAME}: ${errors} of ${n} reads failed or returned a length other than ${size}`);
        process.exitCode = 2;
      }
    } finally {
      cleanup();
    }
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < Math.min(concurrency, n); i++) readNext();
}

const opts = parseArgs({ n: 2000, size: 65_536, concurrency: 16, pool: 4 });
usePool(opts.pool);
main(opts);
