//! No worker thread outlives what owns it (checked through `/proc/self/task/<tid>`):
//!
//! - a worker that exited is joined when its exit event is delivered;
//! - an unreferenced worker still running when its parent loop is dropped is terminated and
//!   joined by the drop;
//! - a worker pool's threads, idle or closed, are gone after the pool and the loop are dropped.
//!
//! One test in its own binary, so no other test's threads can reuse a recorded thread id.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use looplab_runtime::worker::{downcast, message, Worker, WorkerPool};
use looplab_runtime::{EventLoop, RunMode, ThreadPool};

fn thread_exists(tid: i32) -> bool {
    Path::new(&format!("/proc/self/task/{tid}")).exists()
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// A joined thread's /proc entry disappears as the kernel reaps it: allow a moment.
fn assert_gone(what: &str, tids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while tids.iter().any(|&tid| thread_exists(tid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let alive: Vec<i32> = tids.iter().copied().filter(|&t| thread_exists(t)).collect();
    assert!(alive.is_empty(), "{what}: threads still running: {alive:?}");
}

fn new_loop() -> (Arc<ThreadPool>, EventLoop) {
    let pool = ThreadPool::with_size(1).expect("valid size");
    let lp = EventLoop::with_pool(Arc::clone(&pool)).expect("create loop");
    let id = lp.set_timeout(60_000, |_| panic!("the test did not finish within 60 s"));
    lp.unref_timer(id);
    (pool, lp)
}

/// Collects the tids the workers post.
fn collect_tids(lp: &EventLoop, worker: &Worker, into: &Rc<RefCell<Vec<i32>>>) {
    let t = into.clone();
    worker.on_message(lp, move |_, msg| {
        t.borrow_mut().push(downcast::<i32>(msg).expect("a tid"))
    });
}

/// 1. Workers that finish are joined when their exit is delivered, the loop still alive.
fn finished_workers_are_joined() {
    let (_pool, lp) = new_loop();
    let tids = Rc::new(RefCell::new(Vec::new()));
    let workers: Vec<Worker> = (0..3)
        .map(|i| {
            let w = Worker::spawn(&lp, &format!("short-{i}"), |_, port| {
                port.post(gettid()).expect("parent is listening");
            })
            .expect("spawn");
            collect_tids(&lp, &w, &tids);
            w
        })
        .collect();
    assert!(!lp.run(RunMode::Default));
    assert!(workers.iter().all(|w| w.exit_code() == Some(0)));
    let finished: Vec<i32> = tids.borrow().clone();
    assert_eq!(finished.len(), 3);
    assert_gone("exited workers, loop still alive", &finished);
}

/// 2. An unreferenced worker still running is terminated and joined when its loop drops.
fn a_running_worker_is_joined_when_its_loop_drops() {
    let (pool, lp) = new_loop();
    let sleeper = Worker::spawn(&lp, "sleeper", |lp, port| {
        port.post(gettid()).expect("parent is listening");
        lp.set_timeout(600_000, |_| {});
    })
    .expect("spawn");
    let tid = Rc::new(RefCell::new(Vec::new()));
    let (t, s) = (tid.clone(), sleeper.clone());
    sleeper.on_message(&lp, move |lp, msg| {
        t.borrow_mut().push(downcast::<i32>(msg).expect("a tid"));
        // Referenced until it has reported; then it no longer keeps the loop alive.
        s.unref(lp);
    });
    assert!(!lp.run(RunMode::Default));
    let tid = tid.borrow()[0];
    assert!(thread_exists(tid), "running before the drop");
    drop(lp);
    assert_eq!(sleeper.exit_code(), Some(1), "terminated by the drop");
    drop(pool);
    assert_gone("worker of a dropped loop", &[tid]);
}

/// 3. A worker pool left idle (not closed): its threads go with the pool and the loop.
fn an_idle_worker_pool_is_joined_when_dropped() {
    let (pool, lp) = new_loop();
    let workers = WorkerPool::new(&lp, 2, |_| message(gettid())).expect("valid size");
    let tids = Rc::new(RefCell::new(Vec::new()));
    for n in 0..4u32 {
        let t = tids.clone();
        workers
            .run(&lp, n, move |_, tid| {
                let tid = downcast::<i32>(tid.expect("task ran")).expect("a tid");
                t.borrow_mut().push(tid);
            })
            .expect("pool is open");
    }
    assert!(
        !lp.run(RunMode::Default),
        "idle pool workers do not keep it alive"
    );
    let mut pool_tids = tids.borrow().clone();
    pool_tids.sort();
    pool_tids.dedup();
    assert!(!pool_tids.is_empty() && pool_tids.len() <= 2);
    drop(workers);
    drop(lp);
    drop(pool);
    assert_gone("worker pool", &pool_tids);
}

#[test]
fn no_worker_thread_is_left_behind() {
    finished_workers_are_joined();
    a_running_worker_is_joined_when_its_loop_drops();
    an_idle_worker_pool_is_joined_when_dropped();
}
