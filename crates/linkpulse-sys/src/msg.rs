//! One `recvmsg(2)` call with its sender address and control messages: the part the error
//! queue reader and the hop-limit reader share.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use crate::sockaddr;

/// Control buffer, 8-byte aligned as `cmsghdr` requires.
#[repr(C, align(8))]
struct ControlBuf<const N: usize>([u8; N]);

/// What one `recvmsg` returned besides the control messages.
pub(crate) struct Received {
    /// Bytes copied into the caller's buffer.
    pub(crate) len: usize,
    /// The address in `msg_name`: the sender of a datagram, or for an error-queue entry the
    /// destination of the original datagram.
    pub(crate) addr: Option<SocketAddr>,
}

/// Receives one message into `payload` with `flags` (plus `MSG_DONTWAIT`), retrying `EINTR`,
/// and hands each control message (level, type, data) to `on_control`, within an `N`-byte
/// control buffer. `WouldBlock` when nothing is queued.
pub(crate) fn recv<const N: usize>(
    fd: BorrowedFd<'_>,
    payload: &mut [u8],
    flags: i32,
    mut on_control: impl FnMut(i32, i32, &[u8]),
) -> io::Result<Received> {
    let mut control = ControlBuf([0u8; N]);
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: `msghdr` is a plain C struct for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    let n = loop {
        msg.msg_name = name.as_mut_ptr().cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = ptr::from_mut(&mut iov);
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = N as _;
        // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length;
        // the kernel writes at most those many bytes.
        let n = unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                ptr::from_mut(&mut msg),
                flags | libc::MSG_DONTWAIT,
            )
        };
        if let Ok(n) = usize::try_from(n) {
            break n;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: the kernel filled `msg_namelen` bytes of `name` (at most its size).
    let name_bytes = unsafe {
        std::slice::from_raw_parts(
            name.as_ptr().cast::<u8>(),
            (msg.msg_namelen as usize).min(size_of::<libc::sockaddr_storage>()),
        )
    };
    let end = control.0.as_ptr_range().end as usize;
    // SAFETY: `msg` was filled by a successful recvmsg; the CMSG_* macros walk the control
    // buffer within `msg_controllen`, which the kernel set to the bytes it wrote.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(ptr::from_ref(&msg)) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points inside `control`; read unaligned.
        let header: libc::cmsghdr = unsafe { ptr::read_unaligned(cmsg) };
        // SAFETY: CMSG_LEN(0) is a pure size computation.
        let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
        // SAFETY: `cmsg` is a valid header inside `control`; CMSG_DATA points just past it.
        let data_ptr = unsafe { libc::CMSG_DATA(cmsg) };
        let data_len = (header.cmsg_len as usize)
            .saturating_sub(header_len)
            .min(end.saturating_sub(data_ptr as usize));
        // SAFETY: the kernel wrote `data_len` bytes at `data_ptr`, all within `control`.
        let data = unsafe { std::slice::from_raw_parts(data_ptr, data_len) };
        on_control(header.cmsg_level, header.cmsg_type, data);
        // SAFETY: as for CMSG_FIRSTHDR; returns null past the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(ptr::from_ref(&msg), cmsg) };
    }
    Ok(Received {
        len: n.min(payload.len()),
        addr: sockaddr::decode(name_bytes),
    })
}
