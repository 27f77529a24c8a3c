//! linkpulse-hub: a health registry of agents that tells a scheduler which workers are alive
//! within about a second, and tells everyone who watches.
//!
//! - [`registry`]: the sans-IO node table (state `alive|suspect|dead|left`, cause, diagnosis,
//!   changes with growing revisions).
//! - [`server`]: [`Hub`] accepts agent sessions over [`linkpulse_net`], authenticates them
//!   ([`auth`]: HMAC-SHA256 challenge-response), bounds sessions and handshake rate, and
//!   diagnoses dead nodes ([`diagnose`]: ICMP + TCP → `host_unreachable` / `process_gone`).
//! - [`http`]: [`routes`] — `GET /api/v1/nodes` and the SSE stream `GET /api/v1/nodes/watch`.
//! - [`client`]: [`WatchClient`] follows the stream and keeps a live local view with
//!   `healthy()` and `pick()`.
//! - [`agent`]: the agent loop behind `linkpulse agent` (failover, health reports, GOODBYE).
//! - [`shared`]: cluster mode's merged view — this hub's nodes and the other members', with
//!   `moved` when an agent fails over from one member to another.
//! - [`tls`]: optional TLS on the hub port (server certificate, optional client certificates).
//!
//! # Example: a hub, its API, and a watcher
//!
//! ```no_run
//! use linkpulse_hub::{Hub, HubConfig, WatchClient, routes};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new(HubConfig::new("127.0.0.1:0".parse()?))?;
//! let agents = hub.bind().await?;
//! let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let api_url = format!("http://{}", api.local_addr()?);
//! tokio::spawn({
//!     let hub = hub.clone();
//!     async move { hub.run(agents, std::future::pending()).await }
//! });
//! tokio::spawn(async move { axum::serve(api, routes(hub)).await });
//!
//! let view = WatchClient::connect(&api_url).await?;
//! if let Some(worker) = view.pick() {
//!     println!("send the next task to {} at {:?}", worker.name, worker.address);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod auth;
pub mod client;
pub mod diagnose;
mod driver;
pub mod http;
pub mod registry;
pub mod server;
pub mod settings;
pub mod shared;
pub mod tls;

pub use client::{BearerToken, ClientError, WatchClient, list_nodes, list_nodes_with_token};
pub use http::{NodeFilter, NodeList, routes};
pub use registry::{Change, ChangeKind, Diagnosis, Node, NodeState, NodeStatus, Registry};
pub use server::{Hub, HubError, HubStats};
pub use settings::{DEFAULT_FORGET_AFTER, HubConfig, HubDetector, MAX_FORGET_AFTER, OutOfRange};
pub use shared::SharedView;
