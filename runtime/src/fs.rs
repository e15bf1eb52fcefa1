//! Files through the pool, trip by trip as Node 20 does them (`lib/fs.js`, NODE_MODEL.md 2.4).
//!
//! `read_file` is a chain of separate pool requests, each queued from the previous one's
//! completion on the loop, so each re-enters the *tail* of the queue:
//! 1. open; 2. fstat; 3. reads of `min(512 KiB, remaining)` until the size is reached or EOF
//!    (64 KiB reads until EOF when the size is 0 or unknown, as for `/proc` files); 4. close.
//!
//! A small file therefore takes 4 trips. `write_file` is open, writes of at most 512 KiB, close.
//! Errors reach the callback as `io::Error` naming the operation and the path; after a failed
//! read or write the file is still closed (another trip) before the callback runs.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::costs::{self, Event};
use crate::{EventLoop, WorkSpec};

/// Node's `kReadFileBufferLength`.
pub const READ_CHUNK: usize = 512 * 1024;
/// Node's `kReadFileUnknownBufferLength`.
pub const UNKNOWN_SIZE_CHUNK: usize = 64 * 1024;
/// Node's `kWriteFileMaxChunkSize`.
pub const WRITE_CHUNK: usize = 512 * 1024;

type Done<T> = Box<dyn FnOnce(&EventLoop, io::Result<T>)>;

fn with_path(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{op} '{}': {e}", path.display()))
}

fn close_fd(file: File) -> io::Result<()> {
    let fd = file.into_raw_fd();
    // SAFETY: `fd` came from `into_raw_fd`, so we own it and close it exactly once.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Closes on the pool, then reports `outcome` (a close error only if the outcome was a success).
fn close_then<T: 'static>(
    lp: &EventLoop,
    file: File,
    path: PathBuf,
    outcome: io::Result<T>,
    done: Done<T>,
) {
    lp.queue_work(
        WorkSpec::fast_io("fs.close"),
        move || close_fd(file),
        move |lp, closed| {
            let result = match (outcome, closed) {
                (Ok(_), Err(e)) => Err(with_path(e, "close", &path)),
                (outcome, _) => outcome,
            };
            done(lp, result);
        },
    );
}

/// `fs.readFile(path, callback)`: the whole file, in 4 or more pool trips.
pub fn read_file(
    lp: &EventLoop,
    path: impl AsRef<Path>,
    callback: impl FnOnce(&EventLoop, io::Result<Vec<u8>>) + 'static,
) {
    let path = path.as_ref().to_path_buf();
    let done: Done<Vec<u8>> = Box::new(callback);
    let open_path = path.clone();
    lp.queue_work(
        WorkSpec::fast_io("fs.open"),
        move || File::open(open_path),
        move |lp, opened| match opened {
            Err(e) => done(lp, Err(with_path(e, "open", &path))),
            Ok(file) => read_fstat(lp, file, path, done),
        },
    );
}

fn read_fstat(lp: &EventLoop, file: File, path: PathBuf, done: Done<Vec<u8>>) {
    lp.queue_work(
        WorkSpec::fast_io("fs.fstat"),
        move || {
            let meta = file.metadata();
            (file, meta)
        },
        move |lp, (file, meta)| match meta {
            Err(e) => {
                let e = with_path(e, "fstat", &path);
                close_then(lp, file, path, Err(e), done)
            }
            Ok(meta) => {
                let size = if meta.is_file() {
                    meta.len() as usize
                } else {
                    0
                };
                read_chunk(lp, file, path, Vec::with_capacity(size), size, done)
            }
        },
    );
}

/// One read trip. `size` 0 means unknown: read 64 KiB chunks until EOF.
fn read_chunk(
    lp: &EventLoop,
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    size: usize,
    done: Done<Vec<u8>>,
) {
    lp.queue_work(
        WorkSpec::fast_io("fs.read"),
        move || {
            let mut buf = buf;
            let want = if size == 0 {
                UNKNOWN_SIZE_CHUNK
            } else {
                READ_CHUNK.min(size - buf.len())
            };
            let read = read_into_spare(&file, &mut buf, want);
            (file, buf, read)
        },
        move |lp, (file, buf, read)| {
            if let Ok(n) = &read {
                // The buffer handed to JavaScript costs Node per KiB.
                costs::charge_n(Event::FileKib, n.div_ceil(1024) as u64);
            }
            match read {
                Err(e) => {
                    let e = with_path(e, "read", &path);
                    close_then(lp, file, path, Err(e), done)
                }
                Ok(n) if n == 0 || (size != 0 && buf.len() >= size) => {
                    close_then(lp, file, path, Ok(buf), done)
                }
                Ok(_) => read_chunk(lp, file, path, buf, size, done),
            }
        },
    );
}

/// One `read(2)` of at most `want` bytes appended to `buf`, into its spare capacity: like
/// libuv's `uv_fs_read` into the buffer `fs.readFile` allocated with `allocUnsafeSlow`, the
/// bytes are not zeroed first (zeroing 64 KiB cost the pool thread more than the read itself).
fn read_into_spare(file: &File, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    buf.reserve(want);
    let spare = &mut buf.spare_capacity_mut()[..want];
    let n = loop {
        // SAFETY: `spare` is `want` writable bytes owned by `buf`; read(2) writes at most that
        // many into it and returns how many it wrote (or -1, writing nothing we then use).
        let n = unsafe { libc::read(file.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        // libuv's uv__fs_work retries a read that a signal interrupted.
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: read(2) initialised the first `n` bytes of the spare capacity, `n <= want`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// `fs.writeFile(path, data, callback)`: create or truncate (mode 0o666 before umask), write
/// in chunks of at most 512 KiB, close.
pub fn write_file(
    lp: &EventLoop,
    path: impl AsRef<Path>,
    data: Vec<u8>,
    callback: impl FnOnce(&EventLoop, io::Result<()>) + 'static,
) {
    let path = path.as_ref().to_path_buf();
    let done: Done<()> = Box::new(callback);
    let open_path = path.clone();
    lp.queue_work(
        WorkSpec::fast_io("fs.open"),
        move || {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o666)
                .open(open_path)
        },
        move |lp, opened| match opened {
            Err(e) => done(lp, Err(with_path(e, "open", &path))),
            Ok(file) => write_chunk(lp, file, path, data, 0, done),
        },
    );
}

fn write_chunk(
    lp: &EventLoop,
    file: File,
    path: PathBuf,
    data: Vec<u8>,
    written: usize,
    done: Done<()>,
) {
    if written == data.len() {
        return close_then(lp, file, path, Ok(()), done);
    }
    lp.queue_work(
        WorkSpec::fast_io("fs.write"),
        move || {
            let mut file = file;
            let end = data.len().min(written + WRITE_CHUNK);
            let result = file.write(&data[written..end]);
            (file, data, result)
        },
        move |lp, (file, data, result)| match result {
            Err(e) => {
                let e = with_path(e, "write", &path);
                close_then(lp, file, path, Err(e), done)
            }
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes");
                close_then(
                    lp,
                    file,
                    path.clone(),
                    Err(with_path(e, "write", &path)),
                    done,
                )
            }
            Ok(n) => write_chunk(lp, file, path, data, written + n, done),
        },
    );
}

/// `fs.stat(path, callback)`: one pool trip.
pub fn stat(
    lp: &EventLoop,
    path: impl AsRef<Path>,
    callback: impl FnOnce(&EventLoop, io::Result<Metadata>) + 'static,
) {
    let path = path.as_ref().to_path_buf();
    let stat_path = path.clone();
    lp.queue_work(
        WorkSpec::fast_io("fs.stat"),
        move || std::fs::metadata(stat_path),
        move |lp, meta| callback(lp, meta.map_err(|e| with_path(e, "stat", &path))),
    );
}
