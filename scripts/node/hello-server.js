// Node twin of `lab serve --workload hello`: Node 20's `http` module answering every request
// with the same 12-byte `hello world\n` body (text/plain), keep-alive as Node does by default.
// Prints `listening on http://HOST:PORT/` once bound; stops cleanly on SIGINT or SIGTERM.
//
//   node hello-server.js [--port 8081] [--host 127.0.0.1]
'use strict';
const http = require('http');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(opt('port', '8081'));
const host = opt('host', '127.0.0.1');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`hello-server: --port ${opt('port')} is not a port number (0-65535)`);
  process.exit(2);
}

const body = 'hello world\n';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
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
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
