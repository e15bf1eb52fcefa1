//! An installed cost profile is paid: a loop running N events with a cost of C ns each spends
//! at least about N x C of its thread's CPU. Its own test binary, because a profile is
//! installed once per process and would slow every other test down; both tests install the
//! same profile.

use looplab_runtime::costs::{self, thread_cpu_ns, Costs, Event};
use looplab_runtime::worker::downcast;
use looplab_runtime::{crypto, EventLoop, RunMode, ThreadPool, WorkerPool};

const COST: u64 = 20_000;
const CRYPTO_COST: u64 = 1_000_000;
const WAKE_COST: u64 = 1_000_000;

fn profile() -> Costs {
    Costs::none()
        .with(Event::Immediate, COST)
        .with(Event::CryptoCompletion, CRYPTO_COST)
        .with(Event::WorkerTask, CRYPTO_COST)
        .with(Event::Wakeup, WAKE_COST)
}

#[test]
fn an_immediate_heavy_loop_pays_n_times_the_cost() {
    const N: u64 = 2_000;
    costs::install(profile()).expect("the same profile in every test");
    assert_eq!(
        costs::installed().map(|c| c.of(Event::Immediate)),
        Some(COST)
    );
    let lp = EventLoop::with_pool(ThreadPool::with_size(1).unwrap()).unwrap();
    for _ in 0..N {
        lp.set_immediate(|_| {});
    }
    let spent = run_for_cpu(&lp);
    // Generous: short charges spin on the monotonic clock, so a preempted spin pays less CPU.
    assert!(
        spent >= N * COST * 8 / 10,
        "{N} immediates at {COST} ns spent only {spent} ns of CPU"
    );
    // A second install of other costs is refused; the same costs again are fine.
    assert!(costs::install(Costs::none()).is_err());
    assert!(costs::install(profile()).is_ok());
}

#[test]
fn each_pbkdf2_completion_pays_its_cost_on_the_loop_thread() {
    const N: u64 = 20;
    costs::install(profile()).expect("the same profile in every test");
    let lp = EventLoop::with_pool(ThreadPool::with_size(2).unwrap()).unwrap();
    let keys = std::rc::Rc::new(std::cell::Cell::new(0));
    for _ in 0..N {
        let keys = std::rc::Rc::clone(&keys);
        crypto::pbkdf2(&lp, b"a", b"b", 1, 32, move |_, key| {
            assert_eq!(key.len(), 32);
            keys.set(keys.get() + 1);
        })
        .unwrap();
    }
    let spent = run_for_cpu(&lp);
    assert_eq!(keys.get(), N);
    // Charges of at least 50 µs spin on the thread's own CPU clock: paid in full.
    assert!(
        spent >= N * CRYPTO_COST,
        "{N} completions at {CRYPTO_COST} ns spent only {spent} ns of the loop's CPU"
    );
}

#[test]
fn each_worker_pool_answer_pays_its_cost_on_the_submitting_thread() {
    const N: u64 = 20;
    costs::install(profile()).expect("the same profile in every test");
    let lp = EventLoop::with_pool(ThreadPool::with_size(1).unwrap()).unwrap();
    let pool = WorkerPool::new(&lp, 2, |m| m).unwrap();
    let answers = std::rc::Rc::new(std::cell::Cell::new(0));
    for i in 0..N {
        let answers = std::rc::Rc::clone(&answers);
        pool.run(&lp, i, move |_, answer| {
            assert_eq!(downcast::<u64>(answer.unwrap()).ok(), Some(i));
            answers.set(answers.get() + 1);
        })
        .unwrap();
    }
    pool.close(&lp);
    let spent = run_for_cpu(&lp);
    assert_eq!(answers.get(), N);
    assert!(
        spent >= N * CRYPTO_COST,
        "{N} answers at {CRYPTO_COST} ns spent only {spent} ns of the loop's CPU"
    );
}

#[test]
fn a_loop_pays_a_wakeup_each_time_it_sleeps_in_its_poll_and_only_then() {
    costs::install(profile()).expect("the same profile in every test");
    // Ten timers one after another, 2 ms apart: the loop sleeps in its poll before each.
    fn timers(lp: &EventLoop, left: u32) {
        if left > 0 {
            lp.set_timeout(2, move |lp| timers(lp, left - 1));
        }
    }
    let lp = EventLoop::new().unwrap();
    timers(&lp, 10);
    let spent = run_for_cpu(&lp);
    assert!(
        spent >= 10 * WAKE_COST,
        "10 sleeps at {WAKE_COST} ns spent only {spent} ns of the loop's CPU"
    );
    // 1,000 immediates one after another: one loop iteration each, none sleeps (the poll's
    // timeout is 0 while an immediate is pending). A charge per iteration would spend 1 s.
    fn immediates(lp: &EventLoop, left: u32) {
        if left > 0 {
            lp.set_immediate(move |lp| immediates(lp, left - 1));
        }
    }
    let lp = EventLoop::new().unwrap();
    immediates(&lp, 1_000);
    let spent = run_for_cpu(&lp);
    let paid = 1_000 * COST;
    assert!(
        spent < paid + 100 * WAKE_COST,
        "1,000 immediates that never let the loop sleep spent {spent} ns (their own cost: {paid})"
    );
}

/// Runs `lp` to its end; the CPU its thread spent meanwhile, ns.
fn run_for_cpu(lp: &EventLoop) -> u64 {
    let start = thread_cpu_ns();
    lp.run(RunMode::Default);
    thread_cpu_ns() - start
}
