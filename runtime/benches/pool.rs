//! Pool round-trip throughput: N empty work items, K kept in flight, pool size P. Measures the
//! whole path: submission, queue, thread wake-up, completion queue, coalesced loop wake-up and
//! the `after_work` callback. Node twin: `scripts/node/pool-roundtrip.js` (`crypto.randomFill`
//! of 1 byte); the side-by-side figure comes from `lab bench pool-roundtrip`.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use looplab_runtime::{EventLoop, RunMode, ThreadPool, WorkSpec};

const ITEMS: u64 = 20_000;

fn submit(lp: &EventLoop, submitted: Rc<Cell<u64>>) {
    submitted.set(submitted.get() + 1);
    lp.queue_work(
        WorkSpec::cpu("empty"),
        || black_box(()),
        move |lp, ()| {
            if submitted.get() < ITEMS {
                submit(lp, submitted);
            }
        },
    );
}

fn roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool-roundtrip");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    for (pool, inflight) in [(4usize, 1024u64), (4, 1), (1, 1024)] {
        let lp = EventLoop::with_pool(ThreadPool::with_size(pool).unwrap()).unwrap();
        let id = BenchmarkId::from_parameter(format!("P{pool}-K{inflight}"));
        group.bench_function(id, |b| {
            b.iter(|| {
                let submitted = Rc::new(Cell::new(0));
                for _ in 0..inflight {
                    submit(&lp, Rc::clone(&submitted));
                }
                lp.run(RunMode::Default);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
