//! What a job is, wherever it runs: its kind (the mix rotation), its files, the plain-thread
//! version of its work (tokio, rayon, worker threads), and the tally that turns completions
//! into a [`BatchReport`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdrhistogram::Histogram;
use looplab_runtime::crypto;
use looplab_runtime::metrics::LoopMetrics;

use super::{BatchReport, PoolWait};
use crate::deploy::{Deployment, FileMode};
use crate::error::WorkloadError;
use crate::experiments::io_err;
use crate::serve::{Kind, HASH_KEYLEN};

/// The course's hash arguments: `pbkdf2('a', 'b', ...)`.
pub(super) const PASSWORD: &[u8] = b"a";
pub(super) const SALT: &[u8] = b"b";

/// Everything jobs need, shared (read-only) by every job of every run.
#[derive(Debug)]
pub(super) struct Work {
    /// The mix expanded by weight, in order.
    rotation: Vec<Kind>,
    pub iterations: u64,
    pub file_bytes: usize,
    pub mode: FileMode,
    /// The file `FileMode::Read` jobs read.
    read_path: PathBuf,
    dir: PathBuf,
}

impl Work {
    /// Expands the mix and, for [`FileMode::Read`], writes the file the jobs read.
    pub fn new(spec: &Deployment, dir: &Path) -> Result<Work, WorkloadError> {
        let work = Work {
            rotation: spec
                .mix
                .iter()
                .flat_map(|&(kind, weight)| std::iter::repeat_n(kind, weight as usize))
                .collect(),
            iterations: spec.hash_iterations,
            file_bytes: spec.file_bytes,
            mode: spec.file_mode,
            read_path: dir.join("read.bin"),
            dir: dir.to_path_buf(),
        };
        let reads = work.rotation.contains(&Kind::File) && work.mode == FileMode::Read;
        if reads {
            std::fs::write(&work.read_path, work.payload())
                .map_err(io_err(format!("write {}", work.read_path.display())))?;
        }
        Ok(work)
    }

    /// The kind of job `job`.
    pub fn kind(&self, job: u32) -> Kind {
        self.rotation[job as usize % self.rotation.len()]
    }

    /// The file job `job` reads (and, in [`FileMode::WriteThenRead`], writes first).
    pub fn file_path(&self, job: u32) -> PathBuf {
        match self.mode {
            FileMode::Read => self.read_path.clone(),
            FileMode::WriteThenRead => self.dir.join(format!("job-{job}.bin")),
        }
    }

    /// What a file holds.
    pub fn payload(&self) -> Vec<u8> {
        vec![b'x'; self.file_bytes]
    }

    /// Job `job` on the calling thread, with `std::fs` for files.
    pub fn run_here(&self, job: u32) -> Result<(), String> {
        match self.kind(job) {
            Kind::Hello | Kind::Busy => Ok(()),
            Kind::Hash | Kind::HashSync => hash(self.iterations),
            Kind::File => self.file_here(job),
        }
    }

    fn file_here(&self, job: u32) -> Result<(), String> {
        let path = self.file_path(job);
        if self.mode == FileMode::WriteThenRead {
            std::fs::write(&path, self.payload())
                .map_err(|e| format!("write '{}': {e}", path.display()))?;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("read '{}': {e}", path.display()))?;
        check_len("file", bytes.len(), self.file_bytes)
    }
}

/// One PBKDF2 of the course's arguments on the calling thread.
pub(super) fn hash(iterations: u64) -> Result<(), String> {
    let key =
        crypto::pbkdf2_sync(PASSWORD, SALT, iterations, HASH_KEYLEN).map_err(|e| e.to_string())?;
    check_len("key", key.len(), HASH_KEYLEN)
}

/// A job's result check: `what` came back with `got` bytes, `want` expected.
pub(super) fn check_len(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} has {got} bytes, expected {want}"))
    }
}

/// Completions of one batch, as they come.
pub(super) struct Tally {
    start: Instant,
    latency_us: Histogram<u64>,
    completed: u32,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    /// An empty tally for a batch that starts at `start`.
    pub fn new(start: Instant) -> Tally {
        Tally {
            start,
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            completed: 0,
            errors: 0,
            first_error: None,
        }
    }

    /// One job ended at `at` with `outcome`.
    pub fn record(&mut self, at: Instant, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.completed += 1;
                let us = at.saturating_duration_since(self.start).as_micros();
                self.latency_us
                    .saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// The report of a batch of `jobs` jobs that was over at `end`.
    pub fn into_report(
        self,
        jobs: u32,
        end: Instant,
        loop_utilization: Option<f64>,
        pool_wait: Option<PoolWait>,
    ) -> BatchReport {
        BatchReport {
            jobs,
            completed: self.completed,
            errors: self.errors,
            first_error: self.first_error,
            makespan: end.saturating_duration_since(self.start),
            latency_us: self.latency_us,
            loop_utilization,
            pool_wait,
        }
    }
}

/// The queue wait of the pool tasks a loop completed between two metric snapshots.
pub(super) fn pool_wait_between(before: &LoopMetrics, after: &LoopMetrics) -> PoolWait {
    let tasks_of = |m: &LoopMetrics| m.pool.iter().map(|c| c.tasks).sum::<u64>();
    let wait_ns_of = |m: &LoopMetrics| m.pool.iter().map(|c| c.wait_ns).sum::<u64>();
    let tasks = tasks_of(after).saturating_sub(tasks_of(before));
    if tasks == 0 {
        return PoolWait {
            tasks: 0,
            mean_us: 0.0,
            p99_us: 0.0,
            max_us: 0.0,
        };
    }
    let wait_ns = wait_ns_of(after).saturating_sub(wait_ns_of(before));
    let mut waits = after.pool_wait_us.clone();
    // Both come from the same loop with the same bounds, and `after` holds every sample of
    // `before`, so this cannot fail; if it ever did, the cumulative figures are the fallback.
    let _ = waits.subtract(&before.pool_wait_us);
    PoolWait {
        tasks,
        mean_us: wait_ns as f64 / tasks as f64 / 1e3,
        p99_us: waits.value_at_quantile(0.99) as f64,
        max_us: waits.max() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(mix: Vec<(Kind, u32)>) -> Work {
        let spec = Deployment {
            pool: 1,
            hash_iterations: 1,
            file_bytes: 0,
            file_mode: FileMode::WriteThenRead,
            ..Deployment::new(crate::deploy::Strategy::Loop, mix)
        };
        Work::new(&spec, Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn kinds_rotate_by_weight() {
        let work = work(vec![(Kind::Hello, 8), (Kind::Hash, 1), (Kind::File, 1)]);
        let kinds: Vec<Kind> = (0..20).map(|job| work.kind(job)).collect();
        for ten in kinds.chunks(10) {
            assert_eq!(ten.iter().filter(|&&k| k == Kind::Hello).count(), 8);
            assert_eq!(ten.iter().filter(|&&k| k == Kind::Hash).count(), 1);
            assert_eq!(ten.iter().filter(|&&k| k == Kind::File).count(), 1);
        }
        assert_eq!(kinds[..10], kinds[10..]);
    }

    #[test]
    fn zero_weights_take_no_turn() {
        let work = work(vec![(Kind::Hash, 0), (Kind::File, 2)]);
        assert!((0..6).all(|job| work.kind(job) == Kind::File));
    }

    #[test]
    fn each_written_file_is_its_own() {
        let work = work(vec![(Kind::File, 1)]);
        assert_ne!(work.file_path(0), work.file_path(1));
    }

    #[test]
    fn failures_are_counted_not_timed() {
        let start = Instant::now();
        let mut tally = Tally::new(start);
        tally.record(start, Ok(()));
        tally.record(start, Err("boom".into()));
        tally.record(start, Err("later".into()));
        let report = tally.into_report(3, start, None, None);
        assert_eq!((report.completed, report.errors), (1, 2));
        assert_eq!(report.latency_us.len(), 1);
        assert_eq!(report.first_error.as_deref(), Some("boom"));
    }

    #[test]
    fn a_wrong_length_is_an_error() {
        assert!(check_len("file", 3, 4)
            .unwrap_err()
            .contains("3 bytes, expected 4"));
        assert_eq!(check_len("file", 4, 4), Ok(()));
    }
}
