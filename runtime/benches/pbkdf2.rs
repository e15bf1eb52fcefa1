//! One PBKDF2-HMAC-SHA512 hash (100,000 iterations, 64-byte key), synchronously and through
//! the pool and back. Node twin: `scripts/node/pbkdf2.js` (`pbkdf2Sync` and `pbkdf2`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use looplab_runtime::{crypto, EventLoop, RunMode, ThreadPool};

fn pbkdf2(c: &mut Criterion) {
    let mut group = c.benchmark_group("pbkdf2");
    group.sample_size(20);
    group.bench_function("sync-100k", |b| {
        b.iter(|| crypto::pbkdf2_sync(b"a", b"b", black_box(100_000), 64).unwrap())
    });
    let lp = EventLoop::with_pool(ThreadPool::with_size(4).unwrap()).unwrap();
    group.bench_function("async-100k", |b| {
        b.iter(|| {
            crypto::pbkdf2(&lp, b"a", b"b", 100_000, 64, |_, key| {
                black_box(key);
            })
            .unwrap();
            lp.run(RunMode::Default);
        })
    });
    group.finish();
}

criterion_group!(benches, pbkdf2);
criterion_main!(benches);
