//! looplab against Node.js, for sweeps that ran both: each runtime's points relative to its
//! own plain loop, side by side, and whether the two answers agree. Nothing here compares one
//! runtime's throughput with the other's directly: the model is meant to reproduce Node's
//! ratios between strategies, not its absolute speed.

use looplab_workloads::deploy::Runtime;

use super::analysis::Answer;
use super::data::{PointSummary, SweepData};
use crate::store::Flavour;

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
}

impl TwinRow {
    /// Node's ratio minus looplab's.
    pub fn difference(&self) -> f64 {
        self.node - self.looplab
    }
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
}

impl Agreement {
    /// Both runtimes chose the same configuration.
    pub fn same(&self) -> bool {
        self.looplab_best == self.node_best
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
            let same = if a.same() { "yes" } else { "no" };
            out.push_str(&format!(
                "| {} | {} | {} | {same} |\n",
                a.workload, a.looplab_best, a.node_best
            ));
        }
        out.push_str(&format!("\n{}\n\n", self.headline()));
        out.push_str(&format!(
            "| workload | configuration | {} / its plain loop | Node.js / its plain loop | difference |\n|---|---|---|---|---|\n",
            self.model
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.2}× | {:.2}× | {:+.2} |\n",
                r.workload,
                r.config,
                r.looplab,
                r.node,
                r.difference()
            ));
        }
        out
    }

    /// One sentence: agreement on the best configuration, mean and largest ratio difference.
    pub fn headline(&self) -> String {
        let same = self.agreement.iter().filter(|a| a.same()).count();
        let mut text = format!(
            "Same best configuration on {} and Node.js for {same} of {} workloads (among the configurations both ran).",
            self.model,
            self.agreement.len()
        );
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
        });
        let (Some((l_plain, _)), Some((n_plain, _))) = (l.plain, n.plain) else {
            continue;
        };
        let mine = data
            .of_workload(workload)
            .filter(|p| p.coords.flavour() == model);
        out.rows
            .extend(mine.filter_map(|p| twin_row(data, p, (l_plain, n_plain))));
    }
    out
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
    Some(TwinRow {
        workload: p.coords.workload.clone(),
        config: p.coords.config(),
        looplab: ratio(p, l_plain)?,
        node: ratio(twin, n_plain)?,
    })
}
