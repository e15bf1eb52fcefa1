//! Instruction counts of the runtime's hot paths under Callgrind (gungraun), checked in CI
//! against `benches/instructions.baseline.json` by `scripts/instructions` (`lab instructions`).
//!
//! Every path runs twice, `n{SMALL}` and `n{LARGE}` operations on a fresh loop; the check
//! divides the difference of the two counts by `LARGE - SMALL`, so loop creation, thread
//! start-up and teardown cancel out and what remains is the cost of one operation:
//! - `timer`: one `set_timeout(1)` scheduled and fired;
//! - `immediate`: one `set_immediate` run;
//! - `tick_microtask`: one next-tick and one microtask queued and drained;
//! - `pool_roundtrip`: one empty work item submitted, run and completed on the loop (one in
//!   flight, pool of 1);
//! - `file_read`: one `fs::read_file` of 1 KiB (open, fstat, read, close: 4 pool trips, one
//!   read in flight, pool of 1);
//! - `http_request`: one keep-alive `GET` on a loopback connection, parsed and answered by the
//!   HTTP server, the client on the same loop;
//! - `worker_message`: one message to a worker and its echo back, counted from each side's
//!   delivery of it (`handle::Core::deliver` on the loop thread, `PortCore::deliver` on the
//!   worker's: taking the message and running the handler, which schedules the answer) and
//!   each side's post (`answer`, `echo`: queueing the message and waking the other loop), but
//!   not the loops' iterations: how many wake-ups carry a message each depends on how the
//!   threads interleave in real time (counting them gave 2461 instructions per round trip on an
//!   idle machine, 2366 with two busy cores, 2081 during a build).
//!
//! Threads: Callgrind counts the loop thread from the benchmark function's entry (gungraun's
//! default entry point), a pool thread from each job (`pool::run_job`: the job, the completion
//! and the loop's wake-up) and a worker thread from each delivery of its messages
//! (`PortCore::deliver`: the message, the handler and the reply), named in `--toggle-collect`
//! below. A pool or worker thread's waiting for work is left out: how often it spins, sleeps
//! and wakes depends on how Callgrind interleaved the threads, and counting it moved the pool
//! round trip by 10 to 40% from run to run. One operation in flight and sizes 2000 to 4000
//! operations apart keep the loop thread's own interleaving effects (a contended lock now and
//! then) under 0.5%.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;

use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, EntryPoint, LibraryBenchmarkConfig,
};
use looplab_runtime::http::{HttpServer, Response, ServerOptions};
use looplab_runtime::tcp::{ReadEvent, TcpStream};
use looplab_runtime::worker::{downcast, Worker, WorkerPort};
use looplab_runtime::{fs, EventLoop, RunMode, ThreadPool, WorkSpec};

fn new_loop() -> EventLoop {
    EventLoop::with_pool(ThreadPool::with_size(1).expect("a pool of 1")).expect("an event loop")
}

/// `n` rounds of callbacks queued by `schedule`, run to the last; fails unless each round ran
/// `per` callbacks.
fn queued(n: u64, per: u64, schedule: impl Fn(&EventLoop, Rc<Cell<u64>>)) -> u64 {
    let lp = new_loop();
    let count = Rc::new(Cell::new(0));
    for _ in 0..n {
        schedule(&lp, Rc::clone(&count));
    }
    lp.run(RunMode::Default);
    assert_eq!(count.get(), n * per);
    n
}

fn timers(n: u64) -> u64 {
    queued(n, 1, |lp, count| {
        lp.set_timeout(1, move |_| count.set(count.get() + 1));
    })
}

fn immediates(n: u64) -> u64 {
    queued(n, 1, |lp, count| {
        lp.set_immediate(move |_| count.set(count.get() + 1));
    })
}

fn ticks_and_microtasks(n: u64) -> u64 {
    queued(n, 2, |lp, count| {
        let again = Rc::clone(&count);
        lp.next_tick(move |_| count.set(count.get() + 1));
        lp.queue_microtask(move |_| again.set(again.get() + 1));
    })
}

fn submit(lp: &EventLoop, left: Rc<Cell<u64>>) {
    lp.queue_work(
        WorkSpec::cpu("empty"),
        || black_box(()),
        move |lp, ()| {
            left.set(left.get() - 1);
            if left.get() > 0 {
                submit(lp, left);
            }
        },
    );
}

fn pool_roundtrips(n: u64) -> u64 {
    let lp = new_loop();
    let left = Rc::new(Cell::new(n));
    submit(&lp, Rc::clone(&left));
    lp.run(RunMode::Default);
    assert_eq!(left.get(), 0);
    n
}

fn read_next(lp: &EventLoop, path: Rc<std::path::PathBuf>, left: Rc<Cell<u64>>) {
    let again = Rc::clone(&path);
    fs::read_file(lp, path.as_path(), move |lp, bytes| {
        assert_eq!(bytes.map(|b| b.len()).ok(), Some(FILE_BYTES));
        left.set(left.get() - 1);
        if left.get() > 0 {
            read_next(lp, again, left);
        }
    });
}

/// The file's size.
const FILE_BYTES: usize = 1024;

/// `n` reads of a small file in a private temp dir, made before counting starts.
struct Reads {
    _dir: tempfile::TempDir,
    path: Rc<std::path::PathBuf>,
    n: u64,
}

fn kib_file(n: u64) -> Reads {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("kib.bin");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&[7u8; FILE_BYTES]))
        .expect("a file to read");
    Reads {
        _dir: dir,
        path: Rc::new(path),
        n,
    }
}

fn file_reads(reads: Reads) -> u64 {
    let (lp, n) = (new_loop(), reads.n);
    let left = Rc::new(Cell::new(n));
    read_next(&lp, Rc::clone(&reads.path), Rc::clone(&left));
    lp.run(RunMode::Default);
    assert_eq!(left.get(), 0);
    n
}

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const BODY: &str = "hello";

/// The client's side: sends a request, and the next once the answer's body arrived.
fn client(lp: &EventLoop, stream: TcpStream, n: u64, server: Rc<HttpServer>) {
    let (left, seen) = (Rc::new(Cell::new(n)), Rc::new(RefCell::new(Vec::new())));
    let reader = stream.clone();
    stream.read_start(lp, move |lp, event| {
        let ReadEvent::Data(bytes) = event else {
            return;
        };
        let mut seen = seen.borrow_mut();
        seen.extend_from_slice(bytes);
        if !seen.ends_with(BODY.as_bytes()) {
            return;
        }
        seen.clear();
        left.set(left.get() - 1);
        if left.get() > 0 {
            reader.send(lp, REQUEST.to_vec());
        } else {
            reader.close(lp, |_| {});
            server.close(lp, 0, |_| {});
        }
    });
    stream.send(lp, REQUEST.to_vec());
}

fn http_requests(n: u64) -> u64 {
    let lp = new_loop();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let answered = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&answered);
    let server = HttpServer::bind(&lp, any, ServerOptions::default(), move |lp, _, res| {
        count.set(count.get() + 1);
        res.send(lp, Response::text(200, BODY));
    })
    .expect("a loopback server");
    let addr = server.local_addr().expect("its address");
    let server = Rc::new(server);
    TcpStream::connect(&lp, addr, move |lp, stream| {
        client(lp, stream.expect("a loopback connection"), n, server);
    });
    lp.run(RunMode::Default);
    assert_eq!(answered.get(), n);
    n
}

/// The parent's answer to the worker, posted from an immediate (see [`worker_messages`]).
#[inline(never)]
fn answer(worker: &Worker, value: u64) {
    drop(worker.post(value));
}

/// The worker's echo, posted from an immediate (see [`worker_messages`]).
#[inline(never)]
fn echo(port: &WorkerPort, value: u64) {
    drop(port.post(value));
}

/// Each side posts from an immediate, after its delivery has returned: a message posted from
/// inside the delivery could be answered before the delivery's loop looked for more, and how
/// often that happened (one wake-up carrying two messages) depended on real-time thread timing.
fn worker_messages(n: u64) -> u64 {
    let lp = new_loop();
    let worker = Rc::new(
        Worker::spawn(&lp, "echo", |wlp, port| {
            let reply = port.clone();
            port.on_message(wlp, move |wlp, m| match downcast::<u64>(m) {
                Ok(i) if i > 0 => {
                    let reply = reply.clone();
                    wlp.set_immediate(move |_| echo(&reply, i));
                }
                _ => reply.off_message(wlp),
            });
        })
        .expect("a worker"),
    );
    let back = Rc::clone(&worker);
    worker.on_message(&lp, move |lp, m| {
        let i = downcast::<u64>(m).unwrap_or(0);
        let (worker, next) = (Rc::clone(&back), if i < n { i + 1 } else { 0 });
        lp.set_immediate(move |_| answer(&worker, next));
    });
    worker.post(1u64).expect("the worker takes a message");
    lp.run(RunMode::Default);
    n
}

// The benchmarks. Each only calls its job: a closure written inside a benchmark function
// would match gungraun's entry point (`*::__gungraun_wrapper_mod::*`) and, run from a
// callback, toggle counting off (Callgrind's `--toggle-collect` flips on every entry).

#[library_benchmark]
#[bench::n100(100)]
#[bench::n1100(1100)]
fn timer(n: u64) -> u64 {
    timers(n)
}

#[library_benchmark]
#[bench::n100(100)]
#[bench::n1100(1100)]
fn immediate(n: u64) -> u64 {
    immediates(n)
}

#[library_benchmark]
#[bench::n100(100)]
#[bench::n1100(1100)]
fn tick_microtask(n: u64) -> u64 {
    ticks_and_microtasks(n)
}

#[library_benchmark]
#[bench::n200(200)]
#[bench::n4200(4200)]
fn pool_roundtrip(n: u64) -> u64 {
    pool_roundtrips(n)
}

#[library_benchmark]
#[bench::n100(args = (100), setup = kib_file)]
#[bench::n2100(args = (2100), setup = kib_file)]
fn file_read(reads: Reads) -> u64 {
    file_reads(reads)
}

#[library_benchmark]
#[bench::n10(10)]
#[bench::n110(110)]
fn http_request(n: u64) -> u64 {
    http_requests(n)
}

// Counted from each side's delivery only (see the top of the file): not the bench's set-up nor
// the loops' wake-ups.
#[library_benchmark(
    config = LibraryBenchmarkConfig::default().tool(
        Callgrind::with_args([
            "--collect-atstart=no",
            "--toggle-collect=looplab_runtime::worker::handle::Core::deliver",
            "--toggle-collect=instructions::answer",
            "--toggle-collect=instructions::echo",
        ])
        .entry_point(EntryPoint::None)
    )
)]
#[bench::n200(200)]
#[bench::n4200(4200)]
fn worker_message(n: u64) -> u64 {
    worker_messages(n)
}

library_benchmark_group!(
    name = scheduling;
    benchmarks = timer, immediate, tick_microtask
);

library_benchmark_group!(
    name = trips;
    benchmarks = pool_roundtrip, file_read, http_request, worker_message
);

main!(
    config = LibraryBenchmarkConfig::default()
        // No fastbins (glibc): whether a free consolidates them depended on how the pool
        // thread's and the loop's allocations interleaved, which moved `file_read` by 1.6% from
        // run to run (per-thread caches still serve small allocations, as in production).
        .env("GLIBC_TUNABLES", "glibc.malloc.mxfast=0")
        .tool(Callgrind::with_args([
        // A fixed cache geometry, so the cache estimates do not depend on the machine.
        "--cache-sim=yes",
        "--I1=32768,8,64",
        "--D1=32768,8,64",
        "--LL=8388608,16,64",
        "--branch-sim=yes",
        // The other threads of a trip: the pool's threads and the worker's, from their start.
        "--toggle-collect=looplab_runtime::pool::run_job",
        "--toggle-collect=looplab_runtime::worker::port::PortCore::deliver",
    ]));
    library_benchmark_groups = scheduling, trips
);
