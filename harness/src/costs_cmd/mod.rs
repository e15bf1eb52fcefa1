//! `lab calibrate --costs [--out FILE] [--runs N]`: measures, on this machine, the CPU time
//! Node spends per event beyond what looplab spends, and writes it as a cost profile
//! (`costs/node.toml` by default; [`looplab_reports::store::costs`]).
//!
//! The rule: for each kind of event, a micro-benchmark of a fixed count of events runs on both
//! runtimes, each run in a fresh process; the CPU time per event is the process' user + system
//! time over the events (`process.cpuUsage()` on Node, `getrusage` on looplab, server threads'
//! run time for HTTP) less an empty run's (the same job with no events), over the count. The
//! charged cost is the median over the runs of (Node's − looplab's), clamped at 0; the spread
//! is half the range of the runs' differences. Each run measures Node then looplab, probe by
//! probe (interleaved), so drift on a shared machine hits both.
//!
//! The measurements, in order:
//! 1. Micro events, looplab with no costs: `timer`, `immediate`, `tick`, `microtask` (one
//!    event per callback); the pool round trip (empty work items; Node: `crypto.randomFill` of
//!    one byte), split into `pool_submit` = the process' CPU over the synchronous submitting
//!    loop while the 4 pool threads are held blocked (so it is the loop thread's alone) and
//!    `pool_completion` = the rest of the round trip's CPU (the pool threads' and the loop's
//!    completion callbacks, which is where looplab charges it); `worker_message` = a message round trip / 4 (posted
//!    and received on each side, as the runtime charges it).
//! 2. Composite events, looplab with the micro costs of step 1 already charged, so what is left
//!    is not charged twice: `fs.readFile` of 1 KiB and of 64 KiB (4 pool trips each:
//!    open, fstat, read, close): `file_kib` = (64 KiB residual − 1 KiB residual) / 63,
//!    `file_trip` = (1 KiB residual − one `file_kib`) / 4; `http_request` = a `GET` answered
//!    on one keep-alive loopback connection by `scripts/node/hello-server.js` vs `lab serve
//!    --workload hello`, the server's CPU per request.
//! 3. Not measured, charged 0 with the reason in `how`: `io` (a socket callback is part of
//!    what `http_request` measures) and `cluster_handoff` (needs a cluster twin on both sides;
//!    the primary's hand-off is a small part of a request on a 2-core machine).

mod child;

use looplab_reports::check::median;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
const FILE_READS: u64 = 5_000;
const HTTP_WARMUP: u64 = 2_000;
const HTTP_REQUESTS: u64 = 10_000;

/// Runs `lab calibrate --costs`.
pub fn run(out: Option<&Path>, runs: u32, json: bool) -> Result<()> {
    let node = looplab_workloads::scenario::find_node().map_err(|_| {
        anyhow::anyhow!(
            "`node` was not found on PATH; `lab calibrate --costs` measures Node against looplab: install Node.js 20 (https://nodejs.org/en/download)"
        )
    })?;
    let version = looplab_workloads::scenario::node_version(&node)?;
    let sides = Sides {
        node,
        scripts: crate::scenario_cmd::repo_folder("scripts/node")?,
        lab: std::env::current_exe().context("find the lab executable")?,
    };
    let mut samples = Samples::new();
    micro(&sides, runs, &mut samples)?;
    let micro_costs = profile(&version, runs, &samples);
    let tmp = tempfile::tempdir().context("create a temp dir")?;
    let micro_file = tmp.path().join("micro.toml");
    micro_costs.write(&micro_file)?;
    composite(&sides, runs, &micro_file, &mut samples)?;
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

/// One probe on both runtimes (Node first), each less its empty run; per event.
fn probe_pair(s: &Sides, name: &str, n: u64, costs: Option<&Path>) -> Result<(Pair, Pair)> {
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
        if let Some(file) = costs {
            c.arg("--costs").arg(file);
        }
        child::probe(&mut c)
    };
    let per_event = |full: ProbeResult, empty: ProbeResult| {
        full.cpu_ns.saturating_sub(empty.cpu_ns) as f64 / n as f64
    };
    let submit = |r: ProbeResult| r.submit_ns.unwrap_or(0) as f64 / n as f64;
    let (nf, ne) = (node(n)?, node(0)?);
    let (lf, le) = (lab(n)?, lab(0)?);
    let cpu = Pair {
        node: per_event(nf, ne),
        looplab: per_event(lf, le),
    };
    let submit = Pair {
        node: submit(nf),
        looplab: submit(lf),
    };
    Ok((cpu, submit))
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
            let (cpu, submit) = probe_pair(s, probe, n, None)?;
            match probe {
                "pool" => {
                    push(samples, "pool_submit", submit, "process CPU of the synchronous loop submitting 50,000 empty items (Node: crypto.randomFill of 1 byte) while the 4 pool threads are held");
                    push(samples, "pool_completion", cpu.minus(submit), "pool round trip's process CPU less pool_submit (50,000 items at once, pool 4)");
                }
                "worker" => push(samples, "worker_message", cpu.scaled(4.0), "one worker echoing, 10,000 round trips one in flight: process CPU / 4 messages"),
                "timer" => push(samples, "timer", cpu, "200,000 setTimeout(1) at once: process CPU per callback"),
                "immediate" => push(samples, "immediate", cpu, "200,000 setImmediate at once: process CPU per callback"),
                "tick" => push(samples, "tick", cpu, "200,000 process.nextTick at once: process CPU per callback"),
                _ => push(samples, "microtask", cpu, "500,000 reactions to a resolved promise (queue_microtask): process CPU per callback"),
            }
        }
    }
    Ok(())
}

/// Step 2: file reads and HTTP requests, looplab charging the micro costs in `micro_file`.
fn composite(s: &Sides, runs: u32, micro_file: &Path, samples: &mut Samples) -> Result<()> {
    for run in 1..=runs {
        eprintln!("costs: file reads and HTTP requests, run {run} of {runs}");
        let (small, _) = probe_pair(s, "file-1k", FILE_READS, Some(micro_file))?;
        let (large, _) = probe_pair(s, "file-64k", FILE_READS, Some(micro_file))?;
        let kib = large.minus(small).scaled(63.0);
        push(
            samples,
            "file_kib",
            kib,
            "fs.readFile of 64 KiB less of 1 KiB, / 63 KiB (16 in flight, micro costs charged)",
        );
        push(samples, "file_trip", small.minus(kib).scaled(4.0), "fs.readFile of 1 KiB less one KiB, / 4 trips (open, fstat, read, close; micro costs charged)");
        push(samples, "http_request", http_pair(s, micro_file)?, "GET on one keep-alive loopback connection, hello-server.js vs lab serve --workload hello: server CPU per request less idle (micro costs charged; io folded in)");
    }
    Ok(())
}

/// Node's and looplab's hello servers, each answering the same requests.
fn http_pair(s: &Sides, micro_file: &Path) -> Result<Pair> {
    let mut node = Command::new(&s.node);
    node.arg(s.scripts.join("hello-server.js"))
        .args(["--port", "0"]);
    let node = child::http_per_request(&mut node, HTTP_WARMUP, HTTP_REQUESTS)?;
    let mut lab = Command::new(&s.lab);
    lab.args([
        "serve",
        "--workload",
        "hello",
        "--port",
        "0",
        "--pool",
        "4",
        "--costs",
    ])
    .arg(micro_file);
    let looplab = child::http_per_request(&mut lab, HTTP_WARMUP, HTTP_REQUESTS)?;
    Ok(Pair { node, looplab })
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
