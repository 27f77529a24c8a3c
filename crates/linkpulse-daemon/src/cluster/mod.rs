//! Cluster mode (`cluster:` with a PostgreSQL `database:`): the driver of
//! [`linkpulse_cluster::Coordinator`]. A thread of its own renews this member's lease in the
//! `cluster_members` table every third of the lease, hands the member rows back to the
//! coordinator, and tells the engine which checks it gained or lost; the engine runs only the
//! checks this member owns. History, states, incidents and the alert outbox are the shared
//! database's, so a check taken over resumes where its previous owner left it, and alerts are
//! claimed from the outbox by one member at a time (`FOR UPDATE SKIP LOCKED`). A
//! multi-vantage check (`vantage:`) runs on every member of its vantages and is decided by one
//! of them from the vantages' latest results ([`vantage`]).
//!
//! The decisions (who is alive, who owns what, no takeover without the database) are the
//! sans-IO crate's; this module is only its I/O: the sync `postgres` client on a plain thread
//! (as the storage backend's), the engine handle, the snapshot for `GET /api/v1/cluster`.
//! [`hub_share`] shares the hub's nodes between members (`hub_nodes`, `LISTEN`/`NOTIFY`).

mod driver;
pub mod hub_share;
mod members;
pub mod push_relay;
pub mod vantage;

use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

pub use driver::{ClusterHandle, ClusterNotifier, start};
pub use vantage::VantageViews;

/// A check as the cluster places it: its name, and for a multi-vantage check its vantages
/// and quorum.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterCheck {
    /// Check name.
    pub name: String,
    /// `vantage:`, or `None` for a check one member runs.
    pub vantage: Option<crate::config::vantage::VantageConfig>,
    /// Its interval (how fresh a vantage's latest result must be).
    pub interval: std::time::Duration,
}

impl ClusterCheck {
    /// The cluster's view of `c`.
    pub fn of(c: &crate::config::CheckConfig) -> ClusterCheck {
        ClusterCheck {
            name: c.name.clone(),
            vantage: c.vantage.clone(),
            interval: c.interval,
        }
    }

    fn placement(&self) -> linkpulse_cluster::Placement {
        self.vantage
            .as_ref()
            .map_or(linkpulse_cluster::Placement::Single, |v| v.placement())
    }
}
pub use push_relay::PushRelay;

/// How long an alert is claimed by the member delivering it (see
/// [`crate::storage::postgres::PostgresStorage::claim_alerts_for`]).
pub const ALERT_CLAIM: std::time::Duration = std::time::Duration::from_secs(60);
pub use members::MemberStatus;

/// What `GET /api/v1/cluster` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// This member's name.
    pub node: String,
    /// Its vantage.
    pub vantage: String,
    /// The lease, in milliseconds.
    pub lease_ms: u64,
    /// `reachable` or `unreachable`: whether this member's last renewal reached the database.
    pub database: &'static str,
    /// How many checks this member runs now.
    pub checks_owned: usize,
    /// Every member the database lists (those whose lease lapsed have `live: false`), as of
    /// this member's last renewal.
    pub members: Vec<MemberStatus>,
}

/// The snapshot the driver publishes for the API; `None` until the first renewal.
#[derive(Debug, Clone, Default)]
pub struct ClusterView(Arc<RwLock<Option<ClusterStatus>>>);

impl ClusterView {
    /// The latest snapshot.
    pub fn get(&self) -> Option<ClusterStatus> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, status: ClusterStatus) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }
}
