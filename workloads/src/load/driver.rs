//! Runs a [`Plan`]: one current-thread tokio runtime per generator thread, the connections
//! dealt round-robin over them, each connection a task that owns its statistics.
//!
//! Order of a run (see the timeline in `mod.rs`):
//! 1. Build every runtime and every connection's statistics first, so the OS or a bug can
//!    refuse before any thread runs.
//! 2. Spawn the threads; each spawns its connection tasks, samples its own CPU time at
//!    `warmup_end` and `deadline`, then collects its tasks (each bounded by `hard_stop`).
//! 3. Meanwhile the calling thread samples the process's CPU time at the same two instants.
//! 4. Join every thread (each returns by `hard_stop`), then merge their statistics.
//!
//! If a thread cannot be spawned, the ones already running finish their run and are joined
//! before the error is returned: nothing is left behind.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::client::SessionSpec;
use super::open::Schedule;
use super::spec::Plan;
use super::stats::{ConnStats, CpuTime};
use super::{closed, open, LoadError, WindowEdge};

/// How long after the deadline a connection task may take to notice it and return.
pub(crate) const GRACE: Duration = Duration::from_millis(500);

/// The instants of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    pub start: Instant,
    pub warmup_end: Instant,
    pub deadline: Instant,
    pub hard_stop: Instant,
}

impl Timeline {
    fn starting_now(plan: &Plan) -> Timeline {
        let start = Instant::now();
        let warmup_end = start + plan.warmup;
        let deadline = warmup_end + plan.duration;
        Timeline {
            start,
            warmup_end,
            deadline,
            hard_stop: deadline + GRACE,
        }
    }
}

/// What a connection's session needs from the plan and the timeline.
pub(crate) fn session_spec<'p>(plan: &'p Plan, timeline: &Timeline) -> SessionSpec<'p> {
    SessionSpec {
        addr: plan.addr,
        request: &plan.request,
        head_only: plan.head_only,
        expect: plan.expect,
        window_start: timeline.warmup_end,
        deadline: timeline.deadline,
        timeout: plan.timeout,
    }
}

/// What a run measured, merged over its threads.
#[derive(Debug)]
pub(crate) struct Measured {
    pub stats: ConnStats,
    /// Generator threads' own CPU time over the window, summed.
    pub generator_cpu: CpuTime,
    /// The whole process's CPU time over the window.
    pub process_cpu: CpuTime,
    /// Wall time between the two CPU samples (the window, give or take a timer tick).
    pub cpu_wall_s: f64,
    /// Connection tasks that had not returned by the hard stop (cancelled, stats lost).
    pub unfinished: u64,
}

/// One generator thread's share of the work.
struct Share {
    runtime: Runtime,
    /// (connection index, its statistics)
    connections: Vec<(usize, ConnStats)>,
    merged: ConnStats,
}

struct ThreadResult {
    merged: Result<ConnStats, LoadError>,
    cpu: CpuTime,
    unfinished: u64,
}

/// Runs the plan to its hard stop at the latest; every thread is joined before returning.
pub(crate) fn drive(
    plan: &Plan,
    on_edge: &mut dyn FnMut(WindowEdge),
) -> Result<Measured, LoadError> {
    let open_loop = plan.rate.is_some();
    let mut shares = Vec::with_capacity(plan.threads);
    for thread in 0..plan.threads {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|cause| LoadError::Runtime { cause })?;
        let connections = (thread..plan.connections)
            .step_by(plan.threads)
            .map(|index| Ok((index, ConnStats::new(open_loop)?)))
            .collect::<Result<Vec<_>, LoadError>>()?;
        let merged = ConnStats::new(open_loop)?;
        shares.push(Share {
            runtime,
            connections,
            merged,
        });
    }
    let plan = Arc::new(plan.clone());
    let timeline = Timeline::starting_now(&plan);
    let mut handles = Vec::with_capacity(shares.len());
    let mut spawn_error = None;
    for (index, share) in shares.into_iter().enumerate() {
        let plan = Arc::clone(&plan);
        let spawned = thread::Builder::new()
            .name(format!("lab-load-{index}"))
            .spawn(move || generator_thread(share, plan, timeline));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(cause) => {
                spawn_error = Some(LoadError::Spawn { index, cause });
                break;
            }
        }
    }
    if let Some(error) = spawn_error {
        // Join what runs (it stops by itself at the hard stop), then report the refusal.
        let _ = join_all(handles, open_loop);
        return Err(error);
    }
    let (process_cpu, cpu_wall_s) = sample_window(&timeline, on_edge);
    let (stats, generator_cpu, unfinished) = join_all(handles, open_loop)?;
    Ok(Measured {
        stats,
        generator_cpu,
        process_cpu,
        cpu_wall_s,
        unfinished,
    })
}

/// The process's CPU time between `warmup_end` and `deadline`, and the wall time between;
/// `on_edge` hears each edge of the window right after the CPU sample taken there.
fn sample_window(timeline: &Timeline, on_edge: &mut dyn FnMut(WindowEdge)) -> (CpuTime, f64) {
    sleep_until_std(timeline.warmup_end);
    let (cpu_0, wall_0) = (CpuTime::process(), Instant::now());
    on_edge(WindowEdge::Open);
    sleep_until_std(timeline.deadline);
    let (cpu_1, wall_1) = (CpuTime::process(), Instant::now());
    on_edge(WindowEdge::Close);
    (cpu_1.since(cpu_0), (wall_1 - wall_0).as_secs_f64())
}

fn sleep_until_std(t: Instant) {
    let left = t.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        thread::sleep(left);
    }
}

fn join_all(
    handles: Vec<JoinHandle<ThreadResult>>,
    open_loop: bool,
) -> Result<(ConnStats, CpuTime, u64), LoadError> {
    let mut stats = ConnStats::new(open_loop)?;
    let (mut cpu, mut unfinished) = (CpuTime::default(), 0);
    let mut first_error = None;
    for (index, handle) in handles.into_iter().enumerate() {
        let result = match handle.join() {
            Ok(result) => result,
            Err(_) => {
                first_error.get_or_insert(LoadError::Panicked { index });
                continue;
            }
        };
        cpu = cpu.plus(result.cpu);
        unfinished += result.unfinished;
        match result.merged.and_then(|merged| stats.merge(&merged)) {
            Ok(()) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok((stats, cpu, unfinished)),
    }
}

fn generator_thread(share: Share, plan: Arc<Plan>, timeline: Timeline) -> ThreadResult {
    let Share {
        runtime,
        connections,
        mut merged,
    } = share;
    runtime.block_on(async move {
        let mut tasks = Vec::with_capacity(connections.len());
        for (index, stats) in connections {
            let plan = Arc::clone(&plan);
            tasks.push(match plan.rate {
                None => tokio::spawn(closed::run_connection(plan, timeline, stats)),
                Some(rate) => {
                    let schedule = Schedule::new(timeline.start, rate, index, plan.connections);
                    tokio::spawn(open::run_connection(plan, timeline, schedule, stats))
                }
            });
        }
        sleep_until(timeline.warmup_end).await;
        let cpu_0 = CpuTime::thread();
        sleep_until(timeline.deadline).await;
        let cpu = CpuTime::thread().since(cpu_0);
        let mut unfinished = 0;
        let mut result = Ok(());
        for task in tasks {
            match timeout_at(timeline.hard_stop, task).await {
                Ok(Ok(stats)) => result = result.and_then(|()| merged.merge(&stats)),
                Ok(Err(_)) | Err(_) => unfinished += 1,
            }
        }
        ThreadResult {
            merged: result.map(|()| merged),
            cpu,
            unfinished,
        }
    })
}
