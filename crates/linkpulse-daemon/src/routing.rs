//! The engine's side of alert routing: the sans-IO router (`linkpulse_checks::routing`) over the
//! daemon's types, built from the config (`alerts[].match`, grouping, `maintenance:`) and the
//! stored silences, and its notifications turned into outbox items.

use serde::Serialize;

use crate::checks::DaemonModel;
use crate::config::Config;
use crate::storage::{Millis, WriteOp};
pub use linkpulse_checks::routing::{Hold, Silence};

/// The router over the daemon's types.
pub type Router = linkpulse_checks::routing::Router<DaemonModel>;
/// What the router hands to the outbox.
pub type Notification = linkpulse_checks::routing::Notification<DaemonModel>;

/// The routes of `config`'s alert targets, by name.
pub fn routes(config: &Config) -> Vec<(String, linkpulse_checks::routing::Route)> {
    config
        .alerts
        .iter()
        .map(|a| (a.name.clone(), a.route.clone()))
        .collect()
}

/// A router for `config` (no silences yet), at `now`.
pub fn router(config: &Config, now: Millis) -> Router {
    let mut r = Router::new(routes(config));
    r.set_windows(config.maintenance.clone(), now);
    r
}

/// The outbox item of a notification: a single alert keeps today's payload and key; a group
/// is one item with every alert in it (`GroupNotice::payload`).
pub fn enqueue(n: Notification) -> WriteOp {
    match n {
        Notification::One(alert) => WriteOp::EnqueueAlert {
            key: alert.idempotency_key.clone(),
            target: serde_json::to_value(&alert.destination).unwrap_or_default(),
            payload: serde_json::to_value(&*alert).unwrap_or_default(),
            at_ms: alert.at_ms,
        },
        Notification::Group(g) => WriteOp::EnqueueAlert {
            key: g.idempotency_key(),
            target: serde_json::to_value(&g.destination).unwrap_or_default(),
            payload: g.payload(),
            at_ms: g.at_ms,
        },
    }
}

/// What the API and the dashboard show of a check whose alerts are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// `silence` or `window`.
    pub kind: &'static str,
    /// The silence's id or the window's name.
    pub name: String,
    /// When the hold ends (ms since the epoch).
    pub ends_ms: Millis,
}

impl From<Hold> for Maintenance {
    fn from(h: Hold) -> Maintenance {
        match h {
            Hold::Silence { id, ends_ms } => Maintenance {
                kind: "silence",
                name: id,
                ends_ms,
            },
            Hold::Window { name, ends_ms } => Maintenance {
                kind: "window",
                name,
                ends_ms,
            },
        }
    }
}

/// The one-line chat text of a grouped notification (`None` for a single alert): its summary
/// and the first checks by name, `[linkpulse] 500 checks: 500 down — diagnosis: … (a, b, …)`.
pub fn group_text(p: &serde_json::Value) -> Option<String> {
    if p.get("event").and_then(serde_json::Value::as_str) != Some("group") {
        return None;
    }
    let summary = p
        .get("summary")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let names: Vec<&str> = p
        .get("alerts")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("check").and_then(serde_json::Value::as_str))
        .collect();
    let mut list = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        list.push_str(&format!(", … {} more", names.len() - 10));
    }
    Some(format!("[linkpulse] {summary} ({list})"))
}
