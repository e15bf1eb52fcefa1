// Node twin of the `timers` bench (runtime/benches/scheduling.rs, `lab bench timers`): cost of
// scheduling and firing timers. The main script schedules N `setTimeout(cb, 1)` in a plain for
// loop; cb counts, and the last one (count === N) stops the clock, started just before the first
// setTimeout. ops_per_s = N / s, scheduling and firing included, like the Rust job.
//
//   node timers.js [--n 1000000]
//
// Run time is bounded by N; a 60 s guard exits 2 if the loop stalls before the last callback.
'use strict';
const NAME = 'timers';
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

const opts = parseArgs({ n: 1_000_000 });
const n = opts.n;
let count = 0;
setTimeout(() => fail(`gave up after ${LIMIT_MS} ms`), LIMIT_MS).unref();
process.on('exit', (code) => {
  if (count !== n && code === 0) {
    console.error(`${NAME}: the loop ran dry after ${count} of ${n} callbacks`);
    process.exitCode = 2;
  }
});

function cb() {
  if (++count === n) {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({ bench: NAME, runtime: 'node', node: process.version, params: opts, ops_per_s: n / seconds }));
  }
}

const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) setTimeout(cb, 1);
