//! Timers ordered by (due time, start sequence), as libuv's heap in `src/timer.c`, stored the
//! way Node's `lib/internal/timers.js` stores them: one FIFO list per duration, and a binary
//! min-heap holding each non-empty list's head.
//!
//! Invariants:
//! 1. Within a list every entry has the same duration and a later start than the one before it
//!    (the clock is monotonic, sequence numbers increase), so each list is sorted by
//!    (due, sequence) and starting a timer is an O(1) append. The heap orders lists by their
//!    head's (due, sequence), so equal due times fire in start order.
//! 2. A due list runs *every* due timer it holds before the next list is looked at (Node's
//!    `processTimers` / `listOnTimeout`). When the loop is late, a list's later timer can
//!    therefore run before another list's earlier one, exactly as in Node: with `X` (5 ms),
//!    `Z` (8 ms), then 4 ms later `Y` (5 ms), a run at 19 ms fires X, Y, Z.
//! 3. An entry is live only while its slot still holds the same sequence number; clearing or
//!    re-arming a timer leaves the old entry behind as garbage that is skipped when reached
//!    (lazy deletion keeps `clear` O(1)).
//! 4. The loop collects *all* due entries before running any callback, so a callback that
//!    starts a new timer can never make the current pass run forever.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::num::NonZeroU64;

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
    armed_seq: Option<NonZeroU64>,
    callback: Option<TimerCallback>,
    repeat_ms: Option<NonZeroU64>,
    referenced: bool,
}

/// A due timer taken out of the heap, ready to run.
pub(crate) struct DueTimer {
    pub id: TimerId,
    pub callback: TimerCallback,
    pub repeat_ms: Option<u64>,
}

/// (due, sequence, slot)
type Entry = (u64, u64, u32);

/// The timers of one duration, in start order.
struct TimerList {
    duration: u64,
    entries: VecDeque<Entry>,
    /// Bumped whenever the list gets a new heap entry; only the entry with the current
    /// generation is valid, older ones are skipped when they surface.
    generation: u32,
}

/// A heap entry: the (due, sequence) of a list's head, the list, and the list's generation.
type Head = Reverse<(u64, u64, u32, u32)>;

#[derive(Default)]
pub(crate) struct TimerHeap {
    heads: BinaryHeap<Head>,
    lists: Vec<TimerList>,
    free_lists: Vec<u32>,
    by_duration: HashMap<u64, u32>,
    /// The last (duration, list) looked up: programs tend to start many timers of one duration.
    last_list: Option<(u64, u32)>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_seq: u64,
    referenced: usize,
}

impl TimerHeap {
    /// Starts a timer of `duration_ms` at `now_ms` (loop clock); it is due at their sum.
    pub fn start(
        &mut self,
        now_ms: u64,
        duration_ms: u64,
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
        s.repeat_ms = repeat_ms.and_then(NonZeroU64::new);
        s.referenced = true;
        self.referenced += 1;
        let id = TimerId {
            slot,
            generation: s.generation,
        };
        self.arm(slot, now_ms, duration_ms);
        id
    }

    fn list_for(&mut self, duration_ms: u64) -> u32 {
        if let Some((duration, list)) = self.last_list {
            if duration == duration_ms {
                return list;
            }
        }
        if let Some(&list) = self.by_duration.get(&duration_ms) {
            self.last_list = Some((duration_ms, list));
            return list;
        }
        let list = match self.free_lists.pop() {
            Some(list) => {
                self.lists[list as usize].duration = duration_ms;
                list
            }
            None => {
                self.lists.push(TimerList {
                    duration: duration_ms,
                    entries: VecDeque::new(),
                    generation: 0,
                });
                (self.lists.len() - 1) as u32
            }
        };
        self.by_duration.insert(duration_ms, list);
        self.last_list = Some((duration_ms, list));
        list
    }

    fn arm(&mut self, slot: u32, now_ms: u64, duration_ms: u64) {
        // Sequence numbers start at 1 so a slot can store them as `NonZeroU64`.
        self.next_seq += 1;
        let seq = self.next_seq;
        self.slots[slot as usize].armed_seq = NonZeroU64::new(seq);
        let due = now_ms.saturating_add(duration_ms);
        let list = self.list_for(duration_ms);
        let entries = &mut self.lists[list as usize].entries;
        // Only a clock that went backwards could put an entry before the tail; keep it sorted.
        let at = match entries.back() {
            Some(&(last_due, _, _)) if last_due > due => entries.partition_point(|e| e.0 <= due),
            _ => entries.len(),
        };
        entries.insert(at, (due, seq, slot));
        if at == 0 {
            self.push_head(list);
        }
    }

    /// Gives `list` a heap entry for its current head (invalidating any older one).
    fn push_head(&mut self, list: u32) {
        let l = &mut self.lists[list as usize];
        if let Some(&(due, seq, _)) = l.entries.front() {
            l.generation = l.generation.wrapping_add(1);
            self.heads.push(Reverse((due, seq, list, l.generation)));
        }
    }

    /// Pops the heap entry of the earliest valid list and returns that list, without touching
    /// its entries; stale heap entries are dropped on the way.
    fn pop_earliest_list(&mut self, due_by: Option<u64>) -> Option<u32> {
        while let Some(&Reverse((due, _, list, generation))) = self.heads.peek() {
            if self.lists[list as usize].generation != generation {
                self.heads.pop();
                continue;
            }
            if due_by.is_some_and(|now| due > now) {
                return None;
            }
            self.heads.pop();
            return Some(list);
        }
        None
    }

    /// After `list` was taken off the heap: back on with its new head, or freed when empty.
    fn requeue_list(&mut self, list: u32) {
        if self.lists[list as usize].entries.is_empty() {
            let duration = self.lists[list as usize].duration;
            self.by_duration.remove(&duration);
            self.free_lists.push(list);
            if self.last_list == Some((duration, list)) {
                self.last_list = None;
            }
        } else {
            self.push_head(list);
        }
    }

    fn is_live(&self, slot: u32, seq: u64) -> bool {
        self.slots[slot as usize].armed_seq == NonZeroU64::new(seq)
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

    /// Due time of the earliest live timer, discarding cleared entries on the way.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(&Reverse((due, seq, list, generation))) = self.heads.peek() {
            let l = &self.lists[list as usize];
            if l.generation != generation {
                self.heads.pop();
                continue;
            }
            if self.is_live(l.entries[0].2, seq) {
                return Some(due);
            }
            // The head was cleared: drop it and any cleared entries behind it.
            self.heads.pop();
            while let Some(&(_, seq, slot)) = self.lists[list as usize].entries.front() {
                if self.is_live(slot, seq) {
                    break;
                }
                self.lists[list as usize].entries.pop_front();
            }
            self.requeue_list(list);
        }
        None
    }

    /// Takes every live entry due at or before `now_ms` into `out` as (slot, seq), in fire
    /// order: list by list (invariant 2), each list in start order.
    pub fn collect_due(&mut self, now_ms: u64, out: &mut Vec<(u32, u64)>) {
        while let Some(list) = self.pop_earliest_list(Some(now_ms)) {
            while let Some(&(due, seq, slot)) = self.lists[list as usize].entries.front() {
                if due > now_ms {
                    break;
                }
                self.lists[list as usize].entries.pop_front();
                if self.is_live(slot, seq) {
                    out.push((slot, seq));
                }
            }
            self.requeue_list(list);
        }
    }

    /// Takes a collected timer out for firing, unless an earlier callback cleared or restarted it.
    /// A one-shot timer is gone after this; a repeating one stays live until `rearm` or `clear`.
    pub fn take_due(&mut self, slot: u32, seq: u64) -> Option<DueTimer> {
        let s = &mut self.slots[slot as usize];
        if s.armed_seq != NonZeroU64::new(seq) {
            return None;
        }
        s.armed_seq = None;
        let id = TimerId {
            slot,
            generation: s.generation,
        };
        let callback = s.callback.take()?;
        let repeat_ms = s.repeat_ms.map(NonZeroU64::get);
        if repeat_ms.is_none() {
            self.clear(id);
        }
        Some(DueTimer {
            id,
            callback,
            repeat_ms,
        })
    }

    /// Puts a repeating timer's callback back and arms it again `repeat_ms` after `start_ms`,
    /// unless it was cleared meanwhile.
    pub fn rearm(&mut self, id: TimerId, callback: TimerCallback, start_ms: u64, repeat_ms: u64) {
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.callback = Some(callback);
        self.arm(id.slot, start_ms, repeat_ms);
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
        let ids: Vec<_> = (0..50).map(|_| heap.start(0, 10, once(), None)).collect();
        let early = heap.start(0, 5, once(), None);
        let fired = due(&mut heap, 10);
        assert_eq!(fired[0], early.slot);
        let rest: Vec<u32> = ids.iter().map(|id| id.slot).collect();
        assert_eq!(&fired[1..], &rest[..]);
    }

    #[test]
    fn cleared_timers_never_fire_and_ids_stay_harmless() {
        let mut heap = TimerHeap::default();
        let a = heap.start(0, 1, once(), None);
        let b = heap.start(0, 1, once(), None);
        assert!(heap.clear(a));
        assert!(!heap.clear(a));
        assert_eq!(heap.referenced(), 1);
        // The freed slot is reused; the old id must not touch the new timer.
        let c = heap.start(0, 1, once(), None);
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
        let a = heap.start(0, 3, once(), None);
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
        let id = heap.start(0, 2, TimerCallback::Repeat(Box::new(|_| {})), Some(2));
        let mut out = Vec::new();
        heap.collect_due(2, &mut out);
        let fired = heap.take_due(out[0].0, out[0].1).expect("due");
        assert!(heap.is_active(id));
        assert_eq!(heap.next_due(), None, "not in the heap while firing");
        heap.rearm(id, fired.callback, 2, 2);
        assert_eq!(heap.next_due(), Some(4));
        heap.clear(id);
        assert_eq!(heap.next_due(), None);
    }

    #[test]
    fn equal_due_times_fire_in_start_order_across_durations() {
        let mut heap = TimerHeap::default();
        // Started at t=0 for 5 ms, then at t=2 for 3 ms, then at t=0 (late reading) for 5 ms:
        // all due at 5; start order decides, whatever the list.
        let a = heap.start(0, 5, once(), None);
        let b = heap.start(2, 3, once(), None);
        let c = heap.start(4, 1, once(), None);
        let d = heap.start(1, 4, once(), None);
        assert_eq!(due(&mut heap, 5), vec![a.slot, b.slot, c.slot, d.slot]);
    }

    #[test]
    fn passes_that_keep_up_fire_in_due_order() {
        let mut heap = TimerHeap::default();
        let mut expected = Vec::new();
        for i in 0..200u64 {
            let duration = 1 + (i * 37) % 50;
            let id = heap.start(i / 10, duration, once(), None);
            expected.push((i / 10 + duration, id.slot));
        }
        expected.sort_by_key(|&(due, _)| due); // stable: start order within a due time
        let mut fired = Vec::new();
        for now in 0..=100 {
            fired.extend(due(&mut heap, now));
        }
        assert_eq!(fired, expected.iter().map(|e| e.1).collect::<Vec<_>>());
        assert_eq!(heap.next_due(), None);
    }

    #[test]
    fn a_late_pass_runs_each_list_in_turn_like_node() {
        let mut heap = TimerHeap::default();
        let x = heap.start(0, 5, once(), None);
        let z = heap.start(0, 8, once(), None);
        let y = heap.start(4, 5, once(), None);
        let w = heap.start(4, 30, once(), None);
        // At 19 ms: the 5 ms list (X due 5, Y due 9) runs whole before the 8 ms list (Z due 8).
        assert_eq!(due(&mut heap, 19), vec![x.slot, y.slot, z.slot]);
        assert!(heap.is_active(w));
        assert_eq!(heap.next_due(), Some(34));
    }

    #[test]
    fn a_clock_reading_that_goes_backwards_keeps_the_order() {
        let mut heap = TimerHeap::default();
        let late = heap.start(10, 5, once(), None);
        let early = heap.start(3, 5, once(), None);
        assert_eq!(heap.next_due(), Some(8));
        assert_eq!(due(&mut heap, 20), vec![early.slot, late.slot]);
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
