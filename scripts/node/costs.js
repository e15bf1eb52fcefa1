// Node twin of looplab's cost probes (workloads/src/costs_probe.rs), run by
// `lab calibrate --costs`: one job of N events of one kind, printing the process' CPU time
// (process.cpuUsage(): user + system, every thread) from just before the first event to just
// after the last, as {"probe", "n", "cpu_ns"} (and "submit_ns", "loop_ns" for pool). N = 0 is the
// empty-run baseline the caller subtracts.
//
//   node costs.js PROBE [--n N]
//
// Probes: timer (N setTimeout(cb, 1) at once), immediate (N setImmediate), tick (N
// process.nextTick), microtask (N reactions to one resolved promise), pool (N crypto.randomFill
// of 1 byte submitted at once, pool 4, its threads held meanwhile; submit_ns: the process' CPU
// over the synchronous submitting loop; loop_ns: the main thread's own CPU over the job), worker
// (N messages posted at once to one worker_threads Worker that echoes each, after one untimed
// round trip).
// Gives up (exit 2) after 60 s.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

let dir = null;
function cleanup() {
  if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
}
const probe = process.argv[2];
const { fail, usePool, giveUpAfterLimit, checkAtExit } = require('./common')(`costs ${probe}`, { cleanup });

const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

// The main thread's own CPU (its run time in /proc, ns): where a profile charges pool costs.
const mainThreadNs = () => Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);

let finished = false;
function report(n, start, extra = {}) {
  const cpu_ns = cpuNs() - start;
  finished = true;
  cleanup();
  console.log(JSON.stringify({ probe, n, cpu_ns, ...extra }));
}

function queued(n, schedule) {
  let count = 0;
  const cb = () => {
    if (++count === n) report(n, start);
  };
  const start = cpuNs();
  for (let i = 0; i < n; i++) schedule(cb);
  if (n === 0) report(0, start);
}

// The 4 pool threads are first held by opens of a FIFO (blocked, no CPU), so the process' CPU
// over the submitting loop is the main thread's alone; then a writer opens the FIFO.
function pool(n) {
  const crypto = require('crypto');
  const { execFileSync } = require('child_process');
  dir = fs.mkdtempSync(os.tmpdir() + '/looplab-costs-');
  const fifo = path.join(dir, 'gate');
  execFileSync('mkfifo', [fifo]);
  for (let i = 0; i < 4; i++) fs.open(fifo, 'r', (err, fd) => (err ? fail(err.message) : fs.closeSync(fd)));
  const buf = Buffer.alloc(1);
  let done = 0;
  let start = 0;
  let submitNs = 0;
  let loopStart = 0;
  const cb = (err) => {
    if (err) fail(err.message);
    if (++done === n) report(n, start, { submit_ns: submitNs, loop_ns: mainThreadNs() - loopStart });
  };
  setTimeout(() => {
    start = cpuNs();
    loopStart = mainThreadNs();
    for (let i = 0; i < n; i++) crypto.randomFill(buf, cb);
    submitNs = cpuNs() - start;
    fs.closeSync(fs.openSync(fifo, 'w'));
    if (n === 0) report(0, start, { submit_ns: 0, loop_ns: 0 });
  }, 100);
}

function worker(n) {
  const { Worker } = require('worker_threads');
  const w = new Worker(
    "const { parentPort } = require('worker_threads');" +
      "parentPort.on('message', (i) => { if (i > 0) parentPort.postMessage(i); else parentPort.close(); });",
    { eval: true },
  );
  let start = 0;
  let answered = 0;
  w.on('message', (i) => {
    if (i === 1) {
      // The untimed trip is back: post all n at once.
      start = cpuNs();
      for (let k = 2; k <= n + 1; k++) w.postMessage(k);
      if (n === 0) finish();
    } else if (++answered === n) {
      finish();
    }
  });
  const finish = () => {
    report(n, start);
    w.postMessage(0);
  };
  w.on('error', (e) => fail(e.message));
  w.postMessage(1);
}

// common's parseArgs wants positive integers and no positional argument: --n 0 (the baseline)
// and the probe name are read here.
const rest = process.argv.slice(3);
if (rest.length !== 0 && (rest.length !== 2 || rest[0] !== '--n')) fail('usage: node costs.js PROBE [--n N]');
const n = rest.length ? Number(rest[1]) : 10_000;
if (!Number.isSafeInteger(n) || n < 0 || n > 2_000_000) fail(`--n needs 0..=2000000, got ${rest[1]}`);
usePool(4);
giveUpAfterLimit();
checkAtExit(() => finished, () => 'the loop ran dry before the last event');
process.on('exit', cleanup);
const probes = {
  timer: () => queued(n, (cb) => setTimeout(cb, 1)),
  immediate: () => queued(n, (cb) => setImmediate(cb)),
  tick: () => queued(n, (cb) => process.nextTick(cb)),
  microtask: () => {
    const resolved = Promise.resolve();
    queued(n, (cb) => resolved.then(cb));
  },
  pool: () => pool(n),
  worker: () => worker(n),
};
if (!Object.hasOwn(probes, probe)) fail(`unknown probe; use one of ${Object.keys(probes).join(', ')}`);
probes[probe]();
