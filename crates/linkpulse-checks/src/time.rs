//! The time the core is given: both clocks, read once by the driver (the core reads none).

use std::time::{Duration, Instant};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The time of an input: both clocks, read once by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: schedules, push deadlines, `/start` latency.
    pub mono: Instant,
    /// Wall-clock milliseconds since the epoch: what is recorded.
    pub wall_ms: Millis,
}

impl Now {
    /// `self` moved on by `d` on both clocks (for simulations).
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self
                .wall_ms
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}
