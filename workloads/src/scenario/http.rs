//! `http.get` on the runtime: one GET on a fresh connection (`Connection: close`, like Node's
//! `agent: false`), socket I/O in the poll phase, never on the pool. Completes when the whole
//! body has arrived (Node's `'end'`), not when the server closes.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use looplab_runtime::tcp::{ReadEvent, TcpStream};
use looplab_runtime::EventLoop;

type Done = Box<dyn FnOnce(&EventLoop, io::Result<u16>)>;

/// GETs `path` from `addr`; `done` gets the status once the body is complete.
pub(crate) fn get(
    lp: &EventLoop,
    addr: SocketAddr,
    path: &str,
    done: impl FnOnce(&EventLoop, io::Result<u16>) + 'static,
) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let done: Rc<RefCell<Option<Done>>> = Rc::new(RefCell::new(Some(Box::new(done))));
    TcpStream::connect(lp, addr, move |lp, stream| {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => return finish(lp, &done, Err(e)),
        };
        stream.send(lp, request.into_bytes());
        let mut answer = Vec::new();
        let reader = stream.clone();
        stream.read_start(lp, move |lp, event| {
            let outcome = match event {
                ReadEvent::Data(bytes) => {
                    answer.extend_from_slice(bytes);
                    match complete(&answer) {
                        Ok(Some(status)) => Ok(status),
                        Ok(None) => return,
                        Err(e) => Err(e),
                    }
                }
                ReadEvent::Eof => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed before the whole answer arrived",
                )),
                ReadEvent::Error(e) => Err(e),
            };
            reader.close(lp, |_| {});
            finish(lp, &done, outcome);
        });
    });
}

fn finish(lp: &EventLoop, done: &Rc<RefCell<Option<Done>>>, outcome: io::Result<u16>) {
    let callback = done.borrow_mut().take();
    if let Some(callback) = callback {
        callback(lp, outcome);
    }
}

/// The status once `answer` holds a whole response (head and `Content-Length` bytes of body).
fn complete(answer: &[u8]) -> io::Result<Option<u16>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(answer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let status = response.code.unwrap_or(0);
    Ok((answer.len() >= head_len + length).then_some(status))
}

#[cfg(test)]
mod tests {
    use super::complete;

    #[test]
    fn an_answer_is_complete_with_its_whole_body() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(complete(&head[..10]).unwrap(), None);
        assert_eq!(complete(head).unwrap(), None);
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"hello");
        assert_eq!(complete(&whole).unwrap(), Some(200));
        assert!(complete(b"NOT HTTP\r\n\r\n").is_err());
    }
}
