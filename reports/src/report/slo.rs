//! Open loop: the answer is not the highest throughput at an overloaded rate, it is the highest
//! offered rate each configuration sustains within a latency objective (k6's and wrk2's
//! question). The rules, as the report states them ([`RULES`]):
//!
//! 1. A configuration is a workload's open-loop points that differ only by offered rate.
//! 2. At a rate, it is within the objective when the median p99 over its repetitions is at most
//!    the objective (`slo_p99` in the sweep, [`DEFAULT_SLO_P99_MS`] by default), it achieved
//!    the offered rate (no under-rate mark) and its load generator was not the limit.
//! 3. It sustains the highest rate up to which every measured rate was within (the first rate
//!    that misses ends the run: a configuration that misses at 200/s and meets at 400/s does
//!    not sustain 400/s).
//! 4. Best: the deployable configuration (not tokio or rayon) with the highest sustained rate;
//!    between equals, the lower p99 at that rate. None when no configuration met the objective
//!    at its lowest rate.

use looplab_workloads::deploy::Strategy;

use super::analysis::{Answer, NODE_DEFAULT_POOL};
use super::data::{metric, Mark, Marks, PointSummary, SweepData};

/// The objective when the sweep sets none: p99 at most 50 ms.
pub const DEFAULT_SLO_P99_MS: f64 = 50.0;

/// The rules as sentences, for the report.
pub const RULES: [&str; 3] = [
    "Open loop: a configuration is within the objective at a rate when its median p99 is at \
     most the objective, it achieved the offered rate and its load generator was not the limit.",
    "It sustains the highest rate up to which every measured rate was within the objective.",
    "Best: the configuration (not tokio or rayon) with the highest sustained rate; between \
     equals, the lower p99 at that rate.",
];

/// One configuration at one offered rate.
#[derive(Clone, Debug)]
pub struct RateCell<'a> {
    /// The point.
    pub point: &'a PointSummary,
    /// Offered rate, requests/s.
    pub rate: u32,
    /// Median p99 over the repetitions, ms.
    pub p99_ms: f64,
    /// Why the figure may not be the server's (under the offered rate, ...).
    pub marks: Marks,
    /// Rule 2.
    pub within: bool,
}

/// One configuration across the offered rates.
#[derive(Clone, Debug)]
pub struct SloRow<'a> {
    /// The configuration's name (the id without the rate).
    pub config: String,
    /// Rates in increasing order.
    pub cells: Vec<RateCell<'a>>,
    /// Rule 3.
    pub sustained: Option<u32>,
}

impl<'a> SloRow<'a> {
    /// Its lowest-rate point (for its settings and flavour); a row has at least one cell.
    pub fn first(&self) -> &'a PointSummary {
        self.cells[0].point
    }

    /// The cell at the sustained rate.
    pub fn at_sustained(&self) -> Option<&RateCell<'a>> {
        let rate = self.sustained?;
        self.cells.iter().find(|c| c.rate == rate)
    }
}

/// One workload's open-loop answer.
#[derive(Clone, Debug)]
pub struct SloAnswer<'a> {
    /// The workload.
    pub workload: String,
    /// The objective, ms.
    pub slo_ms: f64,
    /// Every configuration, best first, then by sustained rate.
    pub rows: Vec<SloRow<'a>>,
    /// Whether `rows[0]` is the answer (rule 4); false when nothing met the objective.
    pub has_best: bool,
}

impl<'a> SloAnswer<'a> {
    /// The best configuration (rule 4).
    pub fn best(&self) -> Option<&SloRow<'a>> {
        self.rows.first().filter(|_| self.has_best)
    }

    /// The plain loop (`loop` at pool 4, else the first `loop` row), when it is not the best.
    pub fn plain(&self) -> Option<&SloRow<'a>> {
        let loops = || {
            self.rows
                .iter()
                .filter(|r| r.first().coords.strategy == Strategy::Loop)
        };
        let plain = loops()
            .find(|r| r.first().coords.pool == Some(NODE_DEFAULT_POOL))
            .or_else(|| loops().next())?;
        let best = self.best()?;
        (!std::ptr::eq(plain, best)).then_some(plain)
    }
}

/// The objective of `data`'s sweep, ms.
pub fn objective_ms(data: &SweepData) -> f64 {
    data.meta.slo_p99_ms.unwrap_or(DEFAULT_SLO_P99_MS)
}

/// The open-loop answer of every workload of `data` that has open-loop points.
pub fn answers(data: &SweepData) -> Vec<SloAnswer<'_>> {
    let slo_ms = objective_ms(data);
    data.workloads
        .iter()
        .filter_map(|w| answer(data, w, slo_ms))
        .collect()
}

fn answer<'a>(data: &'a SweepData, workload: &'a str, slo_ms: f64) -> Option<SloAnswer<'a>> {
    let mut points: Vec<&PointSummary> = data
        .of_workload(workload)
        .filter(|p| p.coords.is_open_loop())
        .collect();
    if points.is_empty() {
        return None;
    }
    points.sort_by_key(|p| (config_of(p), p.coords.rate_per_s));
    let mut rows: Vec<SloRow<'a>> = Vec::new();
    for p in points {
        let config = config_of(p);
        match rows.last_mut() {
            Some(row) if row.config == config => row.cells.push(cell(p, slo_ms)),
            _ => rows.push(SloRow {
                config,
                cells: vec![cell(p, slo_ms)],
                sustained: None,
            }),
        }
    }
    for row in &mut rows {
        row.sustained = row
            .cells
            .iter()
            .take_while(|c| c.within)
            .last()
            .map(|c| c.rate);
    }
    rows.sort_by(|a, b| {
        deployable(b)
            .cmp(&deployable(a))
            .then(b.sustained.cmp(&a.sustained))
            .then(p99_there(a).total_cmp(&p99_there(b)))
            .then(a.config.cmp(&b.config))
    });
    let has_best = rows
        .first()
        .is_some_and(|r| r.sustained.is_some() && deployable(r));
    Some(SloAnswer {
        workload: workload.to_string(),
        slo_ms,
        rows,
        has_best,
    })
}

/// The p99 at the sustained rate, ms (rule 4's tie-break); infinite when none is sustained.
fn p99_there(row: &SloRow<'_>) -> f64 {
    row.at_sustained().map_or(f64::INFINITY, |c| c.p99_ms)
}

fn deployable(row: &SloRow<'_>) -> bool {
    !row.first().coords.strategy.is_reference()
}

/// The point's configuration: its id without the offered rate.
fn config_of(p: &PointSummary) -> String {
    let mut coords = p.coords.clone();
    coords.rate_per_s = None;
    coords.config()
}

fn cell(p: &PointSummary, slo_ms: f64) -> RateCell<'_> {
    let marks = p.marks();
    let p99_ms = p.median(metric::P99).map_or(f64::INFINITY, |us| us / 1e3);
    let missed = marks.contains(&Mark::UnderRate) || marks.contains(&Mark::GeneratorLimited);
    RateCell {
        point: p,
        rate: p.coords.rate_per_s.unwrap_or(0),
        p99_ms,
        marks: Marks::of(&marks),
        within: p.ok > 0 && p99_ms <= slo_ms && !missed,
    }
}

/// The open-loop answer that stands for `a`: the same workload and flavour, when `a`'s best is
/// an open-loop point (the workload has no closed-loop point to rank by throughput).
pub fn matching<'s, 'a>(slo: &'s [SloAnswer<'a>], a: &Answer<'_>) -> Option<&'s SloAnswer<'a>> {
    if !a.best.coords.is_open_loop() {
        return None;
    }
    let flavour = a.best.coords.flavour();
    slo.iter().find(|s| {
        s.workload == a.workload
            && s.rows.first().map(|r| r.first().coords.flavour()) == Some(flavour.clone())
    })
}

/// The answer as a grid: a header (configuration, sustains, then each offered rate) and one
/// row per configuration; a cell is `p99 ✓` within the objective, `p99 ✗` not, with the
/// marks' letters (`R` under the offered rate...), `-` where the rate was not run.
pub fn grid(a: &SloAnswer<'_>) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rates: Vec<u32> = a
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().map(|c| c.rate))
        .collect();
    rates.sort_unstable();
    rates.dedup();
    let mut header = vec![
        "configuration".to_string(),
        "sustains (requests/s)".to_string(),
    ];
    header.extend(rates.iter().map(|r| format!("p99 at {r}/s")));
    let rows = a
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.config.clone(),
                row.sustained.map_or("none".to_string(), |r| r.to_string()),
            ];
            cells.extend(rates.iter().map(|rate| {
                row.cells
                    .iter()
                    .find(|c| c.rate == *rate)
                    .map_or("-".to_string(), cell_text)
            }));
            cells
        })
        .collect();
    (header, rows)
}

fn cell_text(c: &RateCell<'_>) -> String {
    let p99 = if c.p99_ms.is_finite() {
        format!("{} ms", super::format::ms(c.p99_ms * 1e3))
    } else {
        "no answer".to_string()
    };
    let verdict = if c.within { "✓" } else { "✗" };
    let letters = c.marks.letters();
    if letters.is_empty() {
        format!("{p99} {verdict}")
    } else {
        format!("{p99} {verdict} {letters}")
    }
}
