//! Stage 3, the executor: every point of a [`Plan`] measured in a process of its own, each
//! repetition written to the results folder the moment it is measured.
//!
//! The rule of this stage:
//! 1. Repetitions are interleaved: round 1 runs repetition 1 of every point, round 2
//!    repetition 2 of every point, and so on, each round in its own seeded shuffled order
//!    ([`Plan::round_order`]), so a slow minute of a shared machine spreads over many points
//!    instead of landing on every repetition of one. Skip the repetitions the results folder
//!    already holds (`--resume`).
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
//! 4. The repetition becomes one record ([`super::record`]: metrics named with their units,
//!    the latency histogram serialized, the point's coordinates) appended atomically to
//!    `results.jsonl`. A repetition that fails is recorded
//!    as failed with the reason; the sweep goes on.
//! 5. On Ctrl-C the point's processes get SIGTERM, the repetition in progress is dropped (it
//!    was not measured whole), every process is reaped, and the sweep ends with everything
//!    recorded so far; `--resume` finishes it.
//!
//! Time outside the measured windows (start, connect, tear-down) is the harness' overhead; it
//! is measured per repetition and reported at the end.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use looplab_reports::store::{metric, PointRecord, ResultsDir};
use looplab_workloads::load::LoadSpec;
use looplab_workloads::serve::{Kind, HASH_KEYLEN, HELLO_BODY};

use super::child::PointProcess;
use super::plan::Plan;
use super::record::{batch_record, service_record, BatchWindow};
use super::spec::{Deployment, Load, Mode, PointSpec, Strategy};
use super::window::{measure_batch, measure_service, sentinel_ms, Measured};
use crate::point::Task;
use crate::progress::Progress;

/// Set by the first Ctrl-C or SIGTERM: finish nothing more, keep what was measured.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// How much longer than its time cap (`duration`) a batch may run before the point is
/// declared stuck and stopped.
const BATCH_GRACE: Duration = Duration::from_secs(60);

/// What a run of the executor did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Repetitions recorded in this run (failed ones included).
    pub recorded: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// The error of the first failed repetition, if any.
    pub first_error: Option<String>,
    /// Whether a signal stopped the sweep early.
    pub interrupted: bool,
    /// Per repetition run: wall time outside the measured windows.
    pub overheads: Vec<Duration>,
    /// Per repetition run: its whole wall time.
    pub point_times: Vec<Duration>,
}

/// Runs the repetitions of `plan`'s points that are not in `done` (what `dir` already
/// holds), round by round (rule 1), recording into `dir`.
pub fn execute(
    lab: &Path,
    plan: &Plan,
    done: &BTreeSet<(String, u32)>,
    dir: &mut ResultsDir,
    progress: &Progress,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut started = 0u64;
    let rounds = plan.points.iter().map(|p| p.repetitions).max().unwrap_or(0);
    'rounds: for round in 0..rounds {
        for point in plan.round_order(round) {
            if done.contains(&(point.id.clone(), round)) {
                continue;
            }
            if STOP.load(Ordering::SeqCst) {
                outcome.interrupted = true;
                break 'rounds;
            }
            let label = format!("{} #{}", point.id, round + 1);
            progress.start_point(started, &label);
            started += 1;
            let records = run_repetition(lab, point, round, dir, progress, &mut outcome)?;
            if STOP.load(Ordering::SeqCst) {
                // Ctrl-C: the resume line is all that is printed (the repetition cut short
                // is not recorded, so the resume runs it again).
                outcome.interrupted = true;
                break 'rounds;
            }
            progress.finish_point(&label, &summary(&records, 1));
        }
    }
    progress.finish();
    Ok(outcome)
}

/// Repetition `repetition` of `point` in fresh processes; its record, counted in `outcome`.
fn run_repetition(
    lab: &Path,
    point: &PointSpec,
    repetition: u32,
    dir: &mut ResultsDir,
    progress: &Progress,
    outcome: &mut Outcome,
) -> Result<Vec<PointRecord>> {
    let started = Instant::now();
    let mut runner = PointRun {
        lab,
        point,
        dir,
        progress,
        measured: Duration::ZERO,
        records: Vec::new(),
    };
    let todo = [repetition];
    let result = match point.coords.mode {
        Mode::Service => runner.service(&todo),
        Mode::Batch => runner.batch(&todo),
    };
    // A repetition that could not run (or stopped half-way) is recorded as failed, unless a
    // signal stopped it.
    if let Err(e) = result {
        if runner.records.is_empty() && !STOP.load(Ordering::SeqCst) {
            runner.record(failed(point, repetition, &e))?;
        }
    }
    let records = std::mem::take(&mut runner.records);
    outcome.recorded += records.len() as u64;
    outcome.failed += records.iter().filter(|r| !r.ok).count() as u64;
    if outcome.first_error.is_none() {
        outcome.first_error = records.iter().find_map(|r| r.error.clone());
    }
    let elapsed = started.elapsed();
    outcome.point_times.push(elapsed);
    outcome
        .overheads
        .push(elapsed.saturating_sub(runner.measured));
    Ok(records)
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
    if let Some(t) = median(metric::THROUGHPUT) {
        text.push_str(&format!(", {t:.0}/s"));
    }
    if let Some(p99) = median(metric::P99) {
        text.push_str(&format!(", p99 {}", human_us(p99)));
    }
    if let Some(cpu) = median(metric::CPU_UTIL) {
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

/// A repetition that could not be measured.
fn failed(point: &PointSpec, repetition: u32, error: &anyhow::Error) -> PointRecord {
    PointRecord::failed(
        &point.coords,
        repetition,
        format!("{error:#}"),
        Default::default(),
    )
}

/// What the processes of a point run: one serving process, or for a batch one process, or
/// for a cluster batch one loop per process sharing the jobs.
fn tasks(point: &PointSpec) -> Vec<Task> {
    let d = &point.deployment;
    let Load::Batch { jobs } = point.load else {
        return vec![Task::Serve(d.clone())];
    };
    if d.strategy != Strategy::Cluster {
        return vec![Task::Batch {
            deployment: d.clone(),
            jobs,
        }];
    }
    let k = d.processes.max(1) as u32;
    (0..k)
        .map(|i| jobs / k + u32::from(i < jobs % k))
        .filter(|&jobs| jobs > 0)
        .map(|jobs| Task::Batch {
            deployment: Deployment {
                strategy: Strategy::Loop,
                ..d.clone()
            },
            jobs,
        })
        .collect()
}

/// The request path and the body length every answer must have (single-kind workloads).
fn target(deployment: &Deployment) -> (String, Option<u64>) {
    match deployment.mix.as_slice() {
        [(kind, _)] => {
            let bytes = match kind {
                Kind::Hello => Some(HELLO_BODY.len() as u64),
                Kind::Hash | Kind::HashSync => Some(2 * HASH_KEYLEN as u64),
                Kind::File => Some(deployment.file_bytes as u64),
                Kind::Busy => None,
            };
            (kind.path(), bytes)
        }
        // Any other path gets the workload's weighted rotation.
        _ => ("/".to_string(), None),
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
            let record = match self.service_repetition(connections, rate) {
                Ok(Measured {
                    window,
                    probe_error,
                }) => {
                    if let Some(e) = probe_error.filter(|_| !STOP.load(Ordering::SeqCst)) {
                        self.progress
                            .println(&format!("{}: loop metrics missing: {e}", self.point.id));
                    }
                    service_record(&self.point.coords, repetition, &window)
                }
                Err(e) => failed(self.point, repetition, &e),
            };
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            self.record(record)?;
        }
        Ok(())
    }

    /// One repetition in a fresh server process: start, warm up, measure, stop.
    fn service_repetition(&mut self, connections: u32, rate: Option<f64>) -> Result<Measured> {
        let before = sentinel_ms();
        let (mut process, addr) = self.start_server()?;
        let (path, body_bytes) = match &self.point.app {
            Some(app) => (app.path.clone(), None),
            None => target(&self.point.deployment),
        };
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
        let mut window = window?;
        window.window.usage.sentinel_ms = Some((before + sentinel_ms()) / 2.0);
        Ok(window)
    }

    /// The point's server: `lab point` (or its Node twin), or the user's app; and its address.
    fn start_server(&self) -> Result<(PointProcess, String)> {
        let d = &self.point.deployment;
        if let Some(app) = &self.point.app {
            let port = super::app::free_port()?;
            let command = super::app::command(app, d, &self.point.coords.workload, port);
            return PointProcess::start_app(command, port);
        }
        let task = Task::Serve(d.clone());
        let (process, addr) = PointProcess::start(self.lab, self.point.coords.runtime, &task)?;
        let addr = addr.ok_or_else(|| anyhow!("the point did not say where it listens"))?;
        Ok((process, addr))
    }

    fn batch(&mut self, todo: &[u32]) -> Result<()> {
        let tasks = tasks(self.point);
        let warmup = Duration::from_millis(self.point.timing.warmup_ms);
        let cap = Duration::from_millis(self.point.timing.duration_ms) + BATCH_GRACE;
        for &repetition in todo {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let result = self.batch_repetition(&tasks, warmup, cap);
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            let coords = &self.point.coords;
            let record = match result.and_then(|w| batch_record(coords, repetition, &w)) {
                Ok(record) => record,
                Err(e) => failed(self.point, repetition, &e),
            };
            self.record(record)?;
        }
        Ok(())
    }

    /// One repetition in fresh processes: start them all, warm up, one measured batch, stop.
    fn batch_repetition(
        &mut self,
        tasks: &[Task],
        warmup: Duration,
        cap: Duration,
    ) -> Result<BatchWindow> {
        let before = sentinel_ms();
        let mut processes = Vec::new();
        for task in tasks {
            processes.push(PointProcess::start(self.lab, self.point.coords.runtime, task)?.0);
        }
        let started = Instant::now();
        let window = measure_batch(&mut processes, warmup, cap);
        self.measured += started.elapsed();
        for process in processes {
            process.stop();
        }
        let mut window = window?;
        window.usage.sentinel_ms = Some((before + sentinel_ms()) / 2.0);
        Ok(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::SweepConfig;
    use crate::sweep::plan::plan;

    fn point(toml: &str, id: &str) -> PointSpec {
        let looplab =
            SweepConfig::parse("t.toml", super::super::plan::tests::LOOPLAB_ONLY).unwrap();
        let file = SweepConfig::parse("t.toml", toml).unwrap();
        let config = SweepConfig::builtin(false).overlay(looplab).overlay(file);
        let spec = config.resolve().unwrap();
        let plan = plan(&spec, None).unwrap();
        plan.points.into_iter().find(|p| p.id == id).unwrap()
    }

    #[test]
    fn a_cluster_batch_is_one_loop_per_process_sharing_the_jobs() {
        let p = point(
            "mode = \"batch\"\njobs = 7\ncluster_counts = [3]",
            "cluster/hash/p1/k3",
        );
        let jobs: Vec<u32> = tasks(&p)
            .into_iter()
            .map(|t| match t {
                Task::Batch { deployment, jobs } => {
                    assert_eq!((deployment.strategy, deployment.pool), (Strategy::Loop, 1));
                    jobs
                }
                other => panic!("a batch point runs batches, not {other:?}"),
            })
            .collect();
        assert_eq!(jobs, [3, 2, 2]);
    }

    #[test]
    fn a_service_point_serves_its_deployment_and_checks_its_bodies() {
        let p = point("file_bytes = 1000", "loop/file/p2/c16");
        assert_eq!(tasks(&p), [Task::Serve(p.deployment.clone())]);
        assert_eq!(target(&p.deployment), ("/file".to_string(), Some(1000)));
        let web = point("", "loop/web/p4/c16");
        assert_eq!(target(&web.deployment), ("/".to_string(), None));
    }
}
