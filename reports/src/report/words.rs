//! The answer in words: per workload and flavour, one sentence a Node engineer can act on,
//! with the deployment written as settings (strategy, processes or threads,
//! `UV_THREADPOOL_SIZE`), how sure the lab is, and the load named apart. Printed at the end of
//! every sweep and by `lab report`, and first on the report's page.

use looplab_workloads::deploy::{Runtime, Strategy};
use serde::Serialize;

use super::analysis::Answer;
use super::data::Marks;
use super::format::{count, ms, times};
use super::slo::{SloAnswer, SloRow};
use crate::noise::Judgement;
use crate::store::Coords;

/// How to deploy the point at `coords`, as settings.
pub fn settings(coords: &Coords) -> String {
    let pool = match coords.pool {
        Some(p) => format!(", UV_THREADPOOL_SIZE={p}"),
        None => String::new(),
    };
    match coords.strategy {
        Strategy::Loop => format!("one process{pool}"),
        Strategy::LoopBlocking => format!("one process hashing with pbkdf2Sync{pool}"),
        Strategy::Workers => {
            let w = coords.workers.unwrap_or(1);
            let threads = count(w, "worker thread", "worker threads");
            format!("{threads} for the hashing{pool}")
        }
        Strategy::Cluster => {
            let k = coords.processes.unwrap_or(1);
            let each = if pool.is_empty() { "" } else { " each" };
            let processes = count(k, "worker process", "worker processes");
            format!("cluster of {processes}{pool}{each}")
        }
        Strategy::Tokio => "tokio (a reference Node cannot deploy)".to_string(),
        Strategy::Rayon => "rayon (a reference Node cannot deploy)".to_string(),
    }
}

/// The load a point was measured under.
pub fn load(coords: &Coords) -> String {
    match (coords.connections, coords.rate_per_s) {
        (Some(c), Some(r)) => format!("{c} connections, open loop at {r} requests/s"),
        (Some(c), None) => format!("{c} keep-alive connections, closed loop"),
        _ => "jobs submitted at once (batch)".to_string(),
    }
}

/// Where a point ran, for a sentence: ` (looplab's model)`, ` on Node.js`...
fn on(coords: &Coords) -> String {
    match coords.runtime {
        Runtime::Looplab if coords.costs.is_none() => " (looplab's model)".to_string(),
        _ => format!(" on {}", coords.flavour()),
    }
}

/// The sentence of one answer.
pub fn sentence(a: &Answer<'_>) -> String {
    let best = &a.best.coords;
    let on = on(best);
    let mut text = format!("{}{on}: {}", a.workload, against_plain(a));
    if let (Some((other, judgement)), Some(r)) = (a.runner_up, a.runner_up_ratio()) {
        text.push_str(&format!(
            "; the best is {} the next best ({}), {}",
            times(r),
            settings(&other.coords),
            certainty(Some(judgement))
        ));
    }
    text.push_str(&format!(". Load: {}.", load(best)));
    let marks = Marks::of(&a.best.marks());
    if !marks.is_empty() {
        text.push_str(&format!(
            " Caution: the best point's figure may not be the server's ({}).",
            marks.labels()
        ));
    }
    text
}

/// The best against the plain loop: deploy it (beyond the noise), or it is no better than
/// the plain loop as far as the lab can tell.
fn against_plain(a: &Answer<'_>) -> String {
    let best = settings(&a.best.coords);
    let (Some(s), Some((plain, _))) = (a.speedup(), a.plain) else {
        return format!("deploy {best}");
    };
    if std::ptr::eq(plain, a.best) {
        return format!("deploy the plain loop, {best}");
    }
    let plain = settings(&plain.coords);
    match a.speedup_noise {
        Some(j) if j.is_real() => format!(
            "deploy {best}: {} the plain loop ({plain}), beyond the noise",
            times(s)
        ),
        Some(Judgement::Tested(_)) => format!(
            "{best} measured highest, {} the plain loop ({plain}), within the noise: not shown to beat the plain loop",
            times(s)
        ),
        other => format!(
            "{best} measured highest, {} the plain loop ({plain}); {}",
            times(s),
            certainty(other)
        ),
    }
}

/// How sure: "beyond the noise", "within the noise", or why unknown.
fn certainty(judgement: Option<Judgement>) -> String {
    match judgement {
        Some(j) if j.is_real() => "beyond the noise".to_string(),
        Some(Judgement::Tested(_)) => "within the noise".to_string(),
        Some(j) => j.describe(),
        None => "not judged".to_string(),
    }
}

/// One answer as data (`lab sweep --json`, `lab report --json`): the sentence, and what it is
/// made of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnswerRecord {
    /// The workload.
    pub workload: String,
    /// Where it ran: `looplab`, `node`, `looplab with node costs`...
    pub flavour: String,
    /// The answer in words, as printed.
    pub sentence: String,
    /// The best configuration's point id.
    pub best: String,
    /// The best configuration as settings.
    pub settings: String,
    /// The load it was measured under.
    pub load: String,
    /// Its median throughput, per second.
    pub throughput_per_s: f64,
    /// Repetitions that ran without error.
    pub repetitions: usize,
    /// The best over the plain loop, and the rule's verdict on it (none when the best is the
    /// plain loop).
    pub over_plain: Option<Verdict>,
    /// The best over the runner-up (the best configuration of another strategy).
    pub over_runner_up: Option<Verdict>,
    /// Why the best point's figure may not be the server's (generator-limited, ...).
    pub marks: Vec<&'static str>,
    /// Open loop: the latency objective the answer ranks by, ms.
    pub slo_p99_ms: Option<f64>,
    /// Open loop: the highest offered rate the best sustains within the objective (none when
    /// no configuration met it).
    pub sustained_rate_per_s: Option<u32>,
}

/// The best over another point, and the lab's one rule on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The other point's id.
    pub against: String,
    /// Median over median.
    pub ratio: f64,
    /// `beyond the noise`, `within the noise`, or why unknown.
    pub certainty: String,
    /// The 95% interval of the ratio, when it was tested.
    pub ci95: Option<(f64, f64)>,
}

fn verdict(against: &str, ratio: f64, judgement: Option<Judgement>) -> Verdict {
    Verdict {
        against: against.to_string(),
        ratio,
        certainty: certainty(judgement),
        ci95: match judgement {
            Some(Judgement::Tested(d)) => Some(d.ci95),
            _ => None,
        },
    }
}

/// The answer `a` as data.
pub fn record(a: &Answer<'_>) -> AnswerRecord {
    let best = &a.best.coords;
    AnswerRecord {
        workload: a.workload.clone(),
        flavour: best.flavour().to_string(),
        sentence: sentence(a),
        best: a.best.id.clone(),
        settings: settings(best),
        load: load(best),
        throughput_per_s: a.best.throughput(),
        repetitions: a.best.ok,
        over_plain: a
            .plain
            .filter(|(plain, _)| !std::ptr::eq(*plain, a.best))
            .zip(a.speedup())
            .map(|((plain, _), s)| verdict(&plain.id, s, a.speedup_noise)),
        over_runner_up: a
            .runner_up
            .zip(a.runner_up_ratio())
            .map(|((other, j), r)| verdict(&other.id, r, Some(j))),
        marks: a.best.marks().iter().map(|m| m.label()).collect(),
        slo_p99_ms: None,
        sustained_rate_per_s: None,
    }
}

/// The open-loop answer's sentence: what sustains the highest rate within the objective.
pub fn slo_sentence(a: &SloAnswer<'_>) -> String {
    let Some(first) = a.rows.first() else {
        return format!("{}: no open-loop point", a.workload);
    };
    let head = format!(
        "{}{}, open loop with the objective p99 at most {}",
        a.workload,
        on(&first.first().coords),
        in_ms(a.slo_ms)
    );
    let Some(best) = a.best() else {
        return format!(
            "{head}: no configuration met the objective at any offered rate{}.",
            lowest_p99(a)
        );
    };
    let plain = a.plain();
    let is_plain = plain.is_none() && best.first().coords.strategy == Strategy::Loop;
    let mut text = format!(
        "{head}: deploy {}{}: it sustains {}",
        if is_plain { "the plain loop, " } else { "" },
        settings(&best.first().coords),
        sustains(best)
    );
    let next = a
        .rows
        .get(1)
        .filter(|r| plain.is_none_or(|p| !std::ptr::eq(*r, p)));
    for (name, row) in [("the plain loop", plain), ("the next best", next)] {
        let Some(row) = row else { continue };
        text.push_str(&format!("; {name} ({}) ", settings(&row.first().coords)));
        text.push_str(&match row.sustained {
            Some(_) => format!("sustains {}", sustains(row)),
            None => "meets it at none of the rates".to_string(),
        });
    }
    let marks = best.at_sustained().map(|c| c.marks).unwrap_or_default();
    if !marks.is_empty() {
        text.push_str(&format!(
            ". Caution: the figure there may not be the server's ({})",
            marks.labels()
        ));
    }
    text.push('.');
    text
}

/// `400 requests/s within it (p99 23 ms there)`.
fn sustains(row: &SloRow<'_>) -> String {
    match row.at_sustained() {
        Some(c) => format!(
            "{} requests/s within it (p99 {} there)",
            c.rate,
            in_ms(c.p99_ms)
        ),
        None => "no rate".to_string(),
    }
}

/// `; the lowest p99 at 100 requests/s was 71 ms (loop/p4/c16)`, or nothing.
fn lowest_p99(a: &SloAnswer<'_>) -> String {
    let lowest = a
        .rows
        .iter()
        .filter_map(|r| r.cells.first())
        .filter(|c| c.p99_ms.is_finite())
        .min_by(|x, y| x.p99_ms.total_cmp(&y.p99_ms));
    match lowest {
        Some(c) => format!(
            "; the lowest p99 at the lowest rate, {} requests/s, was {} ({})",
            c.rate,
            in_ms(c.p99_ms),
            settings(&c.point.coords)
        ),
        None => String::new(),
    }
}

/// The open-loop answer as data: its best configuration at the sustained rate.
pub fn slo_record(a: &SloAnswer<'_>) -> Option<AnswerRecord> {
    let row = a.best().or(a.rows.first())?;
    let cell = row.at_sustained().or(row.cells.first())?;
    let p = cell.point;
    Some(AnswerRecord {
        workload: a.workload.clone(),
        flavour: p.coords.flavour().to_string(),
        sentence: slo_sentence(a),
        best: p.id.clone(),
        settings: settings(&p.coords),
        load: load(&p.coords),
        throughput_per_s: p.throughput(),
        repetitions: p.ok,
        over_plain: None,
        over_runner_up: None,
        marks: p.marks().iter().map(|m| m.label()).collect(),
        slo_p99_ms: Some(a.slo_ms),
        sustained_rate_per_s: a.best().and(row.sustained),
    })
}

/// Milliseconds with their unit: `23.4 ms`.
fn in_ms(value_ms: f64) -> String {
    format!("{} ms", ms(value_ms * 1e3))
}
