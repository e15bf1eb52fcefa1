#!/usr/bin/env node
// An example of "bring your own app": a small fastify service, deployed the way `lab sweep`
// asks through its environment, and swept with
//
//   runtimes = ["command"]
//   command = "node node/examples/fastify-app.js"
//   paths = { hash = "/api/hash", net = "/api/hello", file = "/api/file" }
//
// The contract (README, "Bring your own app"): the harness sets
//   PORT, HOST            where to listen (127.0.0.1 and a free port);
//   UV_THREADPOOL_SIZE    the point's pool size (libuv reads it once, at start-up);
//   LAB_STRATEGY          loop | cluster | workers | loop-blocking;
//   LAB_POOL, LAB_PROCESSES, LAB_WORKERS   the point's counts;
//   LAB_WORKLOAD, LAB_HASH_ITERATIONS, LAB_FILE_BYTES   what the point's requests do;
// waits until PORT accepts connections, drives its path, and stops the app with SIGTERM.
//
// This app serves `loop` (one process) and `cluster` (LAB_PROCESSES workers through
// node:cluster); `loop-blocking` hashes with pbkdf2Sync. Any other strategy exits 2 saying so.
'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const env = (name, fallback) => process.env[name] ?? fallback;
const strategy = env('LAB_STRATEGY', 'loop');
const iterations = Number(env('LAB_HASH_ITERATIONS', '1000'));
const fileBytes = Number(env('LAB_FILE_BYTES', '4096'));

if (!['loop', 'loop-blocking', 'cluster'].includes(strategy)) {
  console.error(`fastify-app: strategy ${strategy} is not served by this example (loop, loop-blocking, cluster)`);
  process.exit(2);
}

function hash(blocking, reply) {
  const salt = 'looplab-salt';
  if (blocking) {
    return reply.send(crypto.pbkdf2Sync('secret', salt, iterations, 64, 'sha512').toString('hex'));
  }
  crypto.pbkdf2('secret', salt, iterations, 64, 'sha512', (err, key) => {
    if (err) reply.code(500).send(err.message);
    else reply.send(key.toString('hex'));
  });
}

async function serve(file) {
  const app = require('fastify')({ logger: false });
  app.get('/api/hello', async () => 'hello\n');
  app.get('/api/hash', (request, reply) => hash(strategy === 'loop-blocking', reply));
  app.get('/api/file', (request, reply) => {
    fs.readFile(file, (err, data) => (err ? reply.code(500).send(err.message) : reply.send(data)));
  });
  const stop = () => app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  await app.listen({ port: Number(env('PORT', '3000')), host: env('HOST', '127.0.0.1') });
}

function primary() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-app-'));
  const file = path.join(dir, 'data.bin');
  fs.writeFileSync(file, Buffer.alloc(fileBytes, 'x'));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  if (strategy !== 'cluster') {
    process.on('exit', cleanup);
    return serve(file);
  }
  const workers = Math.max(1, Number(env('LAB_PROCESSES', '1')));
  for (let i = 0; i < workers; i += 1) cluster.fork({ APP_FILE: file });
  let stopping = false;
  cluster.on('exit', () => {
    if (!stopping) {
      console.error('fastify-app: a worker died');
      process.exitCode = 1;
    }
    if (Object.keys(cluster.workers).length === 0) {
      cleanup();
      process.exit();
    }
  });
  process.on('SIGTERM', () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.disconnect();
  });
}

if (cluster.isPrimary) {
  primary()?.catch((e) => {
    console.error(`fastify-app: ${e.message}`);
    process.exit(2);
  });
} else {
  serve(process.env.APP_FILE).catch((e) => {
    console.error(`fastify-app: ${e.message}`);
    process.exit(2);
  });
}
