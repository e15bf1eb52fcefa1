//! `fs::read_file` throughput: N reads of a file of S bytes with C in flight on a pool of 4, in
//! a private temp dir removed at the end. Each read is 4 pool trips (open, fstat, read, close).
//! Node twin: `scripts/node/fs-read.js`.

use std::cell::Cell;
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use looplab_runtime::{fs, EventLoop, RunMode, ThreadPool};

const READS: u64 = 500;
const CONCURRENCY: u64 = 16;

fn read_next(lp: &EventLoop, path: Rc<std::path::PathBuf>, issued: Rc<Cell<u64>>) {
    issued.set(issued.get() + 1);
    let again = Rc::clone(&path);
    fs::read_file(lp, path.as_path(), move |lp, bytes| {
        assert!(bytes.is_ok());
        if issued.get() < READS {
            read_next(lp, again, issued);
        }
    });
}

fn fs_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lp = EventLoop::with_pool(ThreadPool::with_size(4).unwrap()).unwrap();
    let mut group = c.benchmark_group("fs-read");
    group.throughput(Throughput::Elements(READS));
    group.sample_size(10);
    for size in [4096usize, 65_536, 1 << 20] {
        let path = Rc::new(dir.path().join(format!("file-{size}")));
        std::fs::write(path.as_path(), vec![1u8; size]).unwrap();
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let issued = Rc::new(Cell::new(0));
                for _ in 0..CONCURRENCY {
                    read_next(&lp, Rc::clone(&path), Rc::clone(&issued));
                }
                lp.run(RunMode::Default);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fs_read);
criterion_main!(benches);
