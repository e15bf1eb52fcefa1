// What the Node twins refuse, each with an error reply and exit 2: the references (tokio,
// rayon), the reuseport cluster policy, the recorded experiments, a pool size that is not in
// the environment, and deployments looplab refuses.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { deployment, start } = require('./helpers');

async function refused(task, env, why) {
  const point = start(task, env);
  const reply = await point.next();
  assert.match(reply.error, why);
  assert.deepEqual(await point.exited, { code: 2, signal: null });
}

test('tokio and rayon run on looplab only', async () => {
  for (const strategy of ['tokio', 'rayon']) {
    await refused({ serve: deployment(strategy) }, {}, /looplab only/);
    await refused({ batch: { deployment: deployment(strategy), jobs: 2 } }, {}, /looplab only/);
  }
});

test('reuseport is refused: Node 20 has no reusePort for cluster', () =>
  refused({ serve: deployment('cluster', { policy: 'reuseport' }) }, {}, /Node 22\.12/));

test('the recorded experiments run on looplab only', () =>
  refused('experiments', {}, /experiments run on looplab only/));

test('the pool size must be in the environment, and the error names the fix', async () => {
  const fix = /UV_THREADPOOL_SIZE=2 node node\/point\.js/;
  await refused({ serve: deployment('loop') }, { UV_THREADPOOL_SIZE: undefined }, fix);
  await refused({ serve: deployment('workers') }, { UV_THREADPOOL_SIZE: '4' }, fix);
  await refused({ batch: { deployment: deployment('loop'), jobs: 1 } }, { UV_THREADPOOL_SIZE: '3' }, fix);
});

test('deployments looplab refuses are refused', async () => {
  await refused({ serve: deployment('loop', { mix: [['hello', 0]] }) }, {}, /mix/);
  await refused({ serve: deployment('loop', { hash_iterations: 0 }) }, {}, /iterations/);
  await refused({ serve: deployment('workers', { workers: 0 }) }, {}, /--workers/);
  await refused('{"serve":', {}, /not valid JSON|not a Task/);
});
