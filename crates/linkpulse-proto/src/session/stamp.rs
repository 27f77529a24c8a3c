//! Compact instants: a session keeps several, and a hub keeps tens of thousands of sessions.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// An instant stored as whole microseconds after a session's epoch (its creation instant):
/// 8 bytes where an `Instant` takes 16, and `Option<Stamp>` is 8 bytes too (the value is kept
/// plus one, so zero is free for `None`).
///
/// Instants of the past (when a frame arrived) are rounded down, deadlines up, so a deadline
/// never fires early; either way the error is below a microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stamp(NonZeroU64);

impl Stamp {
    fn from_micros(us: u128) -> Stamp {
        let us = u64::try_from(us).unwrap_or(u64::MAX - 1);
        Stamp(NonZeroU64::MIN.saturating_add(us))
    }

    /// `at` rounded down to a whole microsecond (an instant before `epoch` is the epoch).
    pub(super) fn floor(epoch: Instant, at: Instant) -> Stamp {
        Stamp::from_micros(at.saturating_duration_since(epoch).as_micros())
    }

    /// `at` rounded up to a whole microsecond (for deadlines).
    pub(super) fn ceil(epoch: Instant, at: Instant) -> Stamp {
        let d = at.saturating_duration_since(epoch);
        Stamp::from_micros(d.as_nanos().div_ceil(1000))
    }

    /// Microseconds after the epoch.
    pub(super) fn micros(self) -> u64 {
        self.0.get() - 1
    }

    /// The instant, given the same epoch it was made with.
    pub(super) fn instant(self, epoch: Instant) -> Instant {
        let d = Duration::from_micros(self.micros());
        epoch.checked_add(d).unwrap_or(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some real instant as its epoch
    fn rounds_past_instants_down_and_deadlines_up() {
        let t0 = Instant::now();
        let at = t0 + Duration::from_nanos(2_500);
        assert_eq!(Stamp::floor(t0, at).micros(), 2);
        assert_eq!(Stamp::ceil(t0, at).micros(), 3);
        assert!(Stamp::ceil(t0, at).instant(t0) >= at);
        assert!(Stamp::floor(t0, at).instant(t0) <= at);
        let exact = t0 + Duration::from_millis(7);
        assert_eq!(Stamp::floor(t0, exact), Stamp::ceil(t0, exact));
        assert_eq!(Stamp::floor(t0, exact).instant(t0), exact);
        assert_eq!(Stamp::floor(t0 + Duration::from_secs(1), t0).micros(), 0);
        assert_eq!(size_of::<Option<Stamp>>(), 8);
    }
}
