//! The result of a load run ([`LoadReport`]): parameters, counts, rates, latency percentiles
//! with the merged histograms, errors by kind, and the generator's own CPU use.
//!
//! Invariants: every figure covers the measured window only; histograms are in microseconds
//! and serialised as HdrHistogram's V2 format, deflated, then base64 (the encoding of
//! HdrHistogram interval logs, readable by every HdrHistogram implementation); the merged
//! histograms stay available to Rust callers as [`LatencySummary::histogram`].

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::Serialize;

use super::driver::Measured;
use super::spec::{LoadSpec, Plan};
use super::stats::{CpuTime, ErrorCounts};
use super::LoadError;

/// CPU use of the generator, as a share of its measured capacity (the CPU its threads could
/// have had: their wall time less the time they waited for a core), from which the generator
/// rather than the server is taken to have been the limit. Against capacity, not wall time: on
/// a machine busy with the server, a generator thread that waits for a core 10% of the window
/// and runs the other 86% had no idle time left, and it set the pace.
pub const GENERATOR_LIMITED_AT: f64 = 0.9;

/// The parameters of the run, as resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadParams {
    /// The URL as given.
    pub url: String,
    /// The request method.
    pub method: String,
    /// `closed` (no rate) or `open` (a fixed rate).
    pub mode: &'static str,
    /// Keep-alive connections.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// The measured window, seconds.
    pub duration_s: f64,
    /// The warm-up before it, seconds.
    pub warmup_s: f64,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
    /// Open loop: intended requests/s in total.
    pub rate_rps: Option<f64>,
    /// The status every answer must have.
    pub expect_status: u16,
    /// The body length every answer must have, if any.
    pub expect_body_bytes: Option<u64>,
}

/// Latency of the good answers in the window, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// The histogram: HdrHistogram V2, deflated, base64 (starts with `HISTF`).
    pub histogram_base64: String,
    /// The histogram itself, for merging repetitions.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl LatencySummary {
    fn of(histogram: Histogram<u64>) -> Result<LatencySummary, LoadError> {
        let empty = histogram.is_empty();
        let at = |q: f64| {
            if empty {
                0
            } else {
                histogram.value_at_quantile(q)
            }
        };
        Ok(LatencySummary {
            count: histogram.len(),
            min: if empty { 0 } else { histogram.min() },
            mean: histogram.mean(),
            stdev: histogram.stdev(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: histogram.max(),
            histogram_base64: encode(&histogram)?,
            histogram,
        })
    }
}

/// The generator's CPU time over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuReport {
    /// User time of the generator threads, summed (RUSAGE_THREAD).
    pub user_s: f64,
    /// System time of the generator threads, summed.
    pub sys_s: f64,
    /// `user_s + sys_s`.
    pub total_s: f64,
    /// Wall time between the two samples.
    pub wall_s: f64,
    /// `total_s / (threads * wall_s)`: 1.0 is every generator thread busy all the time.
    pub utilization: f64,
    /// Time the generator threads waited for a core (run queue), summed; 0 where unknown.
    pub wait_s: f64,
    /// `total_s / (threads * wall_s - wait_s)`: the share of the CPU the generator could have
    /// had that it used; the generator is the limit from [`GENERATOR_LIMITED_AT`].
    pub capacity_utilization: f64,
    /// The whole process (RUSAGE_SELF: includes anything else running in this process).
    pub process_user_s: f64,
    /// The whole process, system time.
    pub process_sys_s: f64,
}

/// What a load run measured. Every count covers requests started (open loop: intended to
/// start) in the window; `attempted = requests + errors.total + abandoned`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The parameters.
    pub params: LoadParams,
    /// The measured window, seconds.
    pub window_s: f64,
    /// Good answers (expected status and length) in the window.
    pub requests: u64,
    /// Requests started in the window, whatever became of them.
    pub attempted: u64,
    /// `requests / window_s`: good answers per second.
    pub throughput_rps: f64,
    /// Open loop: the rate asked for.
    pub intended_rate_rps: Option<f64>,
    /// `attempted / window_s`: the rate at which requests actually went out.
    pub achieved_rate_rps: f64,
    /// Open loop: schedule slots in the window (`intended - attempted` were never sent).
    pub intended_requests: Option<u64>,
    /// Failed requests by kind.
    pub errors: ErrorCounts,
    /// Requests outstanding at the deadline, dropped unanswered.
    pub abandoned: u64,
    /// Connections opened again (after an error or a `Connection: close`).
    pub reconnects: u64,
    /// Connection tasks cancelled at the hard stop (their counts are lost; should be 0).
    pub unfinished_connections: u64,
    /// Latency of good answers. Open loop: corrected, from the intended send whenever the
    /// connection was still busy at that time (see `open.rs` for the timer-slack rule).
    pub latency_us: LatencySummary,
    /// Open loop only: latency from the actual send (uncorrected).
    pub latency_uncorrected_us: Option<LatencySummary>,
    /// The generator's CPU use.
    pub cpu: CpuReport,
    /// The generator used at least [`GENERATOR_LIMITED_AT`] of its measured capacity: it,
    /// not the server, may have set the pace.
    pub generator_limited: bool,
}

pub(crate) fn build(
    spec: &LoadSpec,
    plan: &Plan,
    measured: Measured,
) -> Result<LoadReport, LoadError> {
    let window_s = plan.duration.as_secs_f64();
    let cpu = cpu_report(&measured, plan.threads);
    let stats = measured.stats;
    let open_loop = plan.rate.is_some();
    Ok(LoadReport {
        params: params(spec),
        window_s,
        requests: stats.ok,
        attempted: stats.attempted,
        throughput_rps: stats.ok as f64 / window_s,
        intended_rate_rps: plan.rate,
        achieved_rate_rps: stats.attempted as f64 / window_s,
        intended_requests: open_loop.then_some(stats.intended),
        errors: stats.errors,
        abandoned: stats.abandoned,
        reconnects: stats.reconnects,
        unfinished_connections: measured.unfinished,
        latency_us: LatencySummary::of(stats.latency)?,
        latency_uncorrected_us: stats.uncorrected.map(LatencySummary::of).transpose()?,
        generator_limited: cpu.capacity_utilization >= GENERATOR_LIMITED_AT,
        cpu,
    })
}

fn params(spec: &LoadSpec) -> LoadParams {
    LoadParams {
        url: spec.url.clone(),
        method: spec.method.clone(),
        mode: if spec.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        connections: spec.connections,
        threads: spec.threads,
        duration_s: spec.duration.as_secs_f64(),
        warmup_s: spec.warmup.as_secs_f64(),
        timeout_s: spec.timeout.as_secs_f64(),
        rate_rps: spec.rate,
        expect_status: spec.expect_status,
        expect_body_bytes: spec.expect_body_bytes,
    }
}

fn cpu_report(measured: &Measured, threads: usize) -> CpuReport {
    cpu_of(
        measured.generator_cpu,
        measured.process_cpu,
        measured.cpu_wall_s,
        threads,
    )
}

fn cpu_of(generator: CpuTime, process: CpuTime, wall_s: f64, threads: usize) -> CpuReport {
    let total_s = generator.user_s + generator.sys_s;
    let wall_capacity_s = threads as f64 * wall_s;
    let share = |capacity_s: f64| {
        if capacity_s > 0.0 {
            (total_s / capacity_s).min(1.0)
        } else {
            0.0
        }
    };
    CpuReport {
        user_s: generator.user_s,
        sys_s: generator.sys_s,
        total_s,
        wall_s,
        utilization: share(wall_capacity_s),
        wait_s: generator.wait_s,
        capacity_utilization: share(wall_capacity_s - generator.wait_s),
        process_user_s: process.user_s,
        process_sys_s: process.sys_s,
    }
}

/// HdrHistogram V2 deflate, then base64.
fn encode(histogram: &Histogram<u64>) -> Result<String, LoadError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| LoadError::Histogram {
            reason: format!("{e:?}"),
        })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn the_generator_is_the_limit_against_the_cpu_it_could_get() {
        let cpu = |user_s, wait_s| CpuTime {
            user_s,
            sys_s: 0.0,
            wait_s,
        };
        let process = CpuTime::default();
        // 86% of its thread's wall time, and the other 10% waiting for a core: no idle time
        // left, the generator set the pace.
        let busy = cpu_of(cpu(0.86, 0.10), process, 1.0, 1);
        assert!((busy.utilization - 0.86).abs() < 1e-9);
        assert!((busy.capacity_utilization - 0.86 / 0.90).abs() < 1e-9);
        assert!(busy.capacity_utilization >= GENERATOR_LIMITED_AT);
        // 86% with no wait: it idled 14% of the time waiting for the server.
        let idle = cpu_of(cpu(0.86, 0.0), process, 1.0, 1);
        assert!(idle.capacity_utilization < GENERATOR_LIMITED_AT);
        // Two threads: the capacity is both threads' wall time less both waits.
        let two = cpu_of(cpu(1.5, 0.4), process, 1.0, 2);
        assert!((two.capacity_utilization - 1.5 / 1.6).abs() < 1e-9);
        // Nothing measured: 0, not a division by zero.
        assert_eq!(
            cpu_of(cpu(0.0, 0.0), process, 0.0, 1).capacity_utilization,
            0.0
        );
    }

    #[test]
    fn summaries_round_trip_through_the_encoding() {
        let mut histogram = super::super::stats::new_histogram().unwrap();
        for v in 1..=1000u64 {
            histogram.record(v * 10).unwrap();
        }
        let summary = LatencySummary::of(histogram).unwrap();
        assert_eq!(summary.count, 1000);
        assert!((4990..=5010).contains(&summary.p50), "{}", summary.p50);
        assert!(
            summary.histogram_base64.starts_with("HISTF"),
            "{}",
            summary.histogram_base64
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&summary.histogram_base64)
            .unwrap();
        let back: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
        assert_eq!(back, summary.histogram);
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        let summary = LatencySummary::of(super::super::stats::new_histogram().unwrap()).unwrap();
        assert_eq!(
            (summary.count, summary.p99, summary.max, summary.min),
            (0, 0, 0, 0)
        );
    }
}
