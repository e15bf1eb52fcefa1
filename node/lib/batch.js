// Batch mode (`Task::Batch`), looplab's loop engine (`workloads/src/batch/on_loop.rs`) on
// Node: every job of a batch is submitted at once, in job order, as a script's top level
// would; a job's latency runs from the batch start to its own completion. Per kind and
// strategy:
// - hello: a `setImmediate`;
// - hash: `crypto.pbkdf2` on the libuv pool (`loop`), `pbkdf2Sync` right at submission
//   (`loop-blocking`), a piscina worker thread (`workers`); hash-sync: `pbkdf2Sync` at
//   submission, or a worker thread under `workers`;
// - file: `fs.readFile` of the batch's file (mode `read`), or `fs.writeFile` of the job's own
//   file then `fs.readFile` (mode `write-read`), the length checked.
// Commands: `warmup MS` runs unmeasured batches for at least MS ms; `run` answers
// `{"batch":{...}}` with the makespan, the per-job latency histogram (µs, `histogram.js`) and
// the loop's utilization over the batch; the pool fields are null (Node cannot see them).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const deploy = require('./deploy');
const { Histogram } = require('./histogram');
const { say, sayError, commands } = require('./protocol');

class Batch {
  constructor(d, jobs, offload) {
    this.d = d;
    this.jobs = jobs;
    this.offload = offload;
    this.rotation = deploy.rotation(d.mix);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'looplab-node-batch-'));
    this.readPath = path.join(this.dir, 'read.bin');
    this.payload = Buffer.alloc(d.file_bytes, 'x');
    if (this.rotation.includes('file') && d.file_mode === 'read') {
      fs.writeFileSync(this.readPath, this.payload);
    }
  }

  /** Gives every worker thread one tiny task, so none starts inside a measured batch. */
  async warmWorkers() {
    if (this.offload === null) return;
    const tasks = [];
    for (let i = 0; i < this.d.workers; i += 1) {
      tasks.push(this.offload.run({ kind: 'hash', iterations: 1 }));
    }
    await Promise.all(tasks);
  }

  /** One batch; resolves to its report once every job has ended. */
  run() {
    return new Promise((resolve) => {
      const tally = { histogram: new Histogram(), completed: 0, errors: 0, firstError: null };
      const eluBefore = performance.eventLoopUtilization();
      const start = performance.now();
      let ended = 0;
      const finish = (error) => {
        const at = performance.now();
        if (error) {
          tally.errors += 1;
          tally.firstError = tally.firstError || String(error.message || error);
        } else {
          tally.completed += 1;
          tally.histogram.record((at - start) * 1e3);
        }
        ended += 1;
        if (ended === this.jobs) {
          const end = performance.now();
          const elu = performance.eventLoopUtilization(eluBefore).utilization;
          resolve(this.report(tally, (end - start) / 1e3, elu));
        }
      };
      for (let job = 0; job < this.jobs; job += 1) this.submit(job, finish);
    });
  }

  submit(job, finish) {
    const kind = this.rotation[job % this.rotation.length];
    const hashing = kind === 'hash' || kind === 'hash-sync';
    if (kind === 'hello' || kind === 'busy') {
      setImmediate(() => finish(null));
    } else if (hashing && this.offload !== null) {
      this.offload.run({ kind, iterations: this.d.hash_iterations }).then(
        (hex) => finish(lengthError('key', hex.length / 2, deploy.HASH_KEYLEN)),
        (e) => finish(e),
      );
    } else if (kind === 'hash' && this.d.strategy === 'loop') {
      const { PASSWORD, SALT, HASH_KEYLEN, DIGEST } = deploy;
      crypto.pbkdf2(PASSWORD, SALT, this.d.hash_iterations, HASH_KEYLEN, DIGEST, (e, key) =>
        finish(e || lengthError('key', key.length, HASH_KEYLEN)));
    } else if (hashing) {
      finish(syncHash(this.d.hash_iterations));
    } else {
      this.fileJob(job, finish);
    }
  }

  fileJob(job, finish) {
    const want = this.d.file_bytes;
    const read = (file) => fs.readFile(file, (e, bytes) =>
      finish(e || lengthError('file', bytes.length, want)));
    if (this.d.file_mode !== 'write-read') return read(this.readPath);
    const own = path.join(this.dir, `job-${job}.bin`);
    return fs.writeFile(own, this.payload, (e) => (e ? finish(e) : read(own)));
  }

  report(tally, makespanS, utilization) {
    return {
      jobs: this.jobs,
      completed: tally.completed,
      errors: tally.errors,
      makespan_s: makespanS,
      histogram_base64: tally.histogram.encodeBase64(),
      loop_utilization: utilization,
      pool_tasks: null,
      pool_wait_mean_us: null,
      pool_wait_p99_us: null,
      pool_wait_max_us: null,
    };
  }

  async close() {
    if (this.offload !== null) await this.offload.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function syncHash(iterations) {
  try {
    return lengthError('key', deploy.hashHex(iterations).length / 2, deploy.HASH_KEYLEN);
  } catch (e) {
    return e;
  }
}

/** null when `got` is `want`, else the error looplab's `check_len` gives. */
function lengthError(what, got, want) {
  return got === want ? null : new Error(`${what} has ${got} bytes, expected ${want}`);
}

/** Unmeasured batches until `ms` have passed (none when it is zero); resolves to their count. */
async function warmUp(batch, ms) {
  const start = performance.now();
  let batches = 0;
  while (performance.now() - start < ms) {
    await batch.run();
    batches += 1;
  }
  return batches;
}

/** One command of batch mode. */
async function batchCommand(batch, line) {
  if (line === 'run') {
    say({ batch: await batch.run() });
  } else if (line.startsWith('warmup ')) {
    const text = line.slice('warmup '.length).trim();
    if (!/^[0-9]+$/.test(text)) return sayError(`bad warm-up \`${text}\``);
    say({ warmed: { batches: await warmUp(batch, Number(text)) } });
  } else {
    sayError(`unknown command \`${line}\``);
  }
  return undefined;
}

/** Runs batch mode for `jobs` jobs of `d` (already validated) until `stop` or stdin's end. */
async function batchPoint(d, jobs, workerThreads) {
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 0xffffffff) {
    throw new Error(`jobs ${jobs} is out of range; submit at least 1 job per batch`);
  }
  const offload = d.strategy === 'workers' ? workerThreads(d) : null;
  const batch = new Batch(d, jobs, offload);
  try {
    await batch.warmWorkers();
  } catch (e) {
    await batch.close();
    throw new Error(`a worker failed its warm-up task: ${e.message}`);
  }
  say({ ready: { addr: null } });
  commands((line) => batchCommand(batch, line), async () => {
    await batch.close();
    process.exit(0);
  });
}

module.exports = { Batch, batchPoint, lengthError };
