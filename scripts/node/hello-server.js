// Node twin of `lab serve --workload hello`: Node 20's `http` module answering every request
// with the same 12-byte `hello world\n` body (text/plain), keep-alive as Node does by default.
// Two more paths serve `lab calibrate --costs`, as `lab serve --workload hash` and `--workload
// file` do: `/hash` answers `crypto.pbkdf2` (--iterations, sha512, 32 bytes) in hex, `/file`
// answers `fs.readFile` of --file; with --workers N, `/hash` runs in a piscina pool of N
// threads instead (the `workers` strategy's twin, `node/lib/threads.js` in LOOPLAB_NODE_DIR or
// the source tree's node/, with the piscina its lock file pins). Prints `listening on http://HOST:PORT/` once bound; stops cleanly on SIGINT
// or SIGTERM.
//
//   node hello-server.js [--port 8081] [--host 127.0.0.1] [--iterations 10000] [--file PATH]
//                        [--workers N]
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt('port', '8081'));
const host = opt('host', '127.0.0.1');
const iterations = Number(opt('iterations', '10000'));
const file = opt('file', null);
const workers = opt('workers', null);
const offload = workers === null ? null : offloadTo(Number(workers));

// A piscina pool of exactly `n` threads running the twin's task (node/worker-task.js).
function offloadTo(n) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`hello-server: --workers ${workers} is not a positive integer`);
    process.exit(2);
  }
  const path = require('path');
  const twin = process.env.LOOPLAB_NODE_DIR || path.join(__dirname, '..', '..', 'node');
  const { workerThreads } = require(path.join(twin, 'lib', 'threads.js'));
  return workerThreads({ workers: n });
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`hello-server: --port ${opt('port')} is not a port number (0-65535)`);
  process.exit(2);
}
if (!Number.isInteger(iterations) || iterations < 1) {
  console.error(`hello-server: --iterations ${opt('iterations')} is not a positive integer`);
  process.exit(2);
}

const body = 'hello world\n';
const send = (res, type, bytes) => {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(bytes) });
  res.end(bytes);
};
const fail = (res, e) => {
  res.writeHead(500, { 'Content-Type': 'text/plain' });
  res.end(String(e.message));
};
const server = http.createServer((req, res) => {
  if (req.url === '/hash' && offload !== null) {
    offload.run({ kind: 'hash', iterations }).then((hex) => send(res, 'text/plain', hex), (e) => fail(res, e));
  } else if (req.url === '/hash') {
    crypto.pbkdf2('a', 'b', iterations, 32, 'sha512', (e, key) => {
      if (e) fail(res, e);
      else send(res, 'text/plain', key.toString('hex'));
    });
  } else if (req.url === '/file' && file !== null) {
    fs.readFile(file, (e, bytes) => {
      if (e) fail(res, e);
      else send(res, 'application/octet-stream', bytes);
    });
  } else {
    send(res, 'text/plain', body);
  }
});
server.on('error', (e) => {
  console.error(`hello-server: ${e.message}`);
  process.exit(2);
});
server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (offload !== null) offload.destroy();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
