//! Code generation: a scenario as a CommonJS program that does, op for op, what the runtime
//! runner does (`setTimeout`, `crypto.pbkdf2`, `fs.readFile`, `new Worker(__filename)`, ...).
//!
//! Layout of the program:
//! 1. helpers: `now()` (ms since `T0` by `process.hrtime`, `T0` handed to workers), `record`,
//!    `fail`, `receive` (a message: record it, run its `then`);
//! 2. `RECEIVERS`: per message label, the code of its `then` (run by whoever receives it);
//!    `WORKER_MAIN`: per worker label, the code of its `ops`; `EXPECTED`: how many messages
//!    each worker will get;
//! 3. on the main thread, the top-level ops; in a worker, listen to the parent if messages are
//!    expected (and stop after the last one, so the worker exits), then its ops.
//!
//! Labels, paths and hosts are embedded as JSON strings, so any text is safe.

use std::fmt::Write as _;

use super::fixture::Fixture;
use super::model::{Op, OpKind, Scenario};

const HEADER: &str = r#"'use strict';
const crypto = require('crypto');
const dns = require('dns');
const fs = require('fs');
const http = require('http');
const wt = require('worker_threads');
const T0 = wt.isMainThread ? process.hrtime.bigint() : wt.workerData.t0;
const now = () => Number(process.hrtime.bigint() - T0) / 1e6;
const THREAD = wt.isMainThread ? 'main' : 'worker-' + wt.threadId;
const WORKERS = {};
function record(label, start, thread) {
  const ms = now();
  fs.writeSync(1, JSON.stringify({ label, start_ms: start, ms, thread }) + '\n');
}
function fail(label, err) {
  fs.writeSync(1, JSON.stringify({ label, error: String((err && err.message) || err) }) + '\n');
  process.exit(3);
}
function busy(ms) {
  const end = now() + ms;
  while (now() < end);
}
function receive(m) {
  const [label, start] = m;
  record(label, start, THREAD);
  RECEIVERS[label]();
}
"#;

/// The end of every program: the main thread runs the scenario's ops; a worker listens for
/// the messages it expects (then lets its port go), and runs its own ops.
const FOOTER: &str = "} else {
  const id = wt.workerData.worker;
  if (EXPECTED[id] > 0) {
    let got = 0;
    // `off` with the listener unrefs the port in Node 20 (removeAllListeners does not).
    const listener = (m) => {
      receive(m);
      if (++got === EXPECTED[id]) wt.parentPort.off('message', listener);
    };
    wt.parentPort.on('message', listener);
  }
  WORKER_MAIN[id]();
}
";

/// The program for `scenario`, with the files and server of `fixture`.
pub fn program(scenario: &Scenario, fixture: &Fixture) -> String {
    let gen = Gen { fixture };
    let mut out = String::from(HEADER);
    if let Some(addr) = fixture.server() {
        let _ = writeln!(
            out,
            "const SERVER = {{ host: {}, port: {} }};",
            js(&addr.ip().to_string()),
            addr.port()
        );
    }
    tables(&mut out, scenario, &gen);
    out.push_str("if (wt.isMainThread) {\n");
    out.push_str(&gen.ops(&scenario.ops, 1));
    out.push_str(FOOTER);
    out
}

/// `RECEIVERS` (what runs when a message arrives), `WORKER_MAIN` (each worker's ops) and
/// `EXPECTED` (the messages each worker waits for), keyed by label.
fn tables(out: &mut String, scenario: &Scenario, gen: &Gen<'_>) {
    let all = scenario.all_ops();
    out.push_str("const RECEIVERS = {\n");
    for op in all
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Message { .. }))
    {
        let _ = writeln!(
            out,
            "  {}: () => {{\n{}  }},",
            js(&op.label),
            gen.ops(&op.then, 2)
        );
    }
    out.push_str("};\nconst WORKER_MAIN = {\n");
    for op in &all {
        if let OpKind::Worker { ops } = &op.kind {
            let _ = writeln!(
                out,
                "  {}: () => {{\n{}  }},",
                js(&op.label),
                gen.ops(ops, 2)
            );
        }
    }
    out.push_str("};\nconst EXPECTED = {\n");
    let expected = scenario.messages_per_worker();
    for op in all
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Worker { .. }))
    {
        let count = expected.get(&op.label).copied().unwrap_or(0);
        let _ = writeln!(out, "  {}: {count},", js(&op.label));
    }
    out.push_str("};\n");
}

/// A JSON string literal (valid JavaScript).
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

struct Gen<'a> {
    fixture: &'a Fixture,
}

impl Gen<'_> {
    fn ops(&self, ops: &[std::sync::Arc<Op>], depth: usize) -> String {
        ops.iter().map(|op| self.op(op, depth)).collect()
    }

    /// One op as a block statement at indentation `depth`.
    fn op(&self, op: &Op, depth: usize) -> String {
        let text = OpText {
            pad: "  ".repeat(depth),
            label: js(&op.label),
            then: self.ops(&op.then, depth + 2),
            then_here: self.ops(&op.then, depth + 1),
            path: js(&self
                .fixture
                .file(&op.label)
                .map(|p| p.display().to_string())
                .unwrap_or_default()),
        };
        let body = text
            .queued(&op.kind)
            .or_else(|| text.on_pool(&op.kind))
            .unwrap_or_else(|| text.other(&op.kind));
        let pad = &text.pad;
        format!("{pad}{{\n{pad}  const s = now();\n{body}{pad}}}\n")
    }
}

/// The pieces of one op's JavaScript block.
struct OpText {
    /// Indentation of the block.
    pad: String,
    /// The label as a JS string literal.
    label: String,
    /// The `then` ops, indented to run inside a callback.
    then: String,
    /// The `then` ops, indented to run right after a synchronous op.
    then_here: String,
    /// The op's fixture file as a JS string literal (empty for ops without one).
    path: String,
}

impl OpText {
    /// Inside a callback: record the completion on `thread`, then run the `then` ops.
    fn done(&self, thread: &str) -> String {
        let (pad, label, then) = (&self.pad, &self.label, &self.then);
        format!("{pad}    record({label}, s, {thread});\n{then}")
    }

    /// A synchronous op: record and go on in the op's own block.
    fn done_here(&self) -> String {
        let (pad, label, then) = (&self.pad, &self.label, &self.then_here);
        format!("{pad}  record({label}, s, THREAD);\n{then}")
    }

    /// Ops queued on the loop itself (timers, immediates, ticks, microtasks, intervals).
    fn queued(&self, kind: &OpKind) -> Option<String> {
        let (pad, label, then) = (&self.pad, &self.label, &self.then);
        let callback = |call: &str, tail: &str| {
            format!(
                "{pad}  {call}(() => {{\n{}{pad}  }}{tail});\n",
                self.done("THREAD")
            )
        };
        Some(match kind {
            OpKind::Timeout { ms } => callback("setTimeout", &format!(", {ms}")),
            OpKind::Immediate => callback("setImmediate", ""),
            OpKind::NextTick => callback("process.nextTick", ""),
            OpKind::Microtask => callback("queueMicrotask", ""),
            OpKind::Interval { ms, times } => format!(
                "{pad}  let k = 0, prev = s;\n{pad}  const h = setInterval(() => {{\n\
                 {pad}    k += 1;\n{pad}    record({label} + '#' + k, prev, THREAD);\n{pad}    prev = now();\n\
                 {pad}    if (k === {times}) {{\n{pad}      clearInterval(h);\n{then}{pad}    }}\n{pad}  }}, {ms});\n"
            ),
            _ => return None,
        })
    }

    /// Ops whose work runs on the pool and completes with an error-first callback.
    fn on_pool(&self, kind: &OpKind) -> Option<String> {
        let (pad, label, path) = (&self.pad, &self.label, &self.path);
        let call = match kind {
            OpKind::Pbkdf2 { iterations, keylen } => {
                format!("crypto.pbkdf2('a', 'b', {iterations}, {keylen}, 'sha512'")
            }
            OpKind::ReadFile { .. } => format!("fs.readFile({path}"),
            OpKind::WriteFile { bytes } => {
                format!("fs.writeFile({path}, Buffer.alloc({bytes}, 120)")
            }
            OpKind::Stat => format!("fs.stat({path}"),
            OpKind::Lookup { host } => format!("dns.lookup({}, {{ all: true }}", js(host)),
            _ => return None,
        };
        Some(format!(
            "{pad}  {call}, (err) => {{\n{pad}    if (err) fail({label}, err);\n{}{pad}  }});\n",
            self.done("'pool'")
        ))
    }

    /// The rest: busy waits and sync hashes, HTTP requests, workers and messages.
    fn other(&self, kind: &OpKind) -> String {
        let (pad, label) = (&self.pad, &self.label);
        match kind {
            OpKind::Block { ms } => format!("{pad}  busy({ms});\n{}", self.done_here()),
            OpKind::Pbkdf2Sync { iterations, keylen } => format!(
                "{pad}  crypto.pbkdf2Sync('a', 'b', {iterations}, {keylen}, 'sha512');\n{}",
                self.done_here()
            ),
            OpKind::HttpGet { path } => format!(
                "{pad}  http.get({{ ...SERVER, path: {}, agent: false }}, (res) => {{\n\
                 {pad}    res.resume();\n{pad}    res.on('end', () => {{\n\
                 {pad}      if (res.statusCode !== 200) fail({label}, 'the server answered ' + res.statusCode);\n\
                 {}{pad}    }});\n{pad}  }}).on('error', (err) => fail({label}, err));\n",
                js(path),
                self.done("THREAD")
            ),
            OpKind::Worker { .. } => format!(
                "{pad}  const w = new wt.Worker(__filename, {{ workerData: {{ t0: T0, worker: {label} }} }});\n\
                 {pad}  WORKERS[{label}] = w;\n{pad}  w.on('message', receive);\n\
                 {pad}  w.on('error', (err) => fail({label}, err));\n\
                 {pad}  w.on('exit', () => {{\n{pad}    delete WORKERS[{label}];\n{}{pad}  }});\n",
                self.done("THREAD")
            ),
            OpKind::Message { to: Some(to) } => format!(
                "{pad}  if (!WORKERS[{to}]) fail({label}, 'worker ' + {to} + ' is not running when the message is sent');\n\
                 {pad}  WORKERS[{to}].postMessage([{label}, s]);\n",
                to = js(to)
            ),
            OpKind::Message { to: None } => {
                format!("{pad}  wt.parentPort.postMessage([{label}, s]);\n")
            }
            // Every other kind was taken by `queued` or `on_pool`.
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::program;
    use crate::scenario::{parse, Fixture};

    #[test]
    fn each_op_becomes_its_node_call_with_then_inside_the_callback() {
        let s = Arc::new(
            parse(
                r#"
pool_size = 3
[[op]]
kind = "read_file"
label = "read \"quoted\""
  [[op.then]]
  kind = "immediate"
  label = "imm"
[[op]]
kind = "worker"
label = "w"
  [[op.ops]]
  kind = "lookup"
  label = "dns"
    [[op.ops.then]]
    kind = "message"
    label = "up"
[[op]]
kind = "message"
label = "down"
to = "w"
[[op]]
kind = "interval"
label = "iv"
ms = 5
times = 2
"#,
                "t.toml",
                "t",
            )
            .unwrap(),
        );
        let fixture = Fixture::prepare(&s, None).unwrap();
        let js = program(&s, &fixture);
        let read = js.find("fs.readFile(").expect("a readFile");
        let imm = js.find("setImmediate(").expect("an immediate");
        assert!(
            read < imm,
            "the immediate is scheduled inside the read's callback"
        );
        assert!(
            js.contains(r#"record("read \"quoted\"", s, 'pool')"#),
            "{js}"
        );
        assert!(js.contains("dns.lookup(\"localhost\", { all: true }"));
        assert!(js.contains("new wt.Worker(__filename"));
        assert!(js.contains("WORKERS[\"w\"].postMessage([\"down\", s])"));
        assert!(js.contains("wt.parentPort.postMessage([\"up\", s])"));
        assert!(js.contains("\"w\": 1,"), "the worker expects one message");
        assert!(js.contains("if (k === 2)") && js.contains("setInterval("));
        assert!(!js.contains("SERVER ="), "no server without http_get");
    }
}
