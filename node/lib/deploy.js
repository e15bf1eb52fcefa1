// The deployment a Node twin receives (the JSON of looplab's `Deployment`): the constants its
// workloads share with looplab's app, the checks looplab makes before anything starts, and the
// refusals of what Node 20 cannot run (the references, `reuseport`).
'use strict';

const crypto = require('node:crypto');

/** The body of `/hello`. */
const HELLO_BODY = 'hello world\n';
/** The body of `/busy`. */
const BUSY_BODY = 'done\n';
/** Key length of the hash workloads; the body is its hex form. */
const HASH_KEYLEN = 32;
/** The course's hash arguments: `pbkdf2('a', 'b', iterations, 32, 'sha512')`. */
const PASSWORD = 'a';
const SALT = 'b';
const DIGEST = 'sha512';

const KINDS = ['hello', 'hash', 'hash-sync', 'file', 'busy'];
const NODE_STRATEGIES = ['loop', 'loop-blocking', 'workers', 'cluster'];
const LIMITS = {
  pool: [1, 1024],
  workers: [1, 256],
  processes: [1, 1024],
  file_bytes: [0, 64 << 20],
  hash_iterations: [1, 10_000_000],
  busy_ms: [0, 60_000],
};

/** One PBKDF2 of the course's arguments on the calling thread, as hex. */
function hashHex(iterations) {
  return crypto.pbkdf2Sync(PASSWORD, SALT, iterations, HASH_KEYLEN, DIGEST).toString('hex');
}

/** The course's `doWork(ms)`: spin until the wall clock says `ms` passed. */
function busyWait(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** The mix expanded by weight, in order (weights 8:1:1 give 8 hellos, 1 hash, 1 file). */
function rotation(mix) {
  const out = [];
  for (const [kind, weight] of mix) {
    for (let i = 0; i < weight; i += 1) out.push(kind);
  }
  return out;
}

function inRange(name, value, [low, high], hint) {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new Error(`${name} ${value} is out of range; ${hint}`);
  }
}

/** Why Node 20 cannot run this strategy or policy, or null when it can. */
function refusal(d) {
  if (!NODE_STRATEGIES.includes(d.strategy)) {
    return `strategy ${d.strategy} runs on looplab only (a reference with no Node equivalent); ` +
      `Node twins run ${NODE_STRATEGIES.join(', ')}`;
  }
  if (d.strategy === 'cluster' && d.policy === 'reuseport') {
    return 'cluster policy reuseport is refused: Node 20 has no reusePort for cluster ' +
      '(it arrived in Node 22.12); use rr or none';
  }
  return null;
}

/** The pool size must be in the environment when node starts (libuv reads it once). */
function poolEnvProblem(d) {
  const have = process.env.UV_THREADPOOL_SIZE;
  if (have === String(d.pool)) return null;
  return `UV_THREADPOOL_SIZE is ${have === undefined ? 'unset' : `\`${have}\``} but the ` +
    `deployment's pool is ${d.pool}; start the twin as ` +
    `\`UV_THREADPOOL_SIZE=${d.pool} node node/point.js --task JSON\``;
}

/** The checks of looplab's serve (`validate`) and batch, in its words; throws the first. */
function validate(d, mode) {
  if (!Array.isArray(d.mix) || d.mix.some(([k, w]) => !KINDS.includes(k) || !(w >= 0))) {
    throw new Error('mix is not a list of [kind, weight] with kinds ' + KINDS.join(', '));
  }
  const total = d.mix.reduce((sum, [, w]) => sum + w, 0);
  if (total === 0) {
    throw new Error('mix empty is out of range; give at least one kind a weight, ' +
      'like hello:8,hash:1,file:1');
  }
  const weightHint = 'give each kind a weight of 0..=1000, 10000 in all, like hello:8,hash:1';
  for (const [kind, w] of d.mix) inRange(`mix weight ${kind}:`, w, [0, 1000], weightHint);
  inRange("mix weights' sum", total, [1, 10_000], weightHint);
  inRange('--file-bytes', d.file_bytes, LIMITS.file_bytes, 'use 0..=67108864 bytes (64 MiB)');
  inRange('--iterations', d.hash_iterations, LIMITS.hash_iterations, 'use 1..=10000000');
  inRange('--busy-ms', d.busy_ms, LIMITS.busy_ms, 'use 0..=60000 ms, like 100');
  inRange('pool', d.pool, LIMITS.pool, 'use 1..=1024 pool threads, like 4');
  if (d.strategy === 'workers') {
    inRange('--workers', d.workers, LIMITS.workers, 'use 1..=256 worker threads, like 2');
  }
  if (d.strategy === 'cluster' && mode === 'serve') {
    inRange('--cluster', d.processes, LIMITS.processes, 'use 1..=1024 worker processes');
  }
  if (mode === 'batch') validateBatch(d);
}

function validateBatch(d) {
  if (d.mix.some(([kind, w]) => kind === 'busy' && w > 0)) {
    throw new Error('mix kind busy is out of range; batch jobs are hello, hash, hash-sync or ' +
      'file (busy needs a duration a batch does not have)');
  }
  if (d.strategy === 'cluster') {
    throw new Error('strategy cluster is out of range; a batch runs in one process; run a ' +
      'cluster batch as one batch per process, each with the loop strategy');
  }
}

module.exports = {
  HELLO_BODY,
  BUSY_BODY,
  HASH_KEYLEN,
  PASSWORD,
  SALT,
  DIGEST,
  KINDS,
  hashHex,
  busyWait,
  rotation,
  refusal,
  poolEnvProblem,
  validate,
};
