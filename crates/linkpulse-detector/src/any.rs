//! One type for "whichever detector the configuration chose".

use std::time::{Duration, Instant};

use crate::{
    ConfigError, FailureDetector, FixedTimeout, FixedTimeoutConfig, PhiAccrual, PhiConfig,
    Suspicion,
};

/// The choice of detector and its parameters, e.g. from a config file or a CLI flag.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorConfig {
    /// A [`FixedTimeout`] detector.
    Fixed(FixedTimeoutConfig),
    /// A [`PhiAccrual`] detector.
    Phi(PhiConfig),
}

impl DetectorConfig {
    /// A fixed-timeout detector Dead after `dead_after`, Suspect after half of it.
    pub fn fixed(dead_after: Duration) -> Self {
        DetectorConfig::Fixed(FixedTimeoutConfig::with_dead_after(dead_after))
    }

    /// A phi detector tuned for heartbeats every `interval` (see [`PhiConfig::for_interval`]).
    pub fn phi(interval: Duration, threshold: f64) -> Self {
        DetectorConfig::Phi(PhiConfig::for_interval(interval, threshold))
    }

    /// Checks the parameters; the error names the offending field and value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            DetectorConfig::Fixed(c) => c.validate(),
            DetectorConfig::Phi(c) => c.validate(),
        }
    }

    /// Builds the detector, its silence counting from `now`.
    pub fn build(&self, now: Instant) -> Result<Detector, ConfigError> {
        Ok(match self {
            DetectorConfig::Fixed(c) => Detector::Fixed(FixedTimeout::new(*c, now)?),
            DetectorConfig::Phi(c) => Detector::Phi(PhiAccrual::new(c.clone(), now)?),
        })
    }

    /// `fixed` or `phi`.
    pub fn kind(&self) -> &'static str {
        match self {
            DetectorConfig::Fixed(_) => "fixed",
            DetectorConfig::Phi(_) => "phi",
        }
    }
}

/// Either detector, behind one [`FailureDetector`] implementation (no boxing).
#[derive(Debug, Clone)]
pub enum Detector {
    /// A fixed-timeout detector.
    Fixed(FixedTimeout),
    /// A phi-accrual detector.
    Phi(PhiAccrual),
}

impl FailureDetector for Detector {
    fn heartbeat(&mut self, now: Instant) {
        match self {
            Detector::Fixed(d) => d.heartbeat(now),
            Detector::Phi(d) => d.heartbeat(now),
        }
    }

    fn suspicion(&self, now: Instant) -> Suspicion {
        match self {
            Detector::Fixed(d) => d.suspicion(now),
            Detector::Phi(d) => d.suspicion(now),
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        match self {
            Detector::Fixed(d) => d.next_deadline(now),
            Detector::Phi(d) => d.next_deadline(now),
        }
    }

    fn last_heard(&self) -> Option<Instant> {
        match self {
            Detector::Fixed(d) => d.last_heard(),
            Detector::Phi(d) => d.last_heard(),
        }
    }
}
