//! The thread pool: libuv's `src/threadpool.c` in Rust.
//!
//! One queue, one mutex, one condition variable (POSIX ones, as libuv's: `posix_sync.rs`), a
//! fixed number of threads started all at once on the first submission. Every loop of a process
//! shares one pool (`ThreadPool::global`), sized from explicit configuration or else from
//! `UV_THREADPOOL_SIZE` exactly as libuv parses it.
//!
//! Life of a work item:
//! 1. a loop posts a [`Job`] at the tail of the queue and signals one idle thread;
//! 2. a thread takes the head (strict FIFO; slow IO limited as in [`queue`]), runs it unlocked;
//! 3. it hands the result to the submitting loop's completion queue and wakes that loop once
//!    (wake-ups coalesce); the loop runs the `after_work` callback in its poll phase.
//!
//! Shutdown: dropping the pool lets queued work finish, then every thread exits and is joined.

mod queue;
mod size;

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

pub use size::{
    size_from_env, size_from_env_value, validate_size, DEFAULT_POOL_SIZE, MAX_POOL_SIZE,
    POOL_SIZE_ENV,
};

use crate::posix_sync::{PosixCondvar, PosixMutex};
use crate::RuntimeError;
use queue::{Next, WorkQueue};

/// libuv's three kinds of pool work (`src/uv-common.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkClass {
    /// `uv_queue_work`, `uv_random`: hashing, compression, user work.
    Cpu,
    /// Every `uv_fs_*` call with a callback.
    FastIo,
    /// `uv_getaddrinfo`, `uv_getnameinfo`: at most `(n + 1) / 2` threads at once.
    SlowIo,
}

impl WorkClass {
    /// A short lowercase name for tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkClass::Cpu => "cpu",
            WorkClass::FastIo => "fast-io",
            WorkClass::SlowIo => "slow-io",
        }
    }
}

/// What kind of work a submission is, and the name it has in timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkSpec {
    /// Scheduling class.
    pub class: WorkClass,
    /// Operation name shown in timelines (`"pbkdf2"`, `"fs.open"`, ...).
    pub name: &'static str,
}

impl WorkSpec {
    /// CPU work with a name.
    pub const fn cpu(name: &'static str) -> Self {
        Self {
            class: WorkClass::Cpu,
            name,
        }
    }
    /// Fast IO (file system) work with a name.
    pub const fn fast_io(name: &'static str) -> Self {
        Self {
            class: WorkClass::FastIo,
            name,
        }
    }
    /// Slow IO (name lookup) work with a name.
    pub const fn slow_io(name: &'static str) -> Self {
        Self {
            class: WorkClass::SlowIo,
            name,
        }
    }
}

/// When and where one work item ran.
#[derive(Clone, Copy, Debug)]
pub struct TaskTiming {
    /// Scheduling class.
    pub class: WorkClass,
    /// Index of the pool thread that ran it (0-based).
    pub thread: usize,
    /// Submitted.
    pub queued: Instant,
    /// Taken by a thread.
    pub started: Instant,
    /// Finished running (the completion is then on its way to the loop).
    pub finished: Instant,
}

/// One task in a pool timeline.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// Submission sequence number in this pool (0-based, in submission order).
    pub seq: u64,
    /// Operation name from its [`WorkSpec`].
    pub name: &'static str,
    /// Timing.
    pub timing: TaskTiming,
}

/// The wave of each task in a timeline (indexed like `records`): one more than the highest wave
/// among the tasks that had *finished* when it *started*. With a FIFO queue and identical tasks
/// this groups them exactly as the queue released them: waves of the pool size (NODE_MODEL.md
/// 5 (a)).
pub fn waves(records: &[TaskRecord]) -> Vec<usize> {
    let mut by_start: Vec<usize> = (0..records.len()).collect();
    by_start.sort_by_key(|&i| records[i].timing.started);
    let mut wave = vec![0; records.len()];
    for &i in &by_start {
        let before = by_start
            .iter()
            .filter(|&&j| records[j].timing.finished <= records[i].timing.started)
            .map(|&j| wave[j])
            .max()
            .unwrap_or(0);
        wave[i] = before + 1;
    }
    wave
}

/// The sizes of consecutive waves as [`waves`] numbers them, e.g. `[4, 2]`.
pub fn wave_sizes(waves: &[usize]) -> Vec<usize> {
    let top = waves.iter().copied().max().unwrap_or(0);
    (1..=top)
        .map(|w| waves.iter().filter(|&&x| x == w).count())
        .collect()
}

/// The longest run time (taken to finished) among a timeline's tasks over the shortest: 1.0
/// when each took as long as the others. For identical tasks, [`waves`] follows from the FIFO
/// order alone while this stays within 1.5 (a simulation of FIFO pools of 1, 2 and 4 threads
/// over 6 tasks with random run times within 1.5× found no exception); beyond it, as when one
/// pool thread shares a core and another does not, a fast thread can run ahead into the next
/// wave. An empty timeline gives 1.0; one with a task that took no measurable time, infinity.
pub fn run_time_spread(records: &[TaskRecord]) -> f64 {
    let runs = records.iter().map(|r| {
        r.timing
            .finished
            .saturating_duration_since(r.timing.started)
    });
    let (Some(shortest), Some(longest)) = (runs.clone().min(), runs.max()) else {
        return 1.0;
    };
    if shortest.is_zero() {
        return f64::INFINITY;
    }
    longest.as_secs_f64() / shortest.as_secs_f64()
}

pub(crate) type WorkFn = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// A finished job on its way back to the loop that submitted it.
pub(crate) struct Completion {
    pub req: usize,
    pub result: std::thread::Result<Box<dyn Any + Send>>,
    pub timing: TaskTiming,
}

/// Where a finished job goes: the submitting loop's completion queue.
pub(crate) trait CompletionSink: Send + Sync {
    fn deliver(&self, completion: Completion);
}

pub(crate) struct Job {
    pub id: u64,
    seq: u64,
    pub class: WorkClass,
    name: &'static str,
    run: WorkFn,
    sink: Arc<dyn CompletionSink>,
    queued: Instant,
}

#[cfg(test)]
impl Job {
    pub fn detached(class: WorkClass, id: u64) -> Self {
        struct Nowhere;
        impl CompletionSink for Nowhere {
            fn deliver(&self, _: Completion) {}
        }
        Job {
            id,
            seq: id,
            class,
            name: "test",
            run: Box::new(|| Box::new(())),
            sink: Arc::new(Nowhere),
            queued: Instant::now(),
        }
    }
}

struct QueueState {
    queue: WorkQueue,
    idle_threads: usize,
    /// Signals sent to idle threads that have not woken yet. libuv signals on every post while
    /// any thread is idle; counting these avoids a futex wake per post for a thread that is
    /// already being woken. Which thread runs what, and in which order, is unchanged.
    signals_in_flight: usize,
}

impl QueueState {
    fn signal_idle(&mut self, cond: &PosixCondvar) {
        if self.idle_threads > self.signals_in_flight {
            self.signals_in_flight += 1;
            cond.notify_one();
        }
    }
}

struct Shared {
    state: PosixMutex<QueueState>,
    cond: PosixCondvar,
    timeline_on: AtomicBool,
    timeline: Mutex<Vec<TaskRecord>>,
    next_seq: AtomicU64,
    os_thread_ids: Mutex<Vec<i32>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in user work is caught before it can poison these locks; recover anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    static CURRENT_THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the pool thread running the caller, or `None` outside the pool.
pub fn current_thread() -> Option<usize> {
    CURRENT_THREAD.with(Cell::get)
}

/// A fixed-size pool of threads with one FIFO queue, shared by any number of event loops.
pub struct ThreadPool {
    size: usize,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    started: OnceLock<()>,
}

static GLOBAL: OnceLock<Arc<ThreadPool>> = OnceLock::new();

impl ThreadPool {
    /// A pool of `size` threads (1..=1024), not started until its first submission.
    pub fn with_size(size: usize) -> Result<Arc<Self>, RuntimeError> {
        let size = validate_size(size)?;
        Ok(Arc::new(Self {
            size,
            shared: Arc::new(Shared {
                state: PosixMutex::new(QueueState {
                    queue: WorkQueue::new(size),
                    idle_threads: 0,
                    signals_in_flight: 0,
                }),
                cond: PosixCondvar::new(),
                timeline_on: AtomicBool::new(false),
                timeline: Mutex::new(Vec::new()),
                next_seq: AtomicU64::new(0),
                os_thread_ids: Mutex::new(Vec::new()),
            }),
            threads: Mutex::new(Vec::new()),
            started: OnceLock::new(),
        }))
    }

    /// The process pool every loop uses unless built with its own. Its size is the one given to
    /// [`ThreadPool::configure_global`], else read from `UV_THREADPOOL_SIZE` at the first call.
    pub fn global() -> Arc<Self> {
        GLOBAL
            .get_or_init(|| {
                Self::with_size(size_from_env()).expect("size_from_env is always in range")
            })
            .clone()
    }

    /// Fixes the process pool's size before its first use (like setting `UV_THREADPOOL_SIZE`
    /// before the first pool call). Fails if it already exists with another size.
    pub fn configure_global(size: usize) -> Result<Arc<Self>, RuntimeError> {
        let size = validate_size(size)?;
        let pool = GLOBAL.get_or_init(|| Self::with_size(size).expect("validated"));
        if pool.size == size {
            Ok(pool.clone())
        } else {
            Err(RuntimeError::PoolAlreadyStarted {
                running: pool.size,
                wanted: size,
            })
        }
    }

    /// Number of threads (whether or not they have started yet).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the threads exist (they start at the first submission).
    pub fn is_started(&self) -> bool {
        self.started.get().is_some()
    }

    /// OS thread ids (`gettid`) of the pool threads, empty before start.
    pub fn os_thread_ids(&self) -> Vec<i32> {
        lock(&self.shared.os_thread_ids).clone()
    }

    /// Starts recording a [`TaskRecord`] for every task that finishes from now on.
    pub fn enable_timeline(&self) {
        self.shared.timeline_on.store(true, Ordering::Release);
    }

    /// Takes the records so far, ordered by submission.
    pub fn take_timeline(&self) -> Vec<TaskRecord> {
        let mut records = std::mem::take(&mut *lock(&self.shared.timeline));
        records.sort_by_key(|r| r.seq);
        records
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            // Like libuv's init_threads: create them all, wait until each has started.
            let barrier = Arc::new(Barrier::new(self.size + 1));
            let mut threads = lock(&self.threads);
            for index in 0..self.size {
                let shared = Arc::clone(&self.shared);
                let barrier = Arc::clone(&barrier);
                let spawned = std::thread::Builder::new()
                    .name(format!("pool-{index}"))
                    .stack_size(8 << 20)
                    .spawn(move || {
                        // SAFETY: gettid has no preconditions.
                        let tid = unsafe { libc::gettid() };
                        lock(&shared.os_thread_ids).push(tid);
                        barrier.wait();
                        worker(&shared, index);
                    });
                match spawned {
                    Ok(handle) => threads.push(handle),
                    // libuv aborts here; a process that cannot create threads cannot go on.
                    Err(e) => panic!("cannot start pool thread {index}: {e}"),
                }
            }
            drop(threads);
            barrier.wait();
        });
    }

    pub(crate) fn submit(
        &self,
        spec: WorkSpec,
        req: usize,
        run: WorkFn,
        sink: Arc<dyn CompletionSink>,
    ) {
        self.start();
        let job = Job {
            id: req as u64,
            seq: self.shared.next_seq.fetch_add(1, Ordering::Relaxed),
            class: spec.class,
            name: spec.name,
            run,
            sink,
            queued: Instant::now(),
        };
        let mut state = self.shared.state.lock();
        if state.queue.post(job) {
            state.signal_idle(&self.shared.cond);
        }
    }
}

fn worker(shared: &Shared, index: usize) {
    CURRENT_THREAD.with(|c| c.set(Some(index)));
    let mut state = shared.state.lock();
    loop {
        match state.queue.next() {
            Next::Wait => {
                state.idle_threads += 1;
                state = shared.cond.wait(state);
                state.idle_threads -= 1;
                state.signals_in_flight = state.signals_in_flight.saturating_sub(1);
            }
            Next::Exit => {
                shared.cond.notify_all();
                return;
            }
            Next::Run { job, slow } => {
                // libuv signals here only when it re-queued the slow-IO marker.
                if slow && state.queue.has_runnable() {
                    state.signal_idle(&shared.cond);
                }
                drop(state);
                run_job(shared, index, job);
                state = shared.state.lock();
                if slow {
                    state.queue.slow_done();
                }
            }
        }
    }
}

// Never inlined: the instruction benches (runtime/benches/instructions.rs) count a pool
// thread's share of a trip from this function's entry, not the thread's waiting for work.
#[inline(never)]
fn run_job(shared: &Shared, index: usize, job: Job) {
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(job.run));
    let timing = TaskTiming {
        class: job.class,
        thread: index,
        queued: job.queued,
        started,
        finished: Instant::now(),
    };
    if shared.timeline_on.load(Ordering::Acquire) {
        lock(&shared.timeline).push(TaskRecord {
            seq: job.seq,
            name: job.name,
            timing,
        });
    }
    job.sink.deliver(Completion {
        req: job.id as usize,
        result,
        timing,
    });
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.state.lock().queue.begin_exit();
        self.shared.cond.notify_all();
        for handle in lock(&self.threads).drain(..) {
            // A thread only ends by returning; user panics are caught in run_job.
            let _ = handle.join();
        }
    }
}
