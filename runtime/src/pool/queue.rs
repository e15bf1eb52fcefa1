//! The pool's one FIFO queue and libuv's slow-IO rule (`src/threadpool.c: post, worker`).
//!
//! Slow-IO jobs (name lookups) wait in their own queue; one marker in the main queue stands for
//! all of them. A thread that reaches the marker:
//! 1. if `(n + 1) / 2` threads already run slow IO, puts the marker back at the tail and goes on
//!    with other work;
//! 2. otherwise takes the head of the slow queue and, if more slow jobs wait, re-queues the
//!    marker at the tail (so slow jobs interleave fairly with the rest).
//!
//! This file is pure bookkeeping under the pool mutex; it never runs a job.

use std::collections::VecDeque;

use super::Job;

enum Entry {
    Job(Job),
    SlowMarker,
}

/// What a pool thread should do next.
pub(crate) enum Next {
    Run { job: Job, slow: bool },
    Wait,
    Exit,
}

pub(crate) struct WorkQueue {
    main: VecDeque<Entry>,
    slow_pending: VecDeque<Job>,
    marker_queued: bool,
    slow_running: usize,
    slow_limit: usize,
    exiting: bool,
}

impl WorkQueue {
    pub fn new(threads: usize) -> Self {
        Self {
            main: VecDeque::new(),
            slow_pending: VecDeque::new(),
            marker_queued: false,
            slow_running: 0,
            slow_limit: threads.div_ceil(2),
            exiting: false,
        }
    }

    /// Appends a job; returns whether an idle thread should be signalled.
    pub fn post(&mut self, job: Job) -> bool {
        if job.class == super::WorkClass::SlowIo {
            self.slow_pending.push_back(job);
            if self.marker_queued {
                // A thread that takes the marker will schedule this job too.
                return false;
            }
            self.marker_queued = true;
            self.main.push_back(Entry::SlowMarker);
        } else {
            self.main.push_back(Entry::Job(job));
        }
        true
    }

    pub fn begin_exit(&mut self) {
        self.exiting = true;
    }

    fn only_blocked_slow_work(&self) -> bool {
        self.main.len() == 1
            && matches!(self.main.front(), Some(Entry::SlowMarker))
            && self.slow_running >= self.slow_limit
    }

    /// Picks the next job for a thread. Queued work is finished before threads exit.
    pub fn next(&mut self) -> Next {
        loop {
            if self.main.is_empty() || self.only_blocked_slow_work() {
                return if self.exiting && self.main.is_empty() && self.slow_pending.is_empty() {
                    Next::Exit
                } else {
                    Next::Wait
                };
            }
            match self.main.pop_front() {
                Some(Entry::Job(job)) => return Next::Run { job, slow: false },
                Some(Entry::SlowMarker) => {
                    if self.slow_running >= self.slow_limit {
                        self.main.push_back(Entry::SlowMarker);
                        continue;
                    }
                    let Some(job) = self.slow_pending.pop_front() else {
                        self.marker_queued = false;
                        continue;
                    };
                    if self.slow_pending.is_empty() {
                        self.marker_queued = false;
                    } else {
                        self.main.push_back(Entry::SlowMarker);
                    }
                    self.slow_running += 1;
                    return Next::Run { job, slow: true };
                }
                None => unreachable!("checked non-empty above"),
            }
        }
    }

    /// Records that a slow job finished, freeing its slot.
    pub fn slow_done(&mut self) {
        self.slow_running -= 1;
    }

    /// Whether more work is runnable (used to signal another idle thread).
    pub fn has_runnable(&self) -> bool {
        !self.main.is_empty() && !self.only_blocked_slow_work()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Job, WorkClass};
    use super::*;

    fn job(class: WorkClass, id: u64) -> Job {
        Job::detached(class, id)
    }

    fn take(q: &mut WorkQueue) -> Option<(u64, bool)> {
        match q.next() {
            Next::Run { job, slow } => Some((job.id, slow)),
            _ => None,
        }
    }

    #[test]
    fn fifo_for_ordinary_work() {
        let mut q = WorkQueue::new(4);
        for id in 0..5 {
            q.post(job(WorkClass::Cpu, id));
        }
        let order: Vec<u64> = std::iter::from_fn(|| take(&mut q).map(|t| t.0)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn slow_io_is_limited_to_half_the_threads_rounded_up() {
        for (threads, limit) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 4)] {
            let mut q = WorkQueue::new(threads);
            for id in 0..10 {
                q.post(job(WorkClass::SlowIo, id));
            }
            let mut running = 0;
            while let Some((_, slow)) = take(&mut q) {
                assert!(slow);
                running += 1;
            }
            assert_eq!(running, limit, "{threads} threads");
            assert!(matches!(q.next(), Next::Wait));
            q.slow_done();
            assert_eq!(take(&mut q), Some((limit as u64, true)));
        }
    }

    #[test]
    fn other_work_overtakes_blocked_slow_work() {
        let mut q = WorkQueue::new(2); // slow limit 1
        q.post(job(WorkClass::SlowIo, 0));
        q.post(job(WorkClass::SlowIo, 1));
        q.post(job(WorkClass::Cpu, 2));
        q.post(job(WorkClass::FastIo, 3));
        assert_eq!(take(&mut q), Some((0, true)));
        // The marker for job 1 is re-queued behind the CPU and fast-IO work.
        assert_eq!(take(&mut q), Some((2, false)));
        assert_eq!(take(&mut q), Some((3, false)));
        assert!(matches!(q.next(), Next::Wait));
        q.slow_done();
        assert_eq!(take(&mut q), Some((1, true)));
    }

    #[test]
    fn exit_only_after_the_queue_is_empty() {
        let mut q = WorkQueue::new(1);
        q.post(job(WorkClass::Cpu, 7));
        q.begin_exit();
        assert_eq!(take(&mut q), Some((7, false)));
        assert!(matches!(q.next(), Next::Exit));
    }
}
