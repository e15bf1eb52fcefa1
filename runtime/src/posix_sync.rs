//! The pool's and the message ports' locks as libuv has them: `uv_mutex_t` and `uv_cond_t` are
//! a default POSIX mutex and condition variable (`src/unix/thread.c`), and so are these (Node's
//! `MessagePort` queues are behind a `node::Mutex`, a `uv_mutex_t`).
//!
//! Why not `std::sync::Mutex`: it spins about a hundred times on a contended lock before it
//! sleeps, while glibc's default mutex sleeps in the kernel at once (`futex` wait) and its
//! unlock wakes a sleeper with another `futex` call. Where the pool is busy with short trips,
//! that is much of Node's cost. Serving a 64 KiB `/file` at pool 4 under 16 connections on this
//! 2-core machine (`perf stat` of the whole process, per request):
//!
//! | | `futex` calls | context switches | CPU |
//! |---|---|---|---|
//! | Node 20 | 9.7 | 5.3 | 111 µs |
//! | looplab, spinning locks | 2.1 | 1.5 | 46 µs |
//! | looplab, these locks | 6.4 | 3.8 | 61 µs |
//!
//! and with Node's cost profile, looplab's throughput at pool 1 over pool 4 went from 1.22×
//! to 1.58×, against Node's 1.57× (five interleaved rounds of `lab load` of each server). At
//! pool 1 the lock is rarely contended, and nothing changed there. The queue discipline, the
//! wake-up rule and what runs where are unchanged; only how a waiting thread waits is Node's.
//!
//! A panic while a guard is held unlocks the mutex (the guard's `Drop`) and does not poison it:
//! the pool catches user panics before they reach its locks.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// A mutex over `T`: glibc's default `pthread_mutex_t`.
pub(crate) struct PosixMutex<T> {
    // Boxed: a POSIX mutex must not move once used.
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialized by the mutex, as for `std::sync::Mutex`.
unsafe impl<T: Send> Send for PosixMutex<T> {}
// SAFETY: as above; a `&PosixMutex` only hands out `data` under the lock.
unsafe impl<T: Send> Sync for PosixMutex<T> {}

impl<T> PosixMutex<T> {
    pub fn new(data: T) -> Self {
        Self {
            raw: Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER)),
            data: UnsafeCell::new(data),
        }
    }

    pub fn lock(&self) -> PosixGuard<'_, T> {
        // SAFETY: `raw` is an initialized mutex at a stable address; a default mutex locked
        // twice by one thread would deadlock, and no caller locks it while holding a guard.
        let rc = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        debug_assert_eq!(rc, 0, "pthread_mutex_lock");
        PosixGuard {
            mutex: self,
            not_send: PhantomData,
        }
    }
}

impl<T> Drop for PosixMutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard outlives the mutex (guards borrow it), so it is unlocked here.
        unsafe { libc::pthread_mutex_destroy(self.raw.get()) };
    }
}

/// The lock held; unlocks when dropped, on the thread that locked it (a POSIX mutex must be
/// unlocked by its owner, so a guard cannot be sent to another thread).
pub(crate) struct PosixGuard<'a, T> {
    mutex: &'a PosixMutex<T>,
    not_send: PhantomData<*const ()>,
}

impl<T> Deref for PosixGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for PosixGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for PosixGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread locked it when it made the guard.
        let rc = unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
        debug_assert_eq!(rc, 0, "pthread_mutex_unlock");
    }
}

/// A condition variable: glibc's default `pthread_cond_t`.
pub(crate) struct PosixCondvar {
    raw: Box<UnsafeCell<libc::pthread_cond_t>>,
}

// SAFETY: a POSIX condition variable is made to be shared between threads.
unsafe impl Send for PosixCondvar {}
// SAFETY: as above.
unsafe impl Sync for PosixCondvar {}

impl PosixCondvar {
    pub fn new() -> Self {
        Self {
            raw: Box::new(UnsafeCell::new(libc::PTHREAD_COND_INITIALIZER)),
        }
    }

    /// Unlocks `guard`'s mutex, sleeps until notified (or spuriously), locks it again.
    pub fn wait<'a, T>(&self, guard: PosixGuard<'a, T>) -> PosixGuard<'a, T> {
        // SAFETY: the guard proves this thread holds the mutex, which the wait releases and
        // takes back before returning.
        let rc = unsafe { libc::pthread_cond_wait(self.raw.get(), guard.mutex.raw.get()) };
        debug_assert_eq!(rc, 0, "pthread_cond_wait");
        guard
    }

    pub fn notify_one(&self) {
        // SAFETY: an initialized condition variable at a stable address.
        unsafe { libc::pthread_cond_signal(self.raw.get()) };
    }

    pub fn notify_all(&self) {
        // SAFETY: as above.
        unsafe { libc::pthread_cond_broadcast(self.raw.get()) };
    }
}

impl Drop for PosixCondvar {
    fn drop(&mut self) {
        // SAFETY: no thread can wait on it any more (waiters borrow it).
        unsafe { libc::pthread_cond_destroy(self.raw.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_take_turns_and_a_waiter_wakes_when_told() {
        let shared = Arc::new((PosixMutex::new(0u64), PosixCondvar::new()));
        let adders: Vec<_> = (0..4)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *shared.0.lock() += 1;
                    }
                    shared.1.notify_all();
                })
            })
            .collect();
        let mut total = shared.0.lock();
        while *total < 40_000 {
            total = shared.1.wait(total);
        }
        drop(total);
        adders.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*shared.0.lock(), 40_000);
    }
}
