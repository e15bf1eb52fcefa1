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
        let _ = writeln!(
            out,
            "  {}: {},",
            js(&op.label),
            expected.get(&op.label).copied().unwrap_or(0)
        );
    }
    out.push_str("};\n");
    out.push_str("if (wt.isMainThread) {\n");
    out.push_str(&gen.ops(&scenario.ops, 1));
    out.push_str(
        "} else {
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
",
    );
    out
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
        let pad = "  ".repeat(depth);
        let label = js(&op.label);
        let then = self.ops(&op.then, depth + 2);
        let done = |thread: &str| format!("{pad}    record({label}, s, {thread});\n{then}");
        // Synchronous ops record and go on in the op's own block.
        let done_here = || {
            let then = self.ops(&op.then, depth + 1);
            format!("{pad}  record({label}, s, THREAD);\n{then}")
        };
        let check = format!("{pad}    if (err) fail({label}, err);\n");
        let path = || {
            js(&self
                .fixture
                .file(&op.label)
                .map(|p| p.display().to_string())
                .unwrap_or_default())
        };
        let body = match &op.kind {
            OpKind::Timeout { ms } => format!("{pad}  setTimeout(() => {{\n{}{pad}  }}, {ms});\n", done("THREAD")),
            OpKind::Immediate => format!("{pad}  setImmediate(() => {{\n{}{pad}  }});\n", done("THREAD")),
            OpKind::NextTick => format!("{pad}  process.nextTick(() => {{\n{}{pad}  }});\n", done("THREAD")),
            OpKind::Microtask => format!("{pad}  queueMicrotask(() => {{\n{}{pad}  }});\n", done("THREAD")),
            OpKind::Interval { ms, times } => format!(
                "{pad}  let k = 0, prev = s;\n{pad}  const h = setInterval(() => {{\n\
                 {pad}    k += 1;\n{pad}    record({label} + '#' + k, prev, THREAD);\n{pad}    prev = now();\n\
                 {pad}    if (k === {times}) {{\n{pad}      clearInterval(h);\n{then}{pad}    }}\n{pad}  }}, {ms});\n"
            ),
            OpKind::Block { ms } => format!("{pad}  busy({ms});\n{}", done_here()),
            OpKind::Pbkdf2Sync { iterations, keylen } => format!(
                "{pad}  crypto.pbkdf2Sync('a', 'b', {iterations}, {keylen}, 'sha512');\n{}",
                done_here()
            ),
            OpKind::Pbkdf2 { iterations, keylen } => format!(
                "{pad}  crypto.pbkdf2('a', 'b', {iterations}, {keylen}, 'sha512', (err) => {{\n{check}{}{pad}  }});\n",
                done("'pool'")
            ),
            OpKind::ReadFile { .. } => format!(
                "{pad}  fs.readFile({}, (err) => {{\n{check}{}{pad}  }});\n",
                path(),
                done("'pool'")
            ),
            OpKind::WriteFile { bytes } => format!(
                "{pad}  fs.writeFile({}, Buffer.alloc({bytes}, 120), (err) => {{\n{check}{}{pad}  }});\n",
                path(),
                done("'pool'")
            ),
            OpKind::Stat => format!("{pad}  fs.stat({}, (err) => {{\n{check}{}{pad}  }});\n", path(), done("'pool'")),
            OpKind::Lookup { host } => format!(
                "{pad}  dns.lookup({}, {{ all: true }}, (err) => {{\n{check}{}{pad}  }});\n",
                js(host),
                done("'pool'")
            ),
            OpKind::HttpGet { path } => format!(
                "{pad}  http.get({{ ...SERVER, path: {}, agent: false }}, (res) => {{\n\
                 {pad}    res.resume();\n{pad}    res.on('end', () => {{\n\
                 {pad}      if (res.statusCode !== 200) fail({label}, 'the server answered ' + res.statusCode);\n\
                 {}{pad}    }});\n{pad}  }}).on('error', (err) => fail({label}, err));\n",
                js(path),
                done("THREAD")
            ),
            OpKind::Worker { .. } => format!(
                "{pad}  const w = new wt.Worker(__filename, {{ workerData: {{ t0: T0, worker: {label} }} }});\n\
                 {pad}  WORKERS[{label}] = w;\n{pad}  w.on('message', receive);\n\
                 {pad}  w.on('error', (err) => fail({label}, err));\n\
                 {pad}  w.on('exit', () => {{\n{pad}    delete WORKERS[{label}];\n{}{pad}  }});\n",
                done("THREAD")
            ),
            OpKind::Message { to: Some(to) } => format!(
                "{pad}  if (!WORKERS[{to}]) fail({label}, 'worker ' + {to} + ' is not running when the message is sent');\n\
                 {pad}  WORKERS[{to}].postMessage([{label}, s]);\n",
                to = js(to)
            ),
            OpKind::Message { to: None } => format!("{pad}  wt.parentPort.postMessage([{label}, s]);\n"),
        };
        format!("{pad}{{\n{pad}  const s = now();\n{body}{pad}}}\n")
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
