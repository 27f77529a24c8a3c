//! The daemon's own health, as `GET /readyz` tells it: ready unless the monitor itself is at
//! fault — a probe failed for a reason of its own (no file descriptors, ports or memory) in the
//! last [`LOCAL_FAULT_WINDOW`], or the database refuses writes.
//!
//! Plain bookkeeping: the engine notes local faults with the time it read, the handler asks
//! with its own `now`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::storage::StorageHealth;

/// How long after the last local fault the daemon still says it is not ready.
pub const LOCAL_FAULT_WINDOW: Duration = Duration::from_secs(30);

/// The faults of the monitor's own that `/readyz` reports.
#[derive(Debug, Default)]
pub struct Health {
    local: Mutex<Option<LocalFault>>,
    /// Why cluster coordination has no database (`cluster:`), while it has none.
    cluster: Mutex<Option<String>>,
    /// Why the hub's shared node table is out of reach (cluster mode with `hub:`), while it is.
    hub_share: Mutex<Option<String>>,
}

/// The last probe that failed for a local reason.
#[derive(Debug, Clone)]
struct LocalFault {
    at: Instant,
    what: String,
    message: String,
}

impl Health {
    /// Notes that `what` (`check "web"`, `the HTTP port`) failed at `at` for a local reason
    /// (`message`); true when it is the first such fault in [`LOCAL_FAULT_WINDOW`] (worth a
    /// log line).
    pub fn local_fault(&self, at: Instant, what: &str, message: &str) -> bool {
        let mut last = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let first = last
            .as_ref()
            .is_none_or(|f| at.saturating_duration_since(f.at) >= LOCAL_FAULT_WINDOW);
        *last = Some(LocalFault {
            at,
            what: what.to_owned(),
            message: message.to_owned(),
        });
        first
    }

    /// Cluster mode: the coordination database became unreachable (`Some(why)`) or reachable
    /// again (`None`). Meanwhile the member keeps running the checks it owns.
    pub fn cluster_database(&self, problem: Option<String>) {
        *self.cluster.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// Cluster mode with `hub:`: the shared node table became unreachable (`Some(why)`) or
    /// reachable again (`None`). Meanwhile the hub serves its own nodes and the other
    /// members' as last seen.
    pub fn hub_share(&self, problem: Option<String>) {
        *self
            .hub_share
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// Why the daemon is not ready at `now` (empty when it is), given the storage's health.
    pub fn reasons(&self, now: Instant, storage: &StorageHealth) -> Vec<String> {
        let mut out = Vec::new();
        let local = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(f) = local
            && now.saturating_duration_since(f.at) < LOCAL_FAULT_WINDOW
        {
            out.push(format!(
                "the monitor itself is out of resources ({}): {}",
                f.what, f.message
            ));
        }
        if let Some(p) = &storage.problem {
            let held = if storage.held > 0 {
                format!(" ({} writes held in memory)", storage.held)
            } else {
                String::new()
            };
            out.push(format!("the database refuses writes{held}: {p}"));
        }
        if let Some(p) = &*self.cluster.lock().unwrap_or_else(PoisonError::into_inner) {
            out.push(format!(
                "cluster coordination: database unreachable (keeping the checks this member owns, \
                 taking over none): {p}"
            ));
        }
        if let Some(p) = &*self
            .hub_share
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            out.push(format!(
                "the hub's shared node table is unreachable (showing this member's nodes, and \
                 the other members' as last seen): {p}"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_fault_makes_the_daemon_not_ready_for_a_while() {
        let h = Health::default();
        let t0 = Instant::now();
        let ok = StorageHealth::default();
        assert!(h.reasons(t0, &ok).is_empty());
        assert!(h.local_fault(t0, "web", "the monitor has no file descriptor left: …"));
        assert!(!h.local_fault(t0, "web", "the monitor has no file descriptor left: …"));
        let r = h.reasons(t0 + Duration::from_secs(1), &ok);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("no file descriptor"), "{r:?}");
        assert!(h.reasons(t0 + LOCAL_FAULT_WINDOW, &ok).is_empty());
    }

    #[test]
    fn a_storage_problem_is_a_reason() {
        let h = Health::default();
        let s = StorageHealth {
            problem: Some("database or disk is full".into()),
            errors: 3,
            held: 12,
        };
        let r = h.reasons(Instant::now(), &s);
        assert_eq!(
            r,
            ["the database refuses writes (12 writes held in memory): database or disk is full"]
        );
    }
}
