//! One writer per folder: [`FolderLock`] holds an exclusive `flock` on `DIR/.lock` for as long
//! as it lives, and writes its PID into the file so a refused writer can name the holder.
//!
//! `flock` locks belong to the open file, so the kernel drops the lock when the holder exits
//! however it exits (even on SIGKILL): a stale lock file is never a problem, only a live
//! holder is. Two `FolderLock`s of one process on one folder conflict too (each opens the file
//! anew), so a process takes a folder's lock once and passes it on.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Name of the lock file inside a locked folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a folder, released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    path: PathBuf,
}

impl FolderLock {
    /// Takes the lock of `dir` without waiting; if another process holds it, the error names
    /// that process.
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action,
                path,
                cause: source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io("open the lock file", &path))?;
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io("lock", &path)(error));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StoreError::Locked {
                path: dir.to_path_buf(),
                holder: holder.trim().parse().ok(),
            });
        }
        file.set_len(0).map_err(io("write", &path))?;
        file.rewind().map_err(io("write", &path))?;
        write!(file, "{}", std::process::id()).map_err(io("write", &path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let message = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains(&format!("PID {}", std::process::id())),
            "{message}"
        );
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }
}
