//! The check core, sans-IO: every check's state, rise/fall, incidents, alert timing, push
//! deadlines and the absent/forgotten policy of hub nodes, with no clock, no tokio and no
//! storage. The engine ([`crate::engine`]) is its driver.
//!
//! ```text
//!   probe result ─┐                        ┌─ Effect::Attempt    → storage, metrics, events, snapshot
//!   push, /start ─┤                        ├─ Effect::Write      → storage (transitions, incidents)
//!   hub node ─────┼─ handle_*(…, now) ─ Core ─ poll_effect() ───┼─ Effect::Alert      → alert outbox
//!   diagnosis ────┤                        ├─ Effect::Transition / Diagnosed → metrics, events
//!   deadline ─────┘                        ├─ Effect::Run / Diagnose → probe runs, diagnosis task
//!                                          └─ Effect::Added / Removed / Relabeled → metric series
//! ```
//!
//! Time comes in as a [`Now`] argument: a monotonic instant for schedules and deadlines, and
//! wall-clock milliseconds for what is recorded. The rule is enforced by a test
//! (`checks::tests::the_core_reads_no_clock`) that rejects clock reads, tokio and storage I/O
//! in this module's source.
//!
//! [`Core`]'s call order, as for [`linkpulse_proto`]'s `Session`: feed inputs with the
//! `handle_*` methods (and [`Core::add_checks`] / [`Core::remove_checks`]), then drain
//! [`Core::poll_effect`] until it returns `None`, then sleep until [`Core::poll_timeout`] and
//! call [`Core::handle_timeout`] when it passes.

mod core;
pub mod schedule;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use self::core::{Check, Core};
use crate::config::{AlertTarget, CheckConfig, CheckKind};
use crate::probe::Outcome;
use crate::schedule::CheckId;
use crate::state::{State, Transition};
use crate::storage::{Attempt, Millis, Resume, WriteOp};

/// Name prefix of the checks of hub nodes (`node:NAME`); config check names cannot contain `:`.
pub const NODE_PREFIX: &str = "node:";

/// The time of an input: both clocks, read once by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: schedules, push deadlines, `/start` latency.
    pub mono: Instant,
    /// Wall-clock milliseconds since the epoch: what is recorded.
    pub wall_ms: Millis,
}

impl Now {
    /// `self` moved on by `d` on both clocks (for simulations).
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall_ms: self
                .wall_ms
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

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

/// A hub node as its check `node:NAME` sees it; fed with [`Core::handle_node`].
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

/// Failure causes the core produces itself (the error kind of the attempt it records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A restored node that did not rejoin within the grace after the start.
    Absent,
    /// A node that said GOODBYE.
    Left,
    /// A push check with no success within period + grace.
    Timeout,
    /// A push check whose job reported a failure.
    Reported,
}

impl Cause {
    /// The name stored as the attempt's error kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Absent => "absent",
            Cause::Left => "left",
            Cause::Timeout => "timeout",
            Cause::Reported => "reported",
        }
    }
}

/// What an alert says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The check went down.
    Down,
    /// The check came back up (from down or degraded).
    Up,
    /// The check became degraded.
    Degraded,
    /// The check is still down (`repeat`).
    Repeat,
}

impl AlertKind {
    /// The name used in payloads and idempotency keys.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Down => "down",
            AlertKind::Up => "up",
            AlertKind::Degraded => "degraded",
            AlertKind::Repeat => "repeat",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert for one alert target; serialised (at the edge) as the delivered payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// What happened.
    pub event: AlertKind,
    /// Check name.
    pub check: String,
    /// Check kind.
    pub kind: CheckKind,
    /// Check target.
    pub target: String,
    /// The state the alert is about.
    pub state: State,
    /// The state before.
    pub previous: State,
    /// When it happened (ms since the epoch).
    pub at_ms: Millis,
    /// When the current state was entered.
    pub since_ms: Millis,
    /// When the current incident started.
    pub incident_started_ms: Option<Millis>,
    /// Why the check is failing.
    pub cause: Option<String>,
    /// The diagnosis of the incident, when known.
    pub diagnosis: Option<String>,
    /// The check's labels.
    pub labels: BTreeMap<String, String>,
    /// `{check}/{event}/{at_ms}/{alert}`: the outbox delivers each key once.
    pub idempotency_key: String,
    /// The alert target's name.
    pub alert: String,
    /// Where it goes.
    #[serde(skip)]
    pub destination: AlertTarget,
}

/// What the driver must do; drained with [`Core::poll_effect`] in order.
#[derive(Debug)]
pub enum Effect {
    /// A check joined the core: create its metric series and its snapshot entry (`last` is
    /// the stored last attempt of a resumed check).
    Added {
        /// The check.
        id: CheckId,
        /// The stored last attempt, when resumed.
        last: Option<Attempt>,
    },
    /// A check left the core: drop its metric series and snapshot entry.
    Removed {
        /// The check.
        id: CheckId,
        /// Its name.
        name: String,
        /// A hub node forgotten (rather than a reload or a hand-over).
        forgotten: bool,
    },
    /// The check's labels changed: re-create its series when its metric labels changed.
    Relabeled {
        /// The check.
        id: CheckId,
    },
    /// Start a probe run planned at `planned`; its outcome comes back through
    /// [`Core::handle_result`].
    Run {
        /// The check.
        id: CheckId,
        /// When the run was due.
        planned: Instant,
        /// The check's settings.
        cfg: Arc<CheckConfig>,
    },
    /// A run overran its interval and the next slots were skipped.
    Skipped {
        /// The check.
        id: CheckId,
    },
    /// Record one attempt (storage, metrics, the result event, the snapshot); the check's
    /// state is already the one after this attempt.
    Attempt {
        /// The check.
        id: CheckId,
        /// When the attempt was recorded.
        at_ms: Millis,
        /// What happened.
        outcome: Outcome,
    },
    /// A storage write (transition, incident open/close, diagnosis).
    Write(WriteOp),
    /// A state change, already written: count it, log it, publish it.
    Transition {
        /// The check.
        id: CheckId,
        /// When.
        at_ms: Millis,
        /// From and to.
        transition: Transition,
        /// Why.
        cause: Option<String>,
    },
    /// Queue an alert in the outbox.
    Alert(Box<Alert>),
    /// Start the layered diagnosis of the check's new incident; its verdict comes back through
    /// [`Core::handle_diagnosis`].
    Diagnose {
        /// The check.
        id: CheckId,
    },
    /// A diagnosis was attached to the check's incident: publish it.
    Diagnosed {
        /// The check.
        id: CheckId,
        /// When.
        at_ms: Millis,
        /// The verdict.
        verdict: String,
    },
}

/// A down alert held back until the diagnosis arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingDown {
    /// When the check went down (the alert's `at_ms`).
    pub at_ms: Millis,
    /// The state before.
    pub from: State,
}

/// A check as it leaves one core and enters another (cluster mode's hand-over), with its open
/// incident and pending alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// Settings.
    pub cfg: Arc<CheckConfig>,
    /// State.
    pub state: State,
    /// When the state was entered.
    pub since_ms: Millis,
    /// When the open incident started.
    pub incident_ms: Option<Millis>,
    /// Why the check is failing.
    pub cause: Option<String>,
    /// The incident's diagnosis.
    pub diagnosis: Option<String>,
    /// A down alert waiting for its diagnosis.
    pub pending_down: Option<PendingDown>,
    /// The last alert per alert target (for `repeat`).
    pub last_alert: HashMap<String, Millis>,
}

/// How a check enters the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A new check in `unknown`.
    Fresh,
    /// A check resumed from storage after a restart: a `down` one re-queues its down alert
    /// under the key it had.
    Resume(Resume),
    /// A check handed over by another core.
    Handoff(Box<Handoff>),
}

/// Result of a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadSummary {
    /// Checks kept with their state.
    pub unchanged: usize,
    /// New checks.
    pub added: usize,
    /// Checks whose settings changed (restarted in `unknown`, history kept).
    pub changed: usize,
    /// Checks removed.
    pub removed: usize,
}

/// `9 checks unchanged, 1 added, 0 changed, 0 removed`.
impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} check{} unchanged, {} added, {} changed, {} removed",
            self.unchanged,
            if self.unchanged == 1 { "" } else { "s" },
            self.added,
            self.changed,
            self.removed
        )
    }
}

/// The settings of a node's check: one report flips the state (rise = fall = 1).
pub fn node_check(node: &str, labels: BTreeMap<String, String>, interval: Duration) -> CheckConfig {
    CheckConfig {
        name: format!("{NODE_PREFIX}{node}"),
        spec: crate::config::CheckSpec::Node {
            node: node.to_owned(),
        },
        interval,
        timeout: interval,
        rise: 1,
        fall: 1,
        fastinter: interval,
        downinter: interval,
        degraded_latency: None,
        cert_warn_days: 0,
        loss_threshold: 1.0,
        labels,
    }
}
