//! The rate limit of pushes: a token bucket per push token, sans-IO (the caller passes `now`).
//!
//! Each token may push [`BURST`] times at once, then [`PER_SECOND`] times a second; a push over
//! the limit is refused (`429` with `Retry-After`) before it reaches the engine, so it writes
//! nothing and cannot change a state. A flood therefore adds at most `PER_SECOND` results per
//! second and token to the database, and 200 alternating success/fail pushes change the state
//! (and alert) at most about `BURST` times. Only tokens of existing push checks get a bucket
//! ([`PushLimiter::take`] is called after the engine accepted the push), so unknown tokens
//! cannot grow the map.
//!
//! Hand-written (20 lines) rather than with `governor`: the limit is checked with an explicit
//! `now`, as the rest of the daemon's decisions are, and tested without a clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Pushes one token may make at once.
pub const BURST: f64 = 10.0;
/// Pushes one token may make per second after the burst.
pub const PER_SECOND: f64 = 2.0;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Pushes allowed now (at `at`), at most [`BURST`].
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * PER_SECOND;
        self.tokens = (self.tokens + gained).min(BURST);
        self.at = now.max(self.at);
    }
}

/// Token buckets by push token.
#[derive(Debug, Default)]
pub struct PushLimiter {
    buckets: HashMap<String, Bucket>,
}

impl PushLimiter {
    /// `None` when `token` may push at `now`; else how long until it may.
    pub fn blocked(&mut self, token: &str, now: Instant) -> Option<Duration> {
        let b = self.buckets.get_mut(token)?;
        b.refill(now);
        (b.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - b.tokens) / PER_SECOND))
    }

    /// Counts one accepted push of `token` at `now`.
    pub fn take(&mut self, token: &str, now: Instant) {
        let b = self.buckets.entry(token.to_owned()).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        b.refill(now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_per_token() {
        let mut l = PushLimiter::default();
        let t0 = Instant::now();
        let mut accepted = 0;
        for _ in 0..200 {
            if l.blocked("a", t0).is_none() {
                l.take("a", t0);
                accepted += 1;
            }
        }
        assert_eq!(accepted, 10, "the burst");
        let wait = l.blocked("a", t0).unwrap();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(l.blocked("b", t0).is_none(), "another token is not limited");
        let later = t0 + Duration::from_secs(1);
        assert!(l.blocked("a", later).is_none());
        l.take("a", later);
        l.take("a", later);
        assert!(l.blocked("a", later).is_some(), "two per second");
    }
}
