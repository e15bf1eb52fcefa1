//! Shared helpers of the cluster tests (`cluster`, `cluster_orphans`).
//!
//! How workers run: a test binary re-executes itself. The primary passes
//! `std::env::current_exe()` with `<test name> --exact --nocapture --test-threads=1 -q`, so a
//! worker process runs that one test again; every cluster test starts with
//! `if let Some(role) = worker_role() { return ... }` and so plays the worker there. Workers'
//! stdout goes to /dev/null (libtest's own lines would clutter the parent's output); stderr is
//! kept so a worker's panic is visible.
//!
//! Invariants that keep every test bounded and leave no process behind:
//! 1. the loop is driven by [`run_until`] with a deadline, so a missing event fails the test;
//! 2. clients are blocking sockets with 5 s timeouts on their own threads;
//! 3. the test holds the `Cluster`: on a panic, dropping it kills and reaps every worker.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use looplab_runtime::cluster::{
    Cluster, ClusterEvent, ClusterSpec, SchedulingPolicy, WorkerId, WorkerRole,
};
use looplab_runtime::{EventLoop, RunMode};

/// Client socket timeouts.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for any awaited cluster event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A spec whose workers re-run the test `test_name` of this binary.
pub fn spec(test_name: &str, workers: usize, policy: SchedulingPolicy) -> ClusterSpec {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let args = [
        test_name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ];
    let mut spec = ClusterSpec::new(
        workers,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        exe,
        args.iter().map(Into::into).collect(),
    );
    spec.policy = Some(policy);
    spec.discard_stdout = true;
    spec
}

/// Every event the primary reported, in order.
pub type Events = Rc<RefCell<Vec<ClusterEvent>>>;

/// Starts a cluster that records its events.
pub fn start(lp: &EventLoop, spec: ClusterSpec) -> (Cluster, Events) {
    let events: Events = Rc::default();
    let log = Rc::clone(&events);
    let cluster = Cluster::start(lp, spec, move |_, _, event| log.borrow_mut().push(event))
        .expect("the cluster starts");
    (cluster, events)
}

/// Runs the loop until `done` holds, failing after [`EVENT_TIMEOUT`] with `what`.
pub fn run_until(lp: &EventLoop, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let tick = lp.set_interval(5, |_| {});
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        lp.run(RunMode::Once);
    }
    lp.clear_timer(tick);
}

/// How many `Listening` events were reported.
pub fn listening(events: &Events) -> usize {
    let events = events.borrow();
    let count = |e: &&ClusterEvent| matches!(e, ClusterEvent::Listening { .. });
    events.iter().filter(count).count()
}

/// Every worker process that came online, as (id, pid).
pub fn online(events: &Events) -> Vec<(WorkerId, u32)> {
    let events = events.borrow();
    let pids = events.iter().filter_map(|e| match e {
        ClusterEvent::Online { id, pid } => Some((*id, *pid)),
        _ => None,
    });
    pids.collect()
}

/// Whether no process has this pid any more (reaped: a zombie would still answer).
pub fn pid_gone(pid: u32) -> bool {
    // SAFETY: signal 0 only checks existence.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Shuts down, waits for `AllExited`, checks that the workers running at shutdown exited 0
/// (`graceful`) and that no worker pid exists any more.
pub fn shutdown_and_verify(lp: &EventLoop, cluster: &Cluster, events: &Events, graceful: bool) {
    let running = cluster.worker_pids();
    cluster.shutdown(lp, 5_000);
    let done = || matches!(events.borrow().last(), Some(ClusterEvent::AllExited));
    run_until(lp, "AllExited after shutdown", done);
    assert!(cluster.worker_pids().is_empty());
    for (id, pid) in online(events) {
        assert!(
            pid_gone(pid),
            "worker {id} (pid {pid}) still exists after shutdown"
        );
    }
    for event in events.borrow().iter() {
        if let ClusterEvent::Exit { id, code, .. } = event {
            if graceful && running.iter().any(|(r, _)| r == id) {
                assert_eq!(*code, Some(0), "worker {id} did not exit 0: {event:?}");
            }
        }
    }
    assert!(!lp.alive(), "the cluster left handles on the loop");
}

/// The standard worker: answers every connection with `<id>\n` and closes it; echoes every
/// message back prefixed with `echo:`.
pub fn echo_worker(role: WorkerRole) {
    let lp = EventLoop::new().expect("worker loop");
    let worker = role.connect(&lp).expect("worker joins its primary");
    let id = worker.id();
    worker
        .listen(&lp, move |lp, stream| {
            let closing = stream.clone();
            stream.write(lp, format!("{id}\n").into_bytes(), move |lp, _| {
                closing.close(lp, |_| {})
            });
        })
        .expect("worker listens");
    let echo = worker.clone();
    worker.on_message(&lp, move |lp, bytes| {
        let mut reply = b"echo:".to_vec();
        reply.extend(bytes);
        echo.send(lp, &reply).expect("echo");
    });
    lp.run(RunMode::Default);
}

/// One connection: the id of the worker that answered.
pub fn fetch_id(addr: SocketAddr) -> io::Result<WorkerId> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    reply
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("reply {reply:?}")))
}

/// Client results, in completion order.
pub type Results = Arc<Mutex<Vec<io::Result<WorkerId>>>>;

/// A client thread making sequential connections until `count` are done or `stop` is set.
pub fn clients(addr: SocketAddr, count: usize, stop: Arc<AtomicBool>) -> (Results, JoinHandle<()>) {
    let results: Results = Arc::default();
    let out = Arc::clone(&results);
    let thread = std::thread::spawn(move || {
        for _ in 0..count {
            if stop.load(Ordering::Acquire) {
                break;
            }
            let result = fetch_id(addr);
            out.lock().unwrap().push(result);
        }
    });
    (results, thread)
}

/// Successful answers per worker id.
pub fn split(results: &[io::Result<WorkerId>]) -> BTreeMap<WorkerId, usize> {
    let mut split = BTreeMap::new();
    for id in results.iter().flatten() {
        *split.entry(*id).or_insert(0) += 1;
    }
    split
}
