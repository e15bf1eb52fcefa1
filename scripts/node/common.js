// Helpers shared by the Node twins of the runtime's micro-benches (the other scripts in this
// folder): `require('./common')(NAME, { cleanup })` returns them bound to the bench's name.
//
//   fail(msg)           prints "NAME: msg" on stderr and exits 2, calling `cleanup` first
//   parseArgs(defaults) reads `--key value` pairs for the keys of `defaults` (positive integers)
//   usePool(pool)       makes the libuv pool `pool` threads: returns at once if UV_THREADPOOL_SIZE
//                       already says so, else re-runs the script with it set and exits with the
//                       child's status (the pool is sized from the variable at its first use)
//   giveUpAfterLimit()  fails once LIMIT_MS (60 s) have passed, without keeping the loop alive
//   checkAtExit(isDone, why)  at a clean exit, if !isDone() prints "NAME: why()" and exits 2
'use strict';
const { spawnSync } = require('child_process');

const LIMIT_MS = 60_000;

module.exports = function common(name, { cleanup = () => {} } = {}) {
  function fail(msg) {
    cleanup();
    console.error(`${name}: ${msg}`);
    process.exit(2);
  }

  function parseArgs(defaults) {
    const opts = { ...defaults };
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i += 2) {
      const key = argv[i].replace(/^--/, '');
      if (!argv[i].startsWith('--') || !Object.hasOwn(defaults, key)) {
        fail(`unknown option ${argv[i]} (options: ${Object.keys(defaults).map((k) => '--' + k).join(' ')})`);
      }
      const value = Number(argv[i + 1]);
      if (!Number.isSafeInteger(value) || value < 1) fail(`--${key} needs a positive integer, got ${argv[i + 1]}`);
      opts[key] = value;
    }
    return opts;
  }

  function usePool(pool) {
    if (pool > 1024) fail(`--pool ${pool}: libuv allows at most 1024 threads`);
    if (process.env.UV_THREADPOOL_SIZE === String(pool)) return;
    const script = require.main.filename;
    const r = spawnSync(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, UV_THREADPOOL_SIZE: String(pool) },
      timeout: LIMIT_MS + 10_000,
    });
    if (r.status === null) fail(`child ${r.error ? r.error.message : 'killed by ' + r.signal}`);
    process.exit(r.status);
  }

  function giveUpAfterLimit() {
    setTimeout(() => fail(`gave up after ${LIMIT_MS} ms`), LIMIT_MS).unref();
  }

  function checkAtExit(isDone, why) {
    process.on('exit', (code) => {
      if (!isDone() && code === 0) {
        console.error(`${name}: ${why()}`);
        process.exitCode = 2;
      }
    });
  }

  return { LIMIT_MS, fail, parseArgs, usePool, giveUpAfterLimit, checkAtExit };
};
