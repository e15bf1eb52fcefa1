//! One HTTP/1.1 client connection: connect, send the pre-encoded request, read and check the
//! answer, reconnect after an error or a `Connection: close`.
//!
//! Invariants:
//! - Nothing is allocated per request: the request is borrowed from the plan, the read buffer
//!   ([`Inbox`]) lives as long as the connection task, heads are parsed into a stack array.
//! - Every await is bounded by one lazily re-armed timer ([`Guard`]): at the latest by the
//!   run's deadline, and by the request's timeout counted from its actual send. The timer is
//!   moved only when it fires early, so a request does not touch the timer wheel.
//! - After any error the connection is dropped; the next request opens a new one.
//! - Bodies are skipped, not kept: Content-Length, chunked, or until close (no length given).

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::{ready, Poll};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant, Sleep};

use super::response::{read_answer, Answer, Inbox};
use super::stats::ErrorKind;

/// What every answer must look like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Expect {
    pub status: u16,
    pub body_bytes: Option<u64>,
}

/// Why a request did not produce a good answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Failure {
    /// The run's deadline came first: abandoned, not an error.
    Deadline,
    /// A failed request, counted by kind.
    Error(ErrorKind),
}

/// Bounds awaits by the deadline and the per-request timeout with one timer.
pub(crate) struct Guard {
    alarm: Pin<Box<Sleep>>,
    deadline: Instant,
    timeout: Duration,
}

impl Guard {
    pub(crate) fn new(deadline: Instant, timeout: Duration) -> Guard {
        Guard {
            alarm: Box::pin(sleep_until(deadline)),
            deadline,
            timeout,
        }
    }

    /// Runs `fut` until it completes, `started + timeout` (then `on_timeout`) or the deadline.
    pub(crate) async fn bound<F: Future>(
        &mut self,
        started: Instant,
        on_timeout: ErrorKind,
        fut: F,
    ) -> Result<F::Output, Failure> {
        let mut fut = pin!(fut);
        let limit = (started + self.timeout).min(self.deadline);
        poll_fn(move |cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            loop {
                if self.alarm.deadline() > limit {
                    self.alarm.as_mut().reset(limit);
                }
                ready!(self.alarm.as_mut().poll(cx));
                let now = Instant::now();
                if now >= self.deadline {
                    return Poll::Ready(Err(Failure::Deadline));
                }
                if now >= limit {
                    return Poll::Ready(Err(Failure::Error(on_timeout)));
                }
                // Armed for an earlier request: move it to this one's limit.
                self.alarm.as_mut().reset(limit);
            }
        })
        .await
    }
}

/// One connection's state across requests and reconnects.
pub(crate) struct Session<'p> {
    addr: SocketAddr,
    request: &'p [u8],
    head_only: bool,
    expect: Expect,
    window_start: Instant,
    stream: Option<TcpStream>,
    inbox: Inbox,
    guard: Guard,
    connected_once: bool,
    /// Connections opened after the first, for requests started in the window.
    pub reconnects: u64,
}

/// What the session needs from the plan.
pub(crate) struct SessionSpec<'p> {
    pub addr: SocketAddr,
    pub request: &'p [u8],
    pub head_only: bool,
    pub expect: Expect,
    pub window_start: Instant,
    pub deadline: Instant,
    pub timeout: Duration,
}

impl<'p> Session<'p> {
    pub(crate) fn new(spec: SessionSpec<'p>) -> Session<'p> {
        Session {
            addr: spec.addr,
            request: spec.request,
            head_only: spec.head_only,
            expect: spec.expect,
            window_start: spec.window_start,
            stream: None,
            inbox: Inbox::new(),
            guard: Guard::new(spec.deadline, spec.timeout),
            connected_once: false,
            reconnects: 0,
        }
    }

    /// One request started at `started`: connects first if needed, sends, reads the whole
    /// answer and checks it. `Ok` only for an answer with the expected status and length.
    pub(crate) async fn request(&mut self, started: Instant) -> Result<(), Failure> {
        if self.stream.is_none() {
            self.stream = Some(self.connect(started).await?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Error(ErrorKind::Connect));
        };
        let answer = exchange(
            stream,
            &mut self.inbox,
            &mut self.guard,
            self.request,
            self.head_only,
            started,
        )
        .await;
        match answer {
            Ok(answer) => {
                if answer.close {
                    self.disconnect();
                }
                self.expect.check(&answer).map_err(Failure::Error)
            }
            Err(failure) => {
                self.disconnect();
                Err(failure)
            }
        }
    }

    async fn connect(&mut self, started: Instant) -> Result<TcpStream, Failure> {
        let connect = TcpStream::connect(self.addr);
        let refused = Failure::Error(ErrorKind::Connect);
        let stream = self
            .guard
            .bound(started, ErrorKind::Connect, connect)
            .await?
            .map_err(|_| refused)?;
        stream.set_nodelay(true).map_err(|_| refused)?;
        if self.connected_once && started >= self.window_start {
            self.reconnects += 1;
        }
        self.connected_once = true;
        Ok(stream)
    }

    fn disconnect(&mut self) {
        self.stream = None;
        self.inbox.clear();
    }
}

impl Expect {
    fn check(&self, answer: &Answer) -> Result<(), ErrorKind> {
        if answer.status != self.status {
            return Err(ErrorKind::Status(answer.status));
        }
        match self.body_bytes {
            Some(bytes) if bytes != answer.body_bytes => Err(ErrorKind::ShortBody),
            _ => Ok(()),
        }
    }
}

async fn exchange(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    guard: &mut Guard,
    request: &[u8],
    head_only: bool,
    started: Instant,
) -> Result<Answer, Failure> {
    guard
        .bound(started, ErrorKind::Timeout, stream.write_all(request))
        .await?
        .map_err(|_| Failure::Error(ErrorKind::Io))?;
    read_answer(stream, inbox, guard, head_only, started).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        let expect = Expect {
            status: 200,
            body_bytes: Some(5),
        };
        let answer = |status, body_bytes| Answer {
            status,
            body_bytes,
            close: false,
        };
        assert_eq!(expect.check(&answer(200, 5)), Ok(()));
        assert_eq!(expect.check(&answer(500, 5)), Err(ErrorKind::Status(500)));
        assert_eq!(expect.check(&answer(200, 4)), Err(ErrorKind::ShortBody));
    }
}
