//! Pool timelines as plain spans, for charts: each task's label, the pool thread that ran it,
//! and when it was queued, started and ended, in milliseconds since the experiment started.
//! The staircase and multitask experiments return them beside their report
//! ([`staircase_timed`](super::staircase_timed), [`multitask_timed`](super::multitask_timed)).

use std::time::Instant;

use looplab_runtime::pool::TaskRecord;
use serde::{Deserialize, Serialize};

use super::ExperimentReport;

/// One task on a pool thread.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskSpan {
    /// What ran: `hash 3`, `FS fstat`, ...
    pub label: String,
    /// The pool thread's index (0-based).
    pub thread: usize,
    /// Submitted to the pool, ms since the experiment started.
    pub queued_ms: f64,
    /// Taken by the thread, ms since the experiment started.
    pub started_ms: f64,
    /// Finished, ms since the experiment started.
    pub ended_ms: f64,
}

/// An experiment's report and its pool timeline.
#[derive(Clone, Debug)]
pub struct TimedReport {
    /// The report, as the untimed function returns it.
    pub report: ExperimentReport,
    /// Every pool task, in submission order.
    pub spans: Vec<TaskSpan>,
}

/// The spans of `timeline` relative to `start`, labelled by `label(index, record)`.
pub(crate) fn spans(
    timeline: &[TaskRecord],
    start: Instant,
    mut label: impl FnMut(usize, &TaskRecord) -> String,
) -> Vec<TaskSpan> {
    let ms = |at: Instant| at.saturating_duration_since(start).as_secs_f64() * 1e3;
    timeline
        .iter()
        .enumerate()
        .map(|(i, record)| TaskSpan {
            label: label(i, record),
            thread: record.timing.thread,
            queued_ms: ms(record.timing.queued),
            started_ms: ms(record.timing.started),
            ended_ms: ms(record.timing.finished),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{multitask_timed, staircase_timed, MultitaskConfig, StaircaseConfig};

    #[test]
    fn staircase_spans_are_one_per_hash_in_order_on_the_pool() {
        let config = StaircaseConfig {
            pool: 2,
            calls: 4,
            iterations: 2_000,
            keylen: 64,
        };
        let timed = staircase_timed(&config).unwrap();
        let labels: Vec<&str> = timed.spans.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["hash 1", "hash 2", "hash 3", "hash 4"]);
        for s in &timed.spans {
            assert!(s.thread < 2, "{s:?}");
            assert!(0.0 <= s.queued_ms && s.queued_ms <= s.started_ms, "{s:?}");
            assert!(s.started_ms <= s.ended_ms, "{s:?}");
        }
    }

    #[test]
    fn multitask_spans_name_the_hashes_and_the_file_trips() {
        let config = MultitaskConfig {
            pool: 4,
            iterations: 2_000,
            keylen: 64,
        };
        let timed = multitask_timed(&config).unwrap();
        let labels: Vec<&str> = timed.spans.iter().map(|s| s.label.as_str()).collect();
        for expected in ["Hash 1", "Hash 4", "FS open", "FS fstat", "FS close"] {
            assert!(labels.contains(&expected), "{labels:?}");
        }
    }
}
