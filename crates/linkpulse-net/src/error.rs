//! Errors of the tokio glue.

use std::io;
use std::net::SocketAddr;

/// Why a connection could not be set up or used. A peer that dies is *not* an error: it is an
/// [`Event::Dead`](linkpulse_proto::Event::Dead) with a cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Connecting to the peer failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// The underlying error.
        source: io::Error,
    },
    /// Connecting did not complete within the configured connect timeout.
    #[error("cannot connect to {addr}: no answer within {timeout:?}")]
    ConnectTimeout {
        /// The address dialled.
        addr: SocketAddr,
        /// The timeout that expired.
        timeout: std::time::Duration,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address given.
        addr: SocketAddr,
        /// The underlying error.
        source: io::Error,
    },
    /// Accepting a connection failed (e.g. out of file descriptors). The listener stays usable.
    #[error("cannot accept a connection: {0}")]
    Accept(#[source] io::Error),
    /// A socket option or query failed.
    #[error("cannot {what} on the socket: {source}")]
    Socket {
        /// What was attempted (e.g. "enable IP_RECVERR").
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The session configuration is invalid.
    #[error("invalid session configuration: {0}")]
    Config(#[from] linkpulse_proto::ConfigError),
    /// The keepalive profile could not be applied.
    #[error(transparent)]
    Keepalive(#[from] crate::KeepaliveError),
    /// The session refused the message (not yet established, or too large).
    #[error("cannot send: {0}")]
    Send(#[from] linkpulse_proto::SendError),
    /// The connection has ended; its driver task is gone.
    #[error("the connection has ended")]
    Closed,
}
