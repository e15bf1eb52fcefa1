// Batch-mode round trips of the Node twins: ready with a null address, `warmup`, `run`
// answering a BatchLine shaped like looplab's (pool fields null), for each strategy with a
// batch, in both file modes.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { deployment, start } = require('./helpers');

const LINE_KEYS = ['jobs', 'completed', 'errors', 'makespan_s', 'histogram_base64',
  'loop_utilization', 'pool_tasks', 'pool_wait_mean_us', 'pool_wait_p99_us', 'pool_wait_max_us'];
const JOBS = 40;

async function roundTrip(t, d) {
  const point = start({ batch: { deployment: d, jobs: JOBS } });
  t.after(() => point.child.kill('SIGKILL'));
  assert.deepEqual(await point.next(), { ready: { addr: null } });
  const warmed = await point.send('warmup 30');
  assert.ok(warmed.warmed.batches >= 1, JSON.stringify(warmed));
  assert.deepEqual(await point.send('warmup 0'), { warmed: { batches: 0 } });
  for (let i = 0; i < 2; i += 1) {
    const { batch } = await point.send('run');
    assert.deepEqual(Object.keys(batch), LINE_KEYS);
    assert.equal(batch.jobs, JOBS);
    assert.equal(batch.completed, JOBS);
    assert.equal(batch.errors, 0);
    assert.ok(batch.makespan_s > 0);
    assert.match(batch.histogram_base64, /^HISTF/);
    assert.ok(batch.loop_utilization > 0 && batch.loop_utilization <= 1);
    for (const k of LINE_KEYS.filter((key) => key.startsWith('pool_'))) assert.equal(batch[k], null);
  }
  assert.match((await point.send('warmup soon')).error, /bad warm-up/);
  point.child.stdin.write('stop\n');
  assert.deepEqual(await point.exited, { code: 0, signal: null });
}

const MIX = [['hello', 6], ['hash', 1], ['hash-sync', 1], ['file', 2]];
for (const strategy of ['loop', 'loop-blocking', 'workers']) {
  for (const fileMode of ['read', 'write-read']) {
    test(`batch ${strategy}, files ${fileMode}: warmup, run, stop`, (t) =>
      roundTrip(t, deployment(strategy, { mix: MIX, file_mode: fileMode })));
  }
}

test('a batch refuses busy jobs, a cluster and zero jobs, as looplab does', async () => {
  const refusals = [
    [{ deployment: deployment('loop', { mix: [['busy', 1]] }), jobs: 4 }, /busy/],
    [{ deployment: deployment('cluster'), jobs: 4 }, /one batch per process/],
    [{ deployment: deployment('loop'), jobs: 0 }, /at least 1 job/],
  ];
  for (const [task, why] of refusals) {
    const point = start({ batch: task });
    assert.match((await point.next()).error, why);
    assert.equal((await point.exited).code, 2);
  }
});
