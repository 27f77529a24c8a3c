//! The hub: agent sessions as checks (issue 5). Not built yet.
//!
//! The config already accepts and validates `hub:` ([`crate::config::HubConfig`]). The hub
//! will accept agent sessions on `hub.listen`, feed each node into the same state machine,
//! history and alerts as probes, and add its routes (`/api/v1/nodes`, `/api/v1/nodes/watch`)
//! by merging a router into [`crate::daemon::Daemon::router`].

pub use crate::config::HubConfig;
