//! NODE_MODEL.md 1.5 (`order.js`): the order of synchronous code, next-ticks, microtasks,
//! `setTimeout(0)` and `setImmediate`, from the main program and from inside a file-read
//! callback, plus the immediate snapshot and the drain between two timers.
//!
//! The program, in Node terms:
//! ```text
//! log('main:sync'); nextTick(main:nextTick); promise(main:promise); queueMicrotask(...);
//! setTimeout(main:timeout0, 0); setImmediate(main:immediate);
//! setImmediate(I1 -> promise(I1.promise)); setImmediate(I2 -> setImmediate(I2.nested-immediate));
//! readFile(f, io:sync -> nextTick, promise, setImmediate, setTimeout 0);
//! setTimeout(T1 -> nextTick(T1.tick), promise(T1.promise), 5); setTimeout(T2, 5);
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use looplab_runtime::{fs, EventLoop, RunMode};

use super::{io_err, ms_since, Completion, ExperimentReport, ShapeCheck};
use crate::error::WorkloadError;

type Log = Rc<RefCell<Vec<Completion>>>;

fn logger(log: &Log, start: Instant, label: &'static str) -> impl Fn(&EventLoop) + 'static {
    let log = Rc::clone(log);
    move |lp: &EventLoop| {
        log.borrow_mut().push(Completion {
            label: label.into(),
            ms: ms_since(start),
            thread: "main".into(),
            note: format!("iteration {}", lp.iteration()),
        })
    }
}

fn schedule(lp: &EventLoop, log: &Log, start: Instant, file: std::path::PathBuf) {
    let l = |label| logger(log, start, label);
    l("main:sync")(lp);
    lp.next_tick(l("main:nextTick"));
    lp.queue_microtask(l("main:promise"));
    lp.queue_microtask(l("main:queueMicrotask"));
    lp.set_timeout(0, l("main:timeout0"));
    lp.set_immediate(l("main:immediate"));
    let (i1, i1p) = (l("I1"), l("I1.promise"));
    lp.set_immediate(move |lp| {
        i1(lp);
        lp.queue_microtask(i1p);
    });
    let (i2, nested) = (l("I2"), l("I2.nested-immediate"));
    lp.set_immediate(move |lp| {
        i2(lp);
        lp.set_immediate(nested);
    });
    let io = [
        l("io:sync"),
        l("io:nextTick"),
        l("io:promise"),
        l("io:immediate"),
        l("io:timeout0"),
    ];
    let io_failed = l("io:read-failed");
    fs::read_file(lp, file, move |lp, result| {
        if result.is_err() {
            return io_failed(lp);
        }
        let [sync, tick, promise, immediate, timeout0] = io;
        sync(lp);
        lp.next_tick(tick);
        lp.queue_microtask(promise);
        lp.set_immediate(immediate);
        lp.set_timeout(0, timeout0);
    });
    let (t1, t1tick, t1promise) = (l("T1"), l("T1.tick"), l("T1.promise"));
    lp.set_timeout(5, move |lp| {
        t1(lp);
        lp.next_tick(t1tick);
        lp.queue_microtask(t1promise);
    });
    lp.set_timeout(5, l("T2"));
}

fn in_order(labels: &[&str], order: &[&str]) -> bool {
    let positions: Option<Vec<usize>> = labels
        .iter()
        .map(|l| order.iter().position(|o| o == l))
        .collect();
    positions.is_some_and(|p| p.windows(2).all(|w| w[0] < w[1]))
}

fn rule(text: &str, labels: &[&str], order: &[&str]) -> ShapeCheck {
    ShapeCheck {
        rule: text.into(),
        holds: in_order(labels, order),
        observed: labels.join(" < "),
    }
}

/// Runs the ordering program and checks Node's rules.
pub fn ordering() -> Result<ExperimentReport, WorkloadError> {
    let lp = EventLoop::new().map_err(io_err("create the event loop"))?;
    let dir = super::private_tempdir("looplab-").map_err(io_err("create a temp dir"))?;
    let file = dir.path().join("order.js");
    std::fs::write(&file, b"// read me\n").map_err(io_err("write the file to read"))?;
    let log: Log = Rc::default();
    let start = Instant::now();
    schedule(&lp, &log, start, file);
    lp.run(RunMode::Default);
    let completions = log.take();
    let checks = shape_checks(&completions);
    Ok(ExperimentReport {
        experiment: "ordering".into(),
        params: vec![],
        completions,
        checks,
    })
}

/// Node's rules, in the program's order: main program, the timeout/immediate race,
/// immediates, the I/O callback, two timers, the immediate snapshot.
fn shape_checks(completions: &[Completion]) -> Vec<ShapeCheck> {
    let order: Vec<&str> = completions.iter().map(|c| c.label.as_str()).collect();
    vec![
        rule(
            "main program: sync, then next-ticks, then microtasks",
            &[
                "main:sync",
                "main:nextTick",
                "main:promise",
                "main:queueMicrotask",
                "main:immediate",
            ],
            &order,
        ),
        main_race(&order),
        rule(
            "immediates: microtasks drain between immediates",
            &["I1", "I1.promise", "I2"],
            &order,
        ),
        rule(
            "inside an I/O callback: sync, next-tick, microtask, immediate, then timeout(0)",
            &[
                "io:sync",
                "io:nextTick",
                "io:promise",
                "io:immediate",
                "io:timeout0",
            ],
            &order,
        ),
        rule(
            "ticks and microtasks drain between two timers due together",
            &["T1", "T1.tick", "T1.promise", "T2"],
            &order,
        ),
        nested_immediate(completions),
    ]
}

/// From the main program, timeout(0) and immediate may come in either order; both must come.
fn main_race(order: &[&str]) -> ShapeCheck {
    let timeout_first = in_order(&["main:timeout0", "main:immediate"], order);
    ShapeCheck {
        rule: "main program: timeout(0) against immediate is a race (either order is Node's)"
            .into(),
        holds: order.contains(&"main:timeout0") && order.contains(&"main:immediate"),
        observed: if timeout_first {
            "timeout(0) first this time (the 1 ms clock ticked before the loop started)".into()
        } else {
            "immediate first this time (the 1 ms clock had not ticked yet)".into()
        },
    }
}

/// The check phase runs a snapshot of the immediates: one added by an immediate waits for the
/// next iteration.
fn nested_immediate(completions: &[Completion]) -> ShapeCheck {
    let iteration = |label: &str| {
        completions
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.note.clone())
    };
    let i2 = iteration("I2");
    let nested = iteration("I2.nested-immediate");
    ShapeCheck {
        rule: "an immediate scheduled by an immediate runs in a later iteration".into(),
        holds: i2.is_some() && nested.is_some() && i2 != nested,
        observed: format!(
            "I2 in {}, I2.nested-immediate in {}",
            i2.as_deref().unwrap_or("no iteration (it did not run)"),
            nested.as_deref().unwrap_or("no iteration (it did not run)")
        ),
    }
}
