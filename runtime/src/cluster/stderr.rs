//! A worker's standard error, forwarded line by line to the primary's and its last lines kept,
//! so the primary can say why a worker died: a worker that fails at start says why only there.
//!
//! 1. one thread per worker (`cluster-stderr-<id>`) reads the pipe until end of file, which
//!    comes when every copy of its write end is closed (the worker exited, and anything it
//!    started too); each line goes to the primary's stderr at once, unchanged;
//! 2. it keeps the last `keep` lines, each cut at [`MAX_LINE_BYTES`] (a line without a newline
//!    is cut there too, so memory stays bounded whatever the worker writes);
//! 3. the reaper asks for the tail once the worker exited, waiting for the end of file at most
//!    the given time: a grandchild holding the pipe open cannot delay the exit report (the
//!    thread then ends with the pipe, on its own).

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::ChildStderr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::WorkerId;

/// The longest line kept (and the most read at once before forwarding).
pub const MAX_LINE_BYTES: usize = 4096;

type Lines = Arc<Mutex<VecDeque<String>>>;

/// The forwarding thread's results: the last lines, and whether it reached end of file.
pub(crate) struct StderrTail {
    lines: Lines,
    done: mpsc::Receiver<()>,
}

impl StderrTail {
    /// The last lines, after waiting at most `wait` for the end of the worker's stderr.
    pub fn finish(self, wait: Duration) -> Vec<String> {
        let _ = self.done.recv_timeout(wait);
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect()
    }
}

/// Starts forwarding worker `id`'s `stderr`, keeping its last `keep` lines.
pub(crate) fn forward(stderr: ChildStderr, id: WorkerId, keep: usize) -> io::Result<StderrTail> {
    let lines: Lines = Arc::default();
    let (done_tx, done) = mpsc::channel();
    let kept = Arc::clone(&lines);
    std::thread::Builder::new()
        .name(format!("cluster-stderr-{id}"))
        .spawn(move || {
            copy_lines(stderr, &kept, keep);
            let _ = done_tx.send(());
        })?;
    Ok(StderrTail { lines, done })
}

fn copy_lines(stderr: ChildStderr, kept: &Lines, keep: usize) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // The primary's stderr may be closed: the worker's lines are then lost, not fatal.
        let _ = io::stderr().lock().write_all(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let mut lines = kept.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == keep {
            lines.pop_front();
        }
        if keep > 0 {
            lines.push_back(text);
        }
    }
}
