//! Deadlines of every check in one heap, driven by one task (sans-IO: `now` is passed).
//!
//! Runs keep a fixed cadence: the next run is planned from the previous *planned* time, never
//! from when the previous run finished, so slow runs do not drift the schedule. Slots that
//! already passed are skipped rather than run in a burst.

use std::time::Duration;

use std::time::Instant;

/// Identifies a check inside the scheduler (stable across reloads for unchanged checks).
pub type CheckId = u64;

/// Children per node of the heap.
const ARITY: usize = 4;

/// A min-heap of `(deadline, check)` with four children per node.
///
/// A node's children sit side by side (96 bytes), so a pop among 20,000 deadlines visits about
/// 7 levels instead of a binary heap's 15 — and each level's cache misses were most of the
/// engine's own cost per run in the profile (`bench/daemon-scale.md`). Ties pop in id order.
#[derive(Debug, Default)]
pub struct Schedule {
    heap: Vec<(Instant, CheckId)>,
}

impl Schedule {
    /// An empty schedule.
    pub fn new() -> Schedule {
        Schedule::default()
    }

    /// Plans `id` at `at`. A check may have several entries; the engine ignores stale ones.
    pub fn insert(&mut self, id: CheckId, at: Instant) {
        self.heap.push((at, id));
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.heap[i] >= self.heap[parent] {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|(at, _)| *at)
    }

    /// Removes and returns one entry due at `now` with its planned time.
    pub fn pop_due(&mut self, now: Instant) -> Option<(CheckId, Instant)> {
        match self.heap.first() {
            Some((at, _)) if *at <= now => {}
            _ => return None,
        }
        let (at, id) = self.heap.swap_remove(0);
        self.sift_down();
        Some((id, at))
    }

    /// Restores the heap order from the root down.
    fn sift_down(&mut self) {
        let len = self.heap.len();
        let mut i = 0;
        loop {
            let first = i * ARITY + 1;
            if first >= len {
                return;
            }
            let mut min = first;
            for c in first + 1..(first + ARITY).min(len) {
                if self.heap[c] < self.heap[min] {
                    min = c;
                }
            }
            if self.heap[min] >= self.heap[i] {
                return;
            }
            self.heap.swap(i, min);
            i = min;
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The first run of a check: `start` plus a uniform fraction `u` (0 ≤ u < 1) of its interval,
/// so thousands of checks with one interval do not all start at once.
pub fn first_run(start: Instant, interval: Duration, u: f64) -> Instant {
    start + interval.mul_f64(u.clamp(0.0, 1.0))
}

/// Longest spread of the catch-up runs of checks taken over overdue (capped at their interval):
/// a member that takes over a dead member's thousands of checks runs them all within it, not
/// over a whole interval.
pub const CATCH_UP: Duration = Duration::from_secs(2);

/// The first run of a check taken over from another owner whose last attempt started
/// `since_last` ago, and the slot of that owner's cadence its later runs return to.
///
/// Its next slot (last attempt + `interval`) still ahead: the first run is at it, so the check
/// neither pauses nor runs twice in one interval across the hand-over, and no return is needed.
/// Overdue (its owner died and the lease ran out first): a catch-up run at once, spread by `u`
/// over [`CATCH_UP`], then the later runs go back to the old cadence — the dead member's checks
/// were spread over the interval, and they stay so instead of bunching into the catch-up.
pub fn taken_over_run(
    now: Instant,
    interval: Duration,
    since_last: Duration,
    u: f64,
) -> (Instant, Option<Instant>) {
    let interval = interval.max(Duration::from_millis(1));
    if since_last < interval {
        return (now + (interval - since_last), None);
    }
    let first = now + interval.min(CATCH_UP).mul_f64(u.clamp(0.0, 1.0));
    // The old cadence's slots are `since_last mod interval` before each multiple of interval.
    let step = interval.as_nanos();
    let into = since_last.as_nanos() % step;
    let ahead = u64::try_from(step - into).unwrap_or(u64::MAX);
    (first, Some(now + Duration::from_nanos(ahead)))
}

/// The run after a catch-up run of `planned`: the first slot of the cadence through `slot`
/// at least half an `interval` after `planned` (two runs never closer than that).
pub fn rejoin_cadence(slot: Instant, interval: Duration, planned: Instant) -> Instant {
    let earliest = planned + interval / 2;
    if slot >= earliest {
        return slot;
    }
    let interval = interval.max(Duration::from_millis(1));
    let behind = earliest.duration_since(slot).as_nanos();
    let steps = behind.div_ceil(interval.as_nanos());
    slot + interval.saturating_mul(u32::try_from(steps).unwrap_or(u32::MAX))
}

/// The next planned run after `planned`: `planned + interval`, or the first later slot of that
/// cadence that is still in the future when the run overran.
pub fn next_run(planned: Instant, interval: Duration, now: Instant) -> Instant {
    let interval = interval.max(Duration::from_millis(1));
    let next = planned + interval;
    if next > now {
        return next;
    }
    let behind = now.duration_since(planned).as_nanos();
    let step = interval.as_nanos();
    let skips = u32::try_from(behind / step + 1).unwrap_or(u32::MAX);
    planned + interval.saturating_mul(skips)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a test needs some real instant as its epoch
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn a_take_over_runs_at_the_old_slot_or_catches_up_and_returns_to_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(taken_over_run(t0, 10 * s, 4 * s, 0.5), (t0 + 6 * s, None));
        assert_eq!(
            taken_over_run(t0, 10 * s, ms(9_999), 0.9),
            (t0 + ms(1), None)
        );
        // Overdue: within CATCH_UP (or the interval when shorter), the old slot kept.
        assert_eq!(
            taken_over_run(t0, 10 * s, ms(13_500), 0.5),
            (t0 + s, Some(t0 + ms(6_500)))
        );
        assert_eq!(
            taken_over_run(t0, s, ms(2_300), 1.0),
            (t0 + s, Some(t0 + ms(700)))
        );
        assert_eq!(
            taken_over_run(t0, 10 * s, 10 * s, 0.0),
            (t0, Some(t0 + 10 * s))
        );
        // Back to the slot, never closer than half an interval to the catch-up run.
        assert_eq!(rejoin_cadence(t0 + 6 * s, 10 * s, t0 + s), t0 + 6 * s);
        assert_eq!(rejoin_cadence(t0 + 3 * s, 10 * s, t0 + s), t0 + 13 * s);
        assert_eq!(
            rejoin_cadence(t0 + 6 * s, 10 * s, t0 + s + ms(1)),
            t0 + 16 * s
        );
    }

    #[test]
    fn cadence_is_fixed_and_overruns_skip_slots() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(
            next_run(t0, 10 * s, t0 + 3 * s),
            t0 + 10 * s,
            "a slow run does not drift"
        );
        assert_eq!(next_run(t0, 10 * s, t0 + 10 * s), t0 + 20 * s);
        assert_eq!(next_run(t0, 10 * s, t0 + 35 * s), t0 + 40 * s);
    }

    #[test]
    fn first_runs_spread_uniformly_over_the_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(10);
        let mut buckets = [0u32; 10];
        let n = 10_000;
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for i in 0..n {
            let u = rng.random::<f64>();
            let at = first_run(t0, interval, u);
            assert!(at >= t0 && at < t0 + interval, "{i}");
            let b = (at - t0).as_secs() as usize;
            buckets[b.min(9)] += 1;
        }
        // Each second of the interval gets about a tenth of the checks (±30 %).
        for b in buckets {
            assert!((700..=1300).contains(&b), "{buckets:?}");
        }
    }

    #[test]
    fn heap_pops_in_deadline_order_only_when_due() {
        let t0 = Instant::now();
        let mut s = Schedule::new();
        s.insert(1, t0 + Duration::from_secs(3));
        s.insert(2, t0 + Duration::from_secs(1));
        s.insert(3, t0 + Duration::from_secs(2));
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(s.pop_due(t0), None);
        let due: Vec<_> = std::iter::from_fn(|| s.pop_due(t0 + Duration::from_secs(2)))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(due, [2, 3]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn interleaved_inserts_and_pops_come_out_in_deadline_order() {
        let t0 = Instant::now();
        let mut s = Schedule::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut now = t0;
        let mut popped = Vec::new();
        let mut inserted = 0;
        for round in 0..200u64 {
            for k in 0..rng.random_range(0..40u64) {
                let ms = rng.random_range(0..5_000u64);
                s.insert(round * 100 + k, now + Duration::from_millis(ms));
                inserted += 1;
            }
            now += Duration::from_millis(rng.random_range(0..100u64));
            let mut last = None;
            while let Some((id, at)) = s.pop_due(now) {
                assert!(at <= now, "{id} popped before it was due");
                assert!(last <= Some((at, id)), "out of order");
                last = Some((at, id));
                popped.push(id);
            }
            if let Some(next) = s.next_deadline() {
                assert!(next > now, "a due entry was left behind");
            }
        }
        while s.pop_due(now + Duration::from_secs(10)).is_some() {
            popped.push(0);
        }
        assert_eq!(popped.len(), inserted, "every entry comes out once");
        assert!(s.is_empty());
    }
}
