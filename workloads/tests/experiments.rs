//! The classic experiments reproduce Node's shapes (NODE_MODEL.md 5 (a), (b) and 1.5). Hashes are
//! shortened so the suite stays quick; the shapes do not depend on the hash length.

use looplab_workloads::experiments::{
    multitask, ordering, staircase, MultitaskConfig, StaircaseConfig,
};

fn failed(report: &looplab_workloads::experiments::ExperimentReport) -> String {
    format!("{:#?}\n{:#?}", report.checks, report.completions)
}

#[test]
fn staircase_comes_in_waves_of_the_pool_size() {
    for (pool, calls, expected_waves) in [(1, 4, 4), (2, 6, 3), (4, 6, 2), (5, 6, 2)] {
        let report = staircase(&StaircaseConfig {
            pool,
            calls,
            iterations: 5_000,
            keylen: 512,
        })
        .unwrap();
        assert!(report.matches_node(), "pool {pool}: {}", failed(&report));
        let last_wave = report
            .completions
            .iter()
            .map(|c| c.note.trim_start_matches("wave ").parse::<usize>().unwrap())
            .max();
        assert_eq!(last_wave, Some(expected_waves), "pool {pool}");
        // Completions are reported in the order they happened.
        assert!(report.completions.windows(2).all(|w| w[0].ms <= w[1].ms));
    }
}

#[test]
fn staircase_rejects_a_pool_out_of_range() {
    let err = staircase(&StaircaseConfig {
        pool: 0,
        ..StaircaseConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("1..=1024"), "{err}");
}

#[test]
fn multitask_request_first_and_file_read_after_hash_five_minus_pool() {
    for pool in 1..=5 {
        let report = multitask(&MultitaskConfig {
            pool,
            iterations: 20_000,
            keylen: 512,
        })
        .unwrap();
        assert!(report.matches_node(), "pool {pool}: {}", failed(&report));
        assert_eq!(report.completions.len(), 6);
        assert_eq!(report.completions[0].label, "Request");
        assert_eq!(report.completions[0].thread, "main");
        let fs = report.completions.iter().find(|c| c.label == "FS").unwrap();
        assert!(
            fs.note.contains("open@") && fs.note.contains("close@"),
            "{}",
            fs.note
        );
    }
}

#[test]
fn ordering_follows_nodes_rules() {
    let report = ordering().unwrap();
    assert!(report.matches_node(), "{}", failed(&report));
    let labels: Vec<&str> = report
        .completions
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(labels.len(), 19, "{labels:?}");
    assert_eq!(
        &labels[..4],
        &[
            "main:sync",
            "main:nextTick",
            "main:promise",
            "main:queueMicrotask"
        ]
    );
}
