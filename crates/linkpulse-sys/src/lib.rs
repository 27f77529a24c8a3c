//! linkpulse-sys: every `unsafe` line of linkpulse, in one crate (the shape of quinn's
//! `quinn-udp`). Each function is a thin, checked wrapper around one Linux system call or
//! socket option that `socket2` and tokio do not wrap, so the crates above stay
//! `#![forbid(unsafe_code)]`:
//!
//! - [`sockopt`]: integer and array socket options (`setsockopt` / `getsockopt`).
//! - [`errqueue`]: `IP_RECVERR` / `IPV6_RECVERR` and the socket error queue
//!   (`recvmsg(MSG_ERRQUEUE)`, `struct sock_extended_err`) — the one parser of queued ICMP
//!   errors, used by the ICMP prober (`linkpulse-probe`) and the link driver (`linkpulse-net`).
//! - [`recv`]: a datagram with its hop limit from the ancillary data (`IP_RECVTTL`).
//! - [`reactor`]: registering a descriptor with tokio's reactor.
//! - [`file`](mod@file): reading a small regular file a user named (config, token, certificate) with a
//!   size cap, refusing a FIFO or a device at once instead of hanging or eating memory.
//! - [`limits`]: the open-files limit (`getrlimit(RLIMIT_NOFILE)`).
//! - [`memory`]: giving freed heap pages back to the kernel (`malloc_trim`).
//!
//! Both readers go through one `recvmsg` wrapper (`msg.rs`) that walks the control messages.
//!
//! Byte-level decoding (`sock_extended_err`, `sockaddr_in{,6}`) is done on byte slices with
//! length checks first, so garbage from the kernel can never be read past its end.
#![deny(missing_docs)]

pub mod errqueue;
pub mod file;
pub mod limits;
pub mod memory;
mod msg;
pub mod reactor;
pub mod recv;
mod sockaddr;
pub mod sockopt;

pub use errqueue::{ErrorOrigin, QueuedError};
