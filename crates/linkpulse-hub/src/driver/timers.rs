//! One timer structure for every session of an event loop: a min-heap of deadlines keyed by
//! slot, invalidated lazily.
//!
//! Each slot remembers the one deadline it has in the heap (`armed`). Asking for an earlier
//! deadline pushes a new entry (the old one becomes stale and is skipped when it surfaces);
//! asking for a later one pushes nothing — when the early entry fires, the owner re-arms with
//! its current deadline. So a slot has at most a couple of entries in the heap however often
//! its deadline moves, and no entry is ever searched for or removed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::slab::Key;

/// The deadline heap.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
}

impl Timers {
    /// Makes sure a timer for `key` fires no later than `want`; `armed` is the slot's record
    /// of its entry in the heap (updated here).
    pub(super) fn arm(&mut self, key: Key, armed: &mut Option<Instant>, want: Option<Instant>) {
        let Some(want) = want else {
            return;
        };
        if armed.is_none_or(|t| want < t) {
            self.heap.push(Reverse((want, key)));
            *armed = Some(want);
        }
    }

    /// The earliest deadline in the heap (maybe stale: waking early is harmless).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Pops the next entry due at `now`: its deadline and slot. The caller checks it against
    /// the slot's `armed` record (unequal: stale, skip).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Key)> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Entries in the heap, stale ones included.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earlier_deadlines_replace_later_ones_lazily() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let a = Key::new(0, 0);
        let b = Key::new(1, 0);
        let mut timers = Timers::default();
        let (mut armed_a, mut armed_b) = (None, None);
        timers.arm(a, &mut armed_a, Some(t0 + ms(50)));
        timers.arm(b, &mut armed_b, Some(t0 + ms(30)));
        // Later: nothing pushed; earlier: pushed, the old entry goes stale.
        timers.arm(a, &mut armed_a, Some(t0 + ms(80)));
        assert_eq!(timers.len(), 2);
        timers.arm(a, &mut armed_a, Some(t0 + ms(10)));
        assert_eq!(timers.len(), 3);
        assert_eq!(armed_a, Some(t0 + ms(10)));
        assert_eq!(timers.next(), Some(t0 + ms(10)));
        assert_eq!(timers.pop_due(t0 + ms(5)), None);
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(t0 + ms(60))).collect();
        assert_eq!(
            due,
            vec![(t0 + ms(10), a), (t0 + ms(30), b), (t0 + ms(50), a)],
            "the stale 50 ms entry of `a` still surfaces; its owner skips it"
        );
        assert_ne!(armed_a, Some(t0 + ms(50)));
    }
}
