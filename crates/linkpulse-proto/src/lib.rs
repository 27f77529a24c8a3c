//! The linkpulse heartbeat protocol, sans-IO: the wire format ([`Frame`], [`Codec`]) and the
//! [`Session`] state machine that runs a handshake, heartbeats in both directions and a failure
//! detector, and names the cause when the peer is gone.
//!
//! Nothing here reads a clock or touches a socket. A driver (e.g. `linkpulse-net` over tokio)
//! feeds bytes, end-of-stream, transport errors and timer expiries in, and takes bytes to
//! write, events and the next timer deadline out. See [`Session`] for the call order and
//! `docs/protocol.md` for the byte layout.
//!
//! # Example: two sessions through in-memory pipes
//!
//! ```
//! use std::time::{Duration, Instant};
//! use linkpulse_proto::{Cause, Event, GoodbyeReason, Incarnation, Session, SessionConfig};
//!
//! let t0 = Instant::now();
//! let mut client = Session::client(SessionConfig::new("agent-1", Incarnation::new([1; 16], 7)), t0)?;
//! let mut server = Session::server(SessionConfig::new("hub", Incarnation::new([2; 16], 9)), t0)?;
//!
//! // Move every queued buffer from one session to the other (a zero-latency pipe).
//! fn pump(from: &mut Session, to: &mut Session, now: Instant) {
//!     while let Some(bytes) = from.poll_transmit() {
//!         to.handle_bytes(&bytes, now);
//!     }
//! }
//!
//! let mut now = t0;
//! let mut client_events = Vec::new();
//! for _ in 0..20 {
//!     pump(&mut client, &mut server, now);
//!     pump(&mut server, &mut client, now);
//!     while let Some(e) = client.poll_event() {
//!         client_events.push(e);
//!     }
//!     // Advance virtual time to the earliest timer and fire it on both sides.
//!     now = client.poll_timeout().into_iter().chain(server.poll_timeout()).min().unwrap_or(now);
//!     client.handle_timeout(now);
//!     server.handle_timeout(now);
//! }
//! assert!(matches!(&client_events[0], Event::Up { peer } if peer.name == "hub"));
//! assert!(client_events.iter().any(|e| matches!(e, Event::Rtt(_))));
//! assert!(!client_events.iter().any(|e| matches!(e, Event::Suspect { .. } | Event::Dead { .. })));
//!
//! // The server leaves gracefully; the client learns why.
//! server.close(GoodbyeReason::Shutdown, "maintenance", now);
//! pump(&mut server, &mut client, now);
//! let last = std::iter::from_fn(|| client.poll_event()).last();
//! assert!(matches!(last, Some(Event::Dead { cause: Cause::Goodbye, .. })));
//! # Ok::<(), linkpulse_proto::ConfigError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;
mod error;
mod frame;
mod incarnation;
mod session;
mod wire;

pub use codec::Codec;
pub use error::{ConfigError, DecodeError, EncodeError, SendError};
pub use frame::{
    ErrorCode, ErrorFrame, Frame, FrameType, Goodbye, GoodbyeReason, HEADER_LEN, Health, Hello,
    MAGIC, MAX_ADVERTISE, MAX_AUTH_PROOF, MAX_FRAME_SIZE, MAX_GAUGE_NAME, MAX_GAUGES,
    MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS, MAX_NODE_NAME, MAX_NONCE, MAX_TEXT,
    MIN_FRAME_SIZE_LIMIT, Ping, Pong, Status, WIRE_VERSION, Welcome, truncate_utf8,
};
pub use incarnation::{Incarnation, Restart};
pub use session::{
    Authenticator, Cause, DetectorPolicy, Event, PeerInfo, Role, Session, SessionConfig,
    TransportError,
};

/// Re-export of the detector crate, so users can name detector configs without a second
/// dependency.
pub use linkpulse_detector as detector;
