// Service mode on one loop (`loop`, `loop-blocking`, `workers`): the twin's HTTP server on
// 127.0.0.1:0, `{"ready":{"addr":...}}`, then `sample` answers this loop's window; `stop` or
// the end of stdin closes the server gracefully, the worker threads and the delay monitor,
// removes the served file and exits 0.
'use strict';

const { say, sayError, commands } = require('./protocol');
const { LoopProbe, merge } = require('./probe');
const { appServer, closeGracefully, removeServed } = require('./server');
const { workerThreads } = require('./threads');

/** Serves `d` until stopped. */
function serveOneLoop(d) {
  const offload = d.strategy === 'workers' ? workerThreads(d) : null;
  const tag = d.strategy === 'workers' ? 'main' : null;
  const { app, server, served } = appServer(d, tag, offload);
  server.on('error', (e) => {
    sayError(`start the HTTP server: ${e.message}`);
    removeServed(served);
    process.exit(2);
  });
  server.listen(0, '127.0.0.1', () => {
    const probe = new LoopProbe(() => app.answered);
    const { port } = server.address();
    say({ ready: { addr: `127.0.0.1:${port}` } });
    commands(
      (line) => {
        if (line === 'sample') say({ sample: merge([probe.window()]) });
        else sayError(`unknown command \`${line}\``);
      },
      async () => {
        await closeGracefully(server);
        if (offload !== null) await offload.destroy();
        probe.stop();
        removeServed(served);
        process.exit(0);
      },
    );
  });
}

module.exports = { serveOneLoop };
