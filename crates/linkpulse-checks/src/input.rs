//! What goes into the core: the time, push events, hub node reports, and how a check enters.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::handoff::Handoff;
use crate::model::Model;
use crate::state::State;
use crate::time::Millis;

/// A push event (`/api/v1/push/{token}[/fail|/start]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushEvent {
    /// The job succeeded.
    Success,
    /// The job failed.
    Fail,
    /// The job started.
    Start,
}

/// A hub node as its check `node:NAME` sees it; fed with [`crate::Core::handle_node`].
///
/// The check is created when the node is first reported and is never removed by a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// The node's name in the hub; the check is `node:NAME`.
    pub node: String,
    /// The node's labels (from its HELLO).
    pub labels: BTreeMap<String, String>,
    /// The hub's heartbeat interval, shown as the check's interval.
    pub interval: Duration,
    /// What happened.
    pub event: NodeEvent,
}

/// What a node report says; see [`NodeReport`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// The session is up: `up`, or `degraded` with `warning` (suspect, or unhealthy STATUS).
    Alive {
        /// Why the node counts as degraded.
        warning: Option<String>,
        /// Latest heartbeat round-trip time, milliseconds.
        rtt_ms: Option<f64>,
    },
    /// The session ended without GOODBYE: `down`, an incident and a `down` alert.
    Dead {
        /// The hub's cause (`peer_closed`, `reset`, `timeout`, …).
        cause: String,
        /// More about the cause, when known.
        detail: Option<String>,
    },
    /// GOODBYE: the check goes to `unknown`, a transition that never alerts (a graceful leave
    /// pages no one, and `unknown` time counts for neither side of availability).
    Left,
    /// The hub's diagnosis of the current death (`host_unreachable`, `process_gone`).
    Diagnosis(String),
    /// The node has been dead or left for longer than `hub.forget_after`: its check leaves
    /// the live list (`/api/v1/checks`, `/metrics`); its history stays in the database, and an
    /// incident still open is closed (the node is retired, nobody will repair it).
    Forgotten,
}

/// The hub's settings the core applies to node checks (absent after a restart, forgotten).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubPolicy {
    /// The hub's heartbeat interval (the interval node checks show).
    pub interval: Duration,
    /// How long after the start a restored node may take to rejoin before it is `absent`.
    pub rejoin_grace: Duration,
    /// How long a node unknown to the hub stays `down` or `unknown` before it is forgotten.
    pub forget_after: Duration,
}

/// One attempt of a check (every run, retries included), as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// Check name.
    pub check: String,
    /// When the attempt finished.
    pub at_ms: Millis,
    /// The attempt succeeded.
    pub up: bool,
    /// Latency in milliseconds, when measured.
    pub latency_ms: Option<f64>,
    /// Error kind (`refused`, `timeout`, …) of a failed attempt.
    pub error_kind: Option<String>,
    /// The full result in the probe JSON shape.
    pub result: serde_json::Value,
}

/// The last known state of a check, for resuming after a restart or reload.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// State after the last transition.
    pub state: State,
    /// When it was entered.
    pub since_ms: Millis,
    /// The last attempt, if any.
    pub last: Option<Attempt>,
    /// The diagnosis of the open incident, if any.
    pub diagnosis: Option<String>,
}

/// How a check enters the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin<M: Model> {
    /// A new check in `unknown`.
    Fresh,
    /// A check resumed from storage after a restart: a `down` one re-queues its down alert
    /// under the key it had.
    Resume(Resume),
    /// A check taken over from another cluster member (it died or gave the check up), resumed
    /// from the shared history as after a restart; its first run keeps that member's cadence
    /// (`schedule::taken_over_run`) instead of starting anywhere in the next interval.
    TakeOver(Resume),
    /// A check handed over by another core.
    Handoff(Box<Handoff<M>>),
}
