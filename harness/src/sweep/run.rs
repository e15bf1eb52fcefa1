//! Stage 3, the executor: every point of a [`Plan`] measured in a process of its own, each
//! repetition written to the results folder the moment it is measured.
//!
//! The rule of this stage, for each point in plan order:
//! 1. Skip the repetitions the results folder already holds (`--resume`).
//! 2. Each repetition starts the point's process(es) afresh: one `lab point` (a cluster point's
//!    workers are its children), or, for a cluster point in batch mode, K `lab point`
//!    processes each running its share of the jobs on its own loop and pool. Nothing is shared
//!    between repetitions or points: threads, sockets and temp files all belong to processes
//!    that are reaped before the next repetition starts. Fresh processes also make the
//!    repetitions independent samples. Measured with three repetitions in one process per
//!    point: `loop/net/c8` gave 149k-155k req/s in one sweep and 114k-116k in the next, a
//!    difference that lives for a process' whole life (most likely where its threads sit
//!    relative to the load generator's on 2 cores) and that repetitions inside one process
//!    never show, so `lab check` took it for a regression.
//! 3. Each repetition: a warm-up (load that is not recorded; in batch mode, unmeasured batches),
//!    then the measured window. Service mode: the load generator runs in this process and the
//!    server's processes are sampled (`/proc`, [`procs`]) and probed (loop utilization and
//!    delay, pool queue wait) exactly when the generator opens and closes its window. Batch
//!    mode: the processes are sampled around one measured batch.
//! 4. The repetition becomes one record (metrics named with their units, the latency histogram
//!    serialized) appended atomically to `results.jsonl`. A repetition that fails is recorded
//!    as failed with the reason; the sweep goes on.
//! 5. On Ctrl-C the point's processes get SIGTERM, the repetition in progress is dropped (it
//!    was not measured whole), every process is reaped, and the sweep ends with everything
//!    recorded so far; `--resume` finishes it.
//!
//! Time outside the measured windows (start, connect, tear-down) is the harness' overhead; it
//! is measured per point and reported at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use hdrhistogram::Histogram;
use looplab_reports::store::{PointRecord, ResultsDir, SCHEMA_VERSION};
use looplab_workloads::batch::FileMode;
use looplab_workloads::load::{self, LoadReport, LoadSpec, WindowEdge};
use looplab_workloads::serve::{Kind, LoopSample, HASH_KEYLEN, HELLO_BODY};

use super::child::PointProcess;
use super::plan::Plan;
use super::procs::{machine_busy_s, sample_tree, TreeSample};
use super::spec::{Load, Mode, PointSpec, Strategy};
use crate::point::{BatchLine, ChildMode, ChildSpec, Reply, SAMPLE_TIMEOUT};
use crate::progress::Progress;

/// Set by the first Ctrl-C or SIGTERM: finish nothing more, keep what was measured.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// How much longer than its time cap (`duration`) a batch may run before the point is
/// declared stuck and stopped.
const BATCH_GRACE: Duration = Duration::from_secs(60);
/// Pool size of points whose pool does no work (the planner does not sweep it): Node's default.
const UNSWEPT_POOL: usize = 4;

/// What a run of the executor did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Repetitions recorded in this run (failed ones included).
    pub recorded: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// Whether a signal stopped the sweep early.
    pub interrupted: bool,
    /// Per point run: wall time outside the measured windows.
    pub overheads: Vec<Duration>,
    /// Per point run: its whole wall time.
    pub point_times: Vec<Duration>,
}

/// Runs the repetitions of `plan`'s points that are not in `done` (what `dir` already
/// holds), recording into `dir`. The caller leaves complete points out of `plan`, so that
/// the progress display counts only what runs.
pub fn execute(
    lab: &Path,
    plan: &Plan,
    done: &BTreeSet<(String, u32)>,
    dir: &mut ResultsDir,
    progress: &Progress,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    for (index, point) in plan.points.iter().enumerate() {
        if STOP.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            break;
        }
        let todo: Vec<u32> = (0..point.repetitions)
            .filter(|r| !done.contains(&(point.id.clone(), *r)))
            .collect();
        if todo.is_empty() {
            continue;
        }
        progress.start_point(index as u64, &point.id);
        let started = Instant::now();
        let mut runner = PointRun {
            lab,
            point,
            dir: &mut *dir,
            progress,
            measured: Duration::ZERO,
            records: Vec::new(),
        };
        let result = match point.mode {
            Mode::Service => runner.service(&todo),
            Mode::Batch => runner.batch(&todo),
        };
        if let Err(e) = result {
            // The point could not run (or stopped half-way): the repetitions it did not
            // record are recorded as failed, unless a signal stopped it.
            if !STOP.load(Ordering::SeqCst) {
                let recorded: BTreeSet<u32> = runner.records.iter().map(|r| r.repetition).collect();
                for &repetition in todo.iter().filter(|r| !recorded.contains(r)) {
                    runner.record(failed(point, repetition, &format!("{e:#}")))?;
                }
            }
        }
        let measured = runner.measured;
        let records = std::mem::take(&mut runner.records);
        outcome.recorded += records.len() as u64;
        outcome.failed += records.iter().filter(|r| !r.ok).count() as u64;
        let elapsed = started.elapsed();
        outcome.point_times.push(elapsed);
        outcome.overheads.push(elapsed.saturating_sub(measured));
        if STOP.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            progress.finish_point(&point.id, "interrupted");
            break;
        }
        progress.finish_point(&point.id, &summary(&records, todo.len()));
    }
    progress.finish();
    Ok(outcome)
}

/// One line about a finished point (its records from this run), for the progress display.
fn summary(records: &[PointRecord], reps: usize) -> String {
    let ok: Vec<&PointRecord> = records.iter().filter(|r| r.ok).collect();
    if ok.is_empty() {
        let error = records
            .iter()
            .rev()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| "no repetition completed".into());
        return format!("failed: {error}");
    }
    let median = |name: &str| {
        let mut values: Vec<f64> = ok
            .iter()
            .filter_map(|r| r.metrics.get(name).copied())
            .collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    };
    let mut text = format!("{reps} rep{}", if reps == 1 { "" } else { "s" });
    if let Some(t) = median("throughput_per_s") {
        text.push_str(&format!(", {t:.0}/s"));
    }
    if let Some(p99) = median("p99_us") {
        text.push_str(&format!(", p99 {}", human_us(p99)));
    }
    if let Some(cpu) = median("cpu_util_cores") {
        text.push_str(&format!(", CPU {cpu:.2} cores"));
    }
    if ok.len() < records.len() {
        text.push_str(&format!(", {} failed", records.len() - ok.len()));
    }
    text
}

fn human_us(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.1} ms", us / 1_000.0)
    } else {
        format!("{us:.0} us")
    }
}

/// A failed repetition.
fn failed(point: &PointSpec, repetition: u32, error: &str) -> PointRecord {
    PointRecord {
        schema: SCHEMA_VERSION,
        point_id: point.id.clone(),
        repetition,
        ok: false,
        error: Some(error.to_string()),
        metrics: BTreeMap::new(),
        histogram_base64: None,
        source: None,
    }
}

/// The `lab point` spec of a plan point (for batch cluster points: of one of its processes).
pub fn child_spec(point: &PointSpec) -> ChildSpec {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (jobs, mode) = match point.load {
        Load::Batch { jobs } => (jobs, ChildMode::Batch),
        _ => (0, ChildMode::Service),
    };
    ChildSpec {
        mode,
        strategy: point.strategy.name().to_string(),
        pool: point.pool_size.map_or(UNSWEPT_POOL, |p| p as usize),
        workers: point.worker_count.unwrap_or(1) as usize,
        cluster: point.cluster_count.unwrap_or(1) as usize,
        policy: point.params.cluster_policy.name().to_string(),
        threads,
        mix: point
            .workload
            .mix
            .iter()
            .map(|(kind, weight)| (kind_name(*kind).to_string(), *weight))
            .collect(),
        hash_iterations: point.params.hash_iterations,
        file_bytes: point.params.file_bytes as usize,
        jobs,
        file_mode: match point.params.file_mode {
            FileMode::Read => "read",
            FileMode::WriteThenRead => "write-read",
        }
        .to_string(),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    kind.path().trim_start_matches('/')
}

/// The request path and the body length every answer must have (single-kind workloads).
fn target(point: &PointSpec) -> (&'static str, Option<u64>) {
    match point.workload.mix.as_slice() {
        [(kind, _)] => {
            let bytes = match kind {
                Kind::Hello => Some(HELLO_BODY.len() as u64),
                Kind::Hash | Kind::HashSync => Some(2 * HASH_KEYLEN as u64),
                Kind::File => Some(point.params.file_bytes),
                Kind::Busy => None,
            };
            (kind.path(), bytes)
        }
        // Any other path gets the workload's weighted rotation.
        _ => ("/", None),
    }
}

/// One point being run.
struct PointRun<'a> {
    lab: &'a Path,
    point: &'a PointSpec,
    dir: &'a mut ResultsDir,
    progress: &'a Progress,
    /// Time inside warm-ups and measured windows.
    measured: Duration,
    /// What this run recorded for the point.
    records: Vec<PointRecord>,
}

impl PointRun<'_> {
    fn record(&mut self, record: PointRecord) -> Result<()> {
        self.dir.append(&record)?;
        self.records.push(record);
        Ok(())
    }

    fn service(&mut self, todo: &[u32]) -> Result<()> {
        let spec = child_spec(self.point);
        let (connections, rate) = match self.point.load {
            Load::Closed { connections } => (connections, None),
            Load::Open {
                connections,
                rate_per_s,
            } => (connections, Some(f64::from(rate_per_s))),
            Load::Batch { .. } => bail!("a batch point cannot run in service mode"),
        };
        for &repetition in todo {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let record = match self.service_repetition(&spec, connections, rate) {
                Ok(window) => {
                    if let Some(e) = &window.probe_error {
                        self.progress
                            .println(&format!("{}: loop metrics missing: {e}", self.point.id));
                    }
                    service_record(self.point, repetition, &window)?
                }
                Err(e) => failed(self.point, repetition, &format!("{e:#}")),
            };
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            self.record(record)?;
        }
        Ok(())
    }

    /// One repetition in a fresh server process: start, warm up, measure, stop.
    fn service_repetition(
        &mut self,
        spec: &ChildSpec,
        connections: u32,
        rate: Option<f64>,
    ) -> Result<ServiceWindow> {
        let (mut process, addr) = PointProcess::start(self.lab, spec)?;
        let addr = addr.ok_or_else(|| anyhow!("the point did not say where it listens"))?;
        let (path, body_bytes) = target(self.point);
        let load_spec = LoadSpec {
            connections: connections as usize,
            duration: Duration::from_millis(self.point.timing.duration_ms),
            warmup: Duration::from_millis(self.point.timing.warmup_ms),
            rate,
            timeout: Duration::from_secs(5),
            expect_body_bytes: body_bytes,
            ..LoadSpec::new(format!("http://{addr}{path}"))
        };
        let started = Instant::now();
        let window = measure_service(&mut process, &load_spec);
        self.measured += started.elapsed().min(load_spec.warmup + load_spec.duration);
        if !process.stop() && !STOP.load(Ordering::SeqCst) {
            self.progress.println(&format!(
                "{}: the point's server did not stop cleanly (it was killed)",
                self.point.id
            ));
        }
        window
    }

    fn batch(&mut self, todo: &[u32]) -> Result<()> {
        let mut specs = Vec::new();
        let whole = child_spec(self.point);
        if self.point.strategy == Strategy::Cluster {
            // K processes, each a loop with its own pool, sharing the jobs.
            let k = whole.cluster.max(1) as u32;
            for i in 0..k {
                let jobs = whole.jobs / k + u32::from(i < whole.jobs % k);
                if jobs > 0 {
                    specs.push(ChildSpec {
                        strategy: Strategy::Loop.name().to_string(),
                        jobs,
                        ..whole.clone()
                    });
                }
            }
        } else {
            specs.push(whole);
        }
        let warmup = Duration::from_millis(self.point.timing.warmup_ms);
        let cap = Duration::from_millis(self.point.timing.duration_ms) + BATCH_GRACE;
        for &repetition in todo {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let result = self.batch_repetition(&specs, warmup, cap);
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let record = match result.and_then(|w| batch_record(self.point, repetition, &w)) {
                Ok(record) => record,
                Err(e) => failed(self.point, repetition, &format!("{e:#}")),
            };
            self.record(record)?;
        }
        Ok(())
    }

    /// One repetition in fresh processes: start them all, warm up, one measured batch, stop.
    fn batch_repetition(
        &mut self,
        specs: &[ChildSpec],
        warmup: Duration,
        cap: Duration,
    ) -> Result<BatchWindow> {
        let mut processes = Vec::new();
        for spec in specs {
            processes.push(PointProcess::start(self.lab, spec)?.0);
        }
        let started = Instant::now();
        let window = measure_batch(&mut processes, warmup, cap);
        self.measured += started.elapsed();
        for process in processes {
            process.stop();
        }
        window
    }
}

/// What one service repetition measured.
struct ServiceWindow {
    report: LoadReport,
    usage: TreeSample,
    /// Busy CPU seconds of the whole machine over the window.
    machine_busy_s: f64,
    usage_wall_s: f64,
    loops: Option<LoopSample>,
    probe_error: Option<String>,
}

fn measure_service(process: &mut PointProcess, spec: &LoadSpec) -> Result<ServiceWindow> {
    let roots = [process.pid()];
    let mut opened: Option<(TreeSample, f64, Instant)> = None;
    let mut usage = None;
    let mut loops = None;
    let mut probe_error = None;
    let report = load::run_with_window(spec, &mut |edge| match edge {
        WindowEdge::Open => {
            opened = Some((sample_tree(&roots), machine_busy_s(), Instant::now()));
            // Discard what the loops did before the window.
            if let Err(e) = process.request("sample", SAMPLE_TIMEOUT) {
                probe_error = Some(format!("{e:#}"));
            }
        }
        WindowEdge::Close => {
            let (closed, busy) = (sample_tree(&roots), machine_busy_s());
            if let Some((open, busy_open, at)) = opened {
                let wall = at.elapsed().as_secs_f64();
                usage = Some((closed.since(&open), busy - busy_open, wall));
            }
            if probe_error.is_none() {
                match process.request("sample", SAMPLE_TIMEOUT) {
                    Ok(Reply::Sample(sample)) => loops = Some(sample),
                    Ok(other) => probe_error = Some(format!("unexpected answer {other:?}")),
                    Err(e) => probe_error = Some(format!("{e:#}")),
                }
            }
        }
    })?;
    let (usage, machine_busy_s, usage_wall_s) =
        usage.ok_or_else(|| anyhow!("the load generator never opened its window"))?;
    Ok(ServiceWindow {
        report,
        usage,
        machine_busy_s,
        usage_wall_s,
        loops,
        probe_error,
    })
}

/// What one batch repetition measured, over all the point's processes.
struct BatchWindow {
    lines: Vec<BatchLine>,
    usage: TreeSample,
    /// Busy CPU seconds of the whole machine over the batch.
    machine_busy_s: f64,
    usage_wall_s: f64,
}

fn measure_batch(
    processes: &mut [PointProcess],
    warmup: Duration,
    cap: Duration,
) -> Result<BatchWindow> {
    let each = |processes: &mut [PointProcess], command: &str| -> Result<Vec<Reply>> {
        for p in processes.iter_mut() {
            p.send(command)?;
        }
        processes
            .iter_mut()
            .map(|p| p.wait_reply(command, cap + warmup))
            .collect()
    };
    if !warmup.is_zero() {
        each(processes, &format!("warmup {}", warmup.as_millis()))?;
    }
    let roots: Vec<u32> = processes.iter().map(PointProcess::pid).collect();
    let (before, busy_before, at) = (sample_tree(&roots), machine_busy_s(), Instant::now());
    let replies = each(processes, "run")?;
    let usage = sample_tree(&roots).since(&before);
    let machine_busy_s = machine_busy_s() - busy_before;
    let usage_wall_s = at.elapsed().as_secs_f64();
    let lines = replies
        .into_iter()
        .map(|reply| match reply {
            Reply::Batch(line) => Ok(line),
            other => Err(anyhow!("the point answered `run` with {other:?}")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BatchWindow {
        lines,
        usage,
        machine_busy_s,
        usage_wall_s,
    })
}

/// Metrics common to both modes: the processes' usage and the latency percentiles.
fn usage_metrics(
    metrics: &mut BTreeMap<String, f64>,
    usage: &TreeSample,
    machine_busy_s: f64,
    wall_s: f64,
) {
    let mut put = |name: &str, value: f64| {
        metrics.insert(name.to_string(), value);
    };
    put("cpu_user_s", usage.user_s);
    put("cpu_sys_s", usage.sys_s);
    put(
        "cpu_util_cores",
        if wall_s > 0.0 {
            (usage.user_s + usage.sys_s) / wall_s
        } else {
            0.0
        },
    );
    if wall_s > 0.0 {
        // Everything that ran on the machine: the point, the generator and any stranger.
        put("machine_cpu_util_cores", machine_busy_s.max(0.0) / wall_s);
    }
    put("peak_rss_bytes", usage.peak_rss_bytes as f64);
    put("ctx_voluntary", usage.voluntary as f64);
    put("ctx_involuntary", usage.involuntary as f64);
    put("processes", f64::from(usage.processes));
}

fn latency_metrics(metrics: &mut BTreeMap<String, f64>, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    for (name, q) in [
        ("p50_us", 0.5),
        ("p90_us", 0.9),
        ("p99_us", 0.99),
        ("p999_us", 0.999),
    ] {
        metrics.insert(name.to_string(), h.value_at_quantile(q) as f64);
    }
    metrics.insert("max_us".into(), h.max() as f64);
    metrics.insert("mean_us".into(), h.mean());
}

fn cpu_per_op(metrics: &mut BTreeMap<String, f64>, operations: f64) {
    let cpu = metrics.get("cpu_user_s").copied().unwrap_or(0.0)
        + metrics.get("cpu_sys_s").copied().unwrap_or(0.0);
    if operations > 0.0 {
        metrics.insert("cpu_ms_per_op".into(), cpu * 1_000.0 / operations);
    }
}

fn service_record(point: &PointSpec, repetition: u32, w: &ServiceWindow) -> Result<PointRecord> {
    let r = &w.report;
    let mut m = BTreeMap::new();
    let mut put = |name: &str, value: f64| {
        m.insert(name.to_string(), value);
    };
    put("window_s", r.window_s);
    put("requests", r.requests as f64);
    put("attempted", r.attempted as f64);
    put("throughput_per_s", r.throughput_rps);
    put("achieved_rate_per_s", r.achieved_rate_rps);
    if let Some(rate) = r.intended_rate_rps {
        put("intended_rate_per_s", rate);
    }
    put("errors", r.errors.total as f64);
    let e = &r.errors;
    for (kind, count) in [
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("status", e.status),
        ("short_body", e.short_body),
        ("io", e.io),
    ] {
        if count > 0 {
            put(&format!("errors_{kind}"), count as f64);
        }
    }
    put("abandoned", r.abandoned as f64);
    put("generator_cpu_s", r.cpu.total_s);
    put("generator_util", r.cpu.utilization);
    put(
        "generator_limited",
        f64::from(u8::from(r.generator_limited)),
    );
    if let Some(uncorrected) = &r.latency_uncorrected_us {
        put("p99_uncorrected_us", uncorrected.p99 as f64);
    }
    usage_metrics(&mut m, &w.usage, w.machine_busy_s, w.usage_wall_s);
    latency_metrics(&mut m, &r.latency_us.histogram);
    cpu_per_op(&mut m, r.requests as f64);
    if let Some(s) = &w.loops {
        loop_metrics(&mut m, s);
    }
    let (ok, error) = if r.requests == 0 {
        (
            false,
            Some(format!(
                "no request was answered in the window ({} errors: {} connect, {} timeout, \
                 {} status, {} short body, {} other)",
                e.total, e.connect, e.timeout, e.status, e.short_body, e.io
            )),
        )
    } else {
        (true, None)
    };
    Ok(PointRecord {
        schema: SCHEMA_VERSION,
        point_id: point.id.clone(),
        repetition,
        ok,
        error,
        metrics: m,
        histogram_base64: (!r.latency_us.histogram.is_empty())
            .then(|| r.latency_us.histogram_base64.clone()),
        source: None,
    })
}

fn loop_metrics(m: &mut BTreeMap<String, f64>, s: &LoopSample) {
    if s.loops == 0 {
        return;
    }
    let mut put = |name: &str, value: f64| {
        m.insert(name.to_string(), value);
    };
    put("loops", f64::from(s.loops));
    put("loop_utilization", s.utilization);
    put("loop_delay_p50_us", s.delay_p50_us);
    put("loop_delay_p99_us", s.delay_p99_us);
    put("loop_delay_max_us", s.delay_max_us);
    put("pool_tasks", s.pool_tasks as f64);
    if s.pool_tasks > 0 {
        put("pool_wait_mean_us", s.pool_wait_mean_us);
        put("pool_wait_p99_us", s.pool_wait_p99_us);
        put("pool_wait_max_us", s.pool_wait_max_us);
    }
}

fn batch_record(point: &PointSpec, repetition: u32, w: &BatchWindow) -> Result<PointRecord> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let (mut jobs, mut completed, mut errors) = (0u64, 0u64, 0u64);
    let mut makespan_s: f64 = 0.0;
    let (mut util_sum, mut util_n) = (0.0, 0u32);
    let (mut pool_tasks, mut wait_sum, mut wait_p99, mut wait_max) = (0u64, 0.0, 0.0f64, 0.0f64);
    for line in &w.lines {
        let h =
            looplab_reports::histogram::decode(&line.histogram_base64).map_err(|e| anyhow!(e))?;
        latency.add(&h)?;
        jobs += u64::from(line.jobs);
        completed += u64::from(line.completed);
        errors += line.errors;
        makespan_s = makespan_s.max(line.makespan_s);
        if let Some(u) = line.loop_utilization {
            util_sum += u;
            util_n += 1;
        }
        if let Some(tasks) = line.pool_tasks {
            pool_tasks += tasks;
            wait_sum += line.pool_wait_mean_us.unwrap_or(0.0) * tasks as f64;
            // The p99 of the merged set is not known from the parts; the largest part's p99
            // bounds it from above.
            wait_p99 = wait_p99.max(line.pool_wait_p99_us.unwrap_or(0.0));
            wait_max = wait_max.max(line.pool_wait_max_us.unwrap_or(0.0));
        }
    }
    let mut m = BTreeMap::new();
    let mut put = |name: &str, value: f64| {
        m.insert(name.to_string(), value);
    };
    put("jobs", jobs as f64);
    put("completed", completed as f64);
    put("errors", errors as f64);
    put("makespan_s", makespan_s);
    put("window_s", makespan_s);
    if makespan_s > 0.0 {
        put("throughput_per_s", completed as f64 / makespan_s);
    }
    if util_n > 0 {
        put("loops", f64::from(util_n));
        put("loop_utilization", util_sum / f64::from(util_n));
    }
    if w.lines.iter().any(|l| l.pool_tasks.is_some()) {
        put("pool_tasks", pool_tasks as f64);
        if pool_tasks > 0 {
            put("pool_wait_mean_us", wait_sum / pool_tasks as f64);
            put("pool_wait_p99_us", wait_p99);
            put("pool_wait_max_us", wait_max);
        }
    }
    usage_metrics(&mut m, &w.usage, w.machine_busy_s, w.usage_wall_s);
    latency_metrics(&mut m, &latency);
    cpu_per_op(&mut m, completed as f64);
    let ok = completed > 0;
    Ok(PointRecord {
        schema: SCHEMA_VERSION,
        point_id: point.id.clone(),
        repetition,
        ok,
        error: (!ok).then(|| format!("no job of {jobs} completed ({errors} errors)")),
        metrics: m,
        histogram_base64: if latency.is_empty() {
            None
        } else {
            Some(looplab_reports::histogram::encode(&latency).map_err(|e| anyhow!(e))?)
        },
        source: None,
    })
}
