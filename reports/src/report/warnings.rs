//! What a reader must know before trusting the numbers. Each [`Warning`] has a kind (for
//! tests and the summary) and a sentence naming the points concerned.
//!
//! The checks, in the order the report lists them:
//! 1. Points with failed repetitions, or with errors counted by the generator.
//! 2. The load generator was the limit (`generator_limited` = 1 in any repetition).
//! 3. High variance: throughput's (max - min) / median above [`HIGH_SPREAD`].
//! 4. Fewer cores than the parallelism swept.
//! 5. Single repetitions (no spread, no noise verdict).
//! 6. Unstable windows: a point whose windows had, in some repetition, other processes using
//!    more than [`FOREIGN_CORES`] of a core, the hypervisor stealing more than [`STEAL_CORES`],
//!    or a speed sentinel more than [`SLOW_SENTINEL`] times the sweep's median sentinel (the
//!    cores ran slow around it).
//! 7. An unfinished sweep, records from several machines, unreadable histograms or files.

use super::data::{metric, PointSummary, SweepData};
use crate::store::Optional;

/// Relative spread of throughput above which a point is flagged.
pub const HIGH_SPREAD: f64 = 0.20;
/// Other processes' CPU over a window above which it is flagged, in cores.
pub const FOREIGN_CORES: f64 = 0.25;
/// Stolen CPU over a window above which it is flagged, in cores.
pub const STEAL_CORES: f64 = 0.05;
/// A sentinel this many times the sweep's median flags its repetition.
pub const SLOW_SENTINEL: f64 = 1.3;

/// The kinds of warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarningKind {
    /// Failed repetitions or errors.
    Errors,
    /// The generator was the limit.
    GeneratorLimited,
    /// High variance across repetitions.
    HighVariance,
    /// Fewer cores than the parallelism swept.
    FewCores,
    /// One repetition only.
    SingleRepetition,
    /// Windows measured while the machine was not steady.
    Unstable,
    /// Anything about the folder itself.
    Folder,
}

/// One warning.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// Its kind.
    pub kind: WarningKind,
    /// What to know, as a sentence.
    pub text: String,
}

fn list(points: &[&PointSummary]) -> String {
    points
        .iter()
        .map(|p| p.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every warning for a sweep, in the order of the module's list.
pub fn warnings(data: &SweepData) -> Vec<Warning> {
    let mut out = errors(data);
    out.extend(generator_limited(data));
    out.extend(high_variance(data));
    out.extend(few_cores(data).map(|text| Warning::new(WarningKind::FewCores, text)));
    out.extend(single_repetitions(data));
    out.extend(unstable(data));
    out.extend(
        folder_warnings(data)
            .into_iter()
            .map(|text| Warning::new(WarningKind::Folder, text)),
    );
    out
}

impl Warning {
    fn new(kind: WarningKind, text: String) -> Self {
        Self { kind, text }
    }
}

/// Rule 1: per point, its failed repetitions, then the errors its generator counted.
fn errors(data: &SweepData) -> Vec<Warning> {
    let mut out = Vec::new();
    for p in &data.points {
        if !p.failures.is_empty() {
            out.push(Warning::new(
                WarningKind::Errors,
                format!(
                    "{}: {} of {} repetitions failed ({}).",
                    p.id,
                    p.failures.len(),
                    p.repetitions,
                    p.failures.join("; ")
                ),
            ));
        }
        let errors = p.metric(metric::ERRORS).map_or(0.0, |s| s.max);
        if errors > 0.0 {
            out.push(Warning::new(
                WarningKind::Errors,
                format!(
                    "{}: the load generator counted errors (up to {errors} in a repetition).",
                    p.id
                ),
            ));
        }
    }
    out
}

/// Rule 2: the points where the generator was the limit, in one warning.
fn generator_limited(data: &SweepData) -> Option<Warning> {
    let limited: Vec<&PointSummary> = data.points.iter().filter(|p| p.generator_limited).collect();
    (!limited.is_empty()).then(|| {
        Warning::new(
            WarningKind::GeneratorLimited,
            format!(
                "The load generator was the limit (generator_limited = 1) in at least one \
                 repetition of {} point(s); their throughput is a floor, not the server's: {}.",
                limited.len(),
                list(&limited)
            ),
        )
    })
}

/// Rule 3: the points whose throughput spread is above [`HIGH_SPREAD`], in one warning.
fn high_variance(data: &SweepData) -> Option<Warning> {
    let noisy: Vec<String> = data
        .points
        .iter()
        .filter_map(|p| {
            let s = p.metric(metric::THROUGHPUT)?;
            (s.count >= 2 && s.relative_spread() > HIGH_SPREAD)
                .then(|| format!("{} ({:.0} %)", p.id, s.relative_spread() * 100.0))
        })
        .collect();
    (!noisy.is_empty()).then(|| {
        Warning::new(
            WarningKind::HighVariance,
            format!(
                "High variance across repetitions: throughput's (max - min) / median is above \
                 {:.0} % for {}.",
                HIGH_SPREAD * 100.0,
                noisy.join(", ")
            ),
        )
    })
}

/// Rule 6: the points with a window measured on an unsteady machine, and why.
fn unstable(data: &SweepData) -> Option<Warning> {
    let mut sentinels: Vec<f64> = data
        .points
        .iter()
        .filter_map(|p| p.median(metric::SENTINEL))
        .collect();
    sentinels.sort_by(f64::total_cmp);
    let typical = sentinels.get(sentinels.len() / 2).copied();
    let max = |p: &PointSummary, name| p.metric(name).map(|s| s.max);
    let flagged: Vec<String> = data
        .points
        .iter()
        .filter_map(|p| {
            let mut why = Vec::new();
            if let Some(f) = max(p, metric::FOREIGN_CPU).filter(|f| *f > FOREIGN_CORES) {
                why.push(format!("other processes {f:.2} cores"));
            }
            if let Some(s) = max(p, metric::STEAL).filter(|s| *s > STEAL_CORES) {
                why.push(format!("steal {s:.2} cores"));
            }
            if let (Some(s), Some(t)) = (max(p, metric::SENTINEL), typical) {
                if s > t * SLOW_SENTINEL {
                    why.push(format!("sentinel {:.1}x the sweep's median", s / t));
                }
            }
            (!why.is_empty()).then(|| format!("{} ({})", p.id, why.join(", ")))
        })
        .collect();
    (!flagged.is_empty()).then(|| {
        Warning::new(
            WarningKind::Unstable,
            format!(
                "Unstable windows: the machine was not steady while these points were measured \
                 (worst repetition shown): {}.",
                flagged.join("; ")
            ),
        )
    })
}

/// Rule 5: the points with a single ok repetition (or "every point"), in one warning.
fn single_repetitions(data: &SweepData) -> Option<Warning> {
    let single: Vec<&PointSummary> = data.points.iter().filter(|p| p.ok == 1).collect();
    if single.is_empty() {
        return None;
    }
    let which = if single.len() == data.points.len() {
        "every point".to_string()
    } else {
        format!("{} point(s): {}", single.len(), list(&single))
    };
    Some(Warning::new(
        WarningKind::SingleRepetition,
        format!(
            "A single ok repetition for {which}: no spread is shown and no difference can \
             be called beyond the noise; run with --repetitions 4 or more."
        ),
    ))
}

/// Rule 4: the largest parallelism (threads or processes doing the work) against the cores.
fn few_cores(data: &SweepData) -> Option<String> {
    let cores = data.meta.machine.cores;
    let widest = data
        .points
        .iter()
        .filter_map(|p| {
            let c = &p.coords;
            let width = c.parallelism?.max(c.pool.unwrap_or(1));
            Some((width, p))
        })
        .max_by_key(|(w, _)| *w)?;
    (widest.0 > cores).then(|| {
        format!(
            "The machine has {cores} core(s) but the sweep went up to a parallelism of {} \
             (e.g. {}): beyond {cores}, threads and processes share cores, so more of them \
             cannot add CPU throughput.",
            widest.0, widest.1.id
        )
    })
}

fn folder_warnings(data: &SweepData) -> Vec<String> {
    let mut out = Vec::new();
    if data.meta.finished_at.is_none() {
        out.push(
            "The sweep did not finish (no end time in meta.json): some points may be missing; \
             finish it with `lab sweep --resume DIR`."
                .to_string(),
        );
    }
    let mut machines: Vec<&str> = data
        .meta
        .sources
        .iter()
        .map(|s| s.machine.hostname.as_str())
        .collect();
    machines.sort_unstable();
    machines.dedup();
    if machines.len() > 1 {
        out.push(format!(
            "This folder merges measurements from {} machines ({}): points measured on \
             different machines are compared here as if they were one.",
            machines.len(),
            machines.join(", ")
        ));
    }
    out.extend(data.read_warnings.iter().cloned());
    for unreadable in [&data.experiments_warning(), &data.calibration_warning()]
        .into_iter()
        .flatten()
    {
        out.push(unreadable.clone());
    }
    out
}

impl SweepData {
    fn experiments_warning(&self) -> Option<String> {
        match &self.experiments {
            Optional::Unreadable(w) => Some(w.clone()),
            _ => None,
        }
    }

    fn calibration_warning(&self) -> Option<String> {
        match &self.calibration {
            Optional::Unreadable(w) => Some(w.clone()),
            _ => None,
        }
    }
}
