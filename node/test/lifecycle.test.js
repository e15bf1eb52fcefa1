// No process of a Node twin outlives it: after `stop`, after the end of stdin, and when the
// primary of a cluster is killed outright (its workers see their IPC channel disconnect).
// Every check is by PID, through /proc.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { deployment, start, childrenOf, allGone, alive } = require('./helpers');

async function started(t, d) {
  const point = start({ serve: d });
  t.after(() => point.child.kill('SIGKILL'));
  assert.ok((await point.next()).ready);
  return { point, pids: [point.child.pid, ...childrenOf(point.child.pid)] };
}

for (const strategy of ['loop', 'workers', 'cluster']) {
  test(`${strategy}: the end of stdin stops every process, exit 0`, async (t) => {
    const { point, pids } = await started(t, deployment(strategy));
    point.child.stdin.end();
    assert.deepEqual(await point.exited, { code: 0, signal: null });
    await allGone(pids);
  });
}

test('cluster: workers exit when their primary is killed', async (t) => {
  const { point, pids } = await started(t, deployment('cluster', { processes: 3 }));
  assert.equal(pids.length, 4);
  point.child.kill('SIGKILL');
  await point.exited;
  await allGone(pids);
  assert.ok(!pids.some(alive));
});

test('cluster with restart: a killed worker is replaced and the point still stops', async (t) => {
  const { point, pids } = await started(t, deployment('cluster', { restart: true }));
  process.kill(pids[1], 'SIGKILL');
  let now = [];
  for (let i = 0; i < 100 && now.length < 2; i += 1) {
    await new Promise((r) => setTimeout(r, 50));
    now = childrenOf(point.child.pid).filter(alive);
  }
  assert.equal(now.length, 2, 'a replacement was started');
  // The replacement counts as a serving loop once it listens.
  let reply;
  for (let i = 0; i < 100; i += 1) {
    reply = await point.send('sample');
    if (!reply.sample || reply.sample.loops === 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(reply.sample && reply.sample.loops, 2, JSON.stringify(reply));
  point.child.stdin.write('stop\n');
  assert.equal((await point.exited).code, 0);
  await allGone([...pids, ...now]);
});

test('cluster without restart: every worker gone is an error reply, exit 2', async (t) => {
  const { point, pids } = await started(t, deployment('cluster'));
  for (const pid of pids.slice(1)) process.kill(pid, 'SIGKILL');
  assert.match((await point.next()).error, /every worker died/);
  assert.equal((await point.exited).code, 2);
  await allGone(pids);
});
