//! Timers: a binary min-heap keyed by (due time, start sequence), as in libuv `src/timer.c`.
//!
//! Invariants:
//! 1. Equal due times fire in start order, because every start takes the next sequence number.
//! 2. A heap entry is live only while its slot still holds the same sequence number; clearing
//!    or re-arming a timer leaves the old entry behind as garbage that is skipped when popped
//!    (lazy deletion keeps `clear` O(1)).
//! 3. The loop collects *all* due entries before running any callback, so a callback that
//!    starts a new timer can never make the current pass run forever.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::EventLoop;

/// The largest delay Node accepts (`TIMEOUT_MAX`, 2^31 - 1 ms); anything above becomes 1 ms.
pub const TIMEOUT_MAX_MS: u64 = (1 << 31) - 1;

/// Coerces a delay the way Node's `setTimeout` does: `after *= 1; if (!(after >= 1 && after <=
/// TIMEOUT_MAX)) after = 1`, then truncation to whole milliseconds.
///
/// ```
/// use looplab_runtime::coerce_delay_ms;
/// assert_eq!(coerce_delay_ms(0.0), 1);
/// assert_eq!(coerce_delay_ms(1.9), 1);
/// assert_eq!(coerce_delay_ms(f64::NAN), 1);
/// assert_eq!(coerce_delay_ms(2f64.powi(31)), 1);
/// assert_eq!(coerce_delay_ms(250.7), 250);
/// ```
pub fn coerce_delay_ms(after_ms: f64) -> u64 {
    if after_ms >= 1.0 && after_ms <= TIMEOUT_MAX_MS as f64 {
        after_ms as u64
    } else {
        1
    }
}

/// Identifies one timer on one loop; stays valid (and harmless) after the timer is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

pub(crate) enum TimerCallback {
    Once(Box<dyn FnOnce(&EventLoop)>),
    Repeat(Box<dyn FnMut(&EventLoop)>),
}

struct Slot {
    generation: u32,
    live: bool,
    /// The sequence number of this timer's current heap entry; `None` while it fires.
    armed_seq: Option<u64>,
    callback: Option<TimerCallback>,
    repeat_ms: Option<u64>,
    referenced: bool,
}

/// A due timer taken out of the heap, ready to run.
pub(crate) struct DueTimer {
    pub id: TimerId,
    pub callback: TimerCallback,
    pub repeat_ms: Option<u64>,
}

#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_seq: u64,
    referenced: usize,
}

impl TimerHeap {
    /// Starts a timer due at `due_ms` (absolute, loop clock).
    pub fn start(
        &mut self,
        due_ms: u64,
        callback: TimerCallback,
        repeat_ms: Option<u64>,
    ) -> TimerId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    live: false,
                    armed_seq: None,
                    callback: None,
                    repeat_ms: None,
                    referenced: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.live = true;
        s.callback = Some(callback);
        s.repeat_ms = repeat_ms;
        s.referenced = true;
        self.referenced += 1;
        let id = TimerId {
            slot,
            generation: s.generation,
        };
        self.arm(slot, due_ms);
        id
    }

    fn arm(&mut self, slot: u32, due_ms: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.slots[slot as usize].armed_seq = Some(seq);
        self.heap.push(Reverse((due_ms, seq, slot)));
    }

    fn slot_mut(&mut self, id: TimerId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.slot as usize)
            .filter(|s| s.live && s.generation == id.generation)
    }

    /// Stops and forgets a timer; returns whether it was still active.
    pub fn clear(&mut self, id: TimerId) -> bool {
        let Some(slot) = self.slot_mut(id) else {
            return false;
        };
        let was_referenced = slot.referenced;
        slot.live = false;
        slot.armed_seq = None;
        slot.callback = None;
        slot.generation = slot.generation.wrapping_add(1);
        if was_referenced {
            self.referenced -= 1;
        }
        self.free.push(id.slot);
        true
    }

    /// Sets whether the timer keeps the loop alive (`timeout.ref()` / `timeout.unref()`).
    pub fn set_ref(&mut self, id: TimerId, referenced: bool) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let before = std::mem::replace(&mut slot.referenced, referenced);
        match (before, referenced) {
            (false, true) => self.referenced += 1,
            (true, false) => self.referenced -= 1,
            _ => {}
        }
    }

    /// Whether the timer exists and is active.
    pub fn is_active(&self, id: TimerId) -> bool {
        self.slots
            .get(id.slot as usize)
            .is_some_and(|s| s.live && s.generation == id.generation)
    }

    /// Number of live timers that keep the loop alive.
    pub fn referenced(&self) -> usize {
        self.referenced
    }

    /// Due time of the earliest live timer, discarding stale heap entries on the way.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(&Reverse((due, seq, slot))) = self.heap.peek() {
            if self.slots[slot as usize].armed_seq == Some(seq) {
                return Some(due);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops every live entry due at or before `now_ms` into `out` as (slot, seq), in fire order.
    pub fn collect_due(&mut self, now_ms: u64, out: &mut Vec<(u32, u64)>) {
        while let Some(&Reverse((due, seq, slot))) = self.heap.peek() {
            if due > now_ms {
                break;
            }
            self.heap.pop();
            if self.slots[slot as usize].armed_seq == Some(seq) {
                out.push((slot, seq));
            }
        }
    }

    /// Takes a collected timer out for firing, unless an earlier callback cleared or restarted it.
    /// A one-shot timer is gone after this; a repeating one stays live until `rearm` or `clear`.
    pub fn take_due(&mut self, slot: u32, seq: u64) -> Option<DueTimer> {
        let s = &mut self.slots[slot as usize];
        if s.armed_seq != Some(seq) {
            return None;
        }
        s.armed_seq = None;
        let id = TimerId {
            slot,
            generation: s.generation,
        };
        let callback = s.callback.take()?;
        let repeat_ms = s.repeat_ms;
        if repeat_ms.is_none() {
            self.clear(id);
        }
        Some(DueTimer {
            id,
            callback,
            repeat_ms,
        })
    }

    /// Puts a repeating timer's callback back and arms it again, unless it was cleared meanwhile.
    pub fn rearm(&mut self, id: TimerId, callback: TimerCallback, due_ms: u64) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.callback = Some(callback);
        self.arm(id.slot, due_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once() -> TimerCallback {
        TimerCallback::Once(Box::new(|_| {}))
    }

    fn due(heap: &mut TimerHeap, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        heap.collect_due(now, &mut out);
        out.into_iter()
            .filter_map(|(slot, seq)| heap.take_due(slot, seq).map(|d| d.id.slot))
            .collect()
    }

    #[test]
    fn equal_due_times_fire_in_start_order() {
        let mut heap = TimerHeap::default();
        let ids: Vec<_> = (0..50).map(|_| heap.start(10, once(), None)).collect();
        let early = heap.start(5, once(), None);
        let fired = due(&mut heap, 10);
        assert_eq!(fired[0], early.slot);
        let rest: Vec<u32> = ids.iter().map(|id| id.slot).collect();
        assert_eq!(&fired[1..], &rest[..]);
    }

    #[test]
    fn cleared_timers_never_fire_and_ids_stay_harmless() {
        let mut heap = TimerHeap::default();
        let a = heap.start(1, once(), None);
        let b = heap.start(1, once(), None);
        assert!(heap.clear(a));
        assert!(!heap.clear(a));
        assert_eq!(heap.referenced(), 1);
        // The freed slot is reused; the old id must not touch the new timer.
        let c = heap.start(1, once(), None);
        assert_eq!(c.slot, a.slot);
        assert!(!heap.clear(a));
        assert!(heap.is_active(c));
        assert_eq!(due(&mut heap, 1), vec![b.slot, c.slot]);
        assert_eq!(heap.referenced(), 0);
        assert_eq!(heap.next_due(), None);
    }

    #[test]
    fn unref_changes_only_the_reference_count() {
        let mut heap = TimerHeap::default();
        let a = heap.start(3, once(), None);
        heap.set_ref(a, false);
        heap.set_ref(a, false);
        assert_eq!(heap.referenced(), 0);
        assert_eq!(heap.next_due(), Some(3));
        heap.set_ref(a, true);
        assert_eq!(heap.referenced(), 1);
    }

    #[test]
    fn repeating_timer_stays_live_until_cleared() {
        let mut heap = TimerHeap::default();
        let id = heap.start(2, TimerCallback::Repeat(Box::new(|_| {})), Some(2));
        let mut out = Vec::new();
        heap.collect_due(2, &mut out);
        let fired = heap.take_due(out[0].0, out[0].1).expect("due");
        assert!(heap.is_active(id));
        assert_eq!(heap.next_due(), None, "not in the heap while firing");
        heap.rearm(id, fired.callback, 4);
        assert_eq!(heap.next_due(), Some(4));
        heap.clear(id);
        assert_eq!(heap.next_due(), None);
    }

    #[test]
    fn delay_coercion_matches_node() {
        assert_eq!(coerce_delay_ms(-5.0), 1);
        assert_eq!(coerce_delay_ms(1.0), 1);
        assert_eq!(coerce_delay_ms(TIMEOUT_MAX_MS as f64), TIMEOUT_MAX_MS);
        assert_eq!(coerce_delay_ms(TIMEOUT_MAX_MS as f64 + 1.0), 1);
        assert_eq!(coerce_delay_ms(f64::INFINITY), 1);
    }
}
