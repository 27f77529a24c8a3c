//! Deadlines of every check in one binary heap, driven by one task (sans-IO: `now` is passed).
//!
//! Runs keep a fixed cadence: the next run is planned from the previous *planned* time, never
//! from when the previous run finished, so slow runs do not drift the schedule. Slots that
//! already passed are skipped rather than run in a burst.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

/// Identifies a check inside the scheduler (stable across reloads for unchanged checks).
pub type CheckId = u64;

/// A heap of `(deadline, check)`.
#[derive(Debug, Default)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, u64, CheckId)>>,
    seq: u64,
}

impl Schedule {
    /// An empty schedule.
    pub fn new() -> Schedule {
        Schedule::default()
    }

    /// Plans `id` at `at`. A check may have several entries; the engine ignores stale ones.
    pub fn insert(&mut self, id: CheckId, at: Instant) {
        self.seq = self.seq.wrapping_add(1);
        self.heap.push(Reverse((at, self.seq, id)));
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns one entry due at `now` with its planned time.
    pub fn pop_due(&mut self, now: Instant) -> Option<(CheckId, Instant)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                self.heap.pop().map(|Reverse((at, _, id))| (id, at))
            }
            _ => None,
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
mod tests {
    use super::*;

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
        for i in 0..n {
            let u = rand::random::<f64>();
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
}
