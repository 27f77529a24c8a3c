//! Extended error reporting (`IP_RECVERR` / `IPV6_RECVERR`) and the socket error queue
//! (`recvmsg(MSG_ERRQUEUE)`, `struct sock_extended_err`): the one reader of queued ICMP errors.
//!
//! What `IP_RECVERR` changes for TCP: without it the kernel treats an ICMP host/net unreachable
//! for an established connection as a *soft* error, remembered only to explain a later timeout.
//! With it the error is reported at once: the socket polls `POLLERR` and the next `read`/`write`
//! (or `SO_ERROR`) returns `EHOSTUNREACH`/`ENETUNREACH` — once; the connection itself stays
//! open, because routes come back. Datagram sockets (UDP, unprivileged ICMP "ping" sockets) also
//! queue the full ICMP message (type, code, offender address, and the start of the datagram it
//! is about) on the error queue, which [`recv_error`] reads one entry at a time and
//! [`read_error_queue`] drains; TCP reports through `sk_err` only, so on a TCP socket the queue
//! is normally empty and the errno is what counts.
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use crate::{msg, sockaddr, sockopt};

/// Where a queued socket error came from (`sock_extended_err.ee_origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorOrigin {
    /// An ICMPv4 message (`SO_EE_ORIGIN_ICMP`).
    Icmp,
    /// An ICMPv6 message (`SO_EE_ORIGIN_ICMP6`).
    Icmp6,
    /// The local stack (`SO_EE_ORIGIN_LOCAL`), e.g. a message too big for the path.
    Local,
    /// Any other origin (timestamping, zero-copy completion …), with its raw number.
    Other(u8),
}

/// One `sock_extended_err` of a socket's error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedError {
    /// Where the error came from.
    pub origin: ErrorOrigin,
    /// The errno the kernel derived from it (`EHOSTUNREACH`, `ECONNREFUSED`, …).
    pub errno: i32,
    /// ICMP type (3 = destination unreachable for ICMPv4, 1 for ICMPv6).
    pub icmp_type: u8,
    /// ICMP code (0 net, 1 host, 3 port unreachable for ICMPv4 …).
    pub icmp_code: u8,
    /// The address of the node that sent the ICMP message (a router, or the peer itself).
    pub offender: Option<SocketAddr>,
}

impl QueuedError {
    /// The kernel's errno as an [`io::Error`].
    pub fn io_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }

    /// ICMP type and code when the error came from the network (not the local stack).
    pub fn icmp(&self) -> Option<(u8, u8)> {
        matches!(self.origin, ErrorOrigin::Icmp | ErrorOrigin::Icmp6)
            .then_some((self.icmp_type, self.icmp_code))
    }
}

/// One entry read from the error queue by [`recv_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedEntry {
    /// The extended error, when the entry carried one this module reads.
    pub error: Option<QueuedError>,
    /// Bytes of the original datagram copied into the caller's buffer (for ping sockets: the
    /// ICMP echo header and payload the error is about).
    pub len: usize,
    /// Destination of the original datagram.
    pub dest: Option<SocketAddr>,
}

/// Turns on extended error reporting (`IP_RECVERR`, and `IPV6_RECVERR` for IPv6 sockets) so
/// ICMP errors are reported at once and queued on the error queue.
pub fn enable_recverr(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        sockopt::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
        // A v4-mapped peer on a dual-stack socket reports ICMPv4; best effort.
        let _ = sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1);
        Ok(())
    } else {
        sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)
    }
}

/// Whether extended error reporting is on for this socket.
pub fn recverr_enabled(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<bool> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    sockopt::get_int(fd, level, name).map(|v| v != 0)
}

/// Upper bound on entries [`read_error_queue`] drains per call, so a flood of ICMP cannot keep
/// a driver there.
const MAX_DRAIN: usize = 16;

/// Drains the socket's error queue without blocking and returns the errors found (at most 16
/// per call; entries without an extended error are skipped). An empty queue gives an empty
/// vector.
pub fn read_error_queue(fd: BorrowedFd<'_>) -> io::Result<Vec<QueuedError>> {
    let mut scratch = [0u8; 64];
    let mut found = Vec::new();
    for _ in 0..MAX_DRAIN {
        match recv_error(fd, &mut scratch)? {
            Some(entry) => found.extend(entry.error),
            None => break,
        }
    }
    Ok(found)
}

/// Reads one entry of the error queue without blocking, copying the start of the original
/// datagram into `payload`. `Ok(None)`: the queue is empty. `EINTR` is retried.
pub fn recv_error(fd: BorrowedFd<'_>, payload: &mut [u8]) -> io::Result<Option<QueuedEntry>> {
    let mut error = None;
    // Room for one `sock_extended_err`, the offender's address and other ancillary data.
    let received = msg::recv::<512>(fd, payload, libc::MSG_ERRQUEUE, |level, kind, data| {
        let is_recverr = (level == libc::IPPROTO_IP && kind == libc::IP_RECVERR)
            || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR);
        if is_recverr && error.is_none() {
            error = parse_extended_err(data);
        }
    });
    match received {
        Ok(r) => Ok(Some(QueuedEntry {
            error,
            len: r.len,
            dest: r.addr,
        })),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// `sizeof(struct sock_extended_err)`: errno u32, origin, type, code, pad u8, info, data u32.
const EE_LEN: usize = 16;

/// Parses the data of an `IP_RECVERR` control message: a `sock_extended_err` followed by the
/// offender's `sockaddr` (`SO_EE_OFFENDER`). Short data gives `None` (never a panic).
fn parse_extended_err(bytes: &[u8]) -> Option<QueuedError> {
    let head = bytes.get(..EE_LEN)?;
    let errno = u32::from_ne_bytes(head.get(..4)?.try_into().ok()?);
    let origin = match head[4] {
        libc::SO_EE_ORIGIN_ICMP => ErrorOrigin::Icmp,
        libc::SO_EE_ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
        libc::SO_EE_ORIGIN_LOCAL => ErrorOrigin::Local,
        other => ErrorOrigin::Other(other),
    };
    Some(QueuedError {
        origin,
        errno: i32::try_from(errno).unwrap_or(libc::EIO),
        icmp_type: head[5],
        icmp_code: head[6],
        offender: bytes.get(EE_LEN..).and_then(sockaddr::decode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    #[test]
    fn the_layout_matches_the_kernels() {
        assert_eq!(size_of::<libc::sock_extended_err>(), EE_LEN);
    }

    #[test]
    fn recverr_can_be_enabled_on_tcp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        assert!(!recverr_enabled(stream.as_fd(), false).expect("get"));
        enable_recverr(stream.as_fd(), false).expect("enable");
        assert!(recverr_enabled(stream.as_fd(), false).expect("get"));
        assert!(read_error_queue(stream.as_fd()).expect("drain").is_empty());
    }

    /// A real ICMP port unreachable on loopback, read back from a UDP socket's error queue
    /// with the datagram it is about and its destination.
    #[test]
    fn reads_icmp_port_unreachable_with_the_original_datagram() {
        // Find a closed port: bind, note the port, close.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let target = closed.local_addr().expect("addr");
        drop(closed);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable_recverr(sock.as_fd(), false).expect("enable");
        sock.connect(target).expect("connect");
        let _ = sock.send(b"xyz");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut payload = [0u8; 16];
        let entry = loop {
            if let Some(entry) = recv_error(sock.as_fd(), &mut payload).expect("read") {
                break entry;
            }
            assert!(Instant::now() < deadline, "no ICMP error was queued");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(entry.dest, Some(target));
        assert_eq!(payload.get(..entry.len), Some(&b"xyz"[..]));
        let e = entry.error.expect("an extended error");
        assert_eq!(e.origin, ErrorOrigin::Icmp);
        assert_eq!(e.icmp(), Some((3, 3)));
        assert_eq!(e.errno, libc::ECONNREFUSED);
        assert_eq!(e.offender.map(|a| a.ip()), Some(target.ip()));
        assert_eq!(recv_error(sock.as_fd(), &mut payload).expect("read"), None);
    }

    #[test]
    fn short_control_data_is_ignored() {
        assert_eq!(parse_extended_err(&[1, 2, 3]), None);
        let local = parse_extended_err(&[0; EE_LEN]).expect("a full header");
        assert_eq!(local.offender, None);
        assert_eq!(local.icmp(), None);
    }
}
