// Test helpers for the Node twins: start `node point.js --task T` with pipes, talk its
// protocol line by line, GET its routes, and find (and await the end of) its processes.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');

const POINT = path.join(__dirname, '..', 'point.js');
const LINE_TIMEOUT_MS = 20_000;

/** A deployment like looplab's `Deployment::new`, small enough for tests. */
function deployment(strategy, fields = {}) {
  return {
    strategy,
    pool: 2,
    workers: 2,
    processes: 2,
    threads: 2,
    policy: null,
    restart: false,
    mix: [['hello', 1], ['hash', 1]],
    hash_iterations: 1000,
    file_bytes: 100,
    busy_ms: 5,
    file_mode: 'read',
    ...fields,
  };
}

/** Starts a point; `env` is added to this process' environment (pool size by default). */
function start(task, env) {
  const pool = task.serve ? task.serve.pool : task.batch && task.batch.deployment.pool;
  const childEnv = { ...process.env, UV_THREADPOOL_SIZE: String(pool), ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [POINT, '--task', JSON.stringify(task)], {
    env: childEnv,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const next = () => new Promise((resolve, reject) => {
    if (lines.length) return resolve(JSON.parse(lines.shift()));
    const timer = setTimeout(() => reject(new Error('no line from the point in time')), LINE_TIMEOUT_MS);
    waiters.push((line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    return undefined;
  });
  const send = (command) => {
    child.stdin.write(`${command}\n`);
    return next();
  };
  return { child, next, send, exited };
}

/** One GET on a fresh connection: `{ status, headers, body }` (body a Buffer). */
function get(addr, route) {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path: route, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

/** The PIDs whose parent is `pid` (from /proc). */
function childrenOf(pid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether a process with this PID exists and is not a zombie. */
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves once none of `pids` is alive; rejects after `ms`. */
async function allGone(pids, ms = 10_000) {
  const until = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > until) throw new Error(`still alive: ${pids.filter(alive).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

module.exports = { deployment, start, get, childrenOf, alive, allGone };
