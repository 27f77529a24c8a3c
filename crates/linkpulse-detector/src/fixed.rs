//! The fixed-timeout detector: Suspect after one silence, Dead after a longer one.

use std::time::{Duration, Instant};

use crate::{ConfigError, FailureDetector, Level, Suspicion, Verdict};

/// Parameters of [`FixedTimeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTimeoutConfig {
    /// Silence after which the peer is Suspect. Must be > 0 and < `dead_after`.
    pub suspect_after: Duration,
    /// Silence after which the peer is Dead. Must be > 0.
    pub dead_after: Duration,
}

impl FixedTimeoutConfig {
    /// A config that is Dead after `dead_after` and Suspect after half of it.
    pub fn with_dead_after(dead_after: Duration) -> Self {
        FixedTimeoutConfig {
            suspect_after: dead_after / 2,
            dead_after,
        }
    }

    /// Checks the parameters; the error names the offending field and value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dead_after.is_zero() {
            return Err(ConfigError::ZeroDuration {
                field: "fixed.dead_after",
                value: self.dead_after,
            });
        }
        if self.suspect_after.is_zero() {
            return Err(ConfigError::ZeroDuration {
                field: "fixed.suspect_after",
                value: self.suspect_after,
            });
        }
        if self.suspect_after >= self.dead_after {
            return Err(ConfigError::Order {
                lower: "fixed.suspect_after",
                lower_value: format!("{:?}", self.suspect_after),
                upper: "fixed.dead_after",
                upper_value: format!("{:?}", self.dead_after),
            });
        }
        Ok(())
    }
}

/// Declares a peer Suspect after `suspect_after` and Dead after `dead_after` of silence.
///
/// Silence is measured from the last heartbeat, or from the instant the detector was created if
/// none has arrived yet.
#[derive(Debug, Clone)]
pub struct FixedTimeout {
    config: FixedTimeoutConfig,
    /// Creation instant: the reference point until the first heartbeat.
    start: Instant,
    /// Latest heartbeat; `None` until the first.
    last: Option<Instant>,
}

impl FixedTimeout {
    /// Creates a detector whose silence starts counting at `now`.
    pub fn new(config: FixedTimeoutConfig, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(FixedTimeout {
            config,
            start: now,
            last: None,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &FixedTimeoutConfig {
        &self.config
    }

    fn reference(&self) -> Instant {
        self.last.unwrap_or(self.start)
    }
}

impl FailureDetector for FixedTimeout {
    fn heartbeat(&mut self, now: Instant) {
        let now = now.max(self.reference());
        self.last = Some(now);
    }

    fn suspicion(&self, now: Instant) -> Suspicion {
        let silent_for = now.saturating_duration_since(self.reference());
        let verdict = if silent_for >= self.config.dead_after {
            Verdict::Dead
        } else if silent_for >= self.config.suspect_after {
            Verdict::Suspect
        } else {
            Verdict::Alive
        };
        Suspicion {
            verdict,
            level: Level::Elapsed(silent_for),
            silent_for,
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let reference = self.reference();
        let suspect_at = reference + self.config.suspect_after;
        let dead_at = reference + self.config.dead_after;
        if now < suspect_at {
            Some(suspect_at)
        } else if now < dead_at {
            Some(dead_at)
        } else {
            None
        }
    }

    fn last_heard(&self) -> Option<Instant> {
        self.last
    }
}
