//! The detector's verdict and the numeric level behind it.

use std::time::Duration;

/// The three states a detector can report for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Heartbeats arrive as expected.
    Alive,
    /// The silence is unusual but not yet conclusive.
    Suspect,
    /// The silence is long enough to declare the peer dead.
    Dead,
}

impl Verdict {
    /// Lower-case name: `alive`, `suspect` or `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Alive => "alive",
            Verdict::Suspect => "suspect",
            Verdict::Dead => "dead",
        }
    }
}

/// The numeric level a detector compared against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// A fixed-timeout detector compares the elapsed silence.
    Elapsed(Duration),
    /// A phi-accrual detector compares φ (may be `f64::INFINITY` past the hard ceiling).
    Phi(f64),
}

/// A detector's answer at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suspicion {
    /// Alive, Suspect or Dead.
    pub verdict: Verdict,
    /// The value the thresholds were applied to.
    pub level: Level,
    /// Time since the last heartbeat (or since the detector was created if none arrived).
    pub silent_for: Duration,
}
