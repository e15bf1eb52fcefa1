//! The experiment invariants, judged from the runs a results folder recorded
//! (`experiments.json`, written by every sweep and by `lab experiment classic --out DIR`):
//! for each configuration of the recorded set (the staircase at pools 1, 2 and 4, multitask at
//! pools 1 to 5), the shape holds when its last recorded attempt has Node's shape. The
//! recorder stops at the first Node-shaped attempt and gives up after three misses, so a
//! failure means three misses in a row.
//!
//! With several folders (rounds of one sweep), each folder's runs are judged and a
//! configuration fails if any folder's last attempt missed. A configuration no folder
//! recorded is "not applicable", saying how to record it.

use looplab_workloads::experiments::recorded::RECORDED;

use super::invariants::{Invariant, Status};
use crate::store::{ExperimentRun, ExperimentsFile, Optional};

/// One folder's recorded experiments, as read.
pub struct Recorded<'a> {
    /// The folder, as given.
    pub folder: &'a str,
    /// Its `experiments.json`.
    pub file: &'a Optional<ExperimentsFile>,
}

/// The experiment invariants of the folders.
pub fn experiment_invariants(folders: &[Recorded<'_>]) -> Vec<Invariant> {
    RECORDED
        .iter()
        .map(|&(experiment, pool)| {
            let rule = experiment.rule(pool);
            let pool = u32::try_from(pool).unwrap_or(u32::MAX);
            let last_attempts: Vec<(&str, Vec<&ExperimentRun>)> = folders
                .iter()
                .filter_map(|r| Some((r.folder, r.file.get()?.attempts(experiment.name(), pool))))
                .filter(|(_, runs)| !runs.is_empty())
                .collect();
            judge(rule, &last_attempts, folders)
        })
        .collect()
}

fn judge(
    rule: String,
    recorded: &[(&str, Vec<&ExperimentRun>)],
    folders: &[Recorded<'_>],
) -> Invariant {
    let Some((_, runs)) = recorded
        .iter()
        .find(|(_, runs)| runs.last().is_some_and(|r| !r.matches_node))
        .or(recorded.last())
    else {
        return Invariant {
            rule,
            status: Status::NotApplicable,
            detail: missing(folders),
            attempts: 0,
        };
    };
    let last = runs[runs.len() - 1];
    let detail = if last.matches_node {
        last.checks
            .last()
            .map(|c| c.observed.clone())
            .unwrap_or_default()
    } else {
        last.checks
            .iter()
            .filter(|c| !c.holds)
            .map(|c| format!("{}: {}", c.rule, c.observed))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Invariant {
        rule,
        status: if last.matches_node {
            Status::Pass
        } else {
            Status::Fail
        },
        detail,
        attempts: u32::try_from(runs.len()).unwrap_or(u32::MAX),
    }
}

/// Why a configuration has no runs, and how to record them.
fn missing(folders: &[Recorded<'_>]) -> String {
    let unreadable: Vec<&str> = folders
        .iter()
        .filter_map(|r| match r.file {
            Optional::Unreadable(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    let example = folders.first().map_or("DIR", |r| r.folder);
    if unreadable.is_empty() {
        format!(
            "not recorded; record the experiments with `lab experiment classic --out {example}`"
        )
    } else {
        format!(
            "{}; record the experiments again with `lab experiment classic --out {example}`",
            unreadable.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShapeCheck;

    fn run(experiment: &str, pool: u32, attempt: u32, shaped: bool) -> ExperimentRun {
        ExperimentRun {
            experiment: experiment.into(),
            pool,
            attempt,
            params: Vec::new(),
            matches_node: shaped,
            checks: vec![ShapeCheck {
                rule: "waves".into(),
                holds: shaped,
                observed: format!("attempt {attempt}"),
            }],
            spans: Vec::new(),
        }
    }

    fn file(runs: Vec<ExperimentRun>) -> Optional<ExperimentsFile> {
        Optional::Present(ExperimentsFile { schema: 2, runs })
    }

    #[test]
    fn the_last_attempt_decides_and_missing_configurations_say_how_to_record_them() {
        let f = file(vec![
            run("staircase", 1, 1, false),
            run("staircase", 1, 2, true),
            run("staircase", 2, 1, false),
            run("staircase", 2, 2, false),
            run("staircase", 2, 3, false),
        ]);
        let found = experiment_invariants(&[Recorded {
            folder: "lab-results/x",
            file: &f,
        }]);
        assert_eq!(found.len(), RECORDED.len());
        assert_eq!((found[0].status, found[0].attempts), (Status::Pass, 2));
        assert_eq!(found[0].detail, "attempt 2");
        assert_eq!((found[1].status, found[1].attempts), (Status::Fail, 3));
        assert_eq!(found[1].detail, "waves: attempt 3");
        assert_eq!(found[2].status, Status::NotApplicable);
        assert!(
            found[2]
                .detail
                .contains("`lab experiment classic --out lab-results/x`"),
            "{}",
            found[2].detail
        );
    }

    #[test]
    fn one_folder_that_missed_fails_the_pooled_check() {
        let good = file(vec![run("multitask", 3, 1, true)]);
        let bad = file(vec![run("multitask", 3, 1, false)]);
        let folders = [
            Recorded {
                folder: "a",
                file: &good,
            },
            Recorded {
                folder: "b",
                file: &bad,
            },
        ];
        let found = experiment_invariants(&folders);
        let multitask3 = &found[5];
        assert!(multitask3.rule.contains("pool of 3"), "{}", multitask3.rule);
        assert_eq!(multitask3.status, Status::Fail);
    }
}
