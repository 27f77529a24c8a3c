//! Sans-IO failure detectors for heartbeat-based liveness.
//!
//! A failure detector watches the arrival times of heartbeats from one peer and says how
//! suspicious the peer's current silence is. This crate never reads a clock: every method takes
//! `now: Instant` from the caller, so a driver can use the real clock and a test can use virtual
//! time built from one base instant plus [`Duration`](std::time::Duration)s.
//!
//! Two detectors implement [`FailureDetector`]:
//!
//! - [`FixedTimeout`]: *Suspect* after `suspect_after` of silence, *Dead* after `dead_after`.
//! - [`PhiAccrual`]: the φ accrual detector of Hayashibara et al. (2004) with Akka's parameter
//!   names, the exact normal tail (via [`math::erfc`]), a bounded sample window, σ bounded below,
//!   and a hard ceiling (`max_silence`).
//!
//! Both tell the driver the next instant at which their verdict will change if nothing arrives
//! ([`FailureDetector::next_deadline`]), so the driver arms one timer instead of polling.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use linkpulse_detector::{FailureDetector, FixedTimeout, FixedTimeoutConfig, Verdict};
//!
//! let t0 = Instant::now();
//! let config = FixedTimeoutConfig {
//!     suspect_after: Duration::from_millis(250),
//!     dead_after: Duration::from_millis(500),
//! };
//! let mut detector = FixedTimeout::new(config, t0)?;
//! detector.heartbeat(t0 + Duration::from_millis(100));
//! assert_eq!(detector.suspicion(t0 + Duration::from_millis(200)).verdict, Verdict::Alive);
//! // Nothing arrives: the driver sleeps until the next deadline and asks again.
//! let wake = detector.next_deadline(t0 + Duration::from_millis(200)).unwrap();
//! assert_eq!(wake, t0 + Duration::from_millis(350));
//! assert_eq!(detector.suspicion(wake).verdict, Verdict::Suspect);
//! let wake = detector.next_deadline(wake).unwrap();
//! assert_eq!(detector.suspicion(wake).verdict, Verdict::Dead);
//! assert_eq!(detector.next_deadline(wake), None);
//! # Ok::<(), linkpulse_detector::ConfigError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod any;
mod error;
mod fixed;
pub mod math;
mod phi;
mod suspicion;
mod window;

pub use any::{Detector, DetectorConfig};
pub use error::ConfigError;
pub use fixed::{FixedTimeout, FixedTimeoutConfig};
pub use phi::{PhiAccrual, PhiConfig};
pub use suspicion::{Level, Suspicion, Verdict};
pub use window::IntervalWindow;

use std::time::Instant;

/// A heartbeat failure detector for one peer.
///
/// Call order for a driver: [`heartbeat`](Self::heartbeat) on every sign of life from the peer;
/// after every input, [`suspicion`](Self::suspicion) to read the verdict and
/// [`next_deadline`](Self::next_deadline) to arm the single timer; when that timer fires, call
/// [`suspicion`](Self::suspicion) again.
pub trait FailureDetector {
    /// Records a sign of life from the peer received at `now`.
    ///
    /// Instants earlier than the previous heartbeat are treated as equal to it (never a panic).
    fn heartbeat(&mut self, now: Instant);

    /// How suspicious the peer's silence is at `now`.
    fn suspicion(&self, now: Instant) -> Suspicion;

    /// The instant at which the verdict will next change (Alive → Suspect or Suspect → Dead) if
    /// no heartbeat arrives; `None` once the verdict is [`Verdict::Dead`].
    ///
    /// The returned instant is always later than `now`, and at that instant
    /// [`suspicion`](Self::suspicion) reports the changed verdict.
    fn next_deadline(&self, now: Instant) -> Option<Instant>;

    /// When the last heartbeat arrived, or `None` if none has yet.
    fn last_heard(&self) -> Option<Instant>;
}
