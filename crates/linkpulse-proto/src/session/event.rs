//! What a session reports to the application.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::{ErrorCode, Incarnation, Restart, Status};

/// What the session learned about the peer in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node name.
    pub name: String,
    /// The peer's incarnation.
    pub incarnation: Incarnation,
    /// The heartbeat interval both sides use (granted by the server).
    pub interval: Duration,
    /// The protocol version agreed.
    pub version: u8,
    /// Labels from the client's HELLO (empty on the client side).
    pub labels: Vec<(String, String)>,
    /// Advertised address from the client's HELLO (`None` on the client side).
    pub advertise: Option<String>,
    /// Compared with [`SessionConfig::previous_peer`](crate::SessionConfig::previous_peer),
    /// if one was given.
    pub restart: Option<Restart>,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The peer sent GOODBYE: a graceful leave.
    Goodbye,
    /// The transport reported end of stream (FIN) without a GOODBYE: the peer process exited
    /// or crashed and its kernel closed the socket.
    PeerClosed,
    /// The transport was reset (RST): the peer crashed with unread data, or its host rebooted
    /// and has no record of the connection.
    Reset,
    /// Silence: the failure detector (or the kernel's keepalive / user timeout) gave up —
    /// the host is down or the link is cut.
    Timeout,
    /// ICMP host/network unreachable was reported and no frame arrived within the
    /// confirmation window.
    Unreachable,
    /// The peer broke the protocol, or the handshake failed; the text says what was wrong.
    Protocol(String),
    /// This side ended the session ([`Session::close`](crate::Session::close)) or its own
    /// transport failed.
    Local,
}

impl Cause {
    /// The stable name used in JSON output: `goodbye`, `peer_closed`, `reset`, `timeout`,
    /// `unreachable`, `protocol` or `local`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cause::Goodbye => "goodbye",
            Cause::PeerClosed => "peer_closed",
            Cause::Reset => "reset",
            Cause::Timeout => "timeout",
            Cause::Unreachable => "unreachable",
            Cause::Protocol(_) => "protocol",
            Cause::Local => "local",
        }
    }

    /// The protocol error text, for [`Cause::Protocol`].
    pub fn detail(&self) -> Option<&str> {
        match self {
            Cause::Protocol(d) => Some(d),
            _ => None,
        }
    }

    /// The end of a session whose peer sent ERROR `code` with `text`:
    /// `Protocol("peer reported CODE: TEXT")`, which [`Cause::peer_error`] reads back.
    pub(crate) fn peer_reported(code: ErrorCode, text: &str) -> Cause {
        Cause::Protocol(format!("{PEER_REPORTED}{}: {text}", code.as_str()))
    }

    /// The code of the ERROR frame the peer ended the session with (`AuthFailed` when a hub
    /// refused this agent's secret), or `None` when the session ended any other way.
    pub fn peer_error(&self) -> Option<ErrorCode> {
        let rest = self.detail()?.strip_prefix(PEER_REPORTED)?;
        let (name, _) = rest.split_once(": ")?;
        (1..=6)
            .map(ErrorCode::from_code)
            .find(|code| code.as_str() == name)
    }
}

/// How [`Cause::peer_reported`] starts the text of an ERROR received from the peer.
const PEER_REPORTED: &str = "peer reported ";

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Protocol(d) => write!(f, "protocol: {d}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Something the application should know, from [`Session::poll_event`](crate::Session::poll_event).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake completed.
    Up {
        /// Who the peer is.
        peer: PeerInfo,
    },
    /// A PONG answered one of our PINGs after this round-trip time.
    Rtt(Duration),
    /// The detector finds the peer's silence suspicious.
    Suspect {
        /// Time since the last valid frame.
        silent_for: Duration,
    },
    /// A frame arrived from a Suspect peer.
    AliveAgain,
    /// The peer reported its own health.
    Status(Status),
    /// The peer sent application bytes.
    Data(Bytes),
    /// The session ended. This is the last event.
    Dead {
        /// Why.
        cause: Cause,
        /// Time since the last valid frame (or since the session started if none).
        silent_for: Duration,
    },
}

impl Event {
    /// The stable name used in JSON output: `up`, `rtt`, `suspect`, `alive_again`, `status`,
    /// `data` or `dead`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Up { .. } => "up",
            Event::Rtt(_) => "rtt",
            Event::Suspect { .. } => "suspect",
            Event::AliveAgain => "alive_again",
            Event::Status(_) => "status",
            Event::Data(_) => "data",
            Event::Dead { .. } => "dead",
        }
    }
}

/// An error reported by the transport under the session, for
/// [`Session::handle_transport_error`](crate::Session::handle_transport_error).
/// `EINTR`/`EAGAIN` are not transport errors: retry them and do not report them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// `ECONNRESET` / `EPIPE` after RST: ends the session with [`Cause::Reset`] at once.
    Reset,
    /// `EHOSTUNREACH` / `ENETUNREACH` (e.g. from the IP_RECVERR error queue): soft evidence;
    /// the session dies with [`Cause::Unreachable`] only if no valid frame arrives within
    /// [`SessionConfig::unreachable_confirmation`](crate::SessionConfig::unreachable_confirmation).
    Unreachable,
    /// `ETIMEDOUT` (kernel keepalive or `TCP_USER_TIMEOUT` gave up): [`Cause::Timeout`].
    TimedOut,
    /// Any other I/O failure on this side: [`Cause::Local`].
    Other(String),
}

impl TransportError {
    /// Classifies an I/O error from the transport. Returns `None` for errors that are not
    /// failures and must simply be retried (`EINTR`, `EAGAIN`/`EWOULDBLOCK`).
    ///
    /// `ECONNRESET`, `EPIPE` and `ECONNABORTED` → [`Reset`](Self::Reset);
    /// `EHOSTUNREACH` / `ENETUNREACH` → [`Unreachable`](Self::Unreachable);
    /// `ETIMEDOUT` → [`TimedOut`](Self::TimedOut); anything else → [`Other`](Self::Other).
    /// (End of stream is not an error: call [`Session::handle_eof`](crate::Session::handle_eof).)
    pub fn from_io(error: &std::io::Error) -> Option<TransportError> {
        use std::io::ErrorKind;
        Some(match error.kind() {
            ErrorKind::Interrupted | ErrorKind::WouldBlock => return None,
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
                TransportError::Reset
            }
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                TransportError::Unreachable
            }
            ErrorKind::TimedOut => TransportError::TimedOut,
            _ => TransportError::Other(error.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_errors_map_to_transport_errors() {
        let cases = [
            (ErrorKind::Interrupted, None),
            (ErrorKind::WouldBlock, None),
            (ErrorKind::ConnectionReset, Some(TransportError::Reset)),
            (ErrorKind::BrokenPipe, Some(TransportError::Reset)),
            (
                ErrorKind::HostUnreachable,
                Some(TransportError::Unreachable),
            ),
            (
                ErrorKind::NetworkUnreachable,
                Some(TransportError::Unreachable),
            ),
            (ErrorKind::TimedOut, Some(TransportError::TimedOut)),
        ];
        for (kind, want) in cases {
            assert_eq!(
                TransportError::from_io(&Error::from(kind)),
                want,
                "{kind:?}"
            );
        }
        // Raw errno values as the kernel reports them (Linux numbering).
        #[cfg(target_os = "linux")]
        assert_eq!(
            TransportError::from_io(&Error::from_raw_os_error(113)),
            Some(TransportError::Unreachable),
            "EHOSTUNREACH"
        );
        assert!(matches!(
            TransportError::from_io(&Error::other("boom")),
            Some(TransportError::Other(m)) if m == "boom"
        ));
    }
}
