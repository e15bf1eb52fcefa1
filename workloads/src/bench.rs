//! Micro-benchmarks of the runtime itself, the same jobs as the Node.js twins in
//! `scripts/node/` so the two can be compared on one machine in one sitting.
//!
//! Each bench runs one bounded job and reports `ops_per_s` (or `ms` for single-shot work) with
//! its parameters, in the JSON shape the Node twins print.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use looplab_runtime::{crypto, fs, EventLoop, RunMode, ThreadPool, WorkSpec};
use serde::Serialize;

use crate::error::WorkloadError;
use crate::experiments::{check_hash, in_range};

/// The benches `lab bench` knows, with what each measures.
pub const BENCHES: [(&str, &str); 6] = [
    (
        "pool-roundtrip",
        "N empty work items through the pool, K in flight, pool size P",
    ),
    (
        "timers",
        "N set_timeout(1) scheduled from the main program, until the last fired",
    ),
    (
        "immediates",
        "N set_immediate from the main program, until the last ran",
    ),
    (
        "ticks",
        "N next_tick from the main program, until the last ran",
    ),
    (
        "pbkdf2",
        "one PBKDF2-HMAC-SHA512 hash (median of R runs), sync and through the pool",
    ),
    (
        "fs-read",
        "N read_file of a file of S bytes, C in flight, pool size P, in a temp dir",
    ),
];

/// Parameters for every bench; each bench uses the ones it needs.
#[derive(Clone, Debug)]
pub struct BenchParams {
    /// Operations (items, timers, reads).
    pub n: u64,
    /// Work items or reads in flight.
    pub inflight: u64,
    /// Pool size.
    pub pool: usize,
    /// PBKDF2 iterations.
    pub iterations: u64,
    /// PBKDF2 key length.
    pub keylen: usize,
    /// Repetitions for single-shot benches.
    pub runs: usize,
    /// File size in bytes.
    pub size: usize,
}

impl BenchParams {
    /// The defaults of the named bench (matching its Node twin's defaults).
    pub fn defaults(bench: &str) -> Self {
        let mut p = BenchParams {
            n: 1_000_000,
            inflight: 1024,
            pool: 4,
            iterations: 100_000,
            keylen: 64,
            runs: 7,
            size: 65_536,
        };
        match bench {
            "pool-roundtrip" => p.n = 200_000,
            "fs-read" => {
                p.n = 2000;
                p.inflight = 16;
            }
            _ => {}
        }
        p
    }
}

/// One bench result, shaped like the Node twins' JSON.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Bench name.
    pub bench: String,
    /// Always `looplab` (the Node twins say `node`).
    pub runtime: &'static str,
    /// Parameters used.
    pub params: serde_json::Value,
    /// Throughput, for repeated-operation benches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_per_s: Option<f64>,
    /// Median time, for single-shot benches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    /// Median time through the pool, for `pbkdf2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub async_ms: Option<f64>,
    /// Every run's value, for single-shot benches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<f64>,
}

fn new_loop(pool: usize) -> Result<EventLoop, WorkloadError> {
    let pool = ThreadPool::with_size(pool)?;
    EventLoop::with_pool(pool).map_err(super::experiments::io_err("create the event loop"))
}

fn throughput(bench: &str, params: serde_json::Value, n: u64, seconds: f64) -> BenchResult {
    BenchResult {
        bench: bench.into(),
        runtime: "looplab",
        params,
        ops_per_s: Some(n as f64 / seconds),
        ms: None,
        async_ms: None,
        runs: Vec::new(),
    }
}

/// Most operations per bench: 10,000,000 (the timers bench holds all N at once, about 100
/// bytes each: 1 GB at this bound).
pub const MAX_N: u64 = 10_000_000;
/// Most items or reads in flight: 100,000.
pub const MAX_INFLIGHT: u64 = 100_000;
/// Most runs of a single-shot bench: 1,000.
pub const MAX_RUNS: usize = 1_000;
/// Largest file `fs-read` reads: 64 MiB.
pub const MAX_SIZE: usize = 64 << 20;
/// Most bytes `fs-read` holds at once (reads in flight x file size): 1 GiB.
pub const MAX_BYTES_IN_FLIGHT: u64 = 1 << 30;

/// Checks every parameter against its bound (above, and the hash's in
/// [`crate::experiments`]) before anything is allocated.
fn validate(p: &BenchParams) -> Result<(), WorkloadError> {
    in_range(
        "--n",
        p.n,
        (1, MAX_N),
        "use 1..=10000000 operations, like 100000",
    )?;
    in_range(
        "--inflight",
        p.inflight,
        (1, MAX_INFLIGHT),
        "use 1..=100000 in flight, like 16",
    )?;
    in_range(
        "--runs",
        p.runs as u64,
        (1, MAX_RUNS as u64),
        "use 1..=1000 runs, like 7",
    )?;
    in_range(
        "--size",
        p.size as u64,
        (0, MAX_SIZE as u64),
        "use 0..=67108864 bytes (64 MiB), like 65536",
    )?;
    in_range(
        "--inflight x --size",
        p.inflight.saturating_mul(p.size as u64),
        (0, MAX_BYTES_IN_FLIGHT),
        "keep reads in flight times the file size at most 1 GiB; lower --inflight or --size",
    )?;
    check_hash(p.iterations, p.keylen)
}

/// Runs the named bench.
pub fn run(bench: &str, p: &BenchParams) -> Result<BenchResult, WorkloadError> {
    validate(p)?;
    match bench {
        "pool-roundtrip" => pool_roundtrip(p),
        "timers" => scheduled(bench, p.n, |lp| {
            lp.set_timeout(1, count_one);
        }),
        "immediates" => scheduled(bench, p.n, |lp| {
            lp.set_immediate(count_one);
        }),
        "ticks" => scheduled(bench, p.n, |lp| lp.next_tick(count_one)),
        "pbkdf2" => pbkdf2(p),
        "fs-read" => fs_read(p),
        other => Err(WorkloadError::Param {
            name: "bench",
            value: other.into(),
            hint: "run `lab list` to see the benches",
        }),
    }
}

/// Keeps `inflight` items in the pool until `total` completed; returns the seconds it took.
fn pump(lp: &EventLoop, total: u64, inflight: u64) -> f64 {
    fn submit(lp: &EventLoop, submitted: Rc<Cell<u64>>, total: u64) {
        submitted.set(submitted.get() + 1);
        lp.queue_work(
            WorkSpec::cpu("empty"),
            || (),
            move |lp, ()| {
                if submitted.get() < total {
                    submit(lp, submitted, total);
                }
            },
        );
    }
    let submitted = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..inflight.min(total) {
        submit(lp, Rc::clone(&submitted), total);
    }
    lp.run(RunMode::Default);
    start.elapsed().as_secs_f64()
}

fn pool_roundtrip(p: &BenchParams) -> Result<BenchResult, WorkloadError> {
    let lp = new_loop(p.pool)?;
    pump(&lp, 10_000, p.inflight);
    let seconds = pump(&lp, p.n, p.inflight);
    let params = serde_json::json!({ "n": p.n, "inflight": p.inflight, "pool": p.pool });
    Ok(throughput("pool-roundtrip", params, p.n, seconds))
}

thread_local! {
    static FIRED: Cell<u64> = const { Cell::new(0) };
}

/// The callback every scheduled item shares, like the Node twins' one `cb` function: a plain
/// function, so scheduling it allocates nothing for the closure itself.
fn count_one(_: &EventLoop) {
    FIRED.with(|f| f.set(f.get() + 1));
}

fn scheduled(
    bench: &str,
    n: u64,
    schedule: impl Fn(&EventLoop),
) -> Result<BenchResult, WorkloadError> {
    let lp = new_loop(1)?;
    FIRED.with(|f| f.set(0));
    let start = Instant::now();
    for _ in 0..n {
        schedule(&lp);
    }
    lp.run(RunMode::Default);
    let elapsed = start.elapsed();
    let fired = FIRED.with(Cell::get);
    if fired != n {
        return Err(WorkloadError::Incomplete {
            missing: (n - fired) as usize,
            detail: format!("{bench} callbacks"),
        });
    }
    Ok(throughput(
        bench,
        serde_json::json!({ "n": n }),
        n,
        elapsed.as_secs_f64(),
    ))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn pbkdf2(p: &BenchParams) -> Result<BenchResult, WorkloadError> {
    let mut sync = Vec::with_capacity(p.runs);
    for _ in 0..p.runs {
        let start = Instant::now();
        std::hint::black_box(crypto::pbkdf2_sync(b"a", b"b", p.iterations, p.keylen)?);
        sync.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let lp = new_loop(4)?;
    let mut asynchronous = Vec::with_capacity(p.runs);
    for _ in 0..p.runs {
        let took = Rc::new(Cell::new(0.0));
        let (out, start) = (Rc::clone(&took), Instant::now());
        crypto::pbkdf2(&lp, b"a", b"b", p.iterations, p.keylen, move |_, _| {
            out.set(start.elapsed().as_secs_f64() * 1e3)
        })?;
        lp.run(RunMode::Default);
        asynchronous.push(took.get());
    }
    let runs = sync.clone();
    Ok(BenchResult {
        bench: "pbkdf2".into(),
        runtime: "looplab",
        params: serde_json::json!({ "iterations": p.iterations, "keylen": p.keylen, "runs": p.runs }),
        ops_per_s: None,
        ms: Some(median(&mut sync)),
        async_ms: Some(median(&mut asynchronous)),
        runs,
    })
}

fn fs_read(p: &BenchParams) -> Result<BenchResult, WorkloadError> {
    use super::experiments::io_err;
    let dir =
        crate::experiments::private_tempdir("looplab-").map_err(io_err("create a temp dir"))?;
    let path = dir.path().join("data.bin");
    std::fs::write(&path, vec![7u8; p.size])
        .map_err(io_err(format!("write {}", path.display())))?;
    let lp = new_loop(p.pool)?;
    let errors = Rc::new(Cell::new(0u64));
    let issued = Rc::new(Cell::new(0u64));

    fn read_next(
        lp: &EventLoop,
        path: Rc<std::path::PathBuf>,
        issued: Rc<Cell<u64>>,
        errors: Rc<Cell<u64>>,
        n: u64,
        size: usize,
    ) {
        issued.set(issued.get() + 1);
        let p2 = Rc::clone(&path);
        fs::read_file(lp, path.as_path(), move |lp, result| {
            if result.map(|b| b.len()).ok() != Some(size) {
                errors.set(errors.get() + 1);
            }
            if issued.get() < n {
                read_next(lp, p2, issued, errors, n, size);
            }
        });
    }
    let path = Rc::new(path);
    let start = Instant::now();
    for _ in 0..p.inflight.min(p.n) {
        read_next(
            &lp,
            Rc::clone(&path),
            Rc::clone(&issued),
            Rc::clone(&errors),
            p.n,
            p.size,
        );
    }
    lp.run(RunMode::Default);
    let seconds = start.elapsed().as_secs_f64();
    if errors.get() > 0 {
        return Err(WorkloadError::Incomplete {
            missing: errors.get() as usize,
            detail: format!(
                "reads of {} returned an error or a wrong length",
                path.display()
            ),
        });
    }
    let params =
        serde_json::json!({ "n": p.n, "size": p.size, "concurrency": p.inflight, "pool": p.pool });
    Ok(throughput("fs-read", params, p.n, seconds))
}
