//! Errors of the pinger itself (not of the targets it pings).

use std::io;
use std::net::IpAddr;

/// Why the pinger could not do its job. A target that does not answer is not an error; see
/// [`super::PingReport`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IcmpError {
    /// Neither an unprivileged ICMP datagram socket nor a raw socket may be opened.
    #[error(
        "no permission to open an ICMP socket ({detail}); fix it either by allowing unprivileged \
         ICMP datagram sockets: `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, or by \
         giving the binary CAP_NET_RAW for raw sockets: `setcap cap_net_raw+ep /path/to/linkpulse` \
         (or running it as root)"
    )]
    Permission {
        /// What each attempt returned, e.g. "datagram socket: Permission denied (os error 13)".
        detail: String,
    },
    /// An I/O error on the ICMP socket.
    #[error("ICMP socket error: {0}")]
    Io(#[from] io::Error),
    /// Sending an echo request to `addr` failed (e.g. no route from this host).
    #[error("cannot send ICMP echo request to {addr}: {source}")]
    Send {
        /// The probed address.
        addr: IpAddr,
        /// The error `sendto` returned.
        source: io::Error,
    },
    /// This address family has no ICMP socket (e.g. IPv6 disabled on the host).
    #[error("no ICMP socket for IPv{version}: {source}")]
    FamilyUnavailable {
        /// 4 or 6.
        version: u8,
        /// Why the socket could not be opened.
        source: io::Error,
    },
    /// [`super::PingOptions`] hold a value that cannot work.
    #[error("invalid ping options: {detail}")]
    InvalidOptions {
        /// Which field is wrong and why.
        detail: String,
    },
    /// `ping` was polled outside a tokio runtime with I/O and time drivers.
    #[error("ICMP ping needs a tokio runtime with I/O and time enabled: {detail}")]
    Runtime {
        /// What tokio reported.
        detail: String,
    },
}

/// A copy of an `io::Error` keeping its OS error code or kind and message.
fn clone_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Clone for IcmpError {
    fn clone(&self) -> Self {
        match self {
            IcmpError::Permission { detail } => IcmpError::Permission {
                detail: detail.clone(),
            },
            IcmpError::Io(e) => IcmpError::Io(clone_io(e)),
            IcmpError::Send { addr, source } => IcmpError::Send {
                addr: *addr,
                source: clone_io(source),
            },
            IcmpError::FamilyUnavailable { version, source } => IcmpError::FamilyUnavailable {
                version: *version,
                source: clone_io(source),
            },
            IcmpError::InvalidOptions { detail } => IcmpError::InvalidOptions {
                detail: detail.clone(),
            },
            IcmpError::Runtime { detail } => IcmpError::Runtime {
                detail: detail.clone(),
            },
        }
    }
}

impl IcmpError {
    /// True for [`IcmpError::Permission`], which callers usually report as `permission`.
    pub fn is_permission(&self) -> bool {
        matches!(self, IcmpError::Permission { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_error_names_both_fixes() {
        let e = IcmpError::Permission {
            detail: "raw socket: Operation not permitted".to_owned(),
        };
        let text = e.to_string();
        assert!(
            text.contains("sysctl -w net.ipv4.ping_group_range=\"0 2147483647\""),
            "{text}"
        );
        assert!(text.contains("setcap cap_net_raw+ep"), "{text}");
        assert!(text.contains("root"), "{text}");
        assert!(
            text.contains("raw socket: Operation not permitted"),
            "{text}"
        );
    }

    #[test]
    fn clone_keeps_the_os_error() {
        let e = IcmpError::Send {
            addr: IpAddr::from([127, 0, 0, 1]),
            source: io::Error::from_raw_os_error(101),
        };
        assert_eq!(e.clone().to_string(), e.to_string());
    }
}
