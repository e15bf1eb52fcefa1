//! TCP handles: listen/accept/read/write between two handles on one loop, half-close with
//! `shutdown`, back-pressure visible in `write_queue_size`, `SO_REUSEPORT`, ref/unref of a
//! listener, close callbacks, and connect errors reported through the pending queue.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use looplab_runtime::tcp::{ListenOptions, ReadEvent, TcpListener, TcpStream};
use looplab_runtime::{EventLoop, RunMode};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Runs the loop until `done` or a generous deadline, so a broken handle cannot hang the test.
fn run_until(lp: &EventLoop, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let guard = lp.set_interval(5, |_| {});
    while !done() && Instant::now() < deadline {
        lp.run(RunMode::Once);
    }
    lp.clear_timer(guard);
    assert!(done(), "timed out");
}

#[test]
fn echo_then_half_close_then_close_callbacks() {
    let lp = EventLoop::new().unwrap();
    let listener = TcpListener::bind(any_port(), &ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server_saw = Rc::new(RefCell::new(Vec::new()));
    let saw = Rc::clone(&server_saw);
    listener
        .listen(&lp, move |lp, stream| {
            let stream = stream.expect("accepted");
            let echo = stream.clone();
            let saw = Rc::clone(&saw);
            stream.read_start(lp, move |lp, event| match event {
                ReadEvent::Data(bytes) => {
                    saw.borrow_mut().extend_from_slice(bytes);
                    echo.send(lp, bytes.to_vec());
                }
                // The client half-closed; we can still write, then close.
                ReadEvent::Eof => {
                    echo.send(lp, b"bye".to_vec());
                    let closing = echo.clone();
                    echo.shutdown(lp, move |lp, r| {
                        assert!(r.is_ok());
                        closing.close(lp, |_| {});
                    });
                }
                ReadEvent::Error(e) => panic!("server read failed: {e}"),
            });
        })
        .unwrap();

    let client_got = Rc::new(RefCell::new(Vec::new()));
    let client_eof = Rc::new(Cell::new(false));
    let closed = Rc::new(Cell::new(false));
    let (got, eof, was_closed) = (
        Rc::clone(&client_got),
        Rc::clone(&client_eof),
        Rc::clone(&closed),
    );
    TcpStream::connect(&lp, addr, move |lp, stream| {
        let stream = stream.expect("connected");
        stream.write(lp, b"hello".to_vec(), |_, r| assert!(r.is_ok()));
        stream.shutdown(lp, |_, r| assert!(r.is_ok()));
        let me = stream.clone();
        stream.read_start(lp, move |lp, event| match event {
            ReadEvent::Data(bytes) => got.borrow_mut().extend_from_slice(bytes),
            ReadEvent::Eof => {
                eof.set(true);
                let was_closed = Rc::clone(&was_closed);
                me.close(lp, move |_| was_closed.set(true));
            }
            ReadEvent::Error(e) => panic!("client read failed: {e}"),
        });
    });
    run_until(&lp, || closed.get());
    assert_eq!(&*server_saw.borrow(), b"hello");
    assert_eq!(&*client_got.borrow(), b"hellobye");
    assert!(client_eof.get());
    listener.close(&lp, |_| {});
    assert!(!lp.run(RunMode::Default), "nothing left open");
}

#[test]
fn back_pressure_shows_in_the_write_queue() {
    let lp = EventLoop::new().unwrap();
    let listener = TcpListener::bind(any_port(), &ListenOptions::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    // The server accepts but never reads, so the client's writes pile up.
    let accepted: Rc<RefCell<Vec<TcpStream>>> = Rc::default();
    let keep = Rc::clone(&accepted);
    listener
        .listen(&lp, move |_, s| keep.borrow_mut().push(s.unwrap()))
        .unwrap();
    let queued = Rc::new(Cell::new(0usize));
    let client: Rc<RefCell<Option<TcpStream>>> = Rc::default();
    let (q, c) = (Rc::clone(&queued), Rc::clone(&client));
    TcpStream::connect(&lp, addr, move |lp, stream| {
        let stream = stream.unwrap();
        for _ in 0..64 {
            stream.send(lp, vec![0u8; 1 << 20]);
        }
        q.set(stream.write_queue_size());
        *c.borrow_mut() = Some(stream);
    });
    run_until(&lp, || {
        client.borrow().is_some() && !accepted.borrow().is_empty()
    });
    // 64 MiB cannot all fit in loopback socket buffers.
    assert!(queued.get() > 8 << 20, "queued {} bytes", queued.get());
    let stream = client.borrow_mut().take().unwrap();
    stream.close(&lp, |_| {});
    for s in accepted.borrow().iter() {
        s.close(&lp, |_| {});
    }
    listener.close(&lp, |_| {});
    assert!(!lp.run(RunMode::Default));
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port() {
    let reuse = ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    };
    let first = TcpListener::bind(any_port(), &reuse).unwrap();
    let addr = first.local_addr().unwrap();
    let second = TcpListener::bind(addr, &reuse).expect("SO_REUSEPORT allows a second bind");
    assert_eq!(second.local_addr().unwrap(), addr);
    let err = TcpListener::bind(addr, &ListenOptions::default())
        .err()
        .expect("plain bind refused");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn an_unreferenced_listener_does_not_keep_the_loop_alive() {
    let lp = EventLoop::new().unwrap();
    let listener = TcpListener::bind(any_port(), &ListenOptions::default()).unwrap();
    listener.listen(&lp, |_, _| {}).unwrap();
    assert!(
        lp.run(RunMode::NoWait),
        "a listening socket is an active handle"
    );
    listener.unref(&lp);
    assert!(!lp.run(RunMode::Default));
    listener.ref_(&lp);
    assert!(lp.run(RunMode::NoWait));
    let closed = Rc::new(Cell::new(false));
    let c = Rc::clone(&closed);
    listener.close(&lp, move |_| c.set(true));
    assert!(!closed.get(), "close callbacks never run synchronously");
    assert!(!lp.run(RunMode::Default));
    assert!(closed.get());
}

#[test]
fn a_refused_connection_is_reported_not_panicked() {
    let lp = EventLoop::new().unwrap();
    // Bind then drop to get a port nobody listens on.
    let addr = std::net::TcpListener::bind(any_port())
        .unwrap()
        .local_addr()
        .unwrap();
    let result = Rc::new(RefCell::new(None));
    let r = Rc::clone(&result);
    TcpStream::connect(&lp, addr, move |_, s| *r.borrow_mut() = Some(s.map(|_| ())));
    assert!(!lp.run(RunMode::Default));
    let err = result
        .borrow_mut()
        .take()
        .expect("callback ran")
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
