//! The wire format of the primary–worker channel and the two system calls that carry it:
//! `sendmsg`/`recvmsg` on a Unix stream socket, with file descriptors attached (`SCM_RIGHTS`).
//!
//! A frame is an 8-byte header, then the payload:
//! `payload length: u32 LE | kind: u8 | fd count: u8 | 0u16`.
//!
//! Invariants:
//! 1. a frame's descriptors travel with its first byte (one `sendmsg`; if the kernel takes only
//!    part of the bytes, the descriptors went with that part), so the receiver holds them no
//!    later than the header, and since Linux never merges two descriptor-carrying segments into
//!    one `recvmsg`, descriptors arrive in frame order: the decoder keeps them in a FIFO and
//!    gives a complete frame the first `fd count` of them;
//! 2. received descriptors are close-on-exec (`MSG_CMSG_CLOEXEC`) and owned (`OwnedFd`), so an
//!    unused one is closed when dropped;
//! 3. sends never raise `SIGPIPE` (`MSG_NOSIGNAL`): a dead peer is an `EPIPE` error.
//!
//! libc is used directly rather than `nix`: it is already a dependency, the unsafe surface is
//! these two calls and their control-message buffers, and `nix`'s fd types change between
//! releases.

use std::collections::VecDeque;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Bytes before every payload.
pub(crate) const HEADER_LEN: usize = 8;
/// Largest payload accepted either way; a larger header means a corrupt stream.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Most descriptors one frame carries (the cluster sends at most one).
const MAX_FDS: usize = 4;
/// Control buffer for `recvmsg`: room for 32 descriptors, 8-byte aligned for `cmsghdr`.
const RECV_CONTROL_WORDS: usize = 24;

/// What a frame means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Primary → worker, first frame: policy, address, and (shared policy) the listening socket.
    Setup = 1,
    /// Worker → primary: the worker's loop is running.
    Online = 2,
    /// Worker → primary: the worker serves the shared address.
    Listening = 3,
    /// Primary → worker (round-robin): one accepted connection as the frame's descriptor.
    NewConn = 4,
    /// Worker → primary: answer to `NewConn`; payload `[1]` accepted, `[0]` refused.
    Ack = 5,
    /// Primary → worker: stop serving and exit.
    Shutdown = 6,
    /// Either way: an application message.
    User = 7,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Kind::Setup,
            2 => Kind::Online,
            3 => Kind::Listening,
            4 => Kind::NewConn,
            5 => Kind::Ack,
            6 => Kind::Shutdown,
            7 => Kind::User,
            _ => return None,
        })
    }
}

/// One decoded frame with the descriptors it carried.
#[derive(Debug)]
pub(crate) struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// Header plus payload, ready for [`send_with_fds`].
pub(crate) fn encode(kind: Kind, payload: &[u8], fd_count: usize) -> io::Result<Vec<u8>> {
    if payload.len() > MAX_MESSAGE_BYTES || fd_count > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "an IPC message of {} bytes with {fd_count} descriptors exceeds the limit of \
                 {MAX_MESSAGE_BYTES} bytes and {MAX_FDS} descriptors; send smaller messages",
                payload.len()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&[kind as u8, fd_count as u8, 0, 0]);
    bytes.extend_from_slice(payload);
    Ok(bytes)
}

fn protocol_error(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("cluster IPC: {what}"))
}

/// Reassembles frames from the byte stream and the descriptor FIFO.
#[derive(Default)]
pub(crate) struct Decoder {
    buf: Vec<u8>,
    start: usize,
    fds: VecDeque<OwnedFd>,
}

impl Decoder {
    /// Appends received bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Appends received descriptors (in arrival order).
    pub fn push_fds(&mut self, fds: impl IntoIterator<Item = OwnedFd>) {
        self.fds.extend(fds);
    }

    /// Whether part of a frame is buffered (an end of stream here is an error).
    pub fn has_partial(&self) -> bool {
        self.start < self.buf.len()
    }

    /// The next complete frame, `None` if more bytes are needed, or a protocol error.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        let (kind_byte, fd_count) = (avail[4], avail[5] as usize);
        if len > MAX_MESSAGE_BYTES {
            return Err(protocol_error(format!(
                "frame of {len} bytes is over the limit"
            )));
        }
        let kind = Kind::from_byte(kind_byte)
            .ok_or_else(|| protocol_error(format!("unknown frame kind {kind_byte}")))?;
        if avail.len() < HEADER_LEN + len {
            return Ok(None);
        }
        if self.fds.len() < fd_count {
            return Err(protocol_error(format!(
                "{kind:?} frame announced {fd_count} descriptors, {} arrived",
                self.fds.len()
            )));
        }
        let payload = avail[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.start += HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let fds = self.fds.drain(..fd_count).collect();
        Ok(Some(Frame { kind, payload, fds }))
    }
}

/// One non-blocking `sendmsg` of `bytes` with `fds` attached; returns the bytes taken.
pub(crate) fn send_with_fds(socket: RawFd, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<usize> {
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no control); the pointers set below point to
    // `iov` and `control`, which outlive the sendmsg call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = (fds.len().min(MAX_FDS) * size_of::<libc::c_int>()) as u32;
        // SAFETY: CMSG_* are pure arithmetic on lengths and on the msghdr we own; the control
        // buffer (64 bytes) holds CMSG_SPACE of at most 4 ints (32 bytes), so every write below
        // stays inside it; CMSG_DATA is not aligned for c_int, hence write_unaligned.
        unsafe {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(data_len) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in fds.iter().take(MAX_FDS).enumerate() {
                data.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: `msg` is fully initialised and its buffers are alive for the call.
        let n = unsafe { libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// One non-blocking `recvmsg` into `buf`; received descriptors go to `fds`. `Ok(0)` is the end
/// of the stream.
pub(crate) fn recv_with_fds(
    socket: RawFd,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut control = [0u64; RECV_CONTROL_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in send_with_fds; the kernel writes at most msg_controllen control bytes.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; RECV_CONTROL_WORDS]>() as _;
    let n = loop {
        // SAFETY: `msg` points to live, writable buffers of the stated sizes.
        let n = unsafe {
            libc::recvmsg(
                socket,
                &mut msg,
                libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    take_fds(&msg, fds);
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(protocol_error("descriptors were truncated".into()));
    }
    Ok(n)
}

/// Takes ownership of every descriptor in the control messages of a completed `recvmsg`.
fn take_fds(msg: &libc::msghdr, fds: &mut Vec<OwnedFd>) {
    // SAFETY: `msg` was filled by recvmsg, so its control buffer holds well-formed cmsghdrs up
    // to msg_controllen; CMSG_FIRSTHDR/NXTHDR stay inside it. Each SCM_RIGHTS entry is a new
    // descriptor installed in this process, owned by nobody else, so wrapping it in OwnedFd
    // is sound.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..data_len / size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// Waits up to `timeout_ms` for `socket` to become readable; false on timeout.
pub(crate) fn wait_readable(socket: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: socket,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn frames_split_anywhere_reassemble_in_order() {
        let mut wire = encode(Kind::User, b"hello", 0).unwrap();
        wire.extend(encode(Kind::Ack, &[1], 0).unwrap());
        wire.extend(encode(Kind::Shutdown, &[], 0).unwrap());
        for split in 0..wire.len() {
            let mut dec = Decoder::default();
            let mut got = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                dec.push_bytes(part);
                while let Some(frame) = dec.next_frame().unwrap() {
                    got.push((frame.kind, frame.payload));
                }
            }
            assert_eq!(
                got,
                vec![
                    (Kind::User, b"hello".to_vec()),
                    (Kind::Ack, vec![1]),
                    (Kind::Shutdown, vec![])
                ]
            );
            assert!(!dec.has_partial());
        }
    }

    #[test]
    fn corrupt_headers_and_missing_descriptors_are_errors() {
        let mut dec = Decoder::default();
        dec.push_bytes(&[0, 0, 0, 0, 99, 0, 0, 0]);
        assert!(dec.next_frame().is_err());
        let mut dec = Decoder::default();
        dec.push_bytes(&encode(Kind::NewConn, &[], 1).unwrap());
        assert!(dec.next_frame().is_err());
        assert!(encode(Kind::User, &vec![0; MAX_MESSAGE_BYTES + 1], 0).is_err());
    }

    #[test]
    fn descriptors_cross_a_socket_pair_with_their_frame() {
        let (a, b) = UnixStream::pair().unwrap();
        let (passed, _keep) = UnixStream::pair().unwrap();
        let wire = encode(Kind::NewConn, b"x", 1).unwrap();
        let sent = send_with_fds(a.as_raw_fd(), &wire, &[OwnedFd::from(passed)]).unwrap();
        assert_eq!(sent, wire.len());
        assert!(wait_readable(b.as_raw_fd(), 5_000).unwrap());
        let (mut buf, mut fds) = ([0u8; 64], Vec::new());
        let n = recv_with_fds(b.as_raw_fd(), &mut buf, &mut fds).unwrap();
        let mut dec = Decoder::default();
        dec.push_bytes(&buf[..n]);
        dec.push_fds(fds);
        let frame = dec.next_frame().unwrap().expect("a whole frame");
        assert_eq!(
            (frame.kind, frame.payload, frame.fds.len()),
            (Kind::NewConn, b"x".to_vec(), 1)
        );
        // SAFETY: fcntl on a descriptor we own.
        let flags = unsafe { libc::fcntl(frame.fds[0].as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
