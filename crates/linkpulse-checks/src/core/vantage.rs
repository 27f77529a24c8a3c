//! Multi-vantage checks (cluster mode): every member of the check's vantages runs it and
//! stores its results; one member decides its state from the latest verdict of each vantage.
//! The core is told which of the two roles this member plays ([`Core::set_vantage_role`]) and
//! gets the combined verdict as a typed input ([`Core::handle_quorum`]); it never combines
//! verdicts itself (that is `linkpulse_cluster::quorum`, fed from the shared database).
//!
//! - A runner's attempts are recorded ([`Effect::Attempt`], stored with its vantage) and give
//!   no verdict: its own view of the target is one witness among several.
//! - The decider feeds the combined verdict to the state machine (rise and fall apply to it),
//!   so transitions, incidents and alerts come from it alone.
//! - A member that runs the check without deciding mirrors the combined state for its own
//!   view (no rise/fall, no writes, no alerts).

use super::Core;
use crate::effect::Effect;
use crate::model::Model;
use crate::schedule::CheckId;
use crate::state::{CheckState, State, Verdict};
use crate::time::Now;

/// What this member does with a multi-vantage check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VantageRole {
    /// It probes the target (its attempts are recorded, with no verdict).
    pub run: bool,
    /// It decides the state from [`QuorumVerdict`]s: transitions, incidents, alerts.
    pub decide: bool,
}

/// The verdict of all vantages together, as the cluster's quorum decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVerdict {
    /// [`Verdict::Ok`]: up; [`Verdict::Warn`]: some vantages fail, fewer than the quorum
    /// (`degraded`); [`Verdict::Fail`]: at least the quorum fail (`down`).
    pub verdict: Verdict,
    /// Why: the failing vantages and their errors (`None` when up).
    pub cause: Option<String>,
    /// `partial_outage`, `vantage_isolated`, or `None`.
    pub diagnosis: Option<String>,
}

impl<M: Model> Core<M> {
    /// Makes check `id` a multi-vantage check with `role` (or changes its role). A check that
    /// does not run still keeps its schedule, so it runs at once when it is given the role.
    pub fn set_vantage_role(&mut self, id: CheckId, role: VantageRole) {
        if self.checks.contains_key(&id) {
            self.vantage.insert(id, role);
        }
    }

    /// The role of `id` when it is a multi-vantage check.
    pub fn vantage_role(&self, id: CheckId) -> Option<VantageRole> {
        self.vantage.get(&id).copied()
    }

    /// The combined verdict of multi-vantage check `id`. On the decider it drives the state
    /// machine (transitions, incidents and alerts as for any attempt); elsewhere it only
    /// updates what the check shows. Ignored for a check that is not multi-vantage.
    pub fn handle_quorum(&mut self, id: CheckId, q: QuorumVerdict, now: Now) {
        self.last = Some(now);
        let Some(role) = self.vantage.get(&id).copied() else {
            return;
        };
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let at = now.wall_ms;
        if !role.decide {
            let state = match q.verdict {
                Verdict::Ok => State::Up,
                Verdict::Warn => State::Degraded,
                Verdict::Fail => State::Down,
            };
            if state != c.state.state() {
                c.state = CheckState::restore(state, 1, 1);
                c.since_ms = at;
            }
            (c.cause, c.diagnosis) = (q.cause, q.diagnosis);
            self.effects.push_back(Effect::Decided { id });
            return;
        }
        let before = c.state.state();
        let transition = c.state.handle(q.verdict);
        // The cause also names isolated vantages while the check is up.
        c.cause.clone_from(&q.cause);
        // Set before the transition so its alert carries it, and after (a transition out of
        // `down` clears the incident's diagnosis).
        c.diagnosis.clone_from(&q.diagnosis);
        if let Some(t) = transition {
            c.since_ms = at;
            self.transition_with(id, t, at, q.cause);
            if let Some(c) = self.checks.get_mut(&id) {
                c.diagnosis = q.diagnosis;
            }
        } else if before == State::Down {
            self.repeat_alerts(id, at);
        }
        self.effects.push_back(Effect::Decided { id });
    }

    /// Whether an attempt of `id` gives no verdict because it is one vantage's witness.
    pub(super) fn is_witness(&self, id: CheckId) -> bool {
        !self.vantage.is_empty() && self.vantage.contains_key(&id)
    }

    /// Whether `id` is a multi-vantage check this member does not run.
    pub(super) fn runs_elsewhere(&self, id: CheckId) -> bool {
        !self.vantage.is_empty() && self.vantage.get(&id).is_some_and(|r| !r.run)
    }
}
