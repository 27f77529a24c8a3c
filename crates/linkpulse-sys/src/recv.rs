//! Receiving a datagram together with its ancillary data.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use crate::{sockaddr, sockopt};

/// Asks for the hop limit (IPv4 TTL) of every received packet as ancillary data
/// (`IP_RECVTTL` or `IPV6_RECVHOPLIMIT`), read by [`recv_with_hop_limit`].
pub fn enable_recv_hop_limit(fd: BorrowedFd<'_>, v6: bool) -> io::Result<()> {
    if v6 {
        sockopt::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
    }
}

/// Control buffer, 8-byte aligned as `cmsghdr` requires.
#[repr(C, align(8))]
struct ControlBuf([u8; 64]);

/// Receives one datagram into `buf` without blocking: its length, the sender's address and
/// the hop limit from the ancillary data (when [`enable_recv_hop_limit`] asked for it).
///
/// Returns `ErrorKind::WouldBlock` when nothing is queued.
pub fn recv_with_hop_limit(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<IpAddr>, Option<u8>)> {
    let mut control = ControlBuf([0u8; 64]);
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), ptr::from_mut(&mut msg), libc::MSG_DONTWAIT) };
    let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel filled `msg_namelen` bytes of `name` (at most its size).
    let name_bytes = unsafe {
        std::slice::from_raw_parts(
            name.as_ptr().cast::<u8>(),
            (msg.msg_namelen as usize).min(size_of::<libc::sockaddr_storage>()),
        )
    };
    let from = sockaddr::decode(name_bytes).map(|a| a.ip());
    let mut hop_limit = None;
    // SAFETY: `msg` was filled by `recvmsg`; the CMSG macros walk within `msg_controllen`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::from_ref(&msg)) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and inside `control`; read unaligned.
        let c: libc::cmsghdr = unsafe { ptr::read_unaligned(cmsg) };
        let is_hops = (c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_TTL)
            || (c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_HOPLIMIT);
        // SAFETY: CMSG_LEN(0) is a pure size computation.
        let data_len = (c.cmsg_len as usize).saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
        if is_hops && data_len >= size_of::<libc::c_int>() {
            // SAFETY: the kernel wrote at least an int of data after this header.
            let value = unsafe { ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
            hop_limit = u8::try_from(value).ok();
        }
        // SAFETY: as for CMSG_FIRSTHDR; returns null past the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(ptr::from_ref(&msg), cmsg) };
    }
    Ok((len.min(buf.len()), from, hop_limit))
}
