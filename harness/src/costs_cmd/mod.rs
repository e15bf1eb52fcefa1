//! `lab calibrate --costs [--out FILE] [--runs N]`: measures, on this machine, the CPU time
//! Node spends per event beyond what looplab spends, and writes it as a cost profile
//! (`costs/node.toml` by default; [`looplab_reports::store::costs`]).
//!
//! The rule: for each kind of event, a measurement runs on both runtimes, each in a fresh
//! process, and gives the CPU time per event on each; the charged cost is the median over the
//! runs of (Node's − looplab's), clamped at 0; the spread is half the range of the runs'
//! differences. Each run measures Node then looplab, measurement by measurement (interleaved),
//! so drift on a shared machine hits both. What is measured is what the profile charges: CPU
//! on the thread that runs JavaScript, where the costs are paid.
//!
//! The measurements, in order:
//! 1. Micro events, looplab with no costs, a fixed count of events less an empty run (the same
//!    job with no events): `timer`, `immediate`, `tick`, `microtask` (one event per callback;
//!    the process' CPU, `process.cpuUsage()` / `getrusage`: one thread runs them); the pool
//!    round trip (empty work items; Node: `crypto.randomFill` of one byte), split into
//!    `pool_submit` = the process' CPU over the synchronous submitting loop while the 4 pool
//!    threads are held blocked (so it is the loop thread's alone) and `pool_completion` = the
//!    loop thread's own CPU over the round trip less that; `worker_message` = the process'
//!    CPU per echo / 4 (posted and received on each side, as the runtime charges it), with all
//!    messages posted at once: one in flight at a time made each echo two thread wake-ups,
//!    whose cost on this virtual machine swung looplab's figure from 3.7 to 7.0 µs between
//!    sittings; the wake-ups are the runtime's own, and what Node pays beyond them per task
//!    is in `worker_task`.
//! 2. Requests under the sweep's load (16 keep-alive connections, closed loop, the lab's own
//!    generator, after 2 s of warm-up: Node's loop costs more per request while V8 compiles the
//!    handlers), pool 4 (file: 1), the JavaScript thread's CPU per request (Node's main thread, the
//!    loop thread of `lab serve`), looplab charging what is already known so that each residual is
//!    charged once: `http_request` = `GET /hello` (`scripts/node/hello-server.js` vs `lab serve
//!    --workload hello`; micro costs charged); `wakeup` = the same requests on one connection, with
//!    this run's `http_request` charged: the loop sleeps between them, so each pays one wake-up
//!    from the poll (Node's thread paid 40-53 µs a request so in seven calibrations on two
//!    machines, 15 µs on 16 connections; looplab 33-43 and 16); then with `http_request` and
//!    `wakeup` charged too, `fs.readFile` of 1 KiB and of 64 KiB per request (4 pool trips:
//!    open, fstat, read, close; pool 1, see [`Kind::pool`]): `file_kib` = (64 KiB − 1 KiB) / 63
//!    and `file_trip` = (1 KiB − one `file_kib`) / 4; and `crypto_completion` = `GET /hash`
//!    (`crypto.pbkdf2`, 10,000 iterations), whose JavaScript thread pays far more per request while
//!    the pool hashes than an idle micro-benchmark shows; and `worker_task` = the same hash in a
//!    pool of 2 worker threads (piscina, `--workers 2`; `lab serve --strategy workers`), with
//!    `worker_message` charged too.
//! 3. Not measured, charged 0 with the reason in `how`: `io` (a socket callback is part of
//!    what `http_request` measures) and `cluster_handoff` (needs a cluster twin on both sides;
//!    the primary's hand-off is a small part of a request on a 2-core machine).

mod child;

use looplab_reports::check::median;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use looplab_reports::store::costs::{CostProfile, EventCost};
use looplab_reports::Table;
use looplab_workloads::costs_probe::ProbeResult;

/// Where the two runtimes are.
struct Sides {
    node: PathBuf,
    scripts: PathBuf,
    lab: PathBuf,
}

/// One run's figures for one event: Node's and looplab's CPU per event, ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    /// Node's, ns per event.
    pub node: f64,
    /// looplab's, ns per event.
    pub looplab: f64,
}

impl Pair {
    fn diff(self) -> f64 {
        self.node - self.looplab
    }
    fn scaled(self, by: f64) -> Pair {
        Pair {
            node: self.node / by,
            looplab: self.looplab / by,
        }
    }
    fn minus(self, other: Pair) -> Pair {
        Pair {
            node: self.node - other.node,
            looplab: self.looplab - other.looplab,
        }
    }
}

/// Every run's pairs, per event name, with how each was measured.
type Samples = BTreeMap<&'static str, (Vec<Pair>, String)>;

/// Events per probe run (enough for ~0.1-0.5 s of Node's CPU each).
const MICRO: [(&str, u64); 6] = [
    ("timer", 200_000),
    ("immediate", 200_000),
    ("tick", 200_000),
    ("microtask", 500_000),
    ("pool", 50_000),
    ("worker", 10_000),
];
/// Load before each measured window: Node's loop costs more per request over its first
/// seconds of load, while V8 compiles the handlers (the sweep's `node_warmup`).
const HTTP_WARMUP: Duration = Duration::from_secs(2);
const HTTP_WINDOW: Duration = Duration::from_secs(1);
/// PBKDF2 iterations of a calibration hash request (the sweep's default), passed to both sides.
const HASH_ITERATIONS: &str = "10000";

/// Runs `lab calibrate --costs`.
pub fn run(out: Option<&Path>, runs: u32, json: bool) -> Result<()> {
    let node = looplab_workloads::scenario::find_node().map_err(|_| {
        anyhow::anyhow!(
            "`node` was not found on PATH; `lab calibrate --costs` measures Node against looplab: install Node.js 20 (https://nodejs.org/en/download)"
        )
    })?;
    let version = looplab_workloads::scenario::node_version(&node)?;
    crate::sweep::node::ensure_packages()?;
    let sides = Sides {
        node,
        scripts: crate::scenario_cmd::repo_folder("scripts/node")?,
        lab: std::env::current_exe().context("find the lab executable")?,
    };
    let mut samples = Samples::new();
    micro(&sides, runs, &mut samples)?;
    let micro_costs = profile(&version, runs, &samples);
    let tmp = tempfile::tempdir().context("create a temp dir")?;
    composite(&sides, runs, &micro_costs, tmp.path(), &mut samples)?;
    let profile = profile(&version, runs, &samples);
    let out = out.map_or_else(crate::sweep::node_profile_path, Path::to_path_buf);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    profile.write(&out)?;
    if json {
        let value = serde_json::json!({ "profile": profile, "written": out.display().to_string() });
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print!("{}", table(&profile));
        println!("written: {}", out.display());
    }
    Ok(())
}

/// One probe's figures on both runtimes, per event: the process' CPU less the empty run's,
/// and for `pool` the submitting loop's CPU and the loop thread's own CPU over the job.
struct ProbePair {
    cpu: Pair,
    submit: Pair,
    loop_thread: Pair,
}

/// One probe on both runtimes (Node first), each less its empty run; per event.
fn probe_pair(s: &Sides, name: &str, n: u64) -> Result<ProbePair> {
    let node = |n: u64| -> Result<ProbeResult> {
        let mut c = Command::new(&s.node);
        c.arg(s.scripts.join("costs.js"))
            .arg(name)
            .args(["--n", &n.to_string()]);
        child::probe(c.env("UV_THREADPOOL_SIZE", "4"))
    };
    let lab = |n: u64| -> Result<ProbeResult> {
        let mut c = Command::new(&s.lab);
        c.args(["cost-probe", name, "--n", &n.to_string()]);
        child::probe(&mut c)
    };
    let (nf, ne) = (node(n)?, node(0)?);
    let (lf, le) = (lab(n)?, lab(0)?);
    let per_event = |field: fn(&ProbeResult) -> u64| Pair {
        node: field(&nf).saturating_sub(field(&ne)) as f64 / n as f64,
        looplab: field(&lf).saturating_sub(field(&le)) as f64 / n as f64,
    };
    Ok(ProbePair {
        cpu: per_event(|r| r.cpu_ns),
        submit: per_event(|r| r.submit_ns.unwrap_or(0)),
        loop_thread: per_event(|r| r.loop_ns.unwrap_or(0)),
    })
}

fn push(samples: &mut Samples, event: &'static str, pair: Pair, how: &str) {
    let entry = samples
        .entry(event)
        .or_insert_with(|| (Vec::new(), how.into()));
    entry.0.push(pair);
}

/// Step 1: the micro events, looplab with no costs.
fn micro(s: &Sides, runs: u32, samples: &mut Samples) -> Result<()> {
    for run in 1..=runs {
        eprintln!("costs: micro events, run {run} of {runs}");
        for (probe, n) in MICRO {
            let ProbePair {
                cpu,
                submit,
                loop_thread,
            } = probe_pair(s, probe, n)?;
            match probe {
                "pool" => {
                    push(samples, "pool_submit", submit, "process CPU of the synchronous loop submitting 50,000 empty items (Node: crypto.randomFill of 1 byte) while the 4 pool threads are held");
                    push(samples, "pool_completion", loop_thread.minus(submit), "the JavaScript thread's own CPU over a pool round trip less pool_submit (50,000 items at once, pool 4; the pool threads' CPU is theirs)");
                }
                "worker" => push(samples, "worker_message", cpu.scaled(4.0), "one worker echoing 10,000 messages posted at once: process CPU / 4 messages per echo"),
                "timer" => push(samples, "timer", cpu, "200,000 setTimeout(1) at once: process CPU per callback"),
                "immediate" => push(samples, "immediate", cpu, "200,000 setImmediate at once: process CPU per callback"),
                "tick" => push(samples, "tick", cpu, "200,000 process.nextTick at once: process CPU per callback"),
                _ => push(samples, "microtask", cpu, "500,000 reactions to a resolved promise (queue_microtask): process CPU per callback"),
            }
        }
    }
    Ok(())
}

/// Step 2: requests answered under the sweep's load, the JavaScript thread's CPU per request.
/// Each run first measures hello requests (looplab charging the micro costs), then file and
/// hash requests with this run's `http_request` charged too, so each residual is what no
/// other event pays.
fn composite(
    s: &Sides,
    runs: u32,
    micro: &CostProfile,
    tmp: &Path,
    samples: &mut Samples,
) -> Result<()> {
    let micro_file = tmp.join("micro.toml");
    micro.write(&micro_file)?;
    for run in 1..=runs {
        eprintln!("costs: hello, file and hash requests under load, run {run} of {runs}");
        let hello = request_pair(s, Kind::Hello, &micro_file)?;
        push(samples, "http_request", hello, "GET /hello on 16 keep-alive loopback connections at once (hello-server.js vs lab serve --workload hello): the JavaScript thread's CPU per request less idle (micro costs charged; io folded in)");
        let mut charged = micro.clone();
        charged
            .events
            .insert("http_request".into(), event_cost(&[hello], ""));
        let charged_file = tmp.join("charged.toml");
        charged.write(&charged_file)?;
        let alone = request_pair(s, Kind::HelloAlone, &charged_file)?;
        push(samples, "wakeup", alone, "GET /hello on 1 keep-alive connection, so that the loop sleeps between requests: the JavaScript thread's CPU per request, one wake-up each (micro costs and http_request charged)");
        charged
            .events
            .insert("wakeup".into(), event_cost(&[alone], ""));
        charged.write(&charged_file)?;
        let small = request_pair(s, Kind::File(1024), &charged_file)?;
        let large = request_pair(s, Kind::File(64 * 1024), &charged_file)?;
        let kib = large.minus(small).scaled(63.0);
        push(samples, "file_kib", kib, "GET /file of 64 KiB less of 1 KiB, / 63 KiB (fs.readFile under the same load, pool 1, JavaScript thread's CPU; micro costs, http_request and wakeup charged)");
        push(samples, "file_trip", small.minus(kib).scaled(4.0), "GET /file of 1 KiB less one file_kib, / 4 trips (open, fstat, read, close; pool 1, where the loop seldom sleeps; JavaScript thread's CPU; micro costs, http_request and wakeup charged)");
        let hash = request_pair(s, Kind::Hash, &charged_file)?;
        push(samples, "crypto_completion", hash, "GET /hash (crypto.pbkdf2, 10,000 iterations, pool 4) under the same load: the JavaScript thread's CPU per request (micro costs, http_request and wakeup charged)");
        let offloaded = request_pair(s, Kind::HashInWorkers, &charged_file)?;
        push(samples, "worker_task", offloaded, "GET /hash in a pool of 2 worker threads (piscina; lab serve --strategy workers) under the same load: the JavaScript thread's CPU per request (micro costs, worker_message, http_request and wakeup charged)");
    }
    Ok(())
}

/// What a calibration server answers.
#[derive(Clone, Copy)]
enum Kind {
    Hello,
    /// Hello requests one at a time (one connection): each finds the loop asleep.
    HelloAlone,
    /// `fs.readFile` of a file of this many bytes.
    File(usize),
    /// `crypto.pbkdf2` of the sweep's default iterations.
    Hash,
    /// The same hash in a pool of 2 worker threads (piscina).
    HashInWorkers,
}

impl Kind {
    /// The pool size both servers run with. File requests use 1 thread: the loop then waits
    /// for it seldom and sleeps less than once every 5 requests on Node (0.06-0.19 at 64 KiB),
    /// so the residual is the trips' own cost; at pool 4 Node's loop sleeps about 0.4 times a
    /// request and looplab's 0.5, and what a wake-up under that load costs beyond `wakeup`
    /// was taken for the trips' (file_trip 3.3 µs at pool 4: 56.6 µs of looplab's loop
    /// against 40-48 of Node's per 64 KiB request at pool 1).
    fn pool(self) -> &'static str {
        match self {
            Kind::File(_) => "1",
            _ => "4",
        }
    }
}

/// Node's and looplab's servers (pool [`Kind::pool`]) each answering the same kind of
/// requests: the JavaScript thread's CPU per request on each, ns.
fn request_pair(s: &Sides, kind: Kind, costs: &Path) -> Result<Pair> {
    let file = tempfile::NamedTempFile::new().context("create a file to serve")?;
    let mut node = Command::new(&s.node);
    node.arg(s.scripts.join("hello-server.js"))
        .args(["--port", "0", "--file"])
        .arg(file.path())
        .args(["--iterations", HASH_ITERATIONS])
        .env("UV_THREADPOOL_SIZE", kind.pool());
    let mut lab = Command::new(&s.lab);
    lab.args(["serve", "--port", "0", "--pool", kind.pool(), "--costs"])
        .arg(costs);
    let path = match kind {
        Kind::Hello | Kind::HelloAlone => {
            lab.args(["--workload", "hello"]);
            "/hello"
        }
        Kind::File(bytes) => {
            std::fs::write(file.path(), vec![b'x'; bytes]).context("write the file to serve")?;
            lab.args(["--workload", "file", "--file-bytes", &bytes.to_string()]);
            "/file"
        }
        Kind::Hash => {
            lab.args(["--workload", "hash", "--iterations", HASH_ITERATIONS]);
            "/hash"
        }
        Kind::HashInWorkers => {
            node.args(["--workers", "2"]);
            lab.args(["--workload", "hash", "--iterations", HASH_ITERATIONS])
                .args(["--strategy", "workers", "--workers", "2"]);
            "/hash"
        }
    };
    let load = child::Load {
        path,
        connections: match kind {
            Kind::HelloAlone => 1,
            _ => child::CONNECTIONS,
        },
        warmup: HTTP_WARMUP,
        window: HTTP_WINDOW,
    };
    Ok(Pair {
        node: child::js_thread_per_request(&mut node, &load)?,
        looplab: child::js_thread_per_request(&mut lab, &load)?,
    })
}

/// One event's cost from its runs: the median difference (>= 0), half the range.
pub fn event_cost(pairs: &[Pair], how: &str) -> EventCost {
    let diffs: Vec<f64> = pairs.iter().map(|p| p.diff()).collect();
    let (lo, hi) = diffs
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    EventCost {
        ns: median(&diffs).max(0.0).round() as u64,
        spread_ns: ((hi - lo) / 2.0).max(0.0).round() as u64,
        node_ns: median(&pairs.iter().map(|p| p.node).collect::<Vec<_>>()).round(),
        looplab_ns: median(&pairs.iter().map(|p| p.looplab).collect::<Vec<_>>()).round(),
        how: how.into(),
    }
}

/// The profile of what was measured so far; the events not measured are 0 with the reason.
fn profile(version: &str, runs: u32, samples: &Samples) -> CostProfile {
    let mut events: BTreeMap<String, EventCost> = samples
        .iter()
        .map(|(name, (pairs, how))| (name.to_string(), event_cost(pairs, how)))
        .collect();
    let zero = |how: &str| EventCost {
        ns: 0,
        spread_ns: 0,
        node_ns: 0.0,
        looplab_ns: 0.0,
        how: how.into(),
    };
    events.insert("io".into(), zero("not measured, 0: a socket's callback is part of what http_request measures (folded into it)"));
    events.insert("cluster_handoff".into(), zero("not measured, 0: needs a cluster twin (Node's cluster vs lab serve --strategy cluster) on both runtimes"));
    CostProfile::new(version.to_string(), runs, events)
}

/// The profile as a table: event, Node ns, looplab ns, charged ns, spread, how.
pub fn table(profile: &CostProfile) -> String {
    let mut t = Table::new([
        "event",
        "node ns",
        "looplab ns",
        "charged ns",
        "± spread",
        "how",
    ])
    .right_align(1)
    .right_align(2)
    .right_align(3)
    .right_align(4);
    for (name, e) in &profile.events {
        t.row([
            name.clone(),
            format!("{:.0}", e.node_ns),
            format!("{:.0}", e.looplab_ns),
            e.ns.to_string(),
            e.spread_ns.to_string(),
            e.how.clone(),
        ]);
    }
    format!(
        "== Node's costs per event on this machine (node {}, {} runs)\n{}",
        profile.node_version,
        profile.runs,
        t.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charge_is_the_median_difference_clamped_with_half_the_range() {
        let p = |node, looplab| Pair { node, looplab };
        let e = event_cost(&[p(500.0, 100.0), p(450.0, 100.0), p(700.0, 100.0)], "x");
        assert_eq!((e.ns, e.spread_ns), (400, 125));
        assert_eq!((e.node_ns, e.looplab_ns), (500.0, 100.0));
        let e = event_cost(&[p(100.0, 300.0), p(100.0, 200.0)], "x");
        assert_eq!((e.ns, e.spread_ns), (0, 50));
    }
}
