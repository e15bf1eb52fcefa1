//! [`SharedBuffer`]: memory both sides see, like a `SharedArrayBuffer` viewed as an
//! `Int32Array` and used with `Atomics`.
//!
//! Invariants: the cells never move or change length (an `Arc<[AtomicI32]>`), so every clone
//! sees the same memory; every access is a sequentially consistent atomic, as `Atomics.*` is.
//! Arithmetic wraps, as on an `Int32Array`.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// A fixed-size array of 32-bit cells shared between threads; cloning shares, never copies.
///
/// ```
/// use looplab_runtime::worker::SharedBuffer;
/// let a = SharedBuffer::new(4);
/// let b = a.clone();
/// a.store(0, 1);
/// assert_eq!(b.fetch_add(0, 41), 1);
/// assert_eq!(a.load(0), 42);
/// assert!(a.same_buffer(&b));
/// ```
#[derive(Clone, Debug)]
pub struct SharedBuffer {
    cells: Arc<[AtomicI32]>,
}

impl SharedBuffer {
    /// `len` cells, all zero (`new Int32Array(new SharedArrayBuffer(4 * len))`).
    pub fn new(len: usize) -> Self {
        Self {
            cells: (0..len).map(|_| AtomicI32::new(0)).collect(),
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the buffer has no cells.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Size in bytes (`byteLength`).
    pub fn byte_len(&self) -> usize {
        self.cells.len() * std::mem::size_of::<i32>()
    }

    /// The cell at `index`, or `None` past the end (the non-panicking accessor).
    pub fn get(&self, index: usize) -> Option<&AtomicI32> {
        self.cells.get(index)
    }

    fn cell(&self, index: usize) -> &AtomicI32 {
        match self.cells.get(index) {
            Some(cell) => cell,
            None => panic!(
                "SharedBuffer index {index} is out of range 0..{}; use an index below len() \
                 or SharedBuffer::get",
                self.cells.len()
            ),
        }
    }

    /// `Atomics.load`. Panics if `index >= len()`, like slice indexing.
    pub fn load(&self, index: usize) -> i32 {
        self.cell(index).load(Ordering::SeqCst)
    }

    /// `Atomics.store`. Panics if `index >= len()`.
    pub fn store(&self, index: usize, value: i32) {
        self.cell(index).store(value, Ordering::SeqCst);
    }

    /// `Atomics.add`: adds (wrapping) and returns the previous value. Panics if `index >= len()`.
    pub fn fetch_add(&self, index: usize, value: i32) -> i32 {
        self.cell(index).fetch_add(value, Ordering::SeqCst)
    }

    /// `Atomics.sub`: subtracts (wrapping) and returns the previous value. Panics if
    /// `index >= len()`.
    pub fn fetch_sub(&self, index: usize, value: i32) -> i32 {
        self.cell(index).fetch_sub(value, Ordering::SeqCst)
    }

    /// `Atomics.exchange`: stores `value` and returns the previous one. Panics if
    /// `index >= len()`.
    pub fn exchange(&self, index: usize, value: i32) -> i32 {
        self.cell(index).swap(value, Ordering::SeqCst)
    }

    /// `Atomics.compareExchange`: stores `replacement` if the cell holds `expected`; returns the
    /// value it held either way. Panics if `index >= len()`.
    pub fn compare_exchange(&self, index: usize, expected: i32, replacement: i32) -> i32 {
        match self.cell(index).compare_exchange(
            expected,
            replacement,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(previous) | Err(previous) => previous,
        }
    }

    /// Whether both handles view the same memory.
    pub fn same_buffer(&self, other: &SharedBuffer) -> bool {
        Arc::ptr_eq(&self.cells, &other.cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_cells_across_threads() {
        let buffer = SharedBuffer::new(2);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = buffer.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        b.fetch_add(1, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("adder thread");
        }
        assert_eq!(buffer.load(1), 4000);
        assert_eq!(buffer.load(0), 0);
        assert_eq!(buffer.byte_len(), 8);
    }

    #[test]
    fn compare_exchange_returns_the_old_value() {
        let b = SharedBuffer::new(1);
        assert_eq!(b.compare_exchange(0, 0, 5), 0);
        assert_eq!(b.compare_exchange(0, 0, 9), 5, "no swap: the cell held 5");
        assert_eq!(b.exchange(0, i32::MAX), 5);
        assert_eq!(b.fetch_add(0, 1), i32::MAX);
        assert_eq!(b.load(0), i32::MIN, "wraps like an Int32Array");
        assert!(b.get(1).is_none());
    }

    #[test]
    #[should_panic(expected = "index 3 is out of range 0..1")]
    fn an_index_past_the_end_names_the_range() {
        SharedBuffer::new(1).load(3);
    }
}
