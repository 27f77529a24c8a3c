//! Receiving a datagram together with its ancillary data.
use std::io;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use crate::{msg, sockopt};

/// Asks for the hop limit (IPv4 TTL) of every received packet as ancillary data
/// (`IP_RECVTTL` or `IPV6_RECVHOPLIMIT`), read by [`recv_with_hop_limit`].
pub fn enable_recv_hop_limit(fd: BorrowedFd<'_>, v6: bool) -> io::Result<()> {
    if v6 {
        sockopt::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
    }
}

/// Receives one datagram into `buf` without blocking: its length, the sender's address and
/// the hop limit from the ancillary data (when [`enable_recv_hop_limit`] asked for it).
///
/// Returns `ErrorKind::WouldBlock` when nothing is queued.
pub fn recv_with_hop_limit(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<IpAddr>, Option<u8>)> {
    let mut hop_limit = None;
    let received = msg::recv::<64>(fd, buf, 0, |level, kind, data| {
        let is_hops = (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT);
        if let (true, Some(value)) = (is_hops, data.get(..4)) {
            let value = i32::from_ne_bytes(value.try_into().unwrap_or([0; 4]));
            hop_limit = u8::try_from(value).ok();
        }
    })?;
    Ok((received.len, received.addr.map(|a| a.ip()), hop_limit))
}
