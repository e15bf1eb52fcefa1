// The worker threads of the `workers` strategy: a piscina pool of exactly W threads, all
// started at once and never idled out, running `worker-task.js`. They share the process'
// libuv pool, as looplab's worker threads share theirs.
'use strict';

const path = require('node:path');

function workerThreads(d) {
  const { Piscina } = require('piscina');
  return new Piscina({
    filename: path.join(__dirname, '..', 'worker-task.js'),
    minThreads: d.workers,
    maxThreads: d.workers,
    idleTimeout: Infinity,
  });
}

module.exports = { workerThreads };
