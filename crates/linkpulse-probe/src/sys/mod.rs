//! Platform glue: the few socket calls that `socket2` does not wrap.
//!
//! This is the only module of the crate that may use `unsafe`. Each function is a thin, checked
//! wrapper around one Linux system call or socket option, so the rest of the crate stays safe.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of, size_of_val};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use socket2::Socket;

/// `SOL_RAW` option number of the IPv4 raw ICMP type filter (`linux/icmp.h`).
const ICMP_FILTER: libc::c_int = 1;
/// `IPPROTO_ICMPV6` option number of the ICMPv6 type filter (`netinet/icmp6.h`).
const ICMP6_FILTER: libc::c_int = 1;
/// `SO_RCVBUFFORCE` (`asm-generic/socket.h`); not exported by `libc` for every Linux target.
const SO_RCVBUFFORCE: libc::c_int = 33;

/// Sets an integer-like socket option.
fn setsockopt<T>(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the call and the
    // descriptor is owned by `sock`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for the hop limit (IPv4 TTL) of every received packet as ancillary data
/// (`IP_RECVTTL` or `IPV6_RECVHOPLIMIT`), read by [`recv_with_hop_limit`].
pub(crate) fn enable_recv_hop_limit(sock: &Socket, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if v6 {
        setsockopt(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)
    } else {
        setsockopt(sock, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)
    }
}

/// Receives one datagram into `buf` without blocking: its length, the sender's address and
/// the hop limit from the ancillary data (when [`enable_recv_hop_limit`] asked for it).
///
/// Returns `ErrorKind::WouldBlock` when nothing is queued.
pub(crate) fn recv_with_hop_limit(
    sock: &Socket,
    buf: &mut [u8],
) -> io::Result<(usize, Option<IpAddr>, Option<u8>)> {
    let mut control = [0u64; 8];
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel filled `msg_namelen` bytes of `name`; `sockaddr_to_ip` checks the
    // family and the length before reading.
    let from = unsafe { sockaddr_to_ip(name.as_ptr().cast(), msg.msg_namelen as usize) };
    let mut hop_limit = None;
    // SAFETY: `msg` was filled by `recvmsg`; the CMSG macros walk within `msg_controllen`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let is_hops = (c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_TTL)
                || (c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_HOPLIMIT);
            let data_len = (c.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if is_hops && data_len >= size_of::<libc::c_int>() {
                let value = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                hop_limit = u8::try_from(value).ok();
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((len.min(buf.len()), from, hop_limit))
}

/// Asks the kernel to queue ICMP errors for this socket on its error queue (`IP_RECVERR` or
/// `IPV6_RECVERR`), which is how unprivileged ICMP datagram sockets learn of unreachables.
pub(crate) fn enable_recv_err(sock: &Socket, v6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if v6 {
        setsockopt(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, &on)
    } else {
        setsockopt(sock, libc::IPPROTO_IP, libc::IP_RECVERR, &on)
    }
}

/// Grows the receive buffer to `bytes`, beyond `net.core.rmem_max` when the process is
/// privileged (`SO_RCVBUFFORCE`), else as far as the limit allows (`SO_RCVBUF`).
pub(crate) fn grow_recv_buffer(sock: &Socket, bytes: usize) {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if setsockopt(sock, libc::SOL_SOCKET, SO_RCVBUFFORCE, &want).is_err() {
        // Unprivileged: the kernel silently caps SO_RCVBUF at rmem_max; failure is harmless.
        let _ = sock.set_recv_buffer_size(bytes);
    }
}

/// Lets only the listed ICMP types through to an IPv4 raw socket (`ICMP_FILTER`), so the
/// receive path does not wake for echo requests and other traffic it would ignore.
pub(crate) fn set_icmp_filter_v4(sock: &Socket, pass: &[u8]) -> io::Result<()> {
    let mut blocked: u32 = !0;
    for &t in pass {
        if t < 32 {
            blocked &= !(1u32 << t);
        }
    }
    setsockopt(sock, libc::SOL_RAW, ICMP_FILTER, &blocked)
}

/// Lets only the listed ICMPv6 types through to an IPv6 raw socket (`ICMP6_FILTER`).
pub(crate) fn set_icmp_filter_v6(sock: &Socket, pass: &[u8]) -> io::Result<()> {
    // Linux semantics: a set bit blocks the type.
    let mut blocked = [!0u32; 8];
    for &t in pass {
        let (word, bit) = (usize::from(t >> 5), u32::from(t & 31));
        if let Some(w) = blocked.get_mut(word) {
            *w &= !(1u32 << bit);
        }
    }
    setsockopt(sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &blocked)
}

/// One ICMP error read from a socket's error queue (`MSG_ERRQUEUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedError {
    /// Bytes of the original datagram (for ping sockets: the ICMP echo header and payload).
    pub(crate) len: usize,
    /// Destination of the original datagram.
    pub(crate) dest: Option<IpAddr>,
    /// ICMP type of the error, when it came from the network (not a local error).
    pub(crate) icmp: Option<(u8, u8)>,
    /// The host that sent the ICMP error.
    pub(crate) offender: Option<IpAddr>,
}

/// Reads one entry of the error queue into `buf` without blocking.
///
/// Returns `ErrorKind::WouldBlock` when the queue is empty.
pub(crate) fn recv_error_queue(sock: &Socket, buf: &mut [u8]) -> io::Result<QueuedError> {
    // Room for one `sock_extended_err` + offender sockaddr, with alignment slack.
    let mut control = [0u64; 64];
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length.
    let n = unsafe {
        libc::recvmsg(
            sock.as_raw_fd(),
            &raw mut msg,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel filled `msg_namelen` bytes of `name`; `sockaddr_from` checks the family
    // and the length before reading.
    let dest = unsafe { sockaddr_to_ip(name.as_ptr().cast(), msg.msg_namelen as usize) };

    let mut out = QueuedError {
        len: len.min(buf.len()),
        dest,
        icmp: None,
        offender: None,
    };
    // SAFETY: `msg` was filled by `recvmsg`; the CMSG macros walk within `msg_controllen`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let is_err = (c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_RECVERR)
                || (c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
            let data_len = (c.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if is_err && data_len >= size_of::<libc::sock_extended_err>() {
                let ee_ptr = libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>();
                let ee = std::ptr::read_unaligned(ee_ptr);
                if ee.ee_origin == libc::SO_EE_ORIGIN_ICMP
                    || ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6
                {
                    out.icmp = Some((ee.ee_type, ee.ee_code));
                    let off = libc::SO_EE_OFFENDER(ee_ptr).cast::<u8>();
                    let avail = data_len - size_of::<libc::sock_extended_err>();
                    out.offender = sockaddr_to_ip(off.cast(), avail);
                }
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok(out)
}

/// Reads an IP address out of a `sockaddr` of at most `len` bytes (possibly unaligned).
///
/// # Safety
/// `ptr` must point to `len` readable bytes.
unsafe fn sockaddr_to_ip(ptr: *const u8, len: usize) -> Option<IpAddr> {
    if len < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: at least `sa_family_t` bytes are readable (checked above).
    let family = unsafe { std::ptr::read_unaligned(ptr.cast::<libc::sa_family_t>()) };
    match libc::c_int::from(family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: length checked for a full `sockaddr_in`.
            let sin = unsafe { std::ptr::read_unaligned(ptr.cast::<libc::sockaddr_in>()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: length checked for a full `sockaddr_in6`.
            let sin6 = unsafe { std::ptr::read_unaligned(ptr.cast::<libc::sockaddr_in6>()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Registers an ICMP socket with the current tokio reactor.
///
/// Must be called inside a tokio runtime with I/O enabled (tokio panics otherwise).
pub(crate) fn register(sock: Socket) -> io::Result<tokio::io::unix::AsyncFd<Socket>> {
    // SAFETY: `Socket` owns its descriptor, which stays open and unchanged for as long as the
    // `AsyncFd` owns the `Socket`, and `as_raw_fd` always returns that same descriptor.
    unsafe { tokio::io::unix::AsyncFd::register(sock) }.map_err(io::Error::from)
}
