//! Stage 3, last step: what one repetition measured ([`ServiceWindow`], [`BatchWindow`])
//! becomes one record of the results store, its metrics named by the store's
//! [`metric`] table.
//!
//! Rules:
//! 1. A metric is recorded only when it was measured: no loop figures for tokio, no pool
//!    figures where no task used the pool, no percentiles of an empty histogram.
//! 2. A repetition that answered nothing (service) or completed no job (batch) is a failed
//!    record whose error says what the generator or the batch saw; its metrics are kept.
//! 3. CPU per operation is the point's own CPU (user + system of its whole process tree)
//!    over the operations completed in the window.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use hdrhistogram::Histogram;
use looplab_reports::histogram;
use looplab_reports::store::{metric, Coords, PointRecord};
use looplab_workloads::load::LoadReport;
use looplab_workloads::serve::LoopSample;

use super::procs::TreeSample;
use crate::point::BatchLine;

/// Usage of the point's processes over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// What the point's process tree used.
    pub tree: TreeSample,
    /// Busy CPU seconds of the whole machine over the window (steal included).
    pub machine_busy_s: f64,
    /// CPU seconds the hypervisor gave to others over the window.
    pub machine_steal_s: f64,
    /// The window's wall time, seconds.
    pub wall_s: f64,
    /// The speed sentinel around the repetition (see [`metric::SENTINEL`]), when taken.
    pub sentinel_ms: Option<f64>,
}

/// What one service repetition measured.
pub struct ServiceWindow {
    /// The load generator's report.
    pub report: LoadReport,
    /// The point's processes over the generator's window.
    pub usage: Usage,
    /// The serving loops over the window, when the probe answered.
    pub loops: Option<LoopSample>,
}

/// What one batch repetition measured, over all the point's processes.
pub struct BatchWindow {
    /// One measured batch per process.
    pub lines: Vec<BatchLine>,
    /// The point's processes over the batch.
    pub usage: Usage,
}

/// Metrics by name, as a record holds them.
type Metrics = BTreeMap<String, f64>;

fn put(m: &mut Metrics, name: &str, value: f64) {
    m.insert(name.to_string(), value);
}

/// The record of a service repetition.
pub fn service_record(coords: &Coords, repetition: u32, w: &ServiceWindow) -> PointRecord {
    let r = &w.report;
    let mut m = Metrics::new();
    generator_metrics(&mut m, r);
    usage_metrics(&mut m, &w.usage, r.cpu.total_s);
    latency_metrics(&mut m, &r.latency_us.histogram);
    cpu_per_op(&mut m, r.requests as f64);
    if let Some(s) = &w.loops {
        loop_metrics(&mut m, s);
    }
    if r.requests == 0 {
        let e = &r.errors;
        let error = format!(
            "no request was answered in the window ({} errors: {} connect, {} timeout, \
             {} status, {} short body, {} other)",
            e.total, e.connect, e.timeout, e.status, e.short_body, e.io
        );
        return PointRecord::failed(coords, repetition, error, m);
    }
    let histogram =
        (!r.latency_us.histogram.is_empty()).then(|| r.latency_us.histogram_base64.clone());
    PointRecord::ok(coords, repetition, m, histogram)
}

/// What the load generator saw.
fn generator_metrics(m: &mut Metrics, r: &LoadReport) {
    put(m, metric::WINDOW, r.window_s);
    put(m, metric::REQUESTS, r.requests as f64);
    put(m, metric::ATTEMPTED, r.attempted as f64);
    put(m, metric::THROUGHPUT, r.throughput_rps);
    put(m, metric::ACHIEVED_RATE, r.achieved_rate_rps);
    if let Some(rate) = r.intended_rate_rps {
        put(m, metric::INTENDED_RATE, rate);
    }
    let e = &r.errors;
    put(m, metric::ERRORS, e.total as f64);
    for (name, count) in [
        (metric::ERRORS_CONNECT, e.connect),
        (metric::ERRORS_TIMEOUT, e.timeout),
        (metric::ERRORS_STATUS, e.status),
        (metric::ERRORS_SHORT_BODY, e.short_body),
        (metric::ERRORS_IO, e.io),
    ] {
        if count > 0 {
            put(m, name, count as f64);
        }
    }
    put(m, metric::ABANDONED, r.abandoned as f64);
    put(m, metric::GENERATOR_CPU, r.cpu.total_s);
    put(m, metric::GENERATOR_UTIL, r.cpu.capacity_utilization);
    put(
        m,
        metric::GENERATOR_LIMITED,
        f64::from(u8::from(r.generator_limited)),
    );
    if let Some(uncorrected) = &r.latency_uncorrected_us {
        put(m, metric::P99_UNCORRECTED, uncorrected.p99 as f64);
    }
}

/// The point's processes over the window (both modes), and the machine's stability: steal,
/// other processes' CPU (besides the point's and the generator's `generator_cpu_s`) and the
/// speed sentinel.
fn usage_metrics(m: &mut Metrics, usage: &Usage, generator_cpu_s: f64) {
    let t = &usage.tree;
    put(m, metric::CPU_USER, t.user_s);
    put(m, metric::CPU_SYS, t.sys_s);
    let per_wall = |busy: f64| {
        if usage.wall_s > 0.0 {
            busy.max(0.0) / usage.wall_s
        } else {
            0.0
        }
    };
    put(m, metric::CPU_UTIL, per_wall(t.user_s + t.sys_s));
    if usage.wall_s > 0.0 {
        // Everything that ran on the machine: the point, the generator and any stranger.
        put(m, metric::MACHINE_CPU_UTIL, per_wall(usage.machine_busy_s));
        put(m, metric::STEAL, per_wall(usage.machine_steal_s));
        let ours = t.user_s + t.sys_s + generator_cpu_s;
        let foreign = usage.machine_busy_s - usage.machine_steal_s - ours;
        put(m, metric::FOREIGN_CPU, per_wall(foreign));
    }
    if let Some(ms) = usage.sentinel_ms {
        put(m, metric::SENTINEL, ms);
    }
    put(m, metric::PEAK_RSS, t.peak_rss_bytes as f64);
    put(m, metric::CTX_VOLUNTARY, t.voluntary as f64);
    put(m, metric::CTX_INVOLUNTARY, t.involuntary as f64);
    put(m, metric::PROCESSES, f64::from(t.processes));
}

fn latency_metrics(m: &mut Metrics, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    for (name, q) in [
        (metric::P50, 0.5),
        (metric::P90, 0.9),
        (metric::P99, 0.99),
        (metric::P999, 0.999),
    ] {
        put(m, name, h.value_at_quantile(q) as f64);
    }
    put(m, metric::MAX, h.max() as f64);
    put(m, metric::MEAN, h.mean());
}

fn cpu_per_op(m: &mut Metrics, operations: f64) {
    let cpu = m.get(metric::CPU_USER).copied().unwrap_or(0.0)
        + m.get(metric::CPU_SYS).copied().unwrap_or(0.0);
    if operations > 0.0 {
        put(m, metric::CPU_MS_PER_OP, cpu * 1_000.0 / operations);
    }
}

fn loop_metrics(m: &mut Metrics, s: &LoopSample) {
    if s.loops == 0 {
        return;
    }
    put(m, metric::LOOPS, f64::from(s.loops));
    put(m, metric::LOOP_UTILIZATION, s.utilization);
    put(m, metric::LOOP_DELAY_P50, s.delay_p50_us);
    put(m, metric::LOOP_DELAY_P99, s.delay_p99_us);
    put(m, metric::LOOP_DELAY_MAX, s.delay_max_us);
    // Absent, not zero, where the pool was not observed (a Node twin's libuv pool).
    let Some(tasks) = s.pool_tasks else { return };
    put(m, metric::POOL_TASKS, tasks as f64);
    if tasks > 0 {
        let waits = [
            (metric::POOL_WAIT_MEAN, s.pool_wait_mean_us),
            (metric::POOL_WAIT_P99, s.pool_wait_p99_us),
            (metric::POOL_WAIT_MAX, s.pool_wait_max_us),
        ];
        for (name, value) in waits {
            if let Some(value) = value {
                put(m, name, value);
            }
        }
    }
}

/// The batches of a repetition's processes, summed (the makespan is the slowest process').
#[derive(Default)]
struct BatchTotals {
    jobs: u64,
    completed: u64,
    errors: u64,
    makespan_s: f64,
    /// Loop utilization of each process that has a loop.
    utilizations: Vec<f64>,
    /// Pool tasks, and their wait: summed (for the mean), and the largest p99 and max.
    pool: Option<(u64, f64, f64, f64)>,
}

impl BatchTotals {
    fn add(&mut self, line: &BatchLine) {
        self.jobs += u64::from(line.jobs);
        self.completed += u64::from(line.completed);
        self.errors += line.errors;
        self.makespan_s = self.makespan_s.max(line.makespan_s);
        self.utilizations.extend(line.loop_utilization);
        if let Some(tasks) = line.pool_tasks {
            let (n, wait_sum, p99, max) = self.pool.get_or_insert((0, 0.0, 0.0, 0.0));
            *n += tasks;
            *wait_sum += line.pool_wait_mean_us.unwrap_or(0.0) * tasks as f64;
            // The p99 of the merged set is not known from the parts; the largest part's p99
            // bounds it from above.
            *p99 = p99.max(line.pool_wait_p99_us.unwrap_or(0.0));
            *max = max.max(line.pool_wait_max_us.unwrap_or(0.0));
        }
    }

    fn put_into(&self, m: &mut Metrics) {
        put(m, metric::JOBS, self.jobs as f64);
        put(m, metric::COMPLETED, self.completed as f64);
        put(m, metric::ERRORS, self.errors as f64);
        put(m, metric::MAKESPAN, self.makespan_s);
        put(m, metric::WINDOW, self.makespan_s);
        if self.makespan_s > 0.0 {
            put(
                m,
                metric::THROUGHPUT,
                self.completed as f64 / self.makespan_s,
            );
        }
        if !self.utilizations.is_empty() {
            let n = self.utilizations.len() as f64;
            put(m, metric::LOOPS, n);
            put(
                m,
                metric::LOOP_UTILIZATION,
                self.utilizations.iter().sum::<f64>() / n,
            );
        }
        if let Some((tasks, wait_sum, p99, max)) = self.pool {
            put(m, metric::POOL_TASKS, tasks as f64);
            if tasks > 0 {
                put(m, metric::POOL_WAIT_MEAN, wait_sum / tasks as f64);
                put(m, metric::POOL_WAIT_P99, p99);
                put(m, metric::POOL_WAIT_MAX, max);
            }
        }
    }
}

/// The record of a batch repetition (one batch per process, merged).
pub fn batch_record(coords: &Coords, repetition: u32, w: &BatchWindow) -> Result<PointRecord> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut totals = BatchTotals::default();
    for line in &w.lines {
        latency.add(histogram::decode(&line.histogram_base64).map_err(|e| anyhow!(e))?)?;
        totals.add(line);
    }
    let mut m = Metrics::new();
    totals.put_into(&mut m);
    usage_metrics(&mut m, &w.usage, 0.0);
    latency_metrics(&mut m, &latency);
    cpu_per_op(&mut m, totals.completed as f64);
    if totals.completed == 0 {
        let error = format!(
            "no job of {} completed ({} errors)",
            totals.jobs, totals.errors
        );
        return Ok(PointRecord::failed(coords, repetition, error, m));
    }
    let encoded = if latency.is_empty() {
        None
    } else {
        Some(histogram::encode(&latency).map_err(|e| anyhow!(e))?)
    };
    Ok(PointRecord::ok(coords, repetition, m, encoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use looplab_reports::store::metric::unit;

    fn coords(id: &str) -> Coords {
        Coords::from_schema1_id(id).unwrap()
    }

    fn line(jobs: u32, completed: u32, makespan_s: f64, latencies_us: &[u64]) -> BatchLine {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &us in latencies_us {
            h.record(us).unwrap();
        }
        BatchLine {
            jobs,
            completed,
            errors: u64::from(jobs - completed),
            makespan_s,
            histogram_base64: histogram::encode(&h).unwrap(),
            loop_utilization: Some(0.5),
            pool_tasks: Some(completed.into()),
            pool_wait_mean_us: Some(100.0),
            pool_wait_p99_us: Some(300.0),
            pool_wait_max_us: Some(400.0),
        }
    }

    fn usage() -> Usage {
        Usage {
            tree: TreeSample {
                processes: 2,
                user_s: 1.5,
                sys_s: 0.5,
                voluntary: 10,
                involuntary: 3,
                peak_rss_bytes: 8 << 20,
            },
            machine_busy_s: 3.0,
            machine_steal_s: 0.2,
            wall_s: 2.0,
            sentinel_ms: Some(5.0),
        }
    }

    #[test]
    fn a_cluster_batch_merges_its_processes() {
        let window = BatchWindow {
            lines: vec![line(4, 4, 1.0, &[200, 400]), line(4, 3, 2.0, &[800])],
            usage: usage(),
        };
        let point = coords("cluster/hash/p1/k2");
        let r = batch_record(&point, 1, &window).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(
            (r.point_id.as_str(), r.repetition),
            ("cluster/hash/p1/k2", 1)
        );
        let m = |name| r.metrics[name];
        assert_eq!((m(metric::JOBS), m(metric::COMPLETED)), (8.0, 7.0));
        assert_eq!(m(metric::ERRORS), 1.0);
        assert_eq!(m(metric::MAKESPAN), 2.0, "the slowest process");
        assert_eq!(m(metric::THROUGHPUT), 3.5);
        assert_eq!(m(metric::CPU_UTIL), 1.0);
        assert_eq!(m(metric::MACHINE_CPU_UTIL), 1.5);
        // 3 s busy, 0.2 s stolen, 2 s the point's own: 0.8 s of others over 2 s.
        assert!((m(metric::FOREIGN_CPU) - 0.4).abs() < 1e-9);
        assert!((m(metric::STEAL) - 0.1).abs() < 1e-9);
        assert_eq!(m(metric::SENTINEL), 5.0);
        assert!((m(metric::CPU_MS_PER_OP) - 2_000.0 / 7.0).abs() < 1e-9);
        assert_eq!(m(metric::POOL_TASKS), 7.0);
        assert_eq!(m(metric::POOL_WAIT_P99), 300.0);
        assert_eq!(m(metric::LOOPS), 2.0);
        let max = m(metric::MAX);
        assert!((795.0..=805.0).contains(&max), "{max}");
        let merged = histogram::decode(r.histogram_base64.as_ref().unwrap()).unwrap();
        assert_eq!(merged.len(), 3);
        for name in r.metrics.keys() {
            assert!(unit(name).is_some(), "{name} is not in the metric table");
        }
    }

    #[test]
    fn a_batch_with_nothing_completed_is_failed_with_its_figures() {
        let window = BatchWindow {
            lines: vec![line(4, 0, 1.0, &[])],
            usage: usage(),
        };
        let r = batch_record(&coords("loop/hash/p1"), 0, &window).unwrap();
        assert!(!r.ok);
        assert_eq!(r.error.as_deref(), Some("no job of 4 completed (4 errors)"));
        assert_eq!(r.metrics[metric::ERRORS], 4.0);
        assert!(
            !r.metrics.contains_key(metric::P99),
            "no percentile of nothing"
        );
        assert_eq!(r.histogram_base64, None);
    }

    #[test]
    fn loop_figures_are_left_out_without_loops_and_pool_waits_without_tasks() {
        let mut m = Metrics::new();
        loop_metrics(&mut m, &LoopSample::default());
        assert!(m.is_empty());
        let sample = LoopSample {
            loops: 1,
            utilization: 0.25,
            pool_tasks: Some(0),
            pool_wait_mean_us: Some(0.0),
            ..LoopSample::default()
        };
        loop_metrics(&mut m, &sample);
        assert_eq!(m[metric::POOL_TASKS], 0.0);
        assert!(!m.contains_key(metric::POOL_WAIT_MEAN));
        assert_eq!(m[metric::LOOP_UTILIZATION], 0.25);
    }

    #[test]
    fn an_unobserved_pool_is_absent_not_zero() {
        let mut m = Metrics::new();
        let sample = LoopSample {
            loops: 1,
            utilization: 0.5,
            ..LoopSample::default()
        };
        loop_metrics(&mut m, &sample);
        assert_eq!(m[metric::LOOP_UTILIZATION], 0.5);
        assert!(!m.contains_key(metric::POOL_TASKS));
        assert!(!m.contains_key(metric::POOL_WAIT_MEAN));
    }
}
