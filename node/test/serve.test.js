// Service-mode round trips of the Node twins for each strategy: ready, every route's status,
// body and X-Worker, a sample shaped like looplab's LoopSample (pool fields null), stop.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { test } = require('node:test');
const { deployment, start, get, childrenOf, allGone } = require('./helpers');

const SAMPLE_KEYS = ['loops', 'utilization', 'delay_p50_us', 'delay_p99_us', 'delay_max_us',
  'pool_tasks', 'pool_wait_mean_us', 'pool_wait_p99_us', 'pool_wait_max_us', 'requests'];

function expectedBodies(d) {
  const hash = crypto.pbkdf2Sync('a', 'b', d.hash_iterations, 32, 'sha512').toString('hex');
  return {
    '/hello': ['text/plain', 'hello world\n'],
    '/hash': ['text/plain', hash],
    '/hash-sync': ['text/plain', hash],
    '/file': ['application/octet-stream', 'x'.repeat(d.file_bytes)],
    '/busy': ['text/plain', 'done\n'],
    // The mix's rotation: hello, then hash.
    '/mixed': ['text/plain', 'hello world\n'],
    '/mixed?again': ['text/plain', hash],
  };
}

function checkWorkerTag(strategy, tag) {
  if (strategy === 'workers') assert.equal(tag, 'main');
  else if (strategy === 'cluster') assert.match(tag, /^worker-[0-9]+$/);
  else assert.equal(tag, undefined);
}

async function roundTrip(t, d) {
  const point = start({ serve: d });
  t.after(() => point.child.kill('SIGKILL'));
  const ready = await point.next();
  assert.match(ready.ready.addr, /^127\.0\.0\.1:[0-9]+$/);
  const pids = [point.child.pid, ...childrenOf(point.child.pid)];
  if (d.strategy === 'cluster') assert.equal(pids.length, 1 + d.processes);
  await point.send('sample');
  const bodies = expectedBodies(d);
  for (const [route, [type, body]] of Object.entries(bodies)) {
    const res = await get(ready.ready.addr, route);
    assert.equal(res.status, 200, route);
    // Each cluster worker has a rotation of its own, so where a mixed request lands decides
    // which kind it gets.
    const rotates = route.startsWith('/mixed') && d.strategy === 'cluster' && d.processes > 1;
    const want = rotates ? [bodies['/hello'][1], bodies['/hash'][1]] : [body];
    assert.ok(want.includes(res.body.toString()), `${route}: ${res.body}`);
    assert.equal(res.headers['content-type'], type, route);
    assert.equal(Number(res.headers['content-length']), res.body.length, route);
    checkWorkerTag(d.strategy, res.headers['x-worker']);
  }
  const { sample } = await point.send('sample');
  assert.deepEqual(Object.keys(sample), SAMPLE_KEYS);
  assert.equal(sample.loops, d.strategy === 'cluster' ? d.processes : 1);
  assert.equal(sample.requests, Object.keys(bodies).length);
  assert.ok(sample.utilization > 0 && sample.utilization <= 1, JSON.stringify(sample));
  assert.ok(sample.delay_p50_us <= sample.delay_p99_us && sample.delay_p99_us <= sample.delay_max_us);
  for (const k of SAMPLE_KEYS.filter((key) => key.startsWith('pool_'))) assert.equal(sample[k], null);
  assert.equal((await point.send('sample')).sample.requests, 0, 'windows do not overlap');
  point.child.stdin.write('stop\n');
  assert.deepEqual(await point.exited, { code: 0, signal: null });
  await allGone(pids);
}

for (const strategy of ['loop', 'loop-blocking', 'workers']) {
  test(`serve ${strategy}: routes, bodies, sample, stop`, (t) => roundTrip(t, deployment(strategy)));
}

test('serve cluster rr: routes, bodies, sample, stop', (t) =>
  roundTrip(t, deployment('cluster', { policy: 'rr' })));

test('serve cluster none: routes, bodies, sample, stop', (t) =>
  roundTrip(t, deployment('cluster', { policy: 'none', processes: 1 })));

test('an unknown command is an error reply, and the point goes on', async (t) => {
  const point = start({ serve: deployment('loop') });
  t.after(() => point.child.kill('SIGKILL'));
  await point.next();
  assert.deepEqual(await point.send('frobnicate'), { error: 'unknown command `frobnicate`' });
  assert.equal((await point.send('sample')).sample.loops, 1);
  point.child.stdin.end();
  assert.equal((await point.exited).code, 0);
});
