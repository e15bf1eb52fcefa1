#!/usr/bin/env node
// The Node.js twin of `lab point` (harness/src/point.rs): one point of a sweep, run on real
// Node 20 instead of looplab's model, speaking exactly lab point's protocol.
//
// Start (the spawner sets the pool size: libuv reads UV_THREADPOOL_SIZE once, at start-up):
//
//   UV_THREADPOOL_SIZE=<deployment.pool> node node/point.js --task '<Task JSON>'
//
// after `npm ci --prefix node` (scripts/setup does it). The task is the JSON lab sweep gives
// lab point (serde's externally tagged `Task`): `{"serve":Deployment}`,
// `{"batch":{"deployment":Deployment,"jobs":N}}` or `"experiments"`. If UV_THREADPOOL_SIZE
// differs from the deployment's `pool`, the point answers `{"error":...}` naming the fix.
//
// Protocol, one line each way, JSON from the point, plain words to it:
// 1. `{"ready":{"addr":"127.0.0.1:PORT"}}` (service) or `{"ready":{"addr":null}}` (batch), or
//    `{"error":"..."}` and exit 2 (a refused strategy or task, a bad deployment);
// 2. service: `sample` answers `{"sample":LoopSample}` (pool fields null: Node cannot see
//    its libuv pool's queue);
// 3. batch: `warmup MS` answers `{"warmed":{"batches":N}}`, `run` `{"batch":BatchLine}`;
// 4. `stop`, or the end of stdin, closes everything gracefully and exits 0.
// Strategies: loop, loop-blocking, workers (piscina), cluster (node:cluster; policy rr or
// none). tokio and rayon, the `reuseport` policy and the recorded experiments are looplab's
// only and are refused.
'use strict';

const cluster = require('node:cluster');
const deploy = require('./lib/deploy');
const { sayError, taskArgument, parseTask } = require('./lib/protocol');

function refuse(message) {
  sayError(message);
  process.exitCode = 2;
}

/** What the task asks for, checked; throws the reason it cannot run on Node. */
function checkedTask() {
  const task = parseTask(taskArgument(process.argv.slice(2)));
  if (task.kind === 'experiments') {
    throw new Error('the recorded experiments run on looplab only; start `lab point` for them');
  }
  const reason = deploy.refusal(task.deployment);
  if (reason !== null) throw new Error(reason);
  const envProblem = deploy.poolEnvProblem(task.deployment);
  if (envProblem !== null) throw new Error(envProblem);
  deploy.validate(task.deployment, task.kind);
  return task;
}

function main() {
  let task;
  try {
    task = checkedTask();
  } catch (e) {
    if (cluster.isWorker) process.exit(2);
    return refuse(e.message);
  }
  const d = task.deployment;
  if (task.kind === 'batch') {
    const { batchPoint } = require('./lib/batch');
    const { workerThreads } = require('./lib/threads');
    return batchPoint(d, task.jobs, workerThreads).catch((e) => refuse(e.message));
  }
  if (d.strategy !== 'cluster') return require('./lib/serve').serveOneLoop(d);
  const { clusterWorker, clusterPrimary } = require('./lib/cluster');
  return cluster.isWorker ? clusterWorker(d) : clusterPrimary(d);
}

main();
