//! Scheduling on the loop: N timers (`set_timeout(1)`), N immediates and N next-ticks, each
//! scheduled from outside the loop and run to the last callback. Node twins:
//! `scripts/node/{timers,immediates,ticks}.js`; `lab bench timers|immediates|ticks` runs the
//! 1,000,000-item jobs compared with them.
//!
//! No cost profile is ever installed here ([`looplab_runtime::costs`]): these figures are the
//! price of the cost hooks without a profile (one `OnceLock` load and a branch per timer,
//! immediate and tick); compare them with a commit before the hooks (criterion baselines).

use std::cell::Cell;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use looplab_runtime::{EventLoop, RunMode, ThreadPool};

const N: u64 = 100_000;

fn job(schedule: impl Fn(&EventLoop, Rc<Cell<u64>>)) -> u64 {
    let lp = EventLoop::with_pool(ThreadPool::with_size(1).unwrap()).unwrap();
    let count = Rc::new(Cell::new(0));
    for _ in 0..N {
        schedule(&lp, Rc::clone(&count));
    }
    lp.run(RunMode::Default);
    count.get()
}

fn scheduling(c: &mut Criterion) {
    assert!(
        looplab_runtime::costs::installed().is_none(),
        "the scheduling bench measures the loop without a cost profile"
    );
    let mut group = c.benchmark_group("scheduling");
    group.throughput(Throughput::Elements(N));
    group.sample_size(10);
    group.bench_function("timers", |b| {
        b.iter(|| {
            job(|lp, count| {
                lp.set_timeout(1, move |_| count.set(count.get() + 1));
            })
        })
    });
    group.bench_function("immediates", |b| {
        b.iter(|| {
            job(|lp, count| {
                lp.set_immediate(move |_| count.set(count.get() + 1));
            })
        })
    });
    group.bench_function("ticks", |b| {
        b.iter(|| job(|lp, count| lp.next_tick(move |_| count.set(count.get() + 1))))
    });
    group.finish();
}

criterion_group!(benches, scheduling);
criterion_main!(benches);
