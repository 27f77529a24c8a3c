//! What an I/O error on a heartbeat connection says about the peer.
//!
//! The socket's own signals name the cause before any heartbeat deadline: `ECONNRESET` is a
//! reset (the peer crashed with unread data, or its host rebooted and has no record of the
//! connection), `ETIMEDOUT` is the kernel's keepalive or `TCP_USER_TIMEOUT` giving up,
//! `EHOSTUNREACH`/`ENETUNREACH` is an ICMP unreachable (with `IP_RECVERR` on). `EINTR` and
//! `EAGAIN` are never failures: the caller retries.

use std::io;

/// The kind of transport failure an I/O error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportFault {
    /// The peer's kernel reset the connection (RST): `ECONNRESET`, `EPIPE`, `ECONNABORTED`,
    /// `ECONNREFUSED`.
    Reset,
    /// The local kernel gave up on an unanswered connection (keepalive or `TCP_USER_TIMEOUT`):
    /// `ETIMEDOUT`.
    Timeout,
    /// An ICMP host/net unreachable arrived for the connection: `EHOSTUNREACH`,
    /// `ENETUNREACH`, `EHOSTDOWN`, `ENETDOWN`.
    Unreachable,
    /// Any other error (a local failure, not a statement about the peer).
    Other,
}

impl TransportFault {
    /// Lower-case name: `reset`, `timeout`, `unreachable`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportFault::Reset => "reset",
            TransportFault::Timeout => "timeout",
            TransportFault::Unreachable => "unreachable",
            TransportFault::Other => "other",
        }
    }
}

/// How a driver should treat an I/O error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoVerdict {
    /// Not a failure (`EINTR`, `EAGAIN`): try the operation again.
    Retry,
    /// A transport failure of this kind.
    Fault(TransportFault),
}

/// Classifies an I/O error from a read, a write or `SO_ERROR`.
pub fn classify(err: &io::Error) -> IoVerdict {
    if let Some(errno) = err.raw_os_error() {
        return classify_errno(errno);
    }
    // Errors without an errno (e.g. from a TLS layer wrapping the socket) still carry a kind.
    match err.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => IoVerdict::Retry,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionRefused => IoVerdict::Fault(TransportFault::Reset),
        io::ErrorKind::TimedOut => IoVerdict::Fault(TransportFault::Timeout),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            IoVerdict::Fault(TransportFault::Unreachable)
        }
        _ => IoVerdict::Fault(TransportFault::Other),
    }
}

/// Classifies a raw errno.
pub fn classify_errno(errno: i32) -> IoVerdict {
    match errno {
        libc::EINTR | libc::EAGAIN => IoVerdict::Retry,
        libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED | libc::ECONNREFUSED => {
            IoVerdict::Fault(TransportFault::Reset)
        }
        libc::ETIMEDOUT => IoVerdict::Fault(TransportFault::Timeout),
        libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN => {
            IoVerdict::Fault(TransportFault::Unreachable)
        }
        _ => IoVerdict::Fault(TransportFault::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: i32) -> IoVerdict {
        classify(&io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn socket_errnos_name_the_cause() {
        assert_eq!(
            os(libc::ECONNRESET),
            IoVerdict::Fault(TransportFault::Reset)
        );
        assert_eq!(os(libc::EPIPE), IoVerdict::Fault(TransportFault::Reset));
        assert_eq!(
            os(libc::ETIMEDOUT),
            IoVerdict::Fault(TransportFault::Timeout)
        );
        assert_eq!(
            os(libc::EHOSTUNREACH),
            IoVerdict::Fault(TransportFault::Unreachable)
        );
        assert_eq!(
            os(libc::ENETUNREACH),
            IoVerdict::Fault(TransportFault::Unreachable)
        );
        assert_eq!(os(libc::EBADF), IoVerdict::Fault(TransportFault::Other));
    }

    #[test]
    fn eintr_is_never_a_failure() {
        assert_eq!(os(libc::EINTR), IoVerdict::Retry);
        assert_eq!(os(libc::EAGAIN), IoVerdict::Retry);
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::Interrupted)),
            IoVerdict::Retry
        );
    }

    #[test]
    fn errors_without_errno_use_the_kind() {
        let e = io::Error::new(io::ErrorKind::ConnectionReset, "tls: peer reset");
        assert_eq!(classify(&e), IoVerdict::Fault(TransportFault::Reset));
        let e = io::Error::new(io::ErrorKind::TimedOut, "x");
        assert_eq!(classify(&e), IoVerdict::Fault(TransportFault::Timeout));
    }
}
