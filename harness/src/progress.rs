//! What a running sweep shows on stderr (stdout stays for results): a live bar on a terminal,
//! one plain line per finished point otherwise (CI logs, `2>file`), nothing when quiet.
//!
//! Every finished point gets the same line in both visible modes, so a terminal's scrollback
//! and a log file read alike; the bar only adds what is live: the current point, done/total,
//! elapsed time and the ETA.
//!
//! The ETA starts as the plan's estimate minus the time elapsed, and once a point has finished
//! becomes the measured time per point times the points left, minus the time already spent on
//! the current one (so it counts down between points instead of jumping). Skipped points
//! (`--resume`) are not counted: `total_points` is what this run executes.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How much progress to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar on stderr if stderr is a terminal, plain lines on stderr otherwise.
    Auto,
    /// Nothing at all.
    Quiet,
}

/// Progress of one sweep run; every method takes `&self`, so it can be shared by reference.
pub struct Progress {
    sink: Sink,
    clock: Arc<Mutex<Clock>>,
    running: Mutex<HashMap<String, Running>>,
}

enum Sink {
    Quiet,
    Lines,
    Bar(ProgressBar),
}

/// What the ETA is computed from; shared with the bar's `{eta_looplab}` key.
struct Clock {
    started: Instant,
    estimated: Duration,
    total: u64,
    done: u64,
    /// Time from `started` to the latest `finish_point`.
    at_last_finish: Duration,
}

/// A point between `start_point` and `finish_point`.
struct Running {
    number: u64,
    since: Instant,
}

const TEMPLATE: &str =
    "{spinner} [{pos}/{len}] {elapsed_precise} elapsed, eta {eta_looplab}  {wide_msg}";

impl Progress {
    /// Progress of a run executing `total_points` points, expected to take `estimated`.
    pub fn new(mode: ProgressMode, total_points: u64, estimated: Duration) -> Progress {
        let clock = Arc::new(Mutex::new(Clock {
            started: Instant::now(),
            estimated,
            total: total_points,
            done: 0,
            at_last_finish: Duration::ZERO,
        }));
        let sink = match mode {
            ProgressMode::Quiet => Sink::Quiet,
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                Sink::Bar(bar(total_points, Arc::clone(&clock)))
            }
            ProgressMode::Auto => Sink::Lines,
        };
        Progress {
            sink,
            clock,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Point `id` starts; `index` is 0-based among the points this run executes.
    pub fn start_point(&self, index: u64, id: &str) {
        lock(&self.running).insert(
            id.to_string(),
            Running {
                number: index + 1,
                since: Instant::now(),
            },
        );
        if let Sink::Bar(bar) = &self.sink {
            bar.set_message(id.to_string());
        }
    }

    /// Point `id` is done; `summary` is its result in a few words (`3 reps, 812/s, p99 4.1 ms`
    /// or `failed: ...`).
    pub fn finish_point(&self, id: &str, summary: &str) {
        let (number, total, took) = {
            let mut clock = lock(&self.clock);
            let now = clock.started.elapsed();
            let started = lock(&self.running).remove(id);
            let took = started
                .as_ref()
                .map_or(now - clock.at_last_finish, |r| r.since.elapsed());
            clock.done += 1;
            clock.at_last_finish = now;
            let number = started.map_or(clock.done, |r| r.number);
            (number, clock.total, took)
        };
        if let Sink::Bar(bar) = &self.sink {
            bar.inc(1);
        }
        self.println(&finished_line(number, total, id, summary, took));
    }

    /// Prints `line` above the bar, or as a plain line on stderr.
    pub fn println(&self, line: &str) {
        match &self.sink {
            Sink::Quiet => {}
            Sink::Lines => eprintln!("{line}"),
            Sink::Bar(bar) => bar.println(line),
        }
    }

    /// The run is over: removes the bar (the finished lines above it stay).
    pub fn finish(&self) {
        if let Sink::Bar(bar) = &self.sink {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A run that ends by an error leaves no half-drawn bar behind.
    fn drop(&mut self) {
        self.finish();
    }
}

fn bar(total_points: u64, clock: Arc<Mutex<Clock>>) -> ProgressBar {
    let eta = move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
        let clock = lock(&clock);
        let left = eta(
            clock.estimated,
            clock.total,
            clock.done,
            clock.started.elapsed(),
            clock.at_last_finish,
        );
        let _ = w.write_str(&compact(left));
    };
    // The template is a constant; should it ever fail to parse, the default style still works.
    let style = ProgressStyle::with_template(TEMPLATE)
        .map(|s| s.with_key("eta_looplab", eta))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(Some(total_points), ProgressDrawTarget::stderr())
        .with_style(style);
    // Points last seconds: tick on a timer so elapsed and ETA move while one runs.
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take progress display down with it; the data stays usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Time left: the plan's estimate until a point has finished, then the measured time per point
/// for the points left, less what the current point has already used. Never negative.
fn eta(
    estimated: Duration,
    total: u64,
    done: u64,
    elapsed: Duration,
    at_last_finish: Duration,
) -> Duration {
    if done == 0 {
        return estimated.saturating_sub(elapsed);
    }
    let left = u32::try_from(total.saturating_sub(done)).unwrap_or(u32::MAX);
    let per_point = at_last_finish / u32::try_from(done).unwrap_or(u32::MAX);
    (per_point * left).saturating_sub(elapsed.saturating_sub(at_last_finish))
}

/// One finished point: `[ 3/46] loop/hash/p2/c16  812/s, p99 4.1 ms (1.9s)`, the number
/// padded to the width of the total so the ids line up.
fn finished_line(number: u64, total: u64, id: &str, summary: &str, took: Duration) -> String {
    let width = total.to_string().len();
    format!(
        "[{number:>width$}/{total}] {id}  {summary} ({})",
        compact(took)
    )
}

/// `0.4s`, `12.3s`, `1m 05s`, `2h 03m`: tenths while short, then whole units.
fn compact(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_finished_line_pads_the_number_to_the_total() {
        assert_eq!(
            finished_line(3, 46, "loop/hash/p2/c16", "812/s, p99 4.1 ms", secs(1.94)),
            "[ 3/46] loop/hash/p2/c16  812/s, p99 4.1 ms (1.9s)"
        );
        assert_eq!(
            finished_line(
                46,
                46,
                "cluster/file/k4",
                "failed: child exited",
                secs(75.0)
            ),
            "[46/46] cluster/file/k4  failed: child exited (1m 15s)"
        );
        assert_eq!(
            finished_line(7, 120, "a", "ok", secs(0.04)),
            "[  7/120] a  ok (0.0s)"
        );
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(compact(secs(0.44)), "0.4s");
        assert_eq!(compact(secs(59.9)), "59.9s");
        assert_eq!(compact(secs(60.0)), "1m 00s");
        assert_eq!(compact(secs(3599.0)), "59m 59s");
        assert_eq!(compact(secs(7380.0)), "2h 03m");
    }

    #[test]
    fn eta_follows_the_plan_until_a_point_is_measured() {
        let est = secs(100.0);
        assert_eq!(eta(est, 10, 0, secs(30.0), Duration::ZERO), secs(70.0));
        assert_eq!(eta(est, 10, 0, secs(130.0), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn eta_then_uses_measured_time_per_point_and_counts_down() {
        let est = secs(100.0);
        // 2 of 10 points in 40 s: 20 s each, 8 left.
        assert_eq!(eta(est, 10, 2, secs(40.0), secs(40.0)), secs(160.0));
        // 5 s into the third point.
        assert_eq!(eta(est, 10, 2, secs(45.0), secs(40.0)), secs(155.0));
        // All done.
        assert_eq!(eta(est, 10, 10, secs(200.0), secs(200.0)), Duration::ZERO);
        // A point running far longer than the average never goes negative.
        assert_eq!(eta(est, 10, 9, secs(500.0), secs(90.0)), Duration::ZERO);
    }

    #[test]
    fn the_bar_template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn quiet_progress_accepts_every_call() {
        let progress = Progress::new(ProgressMode::Quiet, 2, secs(4.0));
        progress.start_point(0, "a");
        progress.finish_point("a", "ok");
        progress.println("line");
        progress.finish();
        assert_eq!(lock(&progress.clock).done, 1);
        assert!(lock(&progress.running).is_empty());
    }
}
