//! looplab against Node.js, for sweeps that ran both: each runtime's points relative to its
//! own plain loop, side by side, and whether the two answers agree. The answers never compare
//! one runtime's throughput with the other's; this section also shows each point's absolute
//! throughput against Node's and both loop utilizations, because with a cost profile the model
//! means to reproduce those too.

use looplab_workloads::deploy::Runtime;

use super::analysis::Answer;
use super::data::{PointSummary, SweepData};
use crate::noise::Judgement;
use crate::store::{metric, Flavour};

/// One configuration measured on both runtimes.
#[derive(Clone, Debug, PartialEq)]
pub struct TwinRow {
    /// The workload.
    pub workload: String,
    /// The configuration (`cluster/p4/k2/c16`).
    pub config: String,
    /// looplab's throughput over looplab's plain loop.
    pub looplab: f64,
    /// Node's throughput over Node's plain loop.
    pub node: f64,
    /// The model's throughput over Node's, same configuration.
    pub absolute: f64,
    /// Loop utilization (median): the model's and Node's, where both were probed.
    pub utilization: (Option<f64>, Option<f64>),
}

impl TwinRow {
    /// Node's ratio minus looplab's.
    pub fn difference(&self) -> f64 {
        self.node - self.looplab
    }

    /// The model's ratio against Node's, as a relative difference (`-0.49` for 0.83× against
    /// 1.62×).
    pub fn relative_difference(&self) -> f64 {
        self.looplab / self.node - 1.0
    }

    /// |model utilization − Node utilization|, where both were probed.
    pub fn utilization_gap(&self) -> Option<f64> {
        match self.utilization {
            (Some(m), Some(n)) => Some((m - n).abs()),
            _ => None,
        }
    }
}

/// The agreement figures of a comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelativeFigures {
    /// Mean |model ratio / Node ratio − 1|, percent.
    pub mean_pct: f64,
    /// Largest such, percent.
    pub worst_pct: f64,
    /// Smallest and largest model throughput / Node throughput.
    pub absolute: (f64, f64),
    /// Largest |model − Node| loop utilization.
    pub utilization_gap: f64,
}

/// One workload's answers on both runtimes.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    /// The workload.
    pub workload: String,
    /// looplab's best configuration.
    pub looplab_best: String,
    /// Node's best configuration.
    pub node_best: String,
    /// Where the bests differ, the lab's rule on each runtime: the model's best over the
    /// model's run of Node's best, and Node's best over Node's run of the model's best.
    pub judged: Option<(Judgement, Judgement)>,
}

/// Whether two runtimes' answers agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The same configuration is best on both.
    Same,
    /// Different bests, but on each runtime the two cannot be told apart (the lab's rule).
    Tied,
    /// Different bests, and on at least one runtime its best beats the other's.
    Differs,
    /// Different bests, and the rule could not judge a side (too few repetitions, or the load
    /// generator was the limit).
    Unknown,
}

impl Agreement {
    /// Both runtimes chose the same configuration.
    pub fn same(&self) -> bool {
        self.looplab_best == self.node_best
    }

    /// Same, tied within the noise on both runtimes, different, or not known.
    pub fn verdict(&self) -> Verdict {
        if self.same() {
            return Verdict::Same;
        }
        match self.judged {
            Some((m, n)) if m.is_real() || n.is_real() => Verdict::Differs,
            Some((Judgement::Tested(_), Judgement::Tested(_))) => Verdict::Tied,
            _ => Verdict::Unknown,
        }
    }

    /// For tables: `yes`, `tied: within the noise on both`, `no: on Node.js its best is
    /// 1.27× the model's, beyond the noise; on the model within the noise (1.10×)`.
    pub fn describe(&self) -> String {
        let sides = |(m, n): (Judgement, Judgement)| {
            format!("{}; {}", side("the model", m), side("Node.js", n))
        };
        match (self.verdict(), self.judged) {
            (Verdict::Same, _) => "yes".into(),
            (Verdict::Tied, _) => "tied: within the noise on both".into(),
            (Verdict::Differs, Some(j)) => format!("no: {}", sides(j)),
            (Verdict::Unknown, Some(j)) => format!("unknown: {}", sides(j)),
            (_, None) => "unknown: a runtime did not run the other's best".into(),
        }
    }
}

/// What the rule says on one runtime of its best over the other runtime's best.
fn side(name: &str, j: Judgement) -> String {
    match j {
        Judgement::Tested(d) if d.real => {
            format!(
                "on {name} its best is {:.2}× the other's, beyond the noise",
                d.ratio
            )
        }
        Judgement::Tested(d) => format!("on {name} within the noise ({:.2}×)", d.ratio),
        Judgement::Unknown(_) => {
            let why = j.describe();
            format!("on {name} {}", why.trim_start_matches("unknown: "))
        }
    }
}

/// Everything the report says of one looplab flavour against Node.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeComparison {
    /// The looplab flavour compared (native costs, or a cost profile).
    pub model: Flavour,
    /// Every configuration measured on both, in report order.
    pub rows: Vec<TwinRow>,
    /// Per workload with an answer on both.
    pub agreement: Vec<Agreement>,
}

impl RuntimeComparison {
    /// Mean of |difference| over the rows.
    pub fn mean_abs_difference(&self) -> Option<f64> {
        let n = self.rows.len();
        (n > 0).then(|| self.rows.iter().map(|r| r.difference().abs()).sum::<f64>() / n as f64)
    }

    /// Mean and worst |relative difference| (percent), the range of absolute throughput
    /// ratios, and the largest utilization gap.
    pub fn relative_figures(&self) -> Option<RelativeFigures> {
        if self.rows.is_empty() {
            return None;
        }
        let rel: Vec<f64> = self
            .rows
            .iter()
            .map(|r| r.relative_difference().abs() * 100.0)
            .collect();
        let abs = self.rows.iter().map(|r| r.absolute);
        Some(RelativeFigures {
            mean_pct: rel.iter().sum::<f64>() / rel.len() as f64,
            worst_pct: rel.iter().copied().fold(0.0, f64::max),
            absolute: (
                abs.clone().fold(f64::MAX, f64::min),
                abs.fold(0.0, f64::max),
            ),
            utilization_gap: self
                .rows
                .iter()
                .filter_map(TwinRow::utilization_gap)
                .fold(0.0, f64::max),
        })
    }

    /// The row with the largest |difference|.
    pub fn largest(&self) -> Option<&TwinRow> {
        self.rows
            .iter()
            .max_by(|a, b| a.difference().abs().total_cmp(&b.difference().abs()))
    }
}

impl RuntimeComparison {
    /// The figures in sentences and a Markdown table, for `summary.md`.
    pub fn markdown(&self) -> String {
        let mut out = format!("\n### {} against Node.js\n\n", self.model);
        out.push_str(&format!(
            "| workload | best on {} | best on Node.js | same |\n|---|---|---|---|\n",
            self.model
        ));
        for a in &self.agreement {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                a.workload,
                a.looplab_best,
                a.node_best,
                a.describe()
            ));
        }
        out.push_str(&format!("\n{}\n\n", self.headline()));
        out.push_str(&format!(
            "| workload | configuration | {} / its plain loop | Node.js / its plain loop | difference | relative | throughput / Node's | loop utilization (model, Node) |\n|---|---|---|---|---|---|---|---|\n",
            self.model
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.2}× | {:.2}× | {:+.2} | {:+.0}% | {:.2}× | {} |\n",
                r.workload,
                r.config,
                r.looplab,
                r.node,
                r.difference(),
                r.relative_difference() * 100.0,
                r.absolute,
                utilization_pair(r.utilization)
            ));
        }
        out
    }

    /// One sentence: agreement on the best configuration, mean and largest ratio difference.
    pub fn headline(&self) -> String {
        let count = |v: Verdict| self.agreement.iter().filter(|a| a.verdict() == v).count();
        let (same, tied) = (count(Verdict::Same), count(Verdict::Tied));
        let mut text = format!(
            "Same best configuration on {} and Node.js for {same} of {} workloads (among the configurations both ran){}.",
            self.model,
            self.agreement.len(),
            if tied > 0 {
                format!("; for {tied} more the two bests cannot be told apart on either runtime (the lab's rule)")
            } else {
                String::new()
            }
        );
        if let Some(rel) = self.relative_figures() {
            text.push_str(&format!(
                " Relative to Node's own ratio, the model's differs by {:.0}% on average and {:.0}% at worst; absolute throughput is {:.0}% to {:.0}% of Node's; loop utilization within {:.2} of Node's at worst.",
                rel.mean_pct, rel.worst_pct, rel.absolute.0 * 100.0, rel.absolute.1 * 100.0, rel.utilization_gap
            ));
        }
        if let (Some(mean), Some(worst)) = (self.mean_abs_difference(), self.largest()) {
            text.push_str(&format!(
                " Each configuration's throughput over its runtime's plain loop differs by {mean:.2} on average between {} and Node.js ({} configurations), at most {:+.2} ({} {}).",
                self.model,
                self.rows.len(),
                worst.difference(),
                worst.workload,
                worst.config
            ));
        }
        text
    }
}

/// One comparison per looplab flavour, when the sweep also ran Node (none otherwise).
pub fn compare(data: &SweepData, answers: &[Answer<'_>]) -> Vec<RuntimeComparison> {
    let flavours = data.flavours();
    if !flavours.contains(&node()) {
        return Vec::new();
    }
    flavours
        .into_iter()
        .filter(|f| f.runtime == Runtime::Looplab)
        .map(|model| compare_one(data, answers, model))
        .collect()
}

/// Real Node.
fn node() -> Flavour {
    Flavour {
        runtime: Runtime::Node,
        costs: None,
    }
}

fn compare_one(data: &SweepData, answers: &[Answer<'_>], model: Flavour) -> RuntimeComparison {
    let answer = |workload: &str, flavour: &Flavour| {
        answers
            .iter()
            .find(|a| a.workload == workload && a.best.coords.flavour() == *flavour)
    };
    let mut out = RuntimeComparison {
        model: model.clone(),
        rows: Vec::new(),
        agreement: Vec::new(),
    };
    let mut contests = Vec::new();
    for workload in &data.workloads {
        let (Some(l), Some(n)) = (answer(workload, &model), answer(workload, &node())) else {
            continue;
        };
        // The model's best among the configurations Node ran too (not its references).
        let twinned = data
            .of_workload(workload)
            .filter(|p| p.coords.flavour() == model && twin(data, p).is_some());
        let Some(l_best) = super::analysis::best(twinned) else {
            continue;
        };
        out.agreement.push(Agreement {
            workload: workload.clone(),
            looplab_best: l_best.coords.config(),
            node_best: n.best.coords.config(),
            judged: None,
        });
        contests.push(contest(data, l_best, n.best, model.clone()));
        let (Some((l_plain, _)), Some((n_plain, _))) = (l.plain, n.plain) else {
            continue;
        };
        let mine = data
            .of_workload(workload)
            .filter(|p| p.coords.flavour() == model);
        out.rows
            .extend(mine.filter_map(|p| twin_row(data, p, (l_plain, n_plain))));
    }
    judge_contests(&mut out.agreement, &contests);
    out
}

/// Where a workload's two bests differ, the points to compare on each runtime: (the other
/// runtime's best as run here, this runtime's best), the model's first.
type Contest<'a> = Option<[(&'a PointSummary, &'a PointSummary); 2]>;

fn contest<'a>(
    data: &'a SweepData,
    model_best: &'a PointSummary,
    node_best: &'a PointSummary,
    model: Flavour,
) -> Contest<'a> {
    if model_best.coords.config() == node_best.coords.config() {
        return None;
    }
    let as_model = crate::store::Coords {
        runtime: model.runtime,
        costs: model.costs,
        ..node_best.coords.clone()
    };
    let node_on_model = data.points.iter().find(|q| q.coords == as_model)?;
    let model_on_node = twin(data, model_best)?;
    Some([(node_on_model, model_best), (model_on_node, node_best)])
}

/// Judges every contest of one comparison as one family of the lab's rule.
fn judge_contests(agreement: &mut [Agreement], contests: &[Contest<'_>]) {
    let pairs: Vec<_> = contests.iter().flatten().flatten().copied().collect();
    let mut judged = super::analysis::judge_throughputs(&pairs).into_iter();
    for (a, contest) in agreement.iter_mut().zip(contests) {
        if contest.is_some() {
            a.judged = judged.next().zip(judged.next());
        }
    }
}

/// The Node point with the same coordinates as `p`.
fn twin<'a>(data: &'a SweepData, p: &PointSummary) -> Option<&'a PointSummary> {
    let coords = crate::store::Coords {
        runtime: Runtime::Node,
        costs: None,
        ..p.coords.clone()
    };
    data.points.iter().find(|q| q.coords == coords)
}

/// The row of looplab point `p` and its Node twin, each over its runtime's plain loop.
fn twin_row(
    data: &SweepData,
    p: &PointSummary,
    (l_plain, n_plain): (&PointSummary, &PointSummary),
) -> Option<TwinRow> {
    let twin = twin(data, p)?;
    let ratio = |a: &PointSummary, b: &PointSummary| {
        (a.ok > 0 && b.throughput() > 0.0).then(|| a.throughput() / b.throughput())
    };
    let utilization = |q: &PointSummary| q.median(metric::LOOP_UTILIZATION);
    Some(TwinRow {
        workload: p.coords.workload.clone(),
        config: p.coords.config(),
        looplab: ratio(p, l_plain)?,
        node: ratio(twin, n_plain)?,
        absolute: ratio(p, twin)?,
        utilization: (utilization(p), utilization(twin)),
    })
}

/// `0.62, 0.71`, with `-` where a runtime was not probed.
pub fn utilization_pair((m, n): (Option<f64>, Option<f64>)) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    format!("{}, {}", f(m), f(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::{Difference, Unknown};

    fn tested(real: bool) -> Judgement {
        Judgement::Tested(Difference {
            ratio: if real { 1.3 } else { 1.02 },
            ci95: if real { (1.2, 1.4) } else { (0.95, 1.1) },
            p_value: if real { 0.001 } else { 0.6 },
            adjusted_p: if real { 0.002 } else { 0.6 },
            real,
        })
    }

    fn agreement(model: &str, node: &str, judged: Option<(Judgement, Judgement)>) -> Agreement {
        Agreement {
            workload: "hash".into(),
            looplab_best: model.into(),
            node_best: node.into(),
            judged,
        }
    }

    #[test]
    fn different_bests_tie_only_when_the_rule_tells_them_apart_on_neither_runtime() {
        let limited = Judgement::Unknown(Unknown::GeneratorLimited);
        let cases = [
            (agreement("loop/p4", "loop/p4", None), Verdict::Same),
            (
                agreement("loop/p2", "loop/p4", Some((tested(false), tested(false)))),
                Verdict::Tied,
            ),
            (
                agreement("loop/p2", "loop/p4", Some((tested(false), tested(true)))),
                Verdict::Differs,
            ),
            (
                agreement("loop/p2", "loop/p4", Some((tested(true), tested(false)))),
                Verdict::Differs,
            ),
            (
                agreement("loop/p2", "loop/p4", Some((tested(true), limited))),
                Verdict::Differs,
            ),
            (
                agreement("loop/p2", "loop/p4", Some((tested(false), limited))),
                Verdict::Unknown,
            ),
            (agreement("loop/p2", "loop/p4", None), Verdict::Unknown),
        ];
        for (a, verdict) in cases {
            assert_eq!(a.verdict(), verdict, "{a:?}");
        }
        let tied = agreement("loop/p2", "loop/p4", Some((tested(false), tested(false))));
        assert_eq!(tied.describe(), "tied: within the noise on both");
        let differs = agreement("loop/p2", "loop/p4", Some((tested(false), tested(true))));
        assert_eq!(
            differs.describe(),
            "no: on the model within the noise (1.02×); \
             on Node.js its best is 1.30× the other's, beyond the noise"
        );
    }
}
