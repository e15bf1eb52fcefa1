//! The cluster module end to end, with real worker processes (this test binary re-executed;
//! see `cluster_support`): connections spread under each policy, a worker killed with
//! `SIGKILL` under load (with and without restart), messages both ways in order, a worker that
//! ignores shutdown being killed after the grace period, and no process left after shutdown.

mod cluster_support;

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cluster_support::{
    clients, echo_worker, listening, online, run_until, shutdown_and_verify, spec, split, start,
};
use looplab_runtime::cluster::{worker_role, ClusterEvent, SchedulingPolicy, WorkerId};
use looplab_runtime::{EventLoop, RunMode};

const WORKERS: usize = 4;
const CONNECTIONS: usize = 200;

/// 4 workers, 200 sequential connections; returns the split by worker id.
fn spread(test_name: &str, policy: SchedulingPolicy) -> Vec<(WorkerId, usize)> {
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec(test_name, WORKERS, policy));
    run_until(&lp, "every worker listening", || {
        listening(&events) == WORKERS
    });
    let stop = Arc::new(AtomicBool::new(false));
    let (results, thread) = clients(cluster.local_addr(), CONNECTIONS, stop);
    run_until(&lp, "200 answers", || {
        results.lock().unwrap().len() == CONNECTIONS
    });
    thread.join().unwrap();
    let results = results.lock().unwrap();
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{policy}: failed connections: {failures:?}"
    );
    let split: Vec<(WorkerId, usize)> = split(&results).into_iter().collect();
    println!("{policy}: {CONNECTIONS} connections over {WORKERS} workers: {split:?}");
    if policy == SchedulingPolicy::RoundRobin {
        // A client may read its answer before the primary has read that worker's ack.
        let total = || {
            cluster
                .connections_handed()
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        run_until(&lp, "every ack", || total() == CONNECTIONS as u64);
        let handed = cluster.connections_handed();
        println!("{policy}: connections_handed() = {handed:?}");
        let handed: Vec<(WorkerId, usize)> =
            handed.into_iter().map(|(id, n)| (id, n as usize)).collect();
        assert_eq!(
            handed, split,
            "the primary's count matches what clients saw"
        );
    }
    shutdown_and_verify(&lp, &cluster, &events, true);
    split
}

#[test]
fn round_robin_spreads_connections_over_every_worker() {
    if let Some(role) = worker_role() {
        return echo_worker(role);
    }
    let split = spread(
        "round_robin_spreads_connections_over_every_worker",
        SchedulingPolicy::RoundRobin,
    );
    assert_eq!(split.len(), WORKERS, "every worker served: {split:?}");
}

#[test]
fn reuse_port_spreads_connections_over_every_worker() {
    if let Some(role) = worker_role() {
        return echo_worker(role);
    }
    let split = spread(
        "reuse_port_spreads_connections_over_every_worker",
        SchedulingPolicy::ReusePort,
    );
    assert_eq!(split.len(), WORKERS, "every worker served: {split:?}");
}

#[test]
fn shared_socket_serves_every_connection() {
    if let Some(role) = worker_role() {
        return echo_worker(role);
    }
    // The kernel may favour some workers (Node's doc warns of it): only completeness counts.
    let split = spread(
        "shared_socket_serves_every_connection",
        SchedulingPolicy::Shared,
    );
    assert_eq!(split.iter().map(|(_, n)| n).sum::<usize>(), CONNECTIONS);
}

fn exit_of(events: &[ClusterEvent], victim: WorkerId) -> Option<ClusterEvent> {
    let exit = |e: &&ClusterEvent| matches!(e, ClusterEvent::Exit { id, .. } if *id == victim);
    events.iter().find(exit).cloned()
}

/// Kills one of 3 workers under a steady client load: its exit is reported with SIGKILL, at most
/// its connection in flight fails, and the two others serve everything after.
#[test]
fn sigkill_of_a_worker_under_load_leaves_the_others_serving() {
    if let Some(role) = worker_role() {
        return echo_worker(role);
    }
    let name = "sigkill_of_a_worker_under_load_leaves_the_others_serving";
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec(name, 3, SchedulingPolicy::RoundRobin));
    run_until(&lp, "3 workers listening", || listening(&events) == 3);
    let stop = Arc::new(AtomicBool::new(false));
    let (results, thread) = clients(cluster.local_addr(), 100_000, Arc::clone(&stop));
    run_until(&lp, "30 answers", || results.lock().unwrap().len() >= 30);
    let (victim, pid) = cluster.worker_pids()[1];
    // SAFETY: kill(2) on a worker we started and that has not been reaped (it is listed).
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    run_until(&lp, "the victim's exit", || {
        exit_of(&events.borrow(), victim).is_some()
    });
    let exit = exit_of(&events.borrow(), victim).unwrap();
    let expected = ClusterEvent::Exit {
        id: victim,
        pid,
        code: None,
        signal: Some(libc::SIGKILL),
        will_restart: false,
        stderr_tail: Vec::new(),
    };
    assert_eq!(exit, expected);
    let settled = results.lock().unwrap().len() + 1;
    run_until(&lp, "60 more answers", || {
        results.lock().unwrap().len() >= settled + 60
    });
    stop.store(true, Ordering::Release);
    run_until(&lp, "the client thread", || thread.is_finished());
    thread.join().unwrap();
    let results = results.lock().unwrap();
    let failures = results.iter().filter(|r| r.is_err()).count();
    let after = split(&results[settled..]);
    println!("kill -9 of worker {victim}: {failures} failed connection(s); split after: {after:?}");
    // At most the connection in flight to the victim fails.
    assert!(failures <= 1, "{failures} connections failed");
    assert!(results[settled..].iter().all(|r| r.is_ok()));
    assert!(!after.contains_key(&victim));
    assert_eq!(after.len(), 2, "both survivors serve: {after:?}");
    assert_eq!(
        cluster.worker_pids().len(),
        2,
        "no restart without `restart`"
    );
    shutdown_and_verify(&lp, &cluster, &events, true);
}

#[test]
fn with_restart_a_replacement_comes_online_and_serves() {
    if let Some(role) = worker_role() {
        return echo_worker(role);
    }
    let name = "with_restart_a_replacement_comes_online_and_serves";
    let lp = EventLoop::new().unwrap();
    let mut spec = spec(name, 2, SchedulingPolicy::RoundRobin);
    spec.restart = true;
    let (cluster, events) = start(&lp, spec);
    run_until(&lp, "2 workers listening", || listening(&events) == 2);
    let (victim, pid) = cluster.worker_pids()[0];
    cluster.kill(victim, libc::SIGKILL).unwrap();
    run_until(&lp, "a replacement listening", || listening(&events) == 3);
    let exit = exit_of(&events.borrow(), victim).unwrap();
    let expected = ClusterEvent::Exit {
        id: victim,
        pid,
        code: None,
        signal: Some(libc::SIGKILL),
        will_restart: true,
        stderr_tail: Vec::new(),
    };
    assert_eq!(exit, expected);
    let ids: BTreeSet<WorkerId> = online(&events).iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        BTreeSet::from([1, 2, 3]),
        "the replacement got a new id"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (results, thread) = clients(cluster.local_addr(), 20, stop);
    run_until(&lp, "20 answers", || results.lock().unwrap().len() == 20);
    thread.join().unwrap();
    let after = split(&results.lock().unwrap());
    println!("after restart: {after:?}");
    assert_eq!(after.values().sum::<usize>(), 20);
    assert!(after.contains_key(&3), "the replacement serves: {after:?}");
    shutdown_and_verify(&lp, &cluster, &events, true);
}

/// Worker side of the message test: 50 numbered messages up front, then an echo of each.
fn chatty_worker(role: looplab_runtime::cluster::WorkerRole) {
    let lp = EventLoop::new().unwrap();
    let worker = role.connect(&lp).unwrap();
    for i in 0..50 {
        worker.send(&lp, format!("w2p {i}").as_bytes()).unwrap();
    }
    let echo = worker.clone();
    worker.on_message(&lp, move |lp, bytes| {
        let mut reply = b"echo:".to_vec();
        reply.extend(bytes);
        echo.send(lp, &reply).unwrap();
    });
    lp.run(RunMode::Default);
}

#[test]
fn messages_arrive_in_order_both_ways() {
    if let Some(role) = worker_role() {
        return chatty_worker(role);
    }
    let lp = EventLoop::new().unwrap();
    let spec = spec(
        "messages_arrive_in_order_both_ways",
        2,
        SchedulingPolicy::RoundRobin,
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent_big = big.clone();
    let events: cluster_support::Events = Default::default();
    let log = Rc::clone(&events);
    let cluster = looplab_runtime::cluster::Cluster::start(&lp, spec, move |lp, cluster, e| {
        if let ClusterEvent::Online { id, .. } = e {
            for i in 0..100 {
                cluster.send(lp, id, format!("p2w {i}").as_bytes()).unwrap();
            }
            cluster.send(lp, id, &sent_big).unwrap();
        }
        log.borrow_mut().push(e);
    })
    .unwrap();
    let messages = |id: WorkerId| -> Vec<Vec<u8>> {
        let events = events.borrow();
        let of = events.iter().filter_map(|e| match e {
            ClusterEvent::Message { id: from, bytes } if *from == id => Some(bytes.clone()),
            _ => None,
        });
        of.collect()
    };
    run_until(&lp, "every message", || {
        messages(1).len() == 151 && messages(2).len() == 151
    });
    for id in [1, 2] {
        let got = messages(id);
        let (own, echoes): (Vec<_>, Vec<_>) = got.iter().partition(|m| m.starts_with(b"w2p"));
        let want_own: Vec<Vec<u8>> = (0..50).map(|i| format!("w2p {i}").into_bytes()).collect();
        assert_eq!(
            own,
            want_own.iter().collect::<Vec<_>>(),
            "worker {id}'s own messages"
        );
        for (i, echo) in echoes.iter().take(100).enumerate() {
            assert_eq!(**echo, format!("echo:p2w {i}").into_bytes(), "worker {id}");
        }
        assert_eq!(&echoes[100][..5], b"echo:");
        assert!(
            echoes[100][5..] == big[..],
            "the 3 MB message came back intact"
        );
    }
    shutdown_and_verify(&lp, &cluster, &events, true);
}

/// Worker side of the grace test: ignores shutdown and keeps its loop busy forever.
fn stubborn_worker(role: looplab_runtime::cluster::WorkerRole) {
    let lp = EventLoop::new().unwrap();
    let worker = role.connect(&lp).unwrap();
    worker.listen(&lp, |_, _| {}).unwrap();
    lp.set_interval(50, |_| {});
    lp.run(RunMode::Default);
}

#[test]
fn a_worker_that_ignores_shutdown_is_killed_after_the_grace_period() {
    if let Some(role) = worker_role() {
        return stubborn_worker(role);
    }
    let name = "a_worker_that_ignores_shutdown_is_killed_after_the_grace_period";
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec(name, 1, SchedulingPolicy::Shared));
    run_until(&lp, "listening", || listening(&events) == 1);
    let (_, pid) = cluster.worker_pids()[0];
    cluster.shutdown(&lp, 300);
    let done = || matches!(events.borrow().last(), Some(ClusterEvent::AllExited));
    run_until(&lp, "AllExited", done);
    let exit = exit_of(&events.borrow(), 1).unwrap();
    assert!(
        matches!(
            exit,
            ClusterEvent::Exit {
                signal: Some(libc::SIGKILL),
                ..
            }
        ),
        "{exit:?}"
    );
    assert!(cluster_support::pid_gone(pid));
    assert!(!lp.alive());
}

/// Worker side of the last-words test: 20 messages, then an abrupt exit with code 3.
fn last_words_worker(role: looplab_runtime::cluster::WorkerRole) {
    let lp = EventLoop::new().unwrap();
    let worker = role.connect(&lp).unwrap();
    for i in 0..20 {
        worker.send(&lp, format!("last {i}").as_bytes()).unwrap();
    }
    std::process::exit(3);
}

#[test]
fn messages_sent_before_an_exit_arrive_before_it_and_the_cluster_finishes() {
    if let Some(role) = worker_role() {
        return last_words_worker(role);
    }
    let name = "messages_sent_before_an_exit_arrive_before_it_and_the_cluster_finishes";
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec(name, 2, SchedulingPolicy::RoundRobin));
    // No shutdown: once both workers are gone (no restart), the cluster finishes by itself.
    let finished = || matches!(events.borrow().last(), Some(ClusterEvent::AllExited));
    run_until(&lp, "AllExited", finished);
    assert!(!lp.alive(), "a finished cluster leaves nothing on the loop");
    let events = events.borrow();
    assert_eq!(events.last(), Some(&ClusterEvent::AllExited), "{events:?}");
    for id in [1, 2] {
        let position = |want: &dyn Fn(&ClusterEvent) -> bool| events.iter().position(want);
        let exit_at = position(&|e| matches!(e, ClusterEvent::Exit { id: x, .. } if *x == id));
        let exit_at = exit_at.expect("an exit");
        assert!(matches!(
            events[exit_at],
            ClusterEvent::Exit {
                code: Some(3),
                signal: None,
                will_restart: false,
                ..
            }
        ));
        let said: Vec<(usize, Vec<u8>)> = (events.iter().enumerate())
            .filter_map(|(i, e)| match e {
                ClusterEvent::Message { id: x, bytes } if *x == id => Some((i, bytes.clone())),
                _ => None,
            })
            .collect();
        let want: Vec<Vec<u8>> = (0..20).map(|i| format!("last {i}").into_bytes()).collect();
        assert_eq!(
            said.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
            want
        );
        assert!(
            said.iter().all(|(i, _)| *i < exit_at),
            "messages before the exit"
        );
    }
    assert!(cluster.is_finished() && cluster.worker_pids().is_empty());
    for (_, pid) in online(&Rc::new(std::cell::RefCell::new(events.clone()))) {
        assert!(cluster_support::pid_gone(pid));
    }
}
