// The request handler of the Node twins, looplab's `App` (`workloads/src/serve/app.rs`) on
// Node: `/hello`, `/hash`, `/hash-sync`, `/file` and `/busy` by name, any other path the next
// kind of the mix's weighted rotation. Where the work runs follows the strategy:
// - `loop`: `/hash` is `crypto.pbkdf2` and `/file` is `fs.readFile`, both on the libuv pool;
//   `/hash-sync` and `/busy` run on the loop;
// - `loop-blocking`: `/hash` runs on the loop too (`pbkdf2Sync`); files stay on the pool;
// - `workers`: `/hash`, `/hash-sync` and `/busy` run in a piscina worker thread
//   (`worker-task.js`); `/hello` and `/file` stay on the main loop;
// - `cluster` (each worker process): as `loop`.
// Answers are `text/plain` (the file `application/octet-stream`) with a Content-Length;
// under `workers` and `cluster` each names who answered in `X-Worker` (`main`, `worker-ID`).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const deploy = require('./deploy');

const TEXT = 'text/plain';
const BYTES = 'application/octet-stream';

class App {
  /**
   * `d`: the deployment; `file`: the path `/file` reads; `tag`: the `X-Worker` value or null;
   * `offload`: the piscina pool of the `workers` strategy, or null.
   */
  constructor(d, file, tag, offload) {
    this.mix = deploy.rotation(d.mix);
    this.next = 0;
    this.iterations = d.hash_iterations;
    this.busyMs = d.busy_ms;
    this.file = file;
    this.tag = tag;
    this.offload = offload;
    this.hashOnLoop = d.strategy === 'loop-blocking';
    this.answered = 0;
  }

  pick(path) {
    const name = path.startsWith('/') ? path.slice(1) : null;
    let kind = deploy.KINDS.includes(name) ? name : null;
    if (kind === null) {
      kind = this.mix[this.next];
      this.next = (this.next + 1) % this.mix.length;
    }
    return kind === 'hash' && this.hashOnLoop ? 'hash-sync' : kind;
  }

  reply(res, status, type, body) {
    this.answered += 1;
    const headers = { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) };
    if (this.tag !== null) headers['X-Worker'] = this.tag;
    res.writeHead(status, headers);
    res.end(body);
  }

  text(res, status, body) {
    this.reply(res, status, TEXT, body);
  }

  fail(res, error) {
    this.text(res, 500, String(error && error.message ? error.message : error));
  }

  /** The `http.createServer` handler. */
  handle(req, res) {
    const kind = this.pick((req.url || '/').split('?')[0]);
    if (this.offload !== null && (kind === 'hash' || kind === 'hash-sync' || kind === 'busy')) {
      const task = { kind, iterations: this.iterations, busyMs: this.busyMs };
      this.offload.run(task).then((body) => this.text(res, 200, body), (e) => this.fail(res, e));
      return;
    }
    switch (kind) {
      case 'hello':
        return this.text(res, 200, deploy.HELLO_BODY);
      case 'hash-sync':
        return this.sync(res, () => deploy.hashHex(this.iterations));
      case 'busy':
        return this.sync(res, () => {
          deploy.busyWait(this.busyMs);
          return deploy.BUSY_BODY;
        });
      case 'hash':
        return this.hashOnPool(res);
      default:
        return this.readFile(res);
    }
  }

  sync(res, work) {
    let body;
    try {
      body = work();
    } catch (e) {
      return this.fail(res, e);
    }
    return this.text(res, 200, body);
  }

  hashOnPool(res) {
    const { PASSWORD, SALT, HASH_KEYLEN, DIGEST } = deploy;
    crypto.pbkdf2(PASSWORD, SALT, this.iterations, HASH_KEYLEN, DIGEST, (e, key) => {
      if (e) this.fail(res, e);
      else this.text(res, 200, key.toString('hex'));
    });
  }

  readFile(res) {
    fs.readFile(this.file, (e, bytes) => {
      if (e) this.fail(res, e);
      else this.reply(res, 200, BYTES, bytes);
    });
  }
}

module.exports = { App };
