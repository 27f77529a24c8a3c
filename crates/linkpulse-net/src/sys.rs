//! Platform code, the only module that uses `unsafe`: `IP_RECVERR` / `IPV6_RECVERR` and the
//! socket error queue (`recvmsg(MSG_ERRQUEUE)`, `struct sock_extended_err`).
//!
//! What `IP_RECVERR` changes for TCP: without it the kernel treats an ICMP host/net unreachable
//! for an established connection as a *soft* error, remembered only to explain a later timeout.
//! With it the error is reported at once: the socket polls `POLLERR` and the next `read`/`write`
//! (or `SO_ERROR`) returns `EHOSTUNREACH`/`ENETUNREACH` — once; the connection itself stays
//! open, because routes come back. That is why the driver takes it as *evidence* for the
//! session, which confirms it against the heartbeat, not as a verdict. Datagram sockets also
//! queue the full ICMP message (type, code, offender address) on the error queue, which
//! [`read_error_queue`] drains; TCP reports through `sk_err` only, so on a TCP socket the queue
//! is normally empty and the errno is what counts.

#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::ptr;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

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

/// One entry of a socket's error queue.
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
}

fn set_int_option(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<i32>()).unwrap_or(4);
    // SAFETY: `fd` is a valid open descriptor for the borrow's lifetime; the option value points
    // to a live i32 and `len` is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_int_option(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = libc::socklen_t::try_from(size_of::<i32>()).unwrap_or(4);
    // SAFETY: `fd` is valid; `value` and `len` are live and `len` holds the buffer size.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_mut(&mut value).cast(),
            ptr::from_mut(&mut len),
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns on extended error reporting (`IP_RECVERR`, and `IPV6_RECVERR` for IPv6 sockets) so
/// ICMP errors for this connection are reported at once instead of only explaining a later
/// timeout.
pub fn enable_recverr(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
        // A v4-mapped peer on a dual-stack socket reports ICMPv4; best effort.
        let _ = set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1);
        Ok(())
    } else {
        set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)
    }
}

/// Whether extended error reporting is on for this socket.
pub fn recverr_enabled(fd: BorrowedFd<'_>, ipv6: bool) -> io::Result<bool> {
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    get_int_option(fd, level, name).map(|v| v != 0)
}

/// Registers `fd` (normally a duplicate of a TCP socket's descriptor) with the tokio reactor
/// for error readiness only, so a task can wait for POLLERR and then read `SO_ERROR`. Must be
/// called inside a tokio runtime.
pub fn register_error_readiness(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns an open descriptor, and the `AsyncFd` owns the `OwnedFd`: the
    // descriptor stays open and refers to the same file description until the `AsyncFd` is
    // dropped, and `as_raw_fd` always returns that same number.
    unsafe { AsyncFd::register_with_interest(fd, Interest::ERROR) }.map_err(io::Error::from)
}

/// Upper bound on entries drained per call, so a flood of ICMP cannot keep the driver here.
const MAX_DRAIN: usize = 16;

/// Drains the socket's error queue without blocking and returns the ICMP/local errors found
/// (at most 16 per call). An empty queue gives an empty vector; `EINTR` is retried.
pub fn read_error_queue(fd: BorrowedFd<'_>) -> io::Result<Vec<QueuedError>> {
    let mut found = Vec::new();
    for _ in 0..MAX_DRAIN {
        match recv_one_error(fd)? {
            Some(Some(e)) => found.push(e),
            // A queued entry we do not interpret (e.g. a timestamp): keep draining.
            Some(None) => {}
            None => break,
        }
    }
    Ok(found)
}

/// Control buffer, 8-byte aligned as `cmsghdr` requires.
#[repr(C, align(8))]
struct ControlBuf([u8; 512]);

/// `Ok(None)`: queue empty. `Ok(Some(None))`: an entry without an extended error we read.
fn recv_one_error(fd: BorrowedFd<'_>) -> io::Result<Option<Option<QueuedError>>> {
    let mut data = [0u8; 64];
    let mut control = ControlBuf([0u8; 512]);
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len();
    loop {
        // SAFETY: `msg` points at live buffers (`data`, `control`) whose sizes it records; the
        // kernel writes at most those many bytes.
        let n = unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                ptr::from_mut(&mut msg),
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err),
        }
    }
    // SAFETY: `msg` was filled by a successful recvmsg; the CMSG_* macros walk the control
    // buffer within `msg_controllen`, which the kernel set to the bytes it wrote.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::from_ref(&msg)) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points inside `control` (see above); read unaligned to
        // be safe regardless of layout.
        let header: libc::cmsghdr = unsafe { ptr::read_unaligned(cmsg) };
        let is_recverr = (header.cmsg_level == libc::IPPROTO_IP
            && header.cmsg_type == libc::IP_RECVERR)
            || (header.cmsg_level == libc::IPPROTO_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
        if is_recverr {
            // SAFETY: CMSG_LEN(0) is a pure size computation.
            let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
            let data_len = header.cmsg_len.saturating_sub(header_len);
            // SAFETY: `cmsg` is a valid header inside `control`; CMSG_DATA points just past it.
            let data_ptr = unsafe { libc::CMSG_DATA(cmsg) };
            // SAFETY: the kernel wrote `data_len` bytes at `data_ptr` within `control`.
            let bytes = unsafe { std::slice::from_raw_parts(data_ptr, data_len) };
            return Ok(Some(parse_extended_err(bytes)));
        }
        // SAFETY: as for CMSG_FIRSTHDR; returns null past the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(ptr::from_ref(&msg), cmsg) };
    }
    Ok(Some(None))
}

/// Parses the data of an `IP_RECVERR` control message: a `sock_extended_err` followed by the
/// offender's `sockaddr`. Short or unknown data gives `None` (never a panic).
fn parse_extended_err(bytes: &[u8]) -> Option<QueuedError> {
    let ee_size = size_of::<libc::sock_extended_err>();
    if bytes.len() < ee_size {
        return None;
    }
    // SAFETY: at least `ee_size` bytes are readable; the struct is plain integers, so any bit
    // pattern is valid, and the read is unaligned-safe.
    let ee: libc::sock_extended_err = unsafe { ptr::read_unaligned(bytes.as_ptr().cast()) };
    let origin = match ee.ee_origin {
        libc::SO_EE_ORIGIN_ICMP => ErrorOrigin::Icmp,
        libc::SO_EE_ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
        libc::SO_EE_ORIGIN_LOCAL => ErrorOrigin::Local,
        other => ErrorOrigin::Other(other),
    };
    Some(QueuedError {
        origin,
        errno: i32::try_from(ee.ee_errno).unwrap_or(libc::EIO),
        icmp_type: ee.ee_type,
        icmp_code: ee.ee_code,
        offender: bytes.get(ee_size..).and_then(parse_sockaddr),
    })
}

/// Parses a `sockaddr_in` / `sockaddr_in6` from raw bytes (`SO_EE_OFFENDER`).
fn parse_sockaddr(bytes: &[u8]) -> Option<SocketAddr> {
    let family_bytes: [u8; 2] = bytes.get(..2)?.try_into().ok()?;
    let family = i32::from(u16::from_ne_bytes(family_bytes));
    if family == libc::AF_INET && bytes.len() >= size_of::<libc::sockaddr_in>() {
        // SAFETY: enough bytes for a sockaddr_in; plain integers; unaligned read.
        let sin: libc::sockaddr_in = unsafe { ptr::read_unaligned(bytes.as_ptr().cast()) };
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        Some(SocketAddr::V4(SocketAddrV4::new(
            ip,
            u16::from_be(sin.sin_port),
        )))
    } else if family == libc::AF_INET6 && bytes.len() >= size_of::<libc::sockaddr_in6>() {
        // SAFETY: enough bytes for a sockaddr_in6; plain integers; unaligned read.
        let sin6: libc::sockaddr_in6 = unsafe { ptr::read_unaligned(bytes.as_ptr().cast()) };
        let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
        Some(SocketAddr::V6(SocketAddrV6::new(
            ip,
            u16::from_be(sin6.sin6_port),
            sin6.sin6_flowinfo,
            sin6.sin6_scope_id,
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

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

    /// A real ICMP port unreachable on loopback, read back from a UDP socket's error queue.
    #[test]
    fn reads_icmp_port_unreachable_from_the_error_queue() {
        // Find a closed port: bind, note the port, close.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let target = closed.local_addr().expect("addr");
        drop(closed);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable_recverr(sock.as_fd(), false).expect("enable");
        sock.connect(target).expect("connect");
        let _ = sock.send(b"x");
        let deadline = Instant::now() + Duration::from_secs(5);
        let errors = loop {
            let errors = read_error_queue(sock.as_fd()).expect("drain");
            if !errors.is_empty() || Instant::now() > deadline {
                break errors;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let e = errors.first().expect("an ICMP error was queued");
        assert_eq!(e.origin, ErrorOrigin::Icmp);
        assert_eq!((e.icmp_type, e.icmp_code), (3, 3));
        assert_eq!(e.errno, libc::ECONNREFUSED);
        assert_eq!(e.offender.map(|a| a.ip()), Some(target.ip()));
    }

    #[test]
    fn short_or_garbage_control_data_is_ignored() {
        assert_eq!(parse_extended_err(&[1, 2, 3]), None);
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[2, 0, 1]), None);
        assert_eq!(parse_sockaddr(&[0xff; 40]), None);
    }
}
