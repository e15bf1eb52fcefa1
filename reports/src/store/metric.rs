//! The metrics a record may hold: each name once, as a constant the writer (the sweep
//! executor) and every reader (report, check, progress) use, and [`TABLE`], every name with
//! its unit and meaning. Units live in the names (`_per_s`, `_us`, `_s`, `_bytes`, `_cores`).

/// Requests (service) or completed jobs (batch) per second of the window.
pub const THROUGHPUT: &str = "throughput_per_s";
/// Length of the measured window (the makespan in batch mode).
pub const WINDOW: &str = "window_s";
/// Requests answered correctly in the window.
pub const REQUESTS: &str = "requests";
/// Requests sent in the window.
pub const ATTEMPTED: &str = "attempted";
/// Requests sent per second.
pub const ACHIEVED_RATE: &str = "achieved_rate_per_s";
/// The offered rate of an open-loop point.
pub const INTENDED_RATE: &str = "intended_rate_per_s";
/// Errors: the load generator's (service) or failed jobs (batch).
pub const ERRORS: &str = "errors";
/// Connections refused or lost before a request.
pub const ERRORS_CONNECT: &str = "errors_connect";
/// Requests not answered within the generator's timeout.
pub const ERRORS_TIMEOUT: &str = "errors_timeout";
/// Answers with an unexpected status.
pub const ERRORS_STATUS: &str = "errors_status";
/// Answers whose body had the wrong length.
pub const ERRORS_SHORT_BODY: &str = "errors_short_body";
/// Other I/O errors.
pub const ERRORS_IO: &str = "errors_io";
/// Requests in flight when the window closed.
pub const ABANDONED: &str = "abandoned";
/// CPU seconds the load generator used.
pub const GENERATOR_CPU: &str = "generator_cpu_s";
/// The load generator's CPU use as a fraction of the CPU its threads could get (their wall
/// time less their wait for a core); the generator is the limit from 0.9.
pub const GENERATOR_UTIL: &str = "generator_util";
/// 1 when the load generator was the limit.
pub const GENERATOR_LIMITED: &str = "generator_limited";
/// p99 latency from each request's actual send time (open loop).
pub const P99_UNCORRECTED: &str = "p99_uncorrected_us";
/// Median latency.
pub const P50: &str = "p50_us";
/// 90th percentile latency.
pub const P90: &str = "p90_us";
/// 99th percentile latency.
pub const P99: &str = "p99_us";
/// 99.9th percentile latency.
pub const P999: &str = "p999_us";
/// Largest latency.
pub const MAX: &str = "max_us";
/// Mean latency.
pub const MEAN: &str = "mean_us";
/// User CPU seconds of the point's processes.
pub const CPU_USER: &str = "cpu_user_s";
/// System CPU seconds of the point's processes.
pub const CPU_SYS: &str = "cpu_sys_s";
/// CPU of the point's processes over the window, in cores.
pub const CPU_UTIL: &str = "cpu_util_cores";
/// CPU of the whole machine over the window, in cores.
pub const MACHINE_CPU_UTIL: &str = "machine_cpu_util_cores";
/// Time the hypervisor gave this VM's cores to others over the window, in cores.
pub const STEAL: &str = "steal_cores";
/// CPU used over the window by processes other than the point's and the load generator's,
/// in cores (the machine's busy time less steal, the point and the generator).
pub const FOREIGN_CPU: &str = "foreign_cpu_cores";
/// Time of a fixed CPU probe (PBKDF2 of fixed work) taken before the repetition's processes
/// start and after they stop, mean of the two: how fast the cores ran around the window.
pub const SENTINEL: &str = "sentinel_ms";
/// CPU milliseconds per request or job (server side).
pub const CPU_MS_PER_OP: &str = "cpu_ms_per_op";
/// Peak resident memory of the point's processes (sum of their VmHWM).
pub const PEAK_RSS: &str = "peak_rss_bytes";
/// Voluntary context switches.
pub const CTX_VOLUNTARY: &str = "ctx_voluntary";
/// Involuntary context switches.
pub const CTX_INVOLUNTARY: &str = "ctx_involuntary";
/// Processes of the point.
pub const PROCESSES: &str = "processes";
/// Event loops probed.
pub const LOOPS: &str = "loops";
/// Event-loop utilization (mean over the loops).
pub const LOOP_UTILIZATION: &str = "loop_utilization";
/// Loop delay, median.
pub const LOOP_DELAY_P50: &str = "loop_delay_p50_us";
/// Loop delay, 99th percentile.
pub const LOOP_DELAY_P99: &str = "loop_delay_p99_us";
/// Loop delay, largest.
pub const LOOP_DELAY_MAX: &str = "loop_delay_max_us";
/// Pool tasks completed.
pub const POOL_TASKS: &str = "pool_tasks";
/// Pool queue wait, mean.
pub const POOL_WAIT_MEAN: &str = "pool_wait_mean_us";
/// Pool queue wait, 99th percentile.
pub const POOL_WAIT_P99: &str = "pool_wait_p99_us";
/// Pool queue wait, largest.
pub const POOL_WAIT_MAX: &str = "pool_wait_max_us";
/// Jobs submitted (batch).
pub const JOBS: &str = "jobs";
/// Jobs completed (batch).
pub const COMPLETED: &str = "completed";
/// First submission to last completion (batch).
pub const MAKESPAN: &str = "makespan_s";

/// Every metric: name, unit, meaning.
pub const TABLE: &[(&str, &str, &str)] = &[
    (THROUGHPUT, "1/s", "requests or jobs per second"),
    (WINDOW, "s", "measured window"),
    (REQUESTS, "count", "requests answered"),
    (ATTEMPTED, "count", "requests sent"),
    (ACHIEVED_RATE, "1/s", "requests sent per second"),
    (INTENDED_RATE, "1/s", "offered rate (open loop)"),
    (ERRORS, "count", "errors or failed jobs"),
    (ERRORS_CONNECT, "count", "connection errors"),
    (ERRORS_TIMEOUT, "count", "timeouts"),
    (ERRORS_STATUS, "count", "unexpected statuses"),
    (ERRORS_SHORT_BODY, "count", "bodies of the wrong length"),
    (ERRORS_IO, "count", "other I/O errors"),
    (ABANDONED, "count", "requests in flight at the window's end"),
    (GENERATOR_CPU, "s", "load generator CPU"),
    (
        GENERATOR_UTIL,
        "fraction",
        "load generator's busiest thread",
    ),
    (
        GENERATOR_LIMITED,
        "0 or 1",
        "the load generator was the limit",
    ),
    (P99_UNCORRECTED, "µs", "p99 from actual send times"),
    (P50, "µs", "median latency"),
    (P90, "µs", "90th percentile latency"),
    (P99, "µs", "99th percentile latency"),
    (P999, "µs", "99.9th percentile latency"),
    (MAX, "µs", "largest latency"),
    (MEAN, "µs", "mean latency"),
    (CPU_USER, "s", "user CPU of the point"),
    (CPU_SYS, "s", "system CPU of the point"),
    (CPU_UTIL, "cores", "CPU of the point over the window"),
    (
        MACHINE_CPU_UTIL,
        "cores",
        "CPU of the whole machine over the window",
    ),
    (CPU_MS_PER_OP, "ms", "CPU per request or job"),
    (
        STEAL,
        "cores",
        "CPU the hypervisor gave to other VMs over the window",
    ),
    (
        FOREIGN_CPU,
        "cores",
        "CPU of other processes over the window",
    ),
    (SENTINEL, "ms", "a fixed CPU probe around the repetition"),
    (PEAK_RSS, "bytes", "peak resident memory"),
    (CTX_VOLUNTARY, "count", "voluntary context switches"),
    (CTX_INVOLUNTARY, "count", "involuntary context switches"),
    (PROCESSES, "count", "processes of the point"),
    (LOOPS, "count", "event loops probed"),
    (LOOP_UTILIZATION, "fraction", "event-loop utilization"),
    (LOOP_DELAY_P50, "µs", "loop delay, median"),
    (LOOP_DELAY_P99, "µs", "loop delay, 99th percentile"),
    (LOOP_DELAY_MAX, "µs", "loop delay, largest"),
    (POOL_TASKS, "count", "pool tasks"),
    (POOL_WAIT_MEAN, "µs", "pool queue wait, mean"),
    (POOL_WAIT_P99, "µs", "pool queue wait, 99th percentile"),
    (POOL_WAIT_MAX, "µs", "pool queue wait, largest"),
    (JOBS, "count", "jobs submitted"),
    (COMPLETED, "count", "jobs completed"),
    (MAKESPAN, "s", "first submission to last completion"),
];

/// The unit of a recorded metric, `None` for a name not in [`TABLE`].
pub fn unit(name: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, unit, _)| *unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once_with_a_unit() {
        let mut names: Vec<&str> = TABLE.iter().map(|(n, _, _)| *n).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a metric is listed twice");
        assert_eq!(unit(P99), Some("µs"));
        assert_eq!(unit("p98_us"), None);
    }
}
