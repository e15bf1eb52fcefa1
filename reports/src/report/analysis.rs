//! The answer the report opens with, and the choices behind every chart. The rules, as the
//! report states them ([`RULES`]):
//!
//! 1. Candidates: a workload's closed-loop points (no offered rate; in batch mode, all), or,
//!    when it has only open-loop ones, those at the highest offered rate (where configurations
//!    differ). A point with no ok repetition never wins.
//! 2. Best: the candidate with the highest median throughput.
//! 3. Plain loop: `loop` with pool size 4 (Node's default `UV_THREADPOOL_SIZE`), the best such
//!    point if there are several (other connection counts); else the best `loop` point.
//! 4. Runner-up: the best candidate of another strategy, so the comparison answers "which way
//!    of using the cores", not "which pool size"; the lab's one rule ([`crate::noise`])
//!    compares the two throughputs over their repetitions, unless either point's throughput
//!    was set by the load generator: then the comparison is unknown.
//! 5. Where several points share a strategy and a parallelism (cluster K=2 at pool sizes 1, 2
//!    and 4, ...), charts draw the one with the highest median throughput.

use std::collections::BTreeMap;

use looplab_workloads::deploy::Strategy;

use super::data::{PointSummary, SweepData};
use crate::noise::{judge_family, Judgement, Unknown, DEFAULT_THRESHOLD_PCT};

/// The rules of this module as sentences, for the report.
pub const RULES: [&str; 5] = [
    "Best: the configuration with the highest median throughput among the workload's \
     closed-loop points (when there are none, among its open-loop points at the highest \
     offered rate); tokio and rayon are references Node cannot deploy: drawn, never the \
     answer.",
    "Parallelism: loop = pool size P (1 without a pool); workers = worker threads W; \
     cluster = processes K; loop-blocking = 1; tokio and rayon are references with one \
     configuration, drawn as dashed horizontal lines.",
    "Plain loop: strategy loop with pool size 4 (Node's default UV_THREADPOOL_SIZE); \
     if the sweep has no such point, the best loop point.",
    "Runner-up: the best configuration of another strategy. A comparison where either side's \
     load generator was the limit is not judged: its figures are the generator's.",
    "Where several points share a strategy and a parallelism (other pool sizes, connection \
     counts), the charts draw the one with the highest median throughput.",
];

/// Node's default pool size, which defines the plain loop.
pub const NODE_DEFAULT_POOL: u32 = 4;

/// Which point serves as the plain loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainLoop {
    /// `loop` with pool size 4.
    NodeDefault,
    /// No `loop/pool 4` point: the best `loop` point.
    BestLoop,
}

/// The answer for one workload.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The workload.
    pub workload: String,
    /// Its best configuration.
    pub best: &'a PointSummary,
    /// The plain loop, when the sweep has a `loop` point for this workload.
    pub plain: Option<(&'a PointSummary, PlainLoop)>,
    /// The best configuration over the plain loop, judged by the lab's one rule.
    pub speedup_noise: Option<Judgement>,
    /// The best configuration of another strategy, and the rule's judgement of the best over
    /// it.
    pub runner_up: Option<(&'a PointSummary, Judgement)>,
}

impl<'a> Answer<'a> {
    /// The plain loop, when it is another point than the best (a point is not compared with
    /// itself).
    fn plain_other(&self) -> Option<&'a PointSummary> {
        self.plain
            .map(|(p, _)| p)
            .filter(|p| !std::ptr::eq(*p, self.best))
    }

    /// The points the best is compared with: the plain loop (when another point), then the
    /// runner-up.
    fn compared(&self) -> impl Iterator<Item = &'a PointSummary> {
        [self.plain_other(), self.runner_up.map(|r| r.0)]
            .into_iter()
            .flatten()
    }

    /// Best throughput over the plain loop's.
    pub fn speedup(&self) -> Option<f64> {
        let (plain, _) = self.plain?;
        ratio(self.best.throughput(), plain.throughput())
    }

    /// Best throughput over the runner-up's.
    pub fn runner_up_ratio(&self) -> Option<f64> {
        let (other, _) = self.runner_up?;
        ratio(self.best.throughput(), other.throughput())
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Rule 1: the points a workload's answer and charts choose among.
pub fn candidates<'a>(data: &'a SweepData, workload: &'a str) -> Vec<&'a PointSummary> {
    let all: Vec<&PointSummary> = data.of_workload(workload).filter(|p| p.ok > 0).collect();
    let closed: Vec<&PointSummary> = all
        .iter()
        .copied()
        .filter(|p| !p.coords.is_open_loop())
        .collect();
    if !closed.is_empty() {
        return closed;
    }
    // Open loop only: compare where the difference shows, at the highest offered rate.
    let top_rate = all.iter().filter_map(|p| p.coords.rate_per_s).max();
    all.into_iter()
        .filter(|p| p.coords.rate_per_s == top_rate)
        .collect()
}

/// The point with the highest median throughput; ties go to the first listed.
pub fn best<'a>(points: impl IntoIterator<Item = &'a PointSummary>) -> Option<&'a PointSummary> {
    points
        .into_iter()
        .fold(None, |acc: Option<&PointSummary>, p| match acc {
            Some(a) if a.throughput() >= p.throughput() => Some(a),
            _ => Some(p),
        })
}

/// The answer for every workload that has a candidate, in report order; the speed-ups over
/// the plain loop and the runners-up are judged together, as one family of the rule. A
/// comparison with a generator-limited side is not judged (its figures are the generator's).
pub fn answers(data: &SweepData) -> Vec<Answer<'_>> {
    let mut answers: Vec<Answer<'_>> = data
        .workloads
        .iter()
        .filter_map(|workload| answer(data, workload))
        .collect();
    let pairs: Vec<(&PointSummary, &PointSummary)> = answers
        .iter()
        .flat_map(|a| a.compared().map(|other| (other, a.best)))
        .collect();
    let mut judged = judge_throughputs(&pairs).into_iter();
    for a in &mut answers {
        if a.plain_other().is_some() {
            a.speedup_noise = judged.next();
        }
        if let Some((_, noise)) = &mut a.runner_up {
            *noise = judged.next().unwrap_or(*noise);
        }
    }
    answers
}

/// The rule on each pair's throughputs (the second over the first), the pairs judged together
/// as one family; a pair with a generator-limited side is not judged (its figures are the
/// generator's).
pub(super) fn judge_throughputs(pairs: &[(&PointSummary, &PointSummary)]) -> Vec<Judgement> {
    let family: Vec<(&[f64], &[f64], f64)> = pairs
        .iter()
        .filter(|(a, b)| judgeable(a, b))
        .map(|(a, b)| {
            let (a, b) = (&a.throughput_samples[..], &b.throughput_samples[..]);
            (a, b, DEFAULT_THRESHOLD_PCT)
        })
        .collect();
    let mut judged = judge_family(&family).into_iter();
    let limited = Judgement::Unknown(Unknown::GeneratorLimited);
    pairs
        .iter()
        .map(|(a, b)| match judgeable(a, b) {
            true => judged.next().unwrap_or(limited),
            false => limited,
        })
        .collect()
}

/// Whether the rule may compare two points' throughputs: neither was set by the generator.
fn judgeable(a: &PointSummary, b: &PointSummary) -> bool {
    !a.generator_limited && !b.generator_limited
}

/// One workload's best configuration, plain loop and runner-up (not yet judged).
fn answer<'a>(data: &'a SweepData, workload: &'a str) -> Option<Answer<'a>> {
    let all = candidates(data, workload);
    // References Node cannot deploy (tokio, rayon) are drawn, never the answer.
    let deployable: Vec<&PointSummary> = all
        .iter()
        .copied()
        .filter(|p| !p.coords.strategy.is_reference())
        .collect();
    let candidates = if deployable.is_empty() {
        all
    } else {
        deployable
    };
    let top = best(candidates.iter().copied())?;
    let loops: Vec<&PointSummary> = candidates
        .iter()
        .copied()
        .filter(|p| p.coords.strategy == Strategy::Loop)
        .collect();
    let default_pool = loops
        .iter()
        .copied()
        .filter(|p| p.coords.pool == Some(NODE_DEFAULT_POOL));
    let plain = match best(default_pool) {
        Some(p) => Some((p, PlainLoop::NodeDefault)),
        None => best(loops.iter().copied()).map(|p| (p, PlainLoop::BestLoop)),
    };
    let others = candidates
        .iter()
        .copied()
        .filter(|p| p.coords.strategy != top.coords.strategy);
    let unjudged = Judgement::Unknown(Unknown::TooFewRepetitions(0));
    Some(Answer {
        workload: workload.to_string(),
        best: top,
        plain,
        speedup_noise: None,
        runner_up: best(others).map(|other| (other, unjudged)),
    })
}

/// One strategy's line in a chart against parallelism.
#[derive(Debug)]
pub struct ParallelismLine<'a> {
    /// The strategy.
    pub strategy: Strategy,
    /// Parallelism → the point drawn (the best there).
    pub drawn: BTreeMap<u32, &'a PointSummary>,
    /// Parallelism → every point there, the drawn one among them.
    pub all: BTreeMap<u32, Vec<&'a PointSummary>>,
}

/// Rule 5 for one workload: per strategy with a parallelism, the best point at each
/// parallelism (and whether any choice had to be made); per reference strategy, its best point.
#[derive(Debug, Default)]
pub struct ParallelismSeries<'a> {
    /// Strategy → parallelism → best point, strategies in report order, with every point at
    /// each parallelism (the candidates the best was chosen from).
    pub lines: Vec<ParallelismLine<'a>>,
    /// Reference strategies and their best point.
    pub references: Vec<(Strategy, &'a PointSummary)>,
}

/// The series of the throughput- and p99-against-parallelism charts of one workload: its
/// closed-loop points (rule 1 without the open-loop fallback: an open-loop point's throughput
/// is its offered rate).
pub fn parallelism_series<'a>(data: &'a SweepData, workload: &'a str) -> ParallelismSeries<'a> {
    let mut by_strategy: BTreeMap<Strategy, Vec<&PointSummary>> = BTreeMap::new();
    for p in data.of_workload(workload) {
        if p.ok > 0 && !p.coords.is_open_loop() {
            by_strategy.entry(p.coords.strategy).or_default().push(p);
        }
    }
    let mut series = ParallelismSeries::default();
    for (strategy, points) in by_strategy {
        if points[0].coords.parallelism.is_none() {
            if let Some(b) = best(points.iter().copied()) {
                series.references.push((strategy, b));
            }
            continue;
        }
        let mut at: BTreeMap<u32, Vec<&PointSummary>> = BTreeMap::new();
        for p in points {
            at.entry(p.coords.parallelism.unwrap_or(1))
                .or_default()
                .push(p);
        }
        let line = at
            .iter()
            .filter_map(|(&k, v)| best(v.iter().copied()).map(|b| (k, b)))
            .collect();
        series.lines.push(ParallelismLine {
            strategy,
            drawn: line,
            all: at,
        });
    }
    series
}

/// Per strategy, its best candidate for a workload (rule 1 and 2 within one strategy), in
/// report order.
pub fn best_per_strategy<'a>(
    data: &'a SweepData,
    workload: &'a str,
) -> Vec<(Strategy, &'a PointSummary)> {
    let mut by_strategy: BTreeMap<Strategy, Vec<&PointSummary>> = BTreeMap::new();
    for p in candidates(data, workload) {
        by_strategy.entry(p.coords.strategy).or_default().push(p);
    }
    by_strategy
        .into_iter()
        .filter_map(|(strategy, points)| best(points).map(|b| (strategy, b)))
        .collect()
}

/// Every strategy in the sweep, in report order.
pub fn strategies(data: &SweepData) -> Vec<Strategy> {
    let set: std::collections::BTreeSet<Strategy> =
        data.points.iter().map(|p| p.coords.strategy).collect();
    set.into_iter().collect()
}
