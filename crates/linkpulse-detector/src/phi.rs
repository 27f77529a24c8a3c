//! The φ accrual failure detector (Hayashibara, Défago, Yared, Katayama, "The φ accrual failure
//! detector", SRDS 2004), with the parameter names Akka uses.
//!
//! φ at a silence Δt is `−log10(1 − F(Δt))`, where `F` is the normal CDF with the mean and
//! standard deviation of recent inter-arrival intervals. As Akka does, the mean is shifted by
//! `acceptable_heartbeat_pause` and σ is bounded below by `min_std_deviation`. Unlike Akka, the
//! tail `1 − F` is computed exactly (via `erfc`, in log space, see [`crate::math`]) rather than
//! with a logistic approximation, and a hard ceiling `max_silence` makes the peer Dead no
//! matter what the statistics say.

use std::time::{Duration, Instant};

use crate::math::{neg_log10_normal_tail, normal_tail_z_for};
use crate::{ConfigError, FailureDetector, IntervalWindow, Level, Suspicion, Verdict};

/// Parameters of [`PhiAccrual`]. Field names follow Akka's `PhiAccrualFailureDetector`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhiConfig {
    /// φ at or above which the peer is Dead. Akka's `threshold`; default 8.
    pub threshold: f64,
    /// φ at or above which the peer is Suspect; must be below `threshold`. Default 3.
    pub suspect_threshold: f64,
    /// Inter-arrival samples kept (a ring buffer; older samples are dropped). Default 1000.
    /// Each sample costs 4 bytes.
    pub max_sample_size: usize,
    /// Lower bound on σ, so a perfectly regular peer is not condemned by tiny jitter.
    /// Default 100 ms.
    pub min_std_deviation: Duration,
    /// Added to the mean interval: a pause this long costs no suspicion. Default 3 s.
    pub acceptable_heartbeat_pause: Duration,
    /// Expected interval before any has been measured; seeds the window with two samples,
    /// `estimate ± estimate/4`. Default 1 s.
    pub first_heartbeat_estimate: Duration,
    /// Hard ceiling: after this much silence the peer is Dead whatever φ says. Default 30 s.
    pub max_silence: Duration,
}

impl Default for PhiConfig {
    fn default() -> Self {
        PhiConfig {
            threshold: 8.0,
            suspect_threshold: 3.0,
            max_sample_size: 1000,
            min_std_deviation: Duration::from_millis(100),
            acceptable_heartbeat_pause: Duration::from_secs(3),
            first_heartbeat_estimate: Duration::from_secs(1),
            max_silence: Duration::from_secs(30),
        }
    }
}

impl PhiConfig {
    /// Parameters for a heartbeat sent every `interval`, Dead at φ = `threshold`:
    /// suspect threshold `min(3, threshold/2)`, 100 samples, σ ≥ `interval/4`, acceptable pause
    /// `interval`, first estimate `interval`, ceiling `20 × interval`.
    ///
    /// With a regular heartbeat and the default threshold 8 the peer is declared dead about
    /// `mean + interval + 5.6 σ` after the last frame (≈ 3.5 intervals when σ is at its floor).
    pub fn for_interval(interval: Duration, threshold: f64) -> Self {
        let suspect_threshold = if threshold > 6.0 {
            3.0
        } else {
            threshold / 2.0
        };
        PhiConfig {
            threshold,
            suspect_threshold,
            max_sample_size: 100,
            min_std_deviation: interval / 4,
            acceptable_heartbeat_pause: interval,
            first_heartbeat_estimate: interval,
            max_silence: interval.saturating_mul(20),
        }
    }

    /// Checks the parameters; the error names the offending field and value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("phi.threshold", self.threshold),
            ("phi.suspect_threshold", self.suspect_threshold),
        ] {
            if !value.is_finite() || value <= 0.0 {
                return Err(ConfigError::NotPositive { field, value });
            }
        }
        if self.suspect_threshold >= self.threshold {
            return Err(ConfigError::Order {
                lower: "phi.suspect_threshold",
                lower_value: self.suspect_threshold.to_string(),
                upper: "phi.threshold",
                upper_value: self.threshold.to_string(),
            });
        }
        if self.max_sample_size == 0 {
            return Err(ConfigError::NoSamples {
                value: self.max_sample_size,
            });
        }
        for (field, value) in [
            ("phi.min_std_deviation", self.min_std_deviation),
            (
                "phi.first_heartbeat_estimate",
                self.first_heartbeat_estimate,
            ),
            ("phi.max_silence", self.max_silence),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { field, value });
            }
        }
        Ok(())
    }
}

/// The φ accrual failure detector (Hayashibara et al., SRDS 2004).
///
/// φ at a silence Δt is `−log10(1 − F(Δt))`, `F` the normal CDF with mean = window mean +
/// `acceptable_heartbeat_pause` and σ = max(window σ, `min_std_deviation`) over the last
/// `max_sample_size` inter-arrival intervals. The tail is exact (see [`crate::math`]); after
/// `max_silence` the peer is Dead regardless. See [`PhiConfig`] for the parameters.
#[derive(Debug, Clone)]
pub struct PhiAccrual {
    config: PhiConfig,
    /// Standardised silence at which φ reaches `suspect_threshold` (computed once).
    z_suspect: f64,
    /// Standardised silence at which φ reaches `threshold` (computed once).
    z_dead: f64,
    window: IntervalWindow,
    /// Creation instant: the reference point until the first heartbeat.
    start: Instant,
    /// Latest heartbeat; `None` until the first.
    last: Option<Instant>,
}

/// Converts microseconds (possibly negative, huge or NaN) to a Duration, rounding up.
fn duration_from_us_ceil(us: f64) -> Duration {
    if us.is_nan() || us <= 0.0 {
        return Duration::ZERO;
    }
    // Cap at ~31 years; any realistic deadline is far below and max_silence caps it anyway.
    let us = us.min(1e15).ceil();
    Duration::from_micros(us as u64)
}

impl PhiAccrual {
    /// Creates a detector whose silence starts counting at `now`.
    pub fn new(config: PhiConfig, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let z_suspect =
            normal_tail_z_for(config.suspect_threshold).ok_or(ConfigError::NotPositive {
                field: "phi.suspect_threshold",
                value: config.suspect_threshold,
            })?;
        let z_dead = normal_tail_z_for(config.threshold).ok_or(ConfigError::NotPositive {
            field: "phi.threshold",
            value: config.threshold,
        })?;
        let mut window = IntervalWindow::new(config.max_sample_size);
        let estimate = config.first_heartbeat_estimate;
        window.push(estimate - estimate / 4);
        window.push(estimate + estimate / 4);
        Ok(PhiAccrual {
            config,
            z_suspect,
            z_dead,
            window,
            start: now,
            last: None,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// The inter-arrival window (for inspection and metrics).
    pub fn window(&self) -> &IntervalWindow {
        &self.window
    }

    /// The mean the normal distribution uses: window mean + acceptable pause, in µs.
    pub fn effective_mean_us(&self) -> f64 {
        self.window.mean_us() + self.config.acceptable_heartbeat_pause.as_secs_f64() * 1e6
    }

    /// The σ the normal distribution uses: max(window σ, min_std_deviation), in µs.
    pub fn effective_std_dev_us(&self) -> f64 {
        self.window
            .std_dev_us()
            .max(self.config.min_std_deviation.as_secs_f64() * 1e6)
    }

    /// φ for a silence of `silent_for` under the current statistics (ignores `max_silence`).
    pub fn phi_for(&self, silent_for: Duration) -> f64 {
        let dt = silent_for.as_secs_f64() * 1e6;
        let z = (dt - self.effective_mean_us()) / self.effective_std_dev_us();
        neg_log10_normal_tail(z)
    }

    /// The silence at which φ reaches `phi` under the current statistics (the inverse of
    /// [`phi_for`](Self::phi_for), rounded up to a whole microsecond). `None` if `phi` is not a
    /// finite positive number.
    pub fn silence_for_phi(&self, phi: f64) -> Option<Duration> {
        let z = normal_tail_z_for(phi)?;
        Some(self.silence_for_z(z))
    }

    fn silence_for_z(&self, z: f64) -> Duration {
        duration_from_us_ceil(self.effective_mean_us() + z * self.effective_std_dev_us())
    }

    fn reference(&self) -> Instant {
        self.last.unwrap_or(self.start)
    }

    fn verdict_at(&self, now: Instant) -> Verdict {
        self.suspicion(now).verdict
    }

    /// Moves `candidate` forward until the verdict differs from `from` (guards against the
    /// last bit of floating-point rounding), never past `ceiling`.
    fn settle(&self, candidate: Instant, from: Verdict, ceiling: Instant) -> Instant {
        let mut at = candidate;
        let mut step = Duration::from_micros(1);
        for _ in 0..40 {
            if at >= ceiling {
                return ceiling;
            }
            if self.verdict_at(at) != from {
                return at;
            }
            at += step;
            step = step.saturating_mul(2);
        }
        ceiling
    }
}

impl FailureDetector for PhiAccrual {
    fn heartbeat(&mut self, now: Instant) {
        match self.last {
            Some(last) => {
                let now = now.max(last);
                self.window.push(now - last);
                self.last = Some(now);
            }
            None => self.last = Some(now.max(self.start)),
        }
    }

    fn suspicion(&self, now: Instant) -> Suspicion {
        let silent_for = now.saturating_duration_since(self.reference());
        if silent_for >= self.config.max_silence {
            return Suspicion {
                verdict: Verdict::Dead,
                level: Level::Phi(f64::INFINITY),
                silent_for,
            };
        }
        let phi = self.phi_for(silent_for);
        let verdict = if phi >= self.config.threshold {
            Verdict::Dead
        } else if phi >= self.config.suspect_threshold {
            Verdict::Suspect
        } else {
            Verdict::Alive
        };
        Suspicion {
            verdict,
            level: Level::Phi(phi),
            silent_for,
        }
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let reference = self.reference();
        let ceiling = reference + self.config.max_silence;
        let floor = now + Duration::from_micros(1);
        match self.verdict_at(now) {
            Verdict::Dead => None,
            Verdict::Alive => {
                let at = (reference + self.silence_for_z(self.z_suspect)).max(floor);
                Some(self.settle(at, Verdict::Alive, ceiling.max(floor)))
            }
            Verdict::Suspect => {
                let at = (reference + self.silence_for_z(self.z_dead)).max(floor);
                Some(self.settle(at, Verdict::Suspect, ceiling.max(floor)))
            }
        }
    }

    fn last_heard(&self) -> Option<Instant> {
        self.last
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests take one real base instant
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = PhiConfig {
            threshold: -1.0,
            ..PhiConfig::default()
        };
        let err = PhiAccrual::new(bad, Instant::now()).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("phi.threshold must be a finite number greater than 0, got -1")
        );
        let bad = PhiConfig {
            suspect_threshold: 9.0,
            ..PhiConfig::default()
        };
        let msg = bad.validate().err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("phi.suspect_threshold (9) must be less than phi.threshold (8)")
        );
        let bad = PhiConfig {
            max_silence: Duration::ZERO,
            ..PhiConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::ZeroDuration {
                field: "phi.max_silence",
                ..
            })
        ));
    }

    #[test]
    fn inverse_round_trip_on_detector() {
        let t0 = Instant::now();
        let mut d = PhiAccrual::new(PhiConfig::for_interval(Duration::from_millis(100), 8.0), t0)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut t = t0;
        for i in 0..50u64 {
            t += Duration::from_millis(90 + (i * 7) % 25);
            d.heartbeat(t);
        }
        for phi in [1.0, 3.0, 8.0, 12.0] {
            let s = d.silence_for_phi(phi).unwrap_or_default();
            let back = d.phi_for(s);
            assert!(back >= phi, "phi {phi}: silence {s:?} gives {back}");
            let before = d.phi_for(s.saturating_sub(Duration::from_micros(2)));
            assert!(before < phi, "phi {phi}: just before gives {before}");
        }
    }
}
