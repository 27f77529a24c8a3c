//! Registering descriptors with tokio's reactor.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Registers `inner` (a socket that owns its descriptor) with the current tokio reactor for
/// readable and error readiness. Must be called inside a tokio runtime with I/O enabled.
pub fn register<T: AsRawFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: `inner` owns its descriptor, which stays open and unchanged for as long as the
    // `AsyncFd` owns `inner`, and `as_raw_fd` always returns that same descriptor.
    unsafe { AsyncFd::register(inner) }.map_err(io::Error::from)
}

/// Registers `fd` (normally a duplicate of a TCP socket's descriptor) for error readiness
/// only, so a task can wait for POLLERR and then read `SO_ERROR` or the error queue. Must be
/// called inside a tokio runtime.
pub fn register_error_readiness(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns an open descriptor, and the `AsyncFd` owns the `OwnedFd`: the
    // descriptor stays open and refers to the same file description until the `AsyncFd` is
    // dropped, and `as_raw_fd` always returns that same number.
    unsafe { AsyncFd::register_with_interest(fd, Interest::ERROR) }.map_err(io::Error::from)
}
