//! A bounded window of heartbeat inter-arrival times with exact running statistics.

use std::collections::VecDeque;
use std::time::Duration;

/// The last `capacity` inter-arrival intervals, in whole microseconds, with their mean and
/// standard deviation.
///
/// The window never holds more than `capacity` samples (the oldest is dropped), so the mean
/// tracks the current heartbeat rate instead of decaying. Sums are kept in integers, so the
/// statistics are exact and do not drift however long the window runs. Each sample is clamped
/// to `u32::MAX` µs (about 71 minutes) to keep the window at 4 bytes per sample.
#[derive(Debug, Clone)]
pub struct IntervalWindow {
    samples: VecDeque<u32>,
    capacity: usize,
    sum: u128,
    sum_sq: u128,
}

impl IntervalWindow {
    /// An empty window that keeps at most `capacity` samples (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        IntervalWindow {
            samples: VecDeque::with_capacity(capacity.min(64)),
            capacity,
            sum: 0,
            sum_sq: 0,
        }
    }

    /// Adds one interval, dropping the oldest if the window is full.
    pub fn push(&mut self, interval: Duration) {
        let us = u32::try_from(interval.as_micros()).unwrap_or(u32::MAX);
        if self.samples.len() >= self.capacity
            && let Some(old) = self.samples.pop_front()
        {
            self.sum -= u128::from(old);
            self.sum_sq -= u128::from(old) * u128::from(old);
        }
        self.samples.push_back(us);
        self.sum += u128::from(us);
        self.sum_sq += u128::from(us) * u128::from(us);
    }

    /// Number of samples held (≤ capacity).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The maximum number of samples held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Mean interval in microseconds (0 when empty).
    pub fn mean_us(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.sum as f64 / self.samples.len() as f64
    }

    /// Population standard deviation in microseconds (0 when empty), computed exactly as
    /// `sqrt((n·Σx² − (Σx)²) / n²)` in integers before the final conversion.
    pub fn std_dev_us(&self) -> f64 {
        let n = self.samples.len() as u128;
        if n == 0 {
            return 0.0;
        }
        // n ≤ usize::MAX and each x < 2^32, so n·Σx² fits in u128 for any realistic window
        // (n < 2^32); saturate rather than panic otherwise.
        let a = n.saturating_mul(self.sum_sq);
        let b = self.sum.saturating_mul(self.sum);
        let var_n2 = a.saturating_sub(b);
        (var_n2 as f64).sqrt() / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_exact() {
        let mut w = IntervalWindow::new(3);
        for ms in [100, 100, 100, 400, 400, 400] {
            w.push(Duration::from_millis(ms));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.mean_us(), 400_000.0);
        assert_eq!(w.std_dev_us(), 0.0);
        w.push(Duration::from_millis(100));
        assert_eq!(w.mean_us(), 300_000.0);
        let sd = w.std_dev_us();
        assert!((sd - 141_421.356_237_309_5).abs() < 1e-6, "{sd}");
    }

    #[test]
    fn huge_interval_is_clamped() {
        let mut w = IntervalWindow::new(2);
        w.push(Duration::from_secs(1_000_000));
        assert_eq!(w.mean_us(), f64::from(u32::MAX));
    }
}
