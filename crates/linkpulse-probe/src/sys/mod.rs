//! The ICMP engine's socket settings, over `linkpulse-sys` (where the `unsafe` lives): the
//! few options `socket2` does not wrap, and the error-queue and hop-limit readers.

use std::io;
use std::os::fd::AsFd;

use socket2::Socket;

pub(crate) use linkpulse_sys::errqueue::{QueuedEntry, recv_error};
pub(crate) use linkpulse_sys::reactor::register;
pub(crate) use linkpulse_sys::recv::recv_with_hop_limit;

/// `SOL_RAW` option number of the IPv4 raw ICMP type filter (`linux/icmp.h`).
const ICMP_FILTER: libc::c_int = 1;
/// `IPPROTO_ICMPV6` option number of the ICMPv6 type filter (`netinet/icmp6.h`).
const ICMP6_FILTER: libc::c_int = 1;
/// `SO_RCVBUFFORCE` (`asm-generic/socket.h`); not exported by `libc` for every Linux target.
const SO_RCVBUFFORCE: libc::c_int = 33;

/// Asks for the hop limit (IPv4 TTL) of every received packet as ancillary data.
pub(crate) fn enable_recv_hop_limit(sock: &Socket, v6: bool) -> io::Result<()> {
    linkpulse_sys::recv::enable_recv_hop_limit(sock.as_fd(), v6)
}

/// Asks the kernel to queue ICMP errors for this socket on its error queue (`IP_RECVERR` or
/// `IPV6_RECVERR`), which is how unprivileged ICMP datagram sockets learn of unreachables.
pub(crate) fn enable_recv_err(sock: &Socket, v6: bool) -> io::Result<()> {
    linkpulse_sys::errqueue::enable_recverr(sock.as_fd(), v6)
}

/// Grows the receive buffer to `bytes`, beyond `net.core.rmem_max` when the process is
/// privileged (`SO_RCVBUFFORCE`), else as far as the limit allows (`SO_RCVBUF`).
pub(crate) fn grow_recv_buffer(sock: &Socket, bytes: usize) {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if linkpulse_sys::sockopt::set(sock.as_fd(), libc::SOL_SOCKET, SO_RCVBUFFORCE, &want).is_err() {
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
    linkpulse_sys::sockopt::set(sock.as_fd(), libc::SOL_RAW, ICMP_FILTER, &blocked)
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
    linkpulse_sys::sockopt::set(sock.as_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &blocked)
}

/// Applies a pinger's hop limit and don't-fragment setting to its socket.
pub(crate) fn tune(
    sock: &Socket,
    v6: bool,
    ttl: Option<u8>,
    dont_fragment: bool,
) -> io::Result<()> {
    if let Some(ttl) = ttl {
        if v6 {
            sock.set_unicast_hops_v6(u32::from(ttl))?;
        } else {
            sock.set_ttl_v4(u32::from(ttl))?;
        }
    }
    if dont_fragment {
        let fd = sock.as_fd();
        if v6 {
            linkpulse_sys::sockopt::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)?;
        } else {
            linkpulse_sys::sockopt::set_int(
                fd,
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_DO,
            )?;
        }
    }
    Ok(())
}
