//! looplab against Node.js, for sweeps that ran both: each runtime's points relative to its
//! own plain loop, side by side, and whether the two answers agree. The answers never compare
//! one runtime's throughput with the other's; this section also shows each point's absolute
//! throughput against Node's and both loop utilizations, because with a cost profile the model
//! means to reproduce those too.

use looplab_workloads::deploy::Runtime;

use super::analysis::Answer;
use super::data::{PointSummary, SweepData};
use crate::noise::{judge_contrasts, Contrast, Judgement, Unknown, DEFAULT_THRESHOLD_PCT};
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
    /// Whether the model's ratio differs from Node's beyond the noise (the lab's rule on the
    /// ratio of the two ratios, every row of the comparison one family); `None` for the plain
    /// loop's own row, 1 on both by definition.
    pub beyond_noise: Option<Judgement>,
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

    /// The rule's word on the row: `yes (1.33×, 95% CI 1.10-1.60×)`, `no (…)`, `unknown: …`,
    /// or `-` for the plain loop.
    pub fn beyond_noise_text(&self) -> String {
        self.beyond_noise.map_or("-".into(), Judgement::describe)
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

    /// Rows whose model ratio differs from Node's beyond the noise, rows the rule judged, and
    /// rows it could not judge (generator-limited, too few repetitions).
    pub fn beyond_noise_counts(&self) -> (usize, usize, usize) {
        let (mut real, mut tested, mut unknown) = (0, 0, 0);
        for judged in self.rows.iter().filter_map(|r| r.beyond_noise) {
            match judged {
                Judgement::Tested(d) => (real, tested) = (real + usize::from(d.real), tested + 1),
                Judgement::Unknown(_) => unknown += 1,
            }
        }
        (real, tested, unknown)
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
            "| workload | configuration | {} / its plain loop | Node.js / its plain loop | difference | relative | beyond the noise | throughput / Node's | loop utilization (model, Node) |\n|---|---|---|---|---|---|---|---|---|\n",
            self.model
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.2}× | {:.2}× | {:+.2} | {:+.0}% | {} | {:.2}× | {} |\n",
                r.workload,
                r.config,
                r.looplab,
                r.node,
                r.difference(),
                r.relative_difference() * 100.0,
                r.beyond_noise_text(),
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
        let (real, tested, unknown) = self.beyond_noise_counts();
        if tested + unknown > 0 {
            text.push_str(&format!(
                " By the lab's rule (the ratio of the two ratios), the model's ratio differs from Node's beyond the noise for {real} of the {tested} configurations it judged{}.",
                if unknown > 0 { format!(" ({unknown} could not be judged)") } else { String::new() }
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
    let mut quads = Vec::new();
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
        for (row, quad) in mine.filter_map(|p| twin_row(data, p, (l_plain, n_plain))) {
            out.rows.push(row);
            quads.push(quad);
        }
    }
    judge_contests(&mut out.agreement, &contests);
    judge_rows(&mut out.rows, &quads);
    out
}

/// A row's four points: the model's configuration and plain loop, then Node's.
type Quad<'a> = [&'a PointSummary; 4];

/// Judges every row's ratio of ratios as one family of the lab's rule.
fn judge_rows(rows: &mut [TwinRow], quads: &[Quad<'_>]) {
    let plain = |q: &Quad<'_>| q[0].coords == q[1].coords;
    let judgeable = |q: &Quad<'_>| !plain(q) && !q.iter().any(|p| p.generator_limited);
    let family: Vec<Contrast<'_>> = quads
        .iter()
        .filter(|q| judgeable(q))
        .map(|q| Contrast {
            terms: [1.0, -1.0, -1.0, 1.0]
                .into_iter()
                .zip(q.iter().map(|p| &p.throughput_samples[..]))
                .collect(),
            threshold_pct: DEFAULT_THRESHOLD_PCT,
        })
        .collect();
    let mut judged = judge_contrasts(&family).into_iter();
    for (row, q) in rows.iter_mut().zip(quads) {
        row.beyond_noise = match (plain(q), judgeable(q)) {
            (true, _) => None,
            (false, false) => Some(Judgement::Unknown(Unknown::GeneratorLimited)),
            (false, true) => judged.next(),
        };
    }
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

/// The row of looplab point `p` and its Node twin, each over its runtime's plain loop, and
/// the four points it compares.
fn twin_row<'a>(
    data: &'a SweepData,
    p: &'a PointSummary,
    (l_plain, n_plain): (&'a PointSummary, &'a PointSummary),
) -> Option<(TwinRow, Quad<'a>)> {
    let twin = twin(data, p)?;
    let ratio = |a: &PointSummary, b: &PointSummary| {
        (a.ok > 0 && b.throughput() > 0.0).then(|| a.throughput() / b.throughput())
    };
    let utilization = |q: &PointSummary| q.median(metric::LOOP_UTILIZATION);
    let row = TwinRow {
        workload: p.coords.workload.clone(),
        config: p.coords.config(),
        looplab: ratio(p, l_plain)?,
        node: ratio(twin, n_plain)?,
        absolute: ratio(p, twin)?,
        utilization: (utilization(p), utilization(twin)),
        beyond_noise: None,
    };
    Some((row, [p, l_plain, twin, n_plain]))
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

    /// A point at pool size `pool` (distinct coordinates per point).
    fn point(pool: u32, throughputs: &[f64], generator_limited: bool) -> PointSummary {
        let coords = crate::store::Coords {
            strategy: looplab_workloads::deploy::Strategy::Loop,
            workload: "file".into(),
            mode: looplab_workloads::deploy::Mode::Service,
            pool: Some(pool),
            processes: None,
            workers: None,
            connections: Some(16),
            rate_per_s: None,
            parallelism: Some(1),
            runtime: Runtime::Looplab,
            costs: None,
        };
        PointSummary {
            id: coords.id(),
            coords,
            repetitions: throughputs.len(),
            ok: throughputs.len(),
            failures: Vec::new(),
            metrics: Default::default(),
            throughput_samples: throughputs.to_vec(),
            histogram: None,
            generator_limited,
        }
    }

    fn row() -> TwinRow {
        TwinRow {
            workload: "file".into(),
            config: "loop/p1/c16".into(),
            looplab: 1.0,
            node: 1.0,
            absolute: 1.0,
            utilization: (None, None),
            beyond_noise: None,
        }
    }

    #[test]
    fn a_row_is_beyond_the_noise_only_when_the_ratio_of_ratios_is() {
        let plain = point(4, &[100.0, 102.0, 98.0, 101.0, 99.0], false);
        // The model gains 1.6× over its plain loop, Node 1.0×: beyond the noise.
        let model_fast = point(1, &[160.0, 161.0, 159.0, 162.0, 158.0], false);
        // Node gains 1.6× too, within a few percent: the same ratio.
        let node_fast = point(1, &[158.0, 163.0, 160.0, 157.0, 161.0], false);
        // Wide repetitions: 1.3× apart on the medians, but not beyond the noise.
        let wide = point(2, &[90.0, 200.0, 130.0, 60.0, 170.0], false);
        let limited = point(8, &[160.0, 161.0, 159.0], true);
        let quads: [Quad<'_>; 5] = [
            [&model_fast, &plain, &plain, &plain],
            [&model_fast, &plain, &node_fast, &plain],
            [&wide, &plain, &plain, &plain],
            [&plain, &plain, &plain, &plain],
            [&limited, &plain, &plain, &plain],
        ];
        let mut rows = vec![row(); 5];
        judge_rows(&mut rows, &quads);
        assert!(
            rows[0].beyond_noise.is_some_and(Judgement::is_real),
            "{:?}",
            rows[0]
        );
        assert!(
            rows[0].beyond_noise_text().starts_with("yes (1.60×"),
            "{:?}",
            rows[0]
        );
        assert!(!rows[1].beyond_noise.unwrap().is_real(), "{:?}", rows[1]);
        assert!(!rows[2].beyond_noise.unwrap().is_real(), "{:?}", rows[2]);
        assert_eq!(rows[3].beyond_noise, None, "the plain loop's own row");
        assert_eq!(rows[3].beyond_noise_text(), "-");
        assert_eq!(
            rows[4].beyond_noise,
            Some(Judgement::Unknown(Unknown::GeneratorLimited))
        );
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
