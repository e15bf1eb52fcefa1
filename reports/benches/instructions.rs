//! Instruction count of the sweep's record encoding under Callgrind (gungraun), checked in CI
//! with the runtime's hot paths (`runtime/benches/instructions.rs`; the baseline and the rule
//! are in `looplab_reports::instructions`).
//!
//! `record_encoding`: one [`PointRecord`] of a hash point (30 metrics and a latency histogram,
//! as a sweep writes them) encoded as its `results.jsonl` line with serde_json. Run at `n10`
//! and `n110` encodings; the check divides the difference by 100.

use std::collections::BTreeMap;
use std::hint::black_box;

use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, LibraryBenchmarkConfig,
};
use looplab_reports::store::{Coords, PointRecord};

const METRICS: [(&str, f64); 30] = [
    ("abandoned", 16.0),
    ("achieved_rate_per_s", 208.0),
    ("attempted", 312.0),
    ("cpu_ms_per_op", 5.168918918918918),
    ("cpu_sys_s", 0.02),
    ("cpu_user_s", 1.5099999999999998),
    ("cpu_util_cores", 1.020065843890135),
    ("ctx_involuntary", 67.0),
    ("ctx_voluntary", 678.0),
    ("errors", 0.0),
    ("generator_cpu_s", 0.01078),
    ("generator_limited", 0.0),
    ("generator_util", 0.007186666278586687),
    ("loop_delay_max_us", 11010.047),
    ("loop_delay_p50_us", 9961.471),
    ("loop_delay_p99_us", 11001.855),
    ("loop_utilization", 0.011265627254403362),
    ("loops", 1.0),
    ("max_us", 80767.0),
    ("mean_us", 76897.94594594595),
    ("p50_us", 75327.0),
    ("p90_us", 79423.0),
    ("p999_us", 80767.0),
    ("p99_us", 80511.0),
    ("peak_rss_bytes", 7372800.0),
    ("pool_tasks", 312.0),
    ("pool_wait_max_us", 75711.0),
    ("pool_wait_mean_us", 71980.76093589744),
    ("requests", 296.0),
    ("throughput_per_s", 197.33333333333334),
];

const HISTOGRAM: &str = "HISTFAAAAGR4nC2LPQqAMBSDn7F9fdYfioI49BgOgoPg5uJhvICLu4MX9Qg+qAn5AoHE6+mIaKOk/O8scT6XNw33gRIy7evYejJq5Kg1DgWs0oIAD5E+RAy+Es/CCI2C2RnDZPSlhw8I3wcY";

/// `n` copies of the record to encode, made before counting starts.
fn records(n: u64) -> Vec<PointRecord> {
    let coords = Coords::from_schema1_id("loop/hash/p1/c16").expect("a valid point id");
    let metrics: BTreeMap<String, f64> = METRICS.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let record = PointRecord::ok(&coords, 0, metrics, Some(HISTOGRAM.to_string()));
    vec![record; n as usize]
}

#[library_benchmark]
#[bench::n10(args = (10), setup = records)]
#[bench::n110(args = (110), setup = records)]
fn record_encoding(records: Vec<PointRecord>) -> usize {
    let mut bytes = 0;
    for record in &records {
        let line = serde_json::to_string(black_box(record)).expect("a record encodes");
        bytes += black_box(line).len();
    }
    bytes
}

library_benchmark_group!(name = store; benchmarks = record_encoding);

main!(
    config = LibraryBenchmarkConfig::default().tool(Callgrind::with_args([
        // The same fixed cache geometry as the runtime's instruction benches.
        "--cache-sim=yes",
        "--I1=32768,8,64",
        "--D1=32768,8,64",
        "--LL=8388608,16,64",
        "--branch-sim=yes",
    ]));
    library_benchmark_groups = store
);
