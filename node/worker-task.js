// The job body of the `workers` strategy's piscina threads, looplab's `run_cpu_task`
// (`workloads/src/serve/app.rs`) and batch `hash_task` (`workloads/src/batch/on_loop.rs`):
// `busy` spins for its wall-clock time and answers `done\n`; every other kind is one PBKDF2 of
// the course's arguments on this thread, answered as hex (the body of `/hash`).
'use strict';

const deploy = require('./lib/deploy');

module.exports = function cpuTask({ kind, iterations, busyMs }) {
  if (kind === 'busy') {
    deploy.busyWait(busyMs);
    return deploy.BUSY_BODY;
  }
  return deploy.hashHex(iterations);
};
