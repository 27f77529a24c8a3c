//! One timer structure for every session of an event loop: a min-heap of deadlines keyed by
//! slot, invalidated lazily.
//!
//! Each slot remembers the one deadline it has in the heap (`armed`). Asking for an earlier
//! deadline pushes a new entry (the old one becomes stale and is skipped when it surfaces);
//! asking for a later one pushes nothing — when the early entry fires, the owner re-arms with
//! its current deadline. So a slot has at most a couple of entries in the heap however often
//! its deadline moves, and no entry is ever searched for or removed.
//!
//! Deadlines are kept as [`Due`]: microseconds after the loop's epoch (8 bytes, where an
//! `Instant` takes 16), so a heap entry is 16 bytes and a slot's record 8.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use super::slab::Key;

/// A deadline: whole microseconds after the loop's epoch, rounded up (so it never fires
/// early), plus one (so `Option<Due>` is 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Due(NonZeroU64);

/// The deadline heap.
#[derive(Debug)]
pub(super) struct Timers {
    /// The instant every [`Due`] counts from.
    epoch: Instant,
    heap: BinaryHeap<Reverse<(Due, Key)>>,
}

impl Timers {
    /// An empty heap counting from `epoch` (no deadline is before it).
    pub(super) fn new(epoch: Instant) -> Timers {
        Timers {
            epoch,
            heap: BinaryHeap::new(),
        }
    }

    fn due(&self, at: Instant, round_up: bool) -> Due {
        let d = at.saturating_duration_since(self.epoch).as_nanos();
        let us = if round_up { d.div_ceil(1000) } else { d / 1000 };
        let us = u64::try_from(us).unwrap_or(u64::MAX - 1);
        Due(NonZeroU64::MIN.saturating_add(us))
    }

    fn instant(&self, due: Due) -> Instant {
        let d = Duration::from_micros(due.0.get() - 1);
        self.epoch.checked_add(d).unwrap_or(self.epoch)
    }

    /// Makes sure a timer for `key` fires no later than `want`; `armed` is the slot's record
    /// of its entry in the heap (updated here).
    pub(super) fn arm(&mut self, key: Key, armed: &mut Option<Due>, want: Option<Instant>) {
        let Some(want) = want else {
            return;
        };
        let want = self.due(want, true);
        if armed.is_none_or(|t| want < t) {
            self.heap.push(Reverse((want, key)));
            *armed = Some(want);
        }
    }

    /// The earliest deadline in the heap (maybe stale: waking early is harmless).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| self.instant(*t))
    }

    /// Pops the next entry due at `now`: its deadline and slot. The caller checks it against
    /// the slot's `armed` record (unequal: stale, skip).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Due, Key)> {
        let now = self.due(now, false);
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

    #[test]
    #[allow(clippy::disallowed_methods)] // a real instant as the epoch
    fn earlier_deadlines_replace_later_ones_lazily() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let a = Key::new(0, 0);
        let b = Key::new(1, 0);
        let mut timers = Timers::new(t0);
        let (mut armed_a, mut armed_b) = (None, None);
        timers.arm(a, &mut armed_a, Some(t0 + ms(50)));
        timers.arm(b, &mut armed_b, Some(t0 + ms(30)));
        // Later: nothing pushed; earlier: pushed, the old entry goes stale.
        timers.arm(a, &mut armed_a, Some(t0 + ms(80)));
        assert_eq!(timers.len(), 2);
        timers.arm(a, &mut armed_a, Some(t0 + ms(10)));
        assert_eq!(timers.len(), 3);
        assert_eq!(armed_a, Some(timers.due(t0 + ms(10), true)));
        assert_eq!(timers.next(), Some(t0 + ms(10)));
        assert_eq!(timers.pop_due(t0 + ms(5)), None);
        let popped: Vec<_> = std::iter::from_fn(|| timers.pop_due(t0 + ms(60))).collect();
        let due: Vec<_> = popped
            .into_iter()
            .map(|(t, k)| (timers.instant(t), k))
            .collect();
        assert_eq!(
            due,
            vec![(t0 + ms(10), a), (t0 + ms(30), b), (t0 + ms(50), a)],
            "the stale 50 ms entry of `a` still surfaces; its owner skips it"
        );
        assert_ne!(armed_a, Some(timers.due(t0 + ms(50), true)));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a real instant as the epoch
    fn deadlines_never_fire_early() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0);
        let at = t0 + Duration::from_nanos(1_500);
        let mut armed = None;
        timers.arm(Key::new(0, 0), &mut armed, Some(at));
        assert_eq!(timers.pop_due(t0 + Duration::from_nanos(1_999)), None);
        assert!(timers.next().is_some_and(|t| t >= at));
        assert!(timers.pop_due(t0 + Duration::from_micros(2)).is_some());
        assert_eq!(size_of::<Reverse<(Due, Key)>>(), 16);
        assert_eq!(size_of::<Option<Due>>(), 8);
    }
}
