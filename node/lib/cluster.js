// Service mode under the `cluster` strategy: Node's `cluster` module with `processes` workers
// (this same program, re-executed by `cluster.fork`), `cluster.schedulingPolicy` from the
// deployment's policy (`rr`: SCHED_RR, `none`: SCHED_NONE; none given: Node's own default,
// NODE_CLUSTER_SCHED_POLICY or rr). The primary serves nothing; it supervises as looplab's
// does (`workloads/src/serve/cluster_watch.rs`):
// 1. `{"ready":...}` once every worker listens;
// 2. each exit is one line on stderr; with `restart`, a dead worker is replaced after a
//    back-off (100 ms doubling to 5 s, reset after a worker that ran 10 s) until 5 deaths fall
//    within 10 s; without it, a worker dying before it listens, or every worker gone, is a
//    failure: `{"error":...}`, the others stop, exit 2;
// 3. `sample` asks every live worker that listens for its loop's window over the IPC channel and merges
//    the answers (`probe.js`); `stop` or the end of stdin stops every worker gracefully (5 s,
//    then SIGKILL) and exits 0.
// Workers ignore SIGINT (the primary drives shutdown), send their stdout to the primary's
// stderr (stdout carries the protocol only), and exit when their IPC channel disconnects, so
// none outlives its primary. Each serves its own copy of the file, in a folder of its own
// inside the primary's temp folder; the primary removes a worker's folder when it exits, and
// its own at the end.
'use strict';

const cluster = require('node:cluster');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { say, sayError, commands } = require('./protocol');
const { LoopProbe, merge } = require('./probe');
const { appServer, closeGracefully, removeServed, GRACE_MS } = require('./server');

const SAMPLE_TIMEOUT_MS = 10_000;
const RESTART_LIMIT_EXITS = 5;
const RESTART_LIMIT_WINDOW_MS = 10_000;
const BACKOFF = { first: 100, max: 5_000, resetAfter: 10_000 };
const PROBE_ASK = 'looplab-probe?';
const PROBE_ANSWER = 'looplab-probe!';
const STOP = 'looplab-stop';
/** Where a worker finds its primary's temp folder. */
const TMP_ENV = 'LOOPLAB_NODE_CLUSTER_TMP';

/** A worker's folder inside its primary's temp folder. */
function workerDir(root, id) {
  return path.join(root, `worker-${id}`);
}

/** Runs a cluster worker: serves `d` on the shared address until told to stop. */
function clusterWorker(d) {
  process.on('SIGINT', () => {});
  const { id } = cluster.worker;
  const dir = workerDir(process.env[TMP_ENV], id);
  const { app, server, served } = appServer(d, `worker-${id}`, null, dir);
  let probe = null;
  // Node's cluster exits a worker whose channel disconnects (its primary is gone); the folder
  // goes with it, and the last worker out of a dead primary's folder removes that too.
  process.on('exit', () => {
    removeServed(served);
    if (process.connected) return;
    try {
      fs.rmdirSync(process.env[TMP_ENV]);
    } catch {
      // Other workers still have their folders in it; the last one removes it.
    }
  });
  process.on('message', async (msg) => {
    if (msg && msg.looplab === PROBE_ASK && probe !== null) {
      process.send({ looplab: PROBE_ANSWER, seq: msg.seq, window: probe.window() });
    } else if (msg && msg.looplab === STOP) {
      await closeGracefully(server);
      if (probe !== null) probe.stop();
      removeServed(served);
      process.exit(0);
    }
  });
  server.listen(0, '127.0.0.1', () => {
    probe = new LoopProbe(() => app.answered);
  });
}

/** Runs the primary of `d` (see the file's comment). */
function clusterPrimary(d) {
  if (d.policy === 'rr') cluster.schedulingPolicy = cluster.SCHED_RR;
  if (d.policy === 'none') cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: process.argv[1],
    args: process.argv.slice(2),
    stdio: ['ignore', 2, 'inherit', 'ipc'],
  });
  const primary = new Primary(d, fs.mkdtempSync(path.join(os.tmpdir(), 'looplab-node-cluster-')));
  process.on('exit', () => fs.rmSync(primary.tmp, { recursive: true, force: true }));
  for (let slot = 0; slot < d.processes; slot += 1) primary.fork(slot);
  process.on('SIGTERM', () => primary.shutdown(0));
  process.on('SIGINT', () => primary.shutdown(0));
}

/** The primary's state: workers by id, their slots, listens, gathers in progress. */
class Primary {
  constructor(d, tmp) {
    this.d = d;
    this.tmp = tmp;
    this.slots = new Map(); // live worker id -> { worker, slot, started, listened }
    this.backoff = new Array(d.processes).fill(BACKOFF.first);
    this.deaths = [];
    this.pendingRestarts = 0;
    this.announced = false;
    this.stopping = false;
    this.seq = 0;
    this.gathers = new Map(); // seq -> { waiting:Set, windows:[], done }
  }

  fork(slot) {
    const worker = cluster.fork({ [TMP_ENV]: this.tmp });
    this.slots.set(worker.id, { worker, slot, started: Date.now(), listened: false });
    worker.on('listening', (address) => this.onListening(worker, address));
    worker.on('message', (msg) => this.onMessage(worker, msg));
    worker.on('exit', (code, signal) => this.onExit(worker, code, signal));
  }

  onListening(worker, address) {
    this.slots.get(worker.id).listened = true;
    const listening = [...this.slots.values()].filter((s) => s.listened).length;
    if (!this.announced && !this.stopping && listening >= this.d.processes) {
      this.announced = true;
      say({ ready: { addr: `127.0.0.1:${address.port}` } });
      commands((line) => this.command(line), () => this.shutdown(0));
    }
  }

  command(line) {
    if (line === 'sample') return this.sample().then((s) => say({ sample: s }));
    sayError(`unknown command \`${line}\``);
    return undefined;
  }

  onMessage(worker, msg) {
    if (!msg || msg.looplab !== PROBE_ANSWER) return;
    const gather = this.gathers.get(msg.seq);
    if (gather && gather.waiting.delete(worker.id)) {
      gather.windows.push(msg.window);
      if (gather.waiting.size === 0) gather.done();
    }
  }

  onExit(worker, code, signal) {
    const info = this.slots.get(worker.id);
    this.slots.delete(worker.id);
    fs.rmSync(workerDir(this.tmp, worker.id), { recursive: true, force: true });
    for (const gather of this.gathers.values()) {
      if (gather.waiting.delete(worker.id) && gather.waiting.size === 0) gather.done();
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const when = info.listened ? '' : ' before it listened';
    process.stderr.write(`node point: worker ${worker.id} exited${when} (${how})\n`);
    if (this.stopping) return this.finishIfEmpty();
    return this.onDeath(info, worker.id);
  }

  onDeath(info, id) {
    if (!this.d.restart) {
      if (!info.listened) return this.fail(`worker ${id} died before it listened`);
      if (this.slots.size === 0) return this.fail('every worker died and none will be replaced');
      return undefined;
    }
    const now = Date.now();
    this.deaths = this.deaths.filter((t) => now - t < RESTART_LIMIT_WINDOW_MS).concat(now);
    if (this.deaths.length >= RESTART_LIMIT_EXITS) {
      return this.fail(`workers died ${RESTART_LIMIT_EXITS} times within ` +
        `${RESTART_LIMIT_WINDOW_MS} ms; restarts stopped (last: worker ${id})`);
    }
    if (now - info.started >= BACKOFF.resetAfter) this.backoff[info.slot] = BACKOFF.first;
    const delay = this.backoff[info.slot];
    this.backoff[info.slot] = Math.min(delay * 2, BACKOFF.max);
    this.pendingRestarts += 1;
    setTimeout(() => {
      this.pendingRestarts -= 1;
      if (!this.stopping) this.fork(info.slot);
    }, delay);
    return undefined;
  }

  /** What the live workers' loops did since the previous sample, merged. */
  sample() {
    const seq = (this.seq += 1);
    // The serving loops: a replacement that does not listen yet serves nothing.
    const ids = [...this.slots.values()]
      .filter((s) => s.listened && s.worker.isConnected())
      .map((s) => s.worker);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.gathers.delete(seq);
        reject(new Error(`sample the loops: no answer within ${SAMPLE_TIMEOUT_MS} ms; a loop ` +
          'may be blocked for longer'));
      }, SAMPLE_TIMEOUT_MS);
      const gather = { waiting: new Set(ids.map((w) => w.id)), windows: [] };
      gather.done = () => {
        clearTimeout(timer);
        this.gathers.delete(seq);
        resolve(merge(gather.windows));
      };
      this.gathers.set(seq, gather);
      if (ids.length === 0) return gather.done();
      for (const w of ids) w.send({ looplab: PROBE_ASK, seq });
      return undefined;
    });
  }

  fail(reason) {
    if (this.stopping) return;
    sayError(`the cluster stopped: ${reason}`);
    this.shutdown(2);
  }

  /** Stops every worker (5 s grace, then SIGKILL), then exits with `code`. */
  shutdown(code) {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = code;
    for (const gather of this.gathers.values()) gather.done();
    for (const w of this.live()) {
      if (w.isConnected()) w.send({ looplab: STOP });
    }
    const kill = setTimeout(() => {
      for (const w of this.live()) w.process.kill('SIGKILL');
    }, GRACE_MS + 1_000);
    kill.unref();
    this.finishIfEmpty();
  }

  finishIfEmpty() {
    if (this.slots.size === 0) process.exit(this.exitCode);
  }

  /** The workers that have not exited. */
  live() {
    return [...this.slots.values()].map((s) => s.worker);
  }
}

module.exports = { clusterWorker, clusterPrimary };
