//! NODE_MODEL.md 5 (a): `calls` × `crypto.pbkdf2('a', 'b', iterations, keylen, 'sha512')` on a
//! pool of `pool` threads. Node's shape: completions come in waves equal to the pool size.
//!
//! Waves are computed from the pool timeline, not from clock gaps: a task's wave is one more
//! than the latest wave among the tasks that had *finished* when it *started*. With a FIFO
//! queue and identical tasks this groups them exactly as the queue released them.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use looplab_runtime::pool::{run_time_spread, wave_sizes, waves, TaskRecord};
use looplab_runtime::RunMode;

use super::timeline::{self, TimedReport};
use super::{course_hash, loop_with_timeline, ms_since, Completion, ExperimentReport, ShapeCheck};
use crate::error::WorkloadError;

/// Most hashes the staircase submits at once: 10,000 (each holds a pool task and a timeline
/// record until it finishes).
pub const MAX_CALLS: usize = 10_000;

/// Parameters of the staircase.
#[derive(Clone, Debug)]
pub struct StaircaseConfig {
    /// Pool threads.
    pub pool: usize,
    /// Number of hashes.
    pub calls: usize,
    /// PBKDF2 iterations per hash.
    pub iterations: u64,
    /// Key length in bytes (the course uses 512).
    pub keylen: usize,
}

impl Default for StaircaseConfig {
    fn default() -> Self {
        Self {
            pool: 4,
            calls: 6,
            iterations: 100_000,
            keylen: 512,
        }
    }
}

/// Whether the pool never ran more than `pool` tasks at once and started each further task
/// only when enough earlier ones had finished: the k-th task to start
/// (0-based) needs `k + 1 - pool` finished tasks. This holds however unevenly the OS shares
/// the cores; the wave shape needs fair sharing (one thread alone on a core finishes early
/// and pulls the next task forward, in Node too).
fn pool_limit_held(timeline: &[TaskRecord], pool: usize) -> (bool, usize) {
    let mut starts: Vec<_> = timeline.iter().map(|t| t.timing.started).collect();
    starts.sort();
    let running_at = |at| {
        timeline
            .iter()
            .filter(|t| t.timing.started <= at && at < t.timing.finished)
            .count()
    };
    let peak = starts.iter().map(|&at| running_at(at)).max().unwrap_or(0);
    let gated = starts.iter().enumerate().all(|(k, &at)| {
        let finished = timeline.iter().filter(|t| t.timing.finished <= at).count();
        finished + pool > k
    });
    (peak <= pool && gated, peak)
}

/// The wave sizes against Node's; when they differ, how far apart the hashes' run times were,
/// which is what splits or merges waves on a host with fewer cores than pool threads.
fn waves_observed(observed: &[usize], expected: &[usize], timeline: &[TaskRecord]) -> String {
    let sizes = format!(
        "wave sizes {}, expected {}",
        super::list(observed),
        super::list(expected)
    );
    if observed == expected {
        return sizes;
    }
    format!(
        "{sizes}; hash run times {:.1}x apart: the pool threads did not share the cores evenly",
        run_time_spread(timeline)
    )
}

/// Runs the staircase and checks its shape.
pub fn staircase(config: &StaircaseConfig) -> Result<ExperimentReport, WorkloadError> {
    staircase_timed(config).map(|timed| timed.report)
}

/// Runs the staircase; its report and the pool timeline (`hash N` is the N-th call).
pub fn staircase_timed(config: &StaircaseConfig) -> Result<TimedReport, WorkloadError> {
    super::in_range(
        "calls",
        config.calls as u64,
        (1, MAX_CALLS as u64),
        "use 1..=10000 calls, like 6",
    )?;
    super::check_hash(config.iterations, config.keylen)?;
    let (pool, lp) = loop_with_timeline(config.pool)?;
    let done: Rc<RefCell<Vec<(usize, f64)>>> = Rc::default();
    let start = Instant::now();
    for call in 1..=config.calls {
        let done = Rc::clone(&done);
        course_hash(&lp, config.iterations, config.keylen, move |_| {
            done.borrow_mut().push((call, ms_since(start)));
        })?;
    }
    lp.run(RunMode::Default);
    let timeline = pool.take_timeline();
    let done = done.take();
    if done.len() != config.calls || timeline.len() != config.calls {
        return Err(WorkloadError::Incomplete {
            missing: config.calls - done.len().min(config.calls),
            detail: "hashes".into(),
        });
    }
    let wave = waves(&timeline);
    let completions = completions(&done, &timeline, &wave);
    let checks = shape_checks(config, &timeline, &wave);
    let spans = timeline::spans(&timeline, start, |i, _| format!("hash {}", i + 1));
    let report = ExperimentReport {
        experiment: "staircase".into(),
        params: vec![
            ("pool", config.pool.to_string()),
            ("calls", config.calls.to_string()),
            ("iterations", config.iterations.to_string()),
            ("keylen", config.keylen.to_string()),
        ],
        completions,
        checks,
    };
    Ok(TimedReport { report, spans })
}

/// The hashes in completion order, each with its pool thread and wave. Timeline records are in
/// submission order, so record i is hash i + 1.
fn completions(done: &[(usize, f64)], timeline: &[TaskRecord], wave: &[usize]) -> Vec<Completion> {
    done.iter()
        .map(|&(call, ms)| Completion {
            label: format!("hash {call}"),
            ms,
            thread: format!("pool-{}", timeline[call - 1].timing.thread),
            note: format!("wave {}", wave[call - 1]),
        })
        .collect()
}

/// Node's shape: never more than `pool` hashes at once, and waves of the pool size.
fn shape_checks(
    config: &StaircaseConfig,
    timeline: &[TaskRecord],
    wave: &[usize],
) -> Vec<ShapeCheck> {
    let observed = wave_sizes(wave);
    let expected: Vec<usize> = (0..config.calls)
        .step_by(config.pool)
        .map(|first| config.pool.min(config.calls - first))
        .collect();
    let (limit_held, peak) = pool_limit_held(timeline, config.pool);
    vec![
        ShapeCheck {
            rule: format!(
                "at most {} at once; each further one starts when one finishes",
                if config.pool == 1 {
                    "1 hash runs".to_string()
                } else {
                    format!("{} hashes run", config.pool)
                }
            ),
            holds: limit_held,
            observed: format!("peak {peak} running"),
        },
        ShapeCheck {
            rule: format!(
                "completions come in waves of the pool size ({})",
                config.pool
            ),
            holds: observed == expected,
            observed: waves_observed(&observed, &expected, timeline),
        },
    ]
}
