//! Cluster supervision under faults, with `/bin/sh` scripts as workers (a worker need not be
//! this program: any executable will do, and a script fails the way we ask it to):
//! a worker that fails at start is reported with its last stderr lines, restarts stop at the
//! restart limit and the cluster then finishes, and a worker's temp folder goes at its reaping.

mod cluster_support;

use std::net::SocketAddr;
use std::path::Path;

use cluster_support::{run_until, start, Events};
use looplab_runtime::cluster::{
    ClusterEvent, ClusterSpec, SchedulingPolicy, RESTART_LIMIT_EXITS, RESTART_LIMIT_WINDOW_MS,
};
use looplab_runtime::EventLoop;

/// A spec whose `workers` workers run `script` in `/bin/sh`.
fn script_spec(workers: usize, script: &str) -> ClusterSpec {
    let mut spec = ClusterSpec::new(
        workers,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        "/bin/sh".into(),
        vec!["-c".into(), script.into()],
    );
    spec.policy = Some(SchedulingPolicy::RoundRobin);
    spec
}

fn all_exited(events: &Events) -> bool {
    matches!(events.borrow().last(), Some(ClusterEvent::AllExited))
}

#[test]
fn a_worker_failing_at_start_is_reported_with_its_stderr_and_restarts_stop_at_the_limit() {
    let script = "echo 'starting' >&2; echo 'cannot start: no such config' >&2; exit 3";
    let mut spec = script_spec(1, script);
    spec.restart = true;
    spec.stderr_tail_lines = 5;
    let lp = EventLoop::new().unwrap();
    let (_cluster, events) = start(&lp, spec);
    // It used to restart forever (back-off up to 5 s); now the limit ends it in about 3 s.
    run_until(&lp, "AllExited after the restart limit", || {
        all_exited(&events)
    });
    let events = events.borrow();
    let exits: Vec<&ClusterEvent> = events
        .iter()
        .filter(|e| matches!(e, ClusterEvent::Exit { .. }))
        .collect();
    assert_eq!(exits.len(), RESTART_LIMIT_EXITS, "{events:?}");
    for (i, exit) in exits.iter().enumerate() {
        let ClusterEvent::Exit {
            code,
            will_restart,
            stderr_tail,
            ..
        } = exit
        else {
            unreachable!()
        };
        assert_eq!(*code, Some(3));
        assert_eq!(*will_restart, i + 1 < RESTART_LIMIT_EXITS, "{exit:?}");
        assert_eq!(stderr_tail, &["starting", "cannot start: no such config"]);
    }
    let limit = ClusterEvent::RestartLimit {
        exits: RESTART_LIMIT_EXITS,
        within_ms: RESTART_LIMIT_WINDOW_MS,
    };
    let n = events.len();
    assert_eq!(
        &events[n - 2..],
        &[limit, ClusterEvent::AllExited],
        "{events:?}"
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, ClusterEvent::Listening { .. })));
}

#[test]
fn only_the_last_stderr_lines_are_kept() {
    let mut spec = script_spec(
        1,
        "for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 1",
    );
    spec.stderr_tail_lines = 3;
    let lp = EventLoop::new().unwrap();
    let (_cluster, events) = start(&lp, spec);
    run_until(&lp, "AllExited", || all_exited(&events));
    let events = events.borrow();
    let tail = events.iter().find_map(|e| match e {
        ClusterEvent::Exit { stderr_tail, .. } => Some(stderr_tail.clone()),
        _ => None,
    });
    assert_eq!(
        tail,
        Some(vec!["line 5".into(), "line 6".into(), "line 7".into()])
    );
}

#[test]
fn a_killed_workers_temp_folder_is_removed_when_it_is_reaped() {
    let root = tempfile::tempdir().unwrap();
    // The worker leaves a file in its TMPDIR, says so, and waits to be killed.
    let script = "echo x > \"$TMPDIR/served.bin\" && echo ready >&2; exec sleep 30";
    let mut spec = script_spec(2, script);
    spec.temp_root = Some(root.path().to_path_buf());
    spec.stderr_tail_lines = 1;
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec);
    let folder = |id: u32| root.path().join(format!("worker-{id}"));
    let has_file = |id: u32| folder(id).join("served.bin").exists();
    run_until(&lp, "both files written", || has_file(1) && has_file(2));
    cluster.kill(1, libc::SIGKILL).unwrap();
    let exited = |id: u32| {
        let events = events.borrow();
        events
            .iter()
            .any(|e| matches!(e, ClusterEvent::Exit { id: x, .. } if *x == id))
    };
    run_until(&lp, "worker 1 reaped", || exited(1));
    assert!(
        !folder(1).exists(),
        "the killed worker's folder is gone at its exit"
    );
    assert!(has_file(2), "the running worker keeps its own");
    cluster.kill(2, libc::SIGKILL).unwrap();
    run_until(&lp, "AllExited", || all_exited(&events));
    assert!(!Path::new(&folder(2)).exists());
}
