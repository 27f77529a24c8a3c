//! Session configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use linkpulse_detector::{DetectorConfig, FixedTimeoutConfig, PhiConfig};

use crate::{
    ConfigError, Hello, Incarnation, MAX_FRAME_SIZE, MAX_NODE_NAME, MAX_NONCE, MIN_FRAME_SIZE_LIMIT,
};

/// Which failure detector a session runs once the handshake is done, and how its parameters
/// follow the granted heartbeat interval.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorPolicy {
    /// These exact parameters, whatever interval is granted.
    Exact(DetectorConfig),
    /// Fixed timeout: Dead after `dead_after_intervals` granted intervals, Suspect after half.
    FixedIntervals {
        /// Multiple of the granted interval (≥ 2).
        dead_after_intervals: u32,
    },
    /// Phi accrual tuned for the granted interval ([`PhiConfig::for_interval`]).
    PhiForInterval {
        /// φ at which the peer is Dead (e.g. 8).
        threshold: f64,
    },
}

impl DetectorPolicy {
    /// The concrete detector parameters for a granted `interval`.
    pub fn resolve(&self, interval: Duration) -> DetectorConfig {
        match self {
            DetectorPolicy::Exact(c) => c.clone(),
            DetectorPolicy::FixedIntervals {
                dead_after_intervals,
            } => {
                let dead = interval.saturating_mul(*dead_after_intervals);
                DetectorConfig::Fixed(FixedTimeoutConfig::with_dead_after(dead))
            }
            DetectorPolicy::PhiForInterval { threshold } => {
                DetectorConfig::Phi(PhiConfig::for_interval(interval, *threshold))
            }
        }
    }
}

/// Pluggable authentication for the handshake (the hub's HMAC scheme implements this).
///
/// With an authenticator, the **server** sends a CHALLENGE carrying
/// [`SessionConfig::challenge`] as soon as it is created and checks the HELLO with
/// [`verify`](Self::verify); the **client** waits for the CHALLENGE and puts
/// [`prove`](Self::prove)'s answer in its HELLO. No secret crosses the wire.
pub trait Authenticator: fmt::Debug + Send + Sync {
    /// Client side: the proof for `challenge`, given the HELLO about to be sent (its
    /// `auth_proof` is still empty). At most [`MAX_AUTH_PROOF`](crate::MAX_AUTH_PROOF) bytes.
    fn prove(&self, challenge: &[u8], hello: &Hello) -> Vec<u8>;

    /// Server side: `Ok(())` if `hello.auth_proof` answers `challenge`, else a short reason
    /// (sent to the client in an ERROR frame, so it must not reveal secrets).
    fn verify(&self, challenge: &[u8], hello: &Hello) -> Result<(), String>;
}

/// Parameters of a [`Session`](crate::Session). Build with [`SessionConfig::new`] and adjust
/// the public fields; [`Session::client`](crate::Session::client) and
/// [`Session::server`](crate::Session::server) validate it.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// This node's name, sent in HELLO / WELCOME (1–255 bytes).
    pub node_name: String,
    /// This process's incarnation (boot id + nonce).
    pub incarnation: Incarnation,
    /// Labels sent in HELLO (client only).
    pub labels: Vec<(String, String)>,
    /// Address advertised in HELLO (client only).
    pub advertise: Option<String>,
    /// Client: the heartbeat interval requested. Default 100 ms.
    pub interval: Duration,
    /// Server: smallest interval granted (requests below are raised). Client: smallest
    /// interval accepted in WELCOME (below is a protocol error). Default 10 ms.
    pub min_interval: Duration,
    /// Server: largest interval granted (requests above are lowered). Client: largest
    /// interval accepted in WELCOME. Default 60 s.
    pub max_interval: Duration,
    /// Detector used once the session is up. Default: fixed, Dead after 5 intervals.
    pub detector: DetectorPolicy,
    /// How long the handshake may take before the session fails with a protocol error
    /// (a peer that connects and sends nothing). Default 3 s.
    pub handshake_timeout: Duration,
    /// After an ICMP-unreachable report, how long a valid frame may take to arrive before the
    /// peer is declared Dead with cause `unreachable`. Default 300 ms.
    pub unreachable_confirmation: Duration,
    /// Largest frame accepted or sent (header included). Default and maximum 65 536 bytes,
    /// minimum 1 024.
    pub max_frame_size: usize,
    /// The peer's incarnation from a previous session, if the caller remembers it; the `Up`
    /// event then says whether the peer restarted or its host rebooted.
    pub previous_peer: Option<Incarnation>,
    /// Optional challenge-response authentication.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Server with an authenticator: the random nonce to send in CHALLENGE (1–256 bytes;
    /// generate a fresh one per connection). Ignored otherwise.
    pub challenge: Bytes,
    /// Server: send our PING together with the PONG that answers the client's PING whenever
    /// ours is due within half an interval, and let our own PING timer lag a quarter interval
    /// so the client's PING normally comes first. Halves the server's writes per interval (one
    /// write carries PONG + PING) at the price of less independent traffic towards the client
    /// (its detector then hears the server once per interval instead of twice). Default
    /// `false`; a hub holding many sessions turns it on. Ignored on the client.
    pub coalesce_pings: bool,
    /// Server: ride our own PING along only every `rtt_sample_every`-th PONG (the RTT is
    /// sampled once per that many intervals); the PONGs in between go out alone, and each of
    /// them pushes our own PING deadline out by an interval and a quarter, so the server
    /// still pings on its own when the client goes quiet. Any valid frame counts as a
    /// heartbeat, so the client's fixed-timeout detector is fed by the PONGs alone; what
    /// the server saves is reading the client's PONG to its PING (a third syscall per
    /// interval, after the PING read and the PONG write) in all but one interval of
    /// `rtt_sample_every`. `1` (default): every PONG may carry a PING, as set by
    /// [`coalesce_pings`](Self::coalesce_pings). Above 1 the server's PINGs always ride on
    /// PONGs (as with `coalesce_pings`). Must be at least 1. Ignored on the client. A client
    /// running the phi detector models the server's PINGs, so it should not be paired with
    /// a server that sets this above 1 (the hub's agents run the fixed timeout).
    pub rtt_sample_every: u32,
}

impl SessionConfig {
    /// Defaults for a node called `node_name` with the given incarnation.
    pub fn new(node_name: impl Into<String>, incarnation: Incarnation) -> Self {
        SessionConfig {
            node_name: node_name.into(),
            incarnation,
            labels: Vec::new(),
            advertise: None,
            interval: Duration::from_millis(100),
            min_interval: Duration::from_millis(10),
            max_interval: Duration::from_secs(60),
            detector: DetectorPolicy::FixedIntervals {
                dead_after_intervals: 5,
            },
            handshake_timeout: Duration::from_secs(3),
            unreachable_confirmation: Duration::from_millis(300),
            max_frame_size: MAX_FRAME_SIZE,
            previous_peer: None,
            authenticator: None,
            challenge: Bytes::new(),
            coalesce_pings: false,
            rtt_sample_every: 1,
        }
    }

    /// Checks every parameter; the error names the field and value.
    pub fn validate(&self, is_server: bool) -> Result<(), ConfigError> {
        if is_server {
            self.validate_server(&self.challenge)
        } else {
            self.validate_common()
        }
    }

    /// Checks every parameter for a server session that sends `challenge` (instead of
    /// [`SessionConfig::challenge`]).
    pub fn validate_server(&self, challenge: &[u8]) -> Result<(), ConfigError> {
        self.validate_common()?;
        if self.authenticator.is_some() {
            let len = challenge.len();
            if len == 0 || len > MAX_NONCE {
                return Err(ConfigError::Challenge {
                    len,
                    limit: MAX_NONCE,
                });
            }
        }
        Ok(())
    }

    fn validate_common(&self) -> Result<(), ConfigError> {
        let len = self.node_name.len();
        if len == 0 || len > MAX_NODE_NAME {
            return Err(ConfigError::NodeName { len });
        }
        for (field, value) in [
            ("interval", self.interval),
            ("min_interval", self.min_interval),
            ("max_interval", self.max_interval),
            ("handshake_timeout", self.handshake_timeout),
            ("unreachable_confirmation", self.unreachable_confirmation),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { field, value });
            }
        }
        if self.rtt_sample_every == 0 {
            return Err(ConfigError::ZeroCount {
                field: "rtt_sample_every",
            });
        }
        if self.min_interval > self.max_interval {
            return Err(ConfigError::IntervalRange {
                min: self.min_interval,
                max: self.max_interval,
            });
        }
        if !(MIN_FRAME_SIZE_LIMIT..=MAX_FRAME_SIZE).contains(&self.max_frame_size) {
            return Err(ConfigError::FrameLimit {
                value: self.max_frame_size,
                min: MIN_FRAME_SIZE_LIMIT,
                max: MAX_FRAME_SIZE,
            });
        }
        self.detector.resolve(self.interval).validate()?;
        Ok(())
    }
}
