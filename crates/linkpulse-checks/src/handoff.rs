//! A check as it leaves one core and enters another (cluster mode's hand-over).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::Model;
use crate::state::State;
use crate::time::Millis;

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
pub struct Handoff<M: Model> {
    /// Settings.
    pub cfg: Arc<M::Check>,
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
