//! linkpulse-net: the tokio glue that drives a heartbeat [`linkpulse_proto::Session`] over TCP,
//! and the kernel backstops (keepalive, `TCP_USER_TIMEOUT`, `IP_RECVERR`) under it.
//!
//! - [`Connection`] runs one session in its own task and exposes its events as a stream;
//!   [`Connection::connect`] dials, [`Listener`] accepts many.
//! - [`keepalive`] sets and explains the kernel's own dead-peer detection.
//! - [`classify`](mod@classify) turns socket errors into causes; `IP_RECVERR` and the socket
//!   error queue are read through `linkpulse-sys`, the workspace's one home for `unsafe` code.
//! - [`PeerBook`] remembers peers' incarnations so a reconnect says whether the host rebooted
//!   or the process restarted.
//!
//! # Example
//!
//! ```no_run
//! use linkpulse_net::{Connection, ConnectionConfig, local_incarnation};
//! use linkpulse_proto::{Event, SessionConfig};
//!
//! # async fn demo() -> Result<(), linkpulse_net::NetError> {
//! let session = SessionConfig::new("agent-1", local_incarnation());
//! let mut conn = Connection::connect("127.0.0.1:7070".parse().unwrap(), ConnectionConfig::new(session)).await?;
//! while let Some(event) = conn.next_event().await {
//!     if let Event::Dead { cause, silent_for } = &event {
//!         println!("peer dead: {cause} after {silent_for:?} of silence");
//!     }
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod classify;
mod connection;
mod error;
pub mod keepalive;
mod listener;
mod peers;

pub use classify::{IoVerdict, TransportFault, classify};
pub use connection::{Connection, ConnectionConfig, ConnectionHandle, dead_deadline};
pub use error::NetError;
pub use keepalive::{HumanDuration, KeepaliveError, KeepaliveProfile, KernelDefaults};
pub use listener::Listener;
pub use peers::{PeerBook, local_incarnation};
