//! The hub's settings: [`HubConfig`], its defaults and the range of every value, in one place.
//!
//! A program that embeds the hub builds a [`HubConfig`], and either asks [`HubConfig::problems`]
//! which values are out of range (the daemon does this while validating its `hub:` section, so a
//! value the hub would not accept is a config error with its line, never a silent change) or
//! lets [`crate::Hub::new`] clamp them ([`HubConfig::clamped`]). Both read the same limits.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use linkpulse_proto::DetectorPolicy;
use linkpulse_proto::detector::DetectorConfig;

use crate::tls::HubTls;

/// Smallest heartbeat interval the hub accepts in its configuration.
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
/// Largest heartbeat interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// Default [`HubConfig::forget_after`]: three days, as Consul's `reconnect_timeout`.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(72 * 3600);
/// Longest [`HubConfig::forget_after`]: ten years (as good as never).
pub const MAX_FORGET_AFTER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Default [`HubConfig::interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
/// Default [`HubConfig::phi_threshold`].
pub const DEFAULT_PHI_THRESHOLD: f64 = 8.0;
/// The heartbeat intervals the hub accepts.
pub const INTERVAL: RangeInclusive<Duration> = MIN_INTERVAL..=MAX_INTERVAL;
/// The φ thresholds the hub accepts.
pub const PHI_THRESHOLD: RangeInclusive<f64> = 1.0..=16.0;
/// The [`HubConfig::forget_after`] values the hub accepts.
pub const FORGET_AFTER: RangeInclusive<Duration> = Duration::from_secs(1)..=MAX_FORGET_AFTER;
/// The [`HubConfig::max_sessions`] values the hub accepts.
pub const MAX_SESSIONS: RangeInclusive<usize> = 1..=1_000_000;
/// The [`HubConfig::handshake_timeout`] values the hub accepts.
pub const HANDSHAKE_TIMEOUT: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(30);
/// The [`HubConfig::handshake_rate`] values the hub accepts.
pub const HANDSHAKE_RATE: RangeInclusive<u32> = 1..=u32::MAX;
/// The [`HubConfig::rtt_sample_every`] values the hub accepts.
pub const RTT_SAMPLE_EVERY: RangeInclusive<u32> = 1..=64;
/// Longest fixed-detector timeout (unless twice the interval is longer).
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Default fixed-detector timeout, when twice the interval is not longer.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// Which failure detector the hub runs on each agent session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HubDetector {
    /// Dead after `timeout` of silence, suspect after half of it.
    #[default]
    Fixed,
    /// φ accrual tuned for the interval; dead at `phi_threshold`.
    Phi,
}

/// Hub settings. Build with [`HubConfig::new`], adjust fields, then [`Hub::new`](crate::server::Hub::new) clamps them
/// ([`HubConfig::clamped`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Address agents connect to (port 0: any free port).
    pub listen: SocketAddr,
    /// Heartbeat interval granted to every agent. Default 100 ms, clamped to 20 ms – 10 s.
    pub interval: Duration,
    /// Failure detector. Default fixed.
    pub detector: HubDetector,
    /// Fixed detector: silence after which an agent is dead (suspect at half). Also the wait
    /// before a dead node is diagnosed. Default 500 ms, clamped to 2 × interval – 10 min.
    pub timeout: Duration,
    /// Phi detector: φ at which an agent is dead. Default 8, clamped to 1–16.
    pub phi_threshold: f64,
    /// Shared secret or per-agent tokens ([`crate::auth`]); `None`: agents are not
    /// authenticated.
    pub secret_file: Option<PathBuf>,
    /// Most sessions open at once (handshaking or established). Default 19 000.
    pub max_sessions: usize,
    /// A connection that has not completed the handshake by then is closed. Default 2 s,
    /// clamped to 100 ms – 30 s.
    pub handshake_timeout: Duration,
    /// New connections accepted per second (burst of the same size). Default 2 000.
    pub handshake_rate: u32,
    /// The hub's node name, sent in WELCOME. Default `hub`.
    pub name: String,
    /// TLS on the hub port; `None`: plain TCP.
    pub tls: Option<HubTls>,
    /// The hub measures an agent's RTT once per this many intervals: its own PING rides on
    /// every this-many-th PONG it sends ([`SessionConfig::rtt_sample_every`](linkpulse_proto::SessionConfig::rtt_sample_every)). Default 8
    /// (at the default 100 ms interval, an RTT sample every 0.8 s), clamped to 1–64; 1
    /// pings every interval. Agents' detectors are fed by the hub's PONGs, so this changes
    /// nothing about detection; it spares the hub reading the agent's PONG (a third syscall
    /// per session and interval, after the PING read and the PONG write) in all but one
    /// interval of this many, for an `rtt_ms` that is at most this many intervals old.
    pub rtt_sample_every: u32,
    /// A node dead or left for longer than this is removed from the registry and announced
    /// as `forgotten` (Consul's `reconnect_timeout`): a fleet that scales out and in does not
    /// pile up names. Default 72 h, clamped to 1 s – 10 years.
    pub forget_after: Duration,
}

impl HubConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        HubConfig {
            listen,
            interval: DEFAULT_INTERVAL,
            detector: HubDetector::Fixed,
            timeout: HubConfig::default_timeout(DEFAULT_INTERVAL),
            phi_threshold: DEFAULT_PHI_THRESHOLD,
            secret_file: None,
            max_sessions: 19_000,
            handshake_timeout: Duration::from_secs(2),
            handshake_rate: 2_000,
            name: "hub".to_owned(),
            tls: None,
            rtt_sample_every: 8,
            forget_after: DEFAULT_FORGET_AFTER,
        }
    }

    /// The same settings with every value inside its sane range.
    pub fn clamped(mut self) -> Self {
        self.interval = clamp(self.interval, &INTERVAL);
        self.timeout = clamp(self.timeout, &timeout_range(self.interval));
        self.phi_threshold = if self.phi_threshold.is_finite() {
            clamp(self.phi_threshold, &PHI_THRESHOLD)
        } else {
            DEFAULT_PHI_THRESHOLD
        };
        self.max_sessions = clamp(self.max_sessions, &MAX_SESSIONS);
        self.handshake_timeout = clamp(self.handshake_timeout, &HANDSHAKE_TIMEOUT);
        self.handshake_rate = clamp(self.handshake_rate, &HANDSHAKE_RATE);
        self.rtt_sample_every = clamp(self.rtt_sample_every, &RTT_SAMPLE_EVERY);
        self.forget_after = clamp(self.forget_after, &FORGET_AFTER);
        if self.name.is_empty() || self.name.len() > linkpulse_proto::MAX_NODE_NAME {
            self.name = "hub".to_owned();
        }
        self
    }

    pub(crate) fn detector_policy(&self) -> DetectorPolicy {
        match self.detector {
            HubDetector::Fixed => DetectorPolicy::Exact(DetectorConfig::fixed(self.timeout)),
            HubDetector::Phi => DetectorPolicy::PhiForInterval {
                threshold: self.phi_threshold,
            },
        }
    }
}

/// The timeouts the hub accepts with heartbeat interval `interval`: at least two intervals
/// (one late heartbeat must not kill a session), at most ten minutes.
pub fn timeout_range(interval: Duration) -> RangeInclusive<Duration> {
    let min = interval * 2;
    min..=MAX_TIMEOUT.max(min)
}

fn clamp<T: PartialOrd + Copy>(value: T, range: &RangeInclusive<T>) -> T {
    if value < *range.start() {
        *range.start()
    } else if value > *range.end() {
        *range.end()
    } else {
        value
    }
}

/// A hub setting whose value is outside what the hub accepts ([`HubConfig::problems`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is outside the accepted range {allowed}")]
pub struct OutOfRange {
    /// The field's name, as in [`HubConfig`] (and the daemon's `hub:` section).
    pub field: &'static str,
    /// The value given, in words (`60s`, `99`).
    pub value: String,
    /// The accepted range, in words (`20ms – 10s`).
    pub allowed: String,
}

fn check<T: PartialOrd + Copy>(
    out: &mut Vec<OutOfRange>,
    field: &'static str,
    value: T,
    range: &RangeInclusive<T>,
    show: impl Fn(T) -> String,
) {
    if !range.contains(&value) {
        out.push(OutOfRange {
            field,
            value: show(value),
            allowed: format!("{} – {}", show(*range.start()), show(*range.end())),
        });
    }
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl HubConfig {
    /// How long a node known before (restored from storage at a start, or held by a cluster
    /// member that died) may take to reappear before it is reported gone: agents retry with
    /// a backoff capped at 5 s (jittered), so a live agent has made at least two attempts by
    /// then, plus two detector timeouts for the handshake.
    pub fn rejoin_grace(&self) -> Duration {
        Duration::from_secs(10) + self.timeout * 2
    }

    /// The default fixed-detector timeout for `interval`: 500 ms, or two intervals when
    /// that is longer (so a default never conflicts with a long interval).
    pub fn default_timeout(interval: Duration) -> Duration {
        DEFAULT_TIMEOUT.max(interval * 2)
    }

    /// Every value outside the range the hub accepts, in field order; empty when all are
    /// fine. [`HubConfig::clamped`] would move exactly these values.
    pub fn problems(&self) -> Vec<OutOfRange> {
        let mut out = Vec::new();
        check(&mut out, "interval", self.interval, &INTERVAL, duration);
        // A timeout is judged against an interval the hub accepts.
        let interval = clamp(self.interval, &INTERVAL);
        check(
            &mut out,
            "timeout",
            self.timeout,
            &timeout_range(interval),
            duration,
        );
        if self.phi_threshold.is_nan() {
            out.push(OutOfRange {
                field: "phi_threshold",
                value: "NaN".to_owned(),
                allowed: format!("{} – {}", PHI_THRESHOLD.start(), PHI_THRESHOLD.end()),
            });
        } else {
            check(
                &mut out,
                "phi_threshold",
                self.phi_threshold,
                &PHI_THRESHOLD,
                |v| v.to_string(),
            );
        }
        check(
            &mut out,
            "max_sessions",
            self.max_sessions,
            &MAX_SESSIONS,
            |v| v.to_string(),
        );
        check(
            &mut out,
            "handshake_timeout",
            self.handshake_timeout,
            &HANDSHAKE_TIMEOUT,
            duration,
        );
        check(
            &mut out,
            "handshake_rate",
            self.handshake_rate,
            &HANDSHAKE_RATE,
            |v| v.to_string(),
        );
        check(
            &mut out,
            "rtt_sample_every",
            self.rtt_sample_every,
            &RTT_SAMPLE_EVERY,
            |v| v.to_string(),
        );
        check(
            &mut out,
            "forget_after",
            self.forget_after,
            &FORGET_AFTER,
            duration,
        );
        let name_len = 1..=linkpulse_proto::MAX_NODE_NAME;
        check(&mut out, "name", self.name.len(), &name_len, |v| {
            format!("{v} bytes")
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HubConfig {
        HubConfig::new("127.0.0.1:0".parse().unwrap())
    }

    #[test]
    fn defaults_are_in_range() {
        assert_eq!(config().problems(), []);
        // A long interval moves the default timeout with it.
        let mut c = config();
        c.interval = MAX_INTERVAL;
        c.timeout = HubConfig::default_timeout(c.interval);
        assert_eq!(c.problems(), []);
    }

    #[test]
    fn problems_name_each_field_and_clamped_moves_exactly_those() {
        let mut c = config();
        c.interval = Duration::from_secs(60);
        c.phi_threshold = 99.0;
        c.rtt_sample_every = 0;
        c.forget_after = Duration::ZERO;
        let p = c.problems();
        let fields: Vec<_> = p.iter().map(|p| p.field).collect();
        // 60 s needs a timeout of at least 20 s (two intervals of the clamped 10 s).
        assert_eq!(
            fields,
            [
                "interval",
                "timeout",
                "phi_threshold",
                "rtt_sample_every",
                "forget_after"
            ]
        );
        assert_eq!(
            p[0].to_string(),
            "1m is outside the accepted range 20ms – 10s"
        );
        let c = c.clamped();
        assert_eq!(c.problems(), []);
        assert_eq!(c.interval, MAX_INTERVAL);
        assert_eq!(c.timeout, MAX_INTERVAL * 2);
        assert_eq!(c.phi_threshold, 16.0);
        assert_eq!(c.rtt_sample_every, 1);
        assert_eq!(c.forget_after, Duration::from_secs(1));
    }

    #[test]
    fn clamped_repairs_what_cannot_be_compared() {
        let mut c = config();
        c.interval = Duration::from_millis(1);
        c.timeout = Duration::from_millis(1);
        c.phi_threshold = f64::NAN;
        c.handshake_rate = 0;
        assert_eq!(c.problems().len(), 4);
        let c = c.clamped();
        assert_eq!(c.interval, MIN_INTERVAL);
        assert_eq!(c.timeout, MIN_INTERVAL * 2);
        assert_eq!(c.phi_threshold, DEFAULT_PHI_THRESHOLD);
        assert_eq!(c.handshake_rate, 1);
        assert_eq!(c.problems(), []);
    }
}
