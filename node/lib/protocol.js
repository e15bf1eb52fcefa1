// lab point's wire protocol, as `harness/src/point.rs` speaks it: the `--task` JSON (serde's
// externally tagged `Task`), one JSON `Reply` line per answer on stdout, and plain-word
// commands on stdin, handled one after another in arrival order.
'use strict';

const readline = require('node:readline');

/** Writes one reply line (`{"ready":...}`, `{"error":"..."}`, ...), in a single write. */
function say(reply) {
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}

/** `{"error":"..."}`. */
function sayError(message) {
  say({ error: String(message) });
}

/** The `--task` argument of `node point.js --task JSON`, or throws saying what is wrong. */
function taskArgument(argv) {
  const at = argv.indexOf('--task');
  if (at >= 0 && at + 1 < argv.length) return argv[at + 1];
  const inline = argv.find((a) => a.startsWith('--task='));
  if (inline) return inline.slice('--task='.length);
  throw new Error('usage: node node/point.js --task JSON (the Task `lab sweep` gives lab point)');
}

/**
 * Parses a serialized `Task`: `"experiments"`, `{"serve":Deployment}` or
 * `{"batch":{"deployment":Deployment,"jobs":N}}`. Returns `{ kind, deployment, jobs }`.
 */
function parseTask(text) {
  let task;
  try {
    task = JSON.parse(text);
  } catch (e) {
    throw new Error(`the point's --task was not valid JSON: ${e.message}`);
  }
  if (task === 'experiments') return { kind: 'experiments' };
  if (task && typeof task === 'object' && task.serve) {
    return { kind: 'serve', deployment: task.serve };
  }
  if (task && typeof task === 'object' && task.batch && task.batch.deployment) {
    return { kind: 'batch', deployment: task.batch.deployment, jobs: task.batch.jobs };
  }
  throw new Error('the point\'s --task is not a Task ("experiments", {"serve":...} or ' +
    '{"batch":{"deployment":...,"jobs":N}})');
}

/**
 * Reads stdin line by line; `handle(line)` (which may return a promise) runs for one line at a
 * time, in order. `onEnd()` runs once, after `stop` or at the end of stdin, when the commands
 * before it are done.
 */
function commands(handle, onEnd) {
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  let chain = Promise.resolve();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    lines.close();
    chain = chain.then(onEnd, onEnd);
  };
  lines.on('line', (raw) => {
    if (ended) return;
    const line = raw.trim();
    if (line === 'stop') return end();
    chain = chain.then(() => handle(line)).catch((e) => sayError(e && e.message ? e.message : e));
    return undefined;
  });
  lines.on('close', end);
}

module.exports = { say, sayError, taskArgument, parseTask, commands };
