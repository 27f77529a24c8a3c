//! linkpulse-net: the tokio glue that drives a heartbeat [`linkpulse_proto`] session over TCP,
//! and the kernel backstops (keepalive, `TCP_USER_TIMEOUT`, `IP_RECVERR`) that sit under it.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod classify;
pub mod keepalive;
pub mod sys;

pub use classify::{IoVerdict, TransportFault, classify};
pub use keepalive::{HumanDuration, KeepaliveError, KeepaliveProfile, KernelDefaults};
