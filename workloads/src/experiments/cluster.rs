//! NODE_MODEL.md 5 (c): why a cluster of N children seems to scale past the core count with the
//! course's `doWork` and does not with real CPU work.
//!
//! For each handler — `busy` (spin until a wall-clock deadline, the course's `doWork(ms)`) and
//! `hash-sync` (a PBKDF2 calibrated to take about as long on an idle core) — and for 1, 2 and 6
//! children, it starts `lab serve --strategy cluster` as a child process (the same executable,
//! given by the caller), drives it with the load generator (a closed loop, more connections than
//! children) and records requests per second. Each server is stopped with SIGINT and reaped;
//! a guard kills it by PID if anything fails on the way.
//!
//! Node's shape: wall-clock work scales with children even past the cores (6 children on 2
//! cores serve ~6x one child), because a spinning request ends on time however little CPU it
//! gets; fixed CPU work saturates at about the core count and more children only add latency.

use std::path::Path;
use std::time::{Duration, Instant};

use looplab_runtime::crypto;

use super::child::ServerProcess;
use super::{Completion, ExperimentReport, ShapeCheck};
use crate::error::WorkloadError;
use crate::load::{self, LoadSpec};

/// Parameters of the cluster experiment.
#[derive(Clone, Debug)]
pub struct ClusterExperimentConfig {
    /// Milliseconds of work per request.
    pub work_ms: u64,
    /// Children counts to compare.
    pub children: Vec<usize>,
    /// Measured seconds per point.
    pub seconds: f64,
    /// Scheduling policy (`rr`, `none`, `reuseport`).
    pub policy: String,
}

impl Default for ClusterExperimentConfig {
    fn default() -> Self {
        Self {
            work_ms: 100,
            children: vec![1, 2, 6],
            seconds: 3.0,
            policy: "rr".into(),
        }
    }
}

/// Longest measured window per point, in seconds: one hour.
pub const MAX_SECONDS: f64 = 3_600.0;

/// Checks the parameters before anything starts: `seconds` finite and in `(0, MAX_SECONDS]`
/// (NaN, `inf` or `1e300` would not make a `Duration`), `work_ms` at most a minute.
fn validate(config: &ClusterExperimentConfig) -> Result<(), WorkloadError> {
    if !(config.seconds > 0.0 && config.seconds <= MAX_SECONDS) {
        return Err(WorkloadError::Param {
            name: "duration",
            value: format!("{}s", config.seconds),
            hint: "use a duration above 0 and at most 1h, like 3s",
        });
    }
    super::in_range(
        "work",
        config.work_ms,
        (1, super::MAX_WORK_MS),
        "use 1ms..=60s of work per request, like 100ms (a value is in whole milliseconds)",
    )?;
    Ok(())
}

/// PBKDF2 iterations (32-byte key) that take about `ms` on one idle core here.
pub(crate) fn calibrate_iterations(ms: u64) -> Result<u64, WorkloadError> {
    let probe = 20_000;
    let start = Instant::now();
    crypto::pbkdf2_sync(b"a", b"b", probe, 32)?;
    let took = start.elapsed().as_secs_f64() * 1e3;
    Ok(((probe as f64) * ms as f64 / took.max(0.01)) as u64)
}

struct Point {
    handler: &'static str,
    children: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measure(
    lab: &Path,
    handler: &'static str,
    children: usize,
    iterations: u64,
    config: &ClusterExperimentConfig,
) -> Result<Point, WorkloadError> {
    let args: Vec<String> = [
        "--strategy",
        "cluster",
        "--policy",
        &config.policy,
        "--port",
        "0",
        "--pool",
        "1",
        "--workload",
        handler,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--cluster".into(),
        children.to_string(),
        "--busy".into(),
        format!("{}ms", config.work_ms),
        "--iterations".into(),
        iterations.to_string(),
    ])
    .collect();
    let server = ServerProcess::start(lab, &args)?;
    let spec = LoadSpec {
        connections: 12,
        duration: Duration::from_secs_f64(config.seconds),
        warmup: Duration::from_millis(500),
        timeout: Duration::from_secs(30),
        ..LoadSpec::new(format!("http://{}/", server.addr))
    };
    let report = load::run(&spec);
    server.stop();
    let report = report.map_err(|e| WorkloadError::Incomplete {
        missing: 1,
        detail: format!("load against {handler} x{children}: {e}"),
    })?;
    Ok(Point {
        handler,
        children,
        rps: report.throughput_rps,
        p50_ms: report.latency_us.p50 as f64 / 1e3,
        p99_ms: report.latency_us.p99 as f64 / 1e3,
    })
}

/// Runs the experiment with the `lab` executable at `lab`.
pub fn cluster(
    lab: &Path,
    config: &ClusterExperimentConfig,
) -> Result<ExperimentReport, WorkloadError> {
    validate(config)?;
    let iterations = calibrate_iterations(config.work_ms)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut points = Vec::new();
    for handler in ["busy", "hash-sync"] {
        for &children in &config.children {
            points.push(measure(lab, handler, children, iterations, config)?);
        }
    }
    let completions = completions(&points);
    let checks = shape_checks(&points, &config.children, cores);
    Ok(ExperimentReport {
        experiment: "cluster".into(),
        params: vec![
            ("work_ms", config.work_ms.to_string()),
            ("policy", config.policy.clone()),
            ("hash_iterations", iterations.to_string()),
            ("seconds", config.seconds.to_string()),
        ],
        completions,
        checks,
    })
}

/// Each point as a completion.
fn completions(points: &[Point]) -> Vec<Completion> {
    points
        .iter()
        .map(|p| Completion {
            label: format!("{} x{}", p.handler, p.children),
            // The table's time column holds the median latency here.
            ms: p.p50_ms,
            thread: format!("{} children", p.children),
            note: format!(
                "{:.1} req/s, latency p50 {:.0} ms p99 {:.0} ms",
                p.rps, p.p50_ms, p.p99_ms
            ),
        })
        .collect()
}

/// Node's shape, from the gain in requests/s between the fewest and the most `children`.
fn shape_checks(points: &[Point], children: &[usize], cores: usize) -> Vec<ShapeCheck> {
    let rps = |handler: &str, children: usize| {
        points
            .iter()
            .find(|p| p.handler == handler && p.children == children)
            .map_or(0.0, |p| p.rps)
    };
    let (few, many) = (
        *children.iter().min().unwrap_or(&1),
        *children.iter().max().unwrap_or(&1),
    );
    let busy_gain = rps("busy", many) / rps("busy", few).max(1e-9);
    let cpu_gain = rps("hash-sync", many) / rps("hash-sync", few).max(1e-9);
    vec![
        ShapeCheck {
            rule: format!(
                "wall-clock work scales past the {cores} cores ({many} children vs {few})"
            ),
            holds: many > cores && busy_gain > cores as f64 + 0.5,
            observed: format!("{busy_gain:.2}x the requests/s"),
        },
        ShapeCheck {
            // At most `cores`x in theory; the primary and the load generator share the same
            // cores, hence the margin. Wall-clock work must gain clearly more.
            rule: format!("fixed CPU work saturates near the {cores} cores"),
            holds: cpu_gain <= cores as f64 * 1.5 && busy_gain > 1.5 * cpu_gain,
            observed: format!("{cpu_gain:.2}x the requests/s (wall-clock work: {busy_gain:.2}x)"),
        },
    ]
}
