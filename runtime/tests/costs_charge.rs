//! An installed cost profile is paid: a loop running N immediates with a cost of C ns each
//! spends at least about N x C of its thread's CPU. Its own test binary, because a profile is
//! installed once per process and would slow every other test down.

use looplab_runtime::costs::{self, thread_cpu_ns, Costs, Event};
use looplab_runtime::{EventLoop, RunMode, ThreadPool};

#[test]
fn an_immediate_heavy_loop_pays_n_times_the_cost() {
    const N: u64 = 2_000;
    const COST: u64 = 20_000;
    costs::install(Costs::none().with(Event::Immediate, COST)).expect("the first install");
    assert_eq!(
        costs::installed().map(|c| c.of(Event::Immediate)),
        Some(COST)
    );
    let lp = EventLoop::with_pool(ThreadPool::with_size(1).unwrap()).unwrap();
    for _ in 0..N {
        lp.set_immediate(|_| {});
    }
    let start = thread_cpu_ns();
    lp.run(RunMode::Default);
    let spent = thread_cpu_ns() - start;
    // Generous: short charges spin on the monotonic clock, so a preempted spin pays less CPU.
    assert!(
        spent >= N * COST * 8 / 10,
        "{N} immediates at {COST} ns spent only {spent} ns of CPU"
    );
    // A second install of other costs is refused; the same costs again are fine.
    assert!(costs::install(Costs::none()).is_err());
    assert!(costs::install(Costs::none().with(Event::Immediate, COST)).is_ok());
}
