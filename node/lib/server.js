// What every serving Node loop needs: the file `/file` serves, in a private temp folder of
// its own; the HTTP server on the twin's app; and a graceful close like looplab's (stop
// accepting, let in-flight requests finish for at most 5 s, then drop what is left).
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { App } = require('./app');

/** In-flight requests get this long to finish on shutdown. */
const GRACE_MS = 5_000;

/**
 * A private temp folder holding the served file of `bytes` bytes of `x`: `dir` if given (a
 * cluster worker's, inside its primary's folder), else a fresh one.
 */
function servedFile(bytes, dir) {
  if (dir) fs.mkdirSync(dir, { mode: 0o700 });
  else dir = fs.mkdtempSync(path.join(os.tmpdir(), 'looplab-node-serve-'));
  const file = path.join(dir, 'served.bin');
  fs.writeFileSync(file, Buffer.alloc(bytes, 'x'));
  return { dir, file };
}

/** The app of `d` and its HTTP server (not listening yet); `dir` as in `servedFile`. */
function appServer(d, tag, offload, dir) {
  const served = servedFile(d.file_bytes, dir);
  const app = new App(d, served.file, tag, offload);
  const server = http.createServer((req, res) => app.handle(req, res));
  return { app, server, served };
}

/** Closes `server` gracefully; resolves once it has closed (at most GRACE_MS and a bit). */
function closeGracefully(server) {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), GRACE_MS);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Removes a served file's folder (best effort: it is ours and temporary). */
function removeServed(served) {
  fs.rmSync(served.dir, { recursive: true, force: true });
}

module.exports = { appServer, closeGracefully, removeServed, servedFile, GRACE_MS };
