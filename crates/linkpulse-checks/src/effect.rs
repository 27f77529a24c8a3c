//! What comes out of the core: typed effects the driver carries out in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::input::Attempt;
use crate::model::{AlertSettings, CheckSettings, Model};
use crate::schedule::CheckId;
use crate::state::{State, Transition};
use crate::time::Millis;

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
#[serde(bound = "")]
pub struct Alert<M: Model> {
    /// What happened.
    pub event: AlertKind,
    /// Check name.
    pub check: String,
    /// Check kind.
    pub kind: <M::Check as CheckSettings>::Kind,
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
    pub destination: <M::Alert as AlertSettings>::Destination,
}

/// A state change as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRecord {
    /// Check name.
    pub check: String,
    /// When it changed.
    pub at_ms: Millis,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why (the error of the attempt that tipped it, or the warning).
    pub cause: Option<String>,
}

/// A history write the core decides (the driver hands it to the storage in order).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store a transition.
    Transition(TransitionRecord),
    /// Open an incident for a check (no-op if one is open).
    OpenIncident {
        /// Check name.
        check: String,
        /// Start.
        at_ms: Millis,
        /// Cause.
        cause: Option<String>,
    },
    /// Close the open incident of a check.
    CloseIncident {
        /// Check name.
        check: String,
        /// End.
        at_ms: Millis,
    },
    /// Attach a diagnosis to the open (or most recent) incident of a check.
    Diagnosis {
        /// Check name.
        check: String,
        /// Verdict.
        verdict: String,
        /// Details.
        detail: serde_json::Value,
    },
}

/// What the driver must do; drained with [`crate::Core::poll_effect`] in order.
#[derive(Debug)]
pub enum Effect<M: Model> {
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
    /// [`crate::Core::handle_result`].
    Run {
        /// The check.
        id: CheckId,
        /// When the run was due.
        planned: Instant,
        /// The check's settings.
        cfg: Arc<M::Check>,
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
        outcome: M::Outcome,
    },
    /// A storage write (transition, incident open/close, diagnosis).
    Write(Write),
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
    Alert(Box<Alert<M>>),
    /// Start the layered diagnosis of the check's new incident; its verdict comes back through
    /// [`crate::Core::handle_diagnosis`].
    Diagnose {
        /// The check.
        id: CheckId,
    },
    /// A multi-vantage check's combined verdict was applied (its state, cause or diagnosis
    /// may have changed without a transition): refresh what it shows.
    Decided {
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
