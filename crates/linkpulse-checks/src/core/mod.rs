//! [`Core`]: the check state machine of every check, fed with inputs, drained of effects.
//!
//! Each room holds one job: [`membership`] (checks joining, leaving, reloads and hand-overs),
//! [`runs`] (the schedule of active checks), [`push`] (push deadlines), [`nodes`] (hub nodes,
//! absent and forgotten), [`incidents`] (transitions, incidents, diagnosis and alert timing).

mod incidents;
mod membership;
pub(crate) mod nodes;
mod push;
mod runs;
pub(crate) mod vantage;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use self::membership::ReloadSummary;
use crate::effect::Effect;
use crate::handoff::PendingDown;
use crate::input::HubPolicy;
use crate::model::{CheckSettings, Model, Outcome};
use crate::schedule::{CheckId, Schedule};
use crate::slots::Slots;
use crate::state::{CheckState, State};
use crate::time::{Millis, Now};

/// One check as the core holds it; read by the driver through [`Core::check`].
#[derive(Debug)]
pub struct Check<M: Model> {
    /// Shared with the runs in flight (never deep-cloned per run).
    cfg: Arc<M::Check>,
    state: CheckState,
    /// When the current state was entered.
    since_ms: Millis,
    /// When the check is due next; a heap entry at another time is stale.
    planned: Option<Instant>,
    /// The time of this check's earliest heap entry (push checks keep at most one).
    queued: Option<Instant>,
    /// Active checks: the planned time of the run in flight.
    running: Option<Instant>,
    /// A check taken over overdue: the slot of the previous owner's cadence its runs go back
    /// to after the catch-up run ([`crate::schedule::taken_over_run`]).
    rejoin: Option<Instant>,
    /// Push checks: when the running job reported `/start`.
    started: Option<Instant>,
    /// Last alert per alert target (for `repeat`).
    last_alert: HashMap<String, Millis>,
    /// When the current incident started.
    incident_ms: Option<Millis>,
    /// A down alert held back until the diagnosis arrives.
    pending_down: Option<PendingDown>,
    cause: Option<String>,
    diagnosis: Option<String>,
}

impl<M: Model> Check<M> {
    /// The check's settings.
    pub fn cfg(&self) -> &Arc<M::Check> {
        &self.cfg
    }

    /// Its state.
    pub fn state(&self) -> State {
        self.state.state()
    }

    /// When the state was entered (ms since the epoch).
    pub fn since_ms(&self) -> Millis {
        self.since_ms
    }

    /// Why the check is down or degraded.
    pub fn cause(&self) -> Option<&String> {
        self.cause.as_ref()
    }

    /// The diagnosis of the current incident.
    pub fn diagnosis(&self) -> Option<&String> {
        self.diagnosis.as_ref()
    }

    /// When the current incident started.
    pub fn incident_ms(&self) -> Option<Millis> {
        self.incident_ms
    }

    /// True for the checks the layered diagnosis can examine.
    fn diagnosable(&self) -> bool {
        self.cfg.diagnosable()
    }
}

/// Every check's state, rise/fall, incidents, alert timing, push deadlines and the hub nodes'
/// absent/forgotten policy, sans-IO.
///
/// Call order: feed an input (`handle_result`, `handle_push`, `handle_node`,
/// `handle_diagnosis`, `handle_timeout`, `add_checks`, `remove_checks`, `reload`), then drain
/// [`Core::poll_effect`] until `None` and carry each effect out in order, then wait until
/// [`Core::poll_timeout`] (or the next input) and call [`Core::handle_timeout`] once it has
/// passed. Effects are queued in the order the driver must apply them (an attempt before its
/// transition, a transition's writes before its event, an incident before its alerts).
#[derive(Debug)]
pub struct Core<M: Model> {
    checks: Slots<Check<M>>,
    by_name: HashMap<String, CheckId>,
    tokens: HashMap<String, CheckId>,
    schedule: Schedule,
    alerts: Vec<M::Alert>,
    effects: VecDeque<Effect<M>>,
    /// Spreads first runs over the interval.
    rng: StdRng,
    /// Hub settings, when the daemon runs a hub.
    hub: Option<HubPolicy>,
    /// When restored node checks that have not rejoined are reported `absent` (once).
    absent_at: Option<Instant>,
    /// Node checks restored from storage whose node the hub has not reported since.
    orphans: BTreeSet<CheckId>,
    /// The latest `now` seen (maps wall-clock deadlines onto the monotonic clock).
    last: Option<Now>,
    /// Multi-vantage checks (cluster mode) and this member's role for each.
    vantage: HashMap<CheckId, vantage::VantageRole>,
}

impl<M: Model> Core<M> {
    /// An empty core delivering to `alerts`; `seed` spreads first runs.
    pub fn new(alerts: Vec<M::Alert>, seed: u64) -> Core<M> {
        Core {
            checks: Slots::new(),
            by_name: HashMap::new(),
            tokens: HashMap::new(),
            schedule: Schedule::new(),
            alerts,
            effects: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
            hub: None,
            absent_at: None,
            orphans: BTreeSet::new(),
            last: None,
            vantage: HashMap::new(),
        }
    }

    /// The next effect to carry out.
    pub fn poll_effect(&mut self) -> Option<Effect<M>> {
        let next = self.effects.pop_front();
        if next.is_none() && self.effects.capacity() > 1024 {
            // A start or reload queues one effect per check; do not keep that much room.
            self.effects.shrink_to(64);
        }
        next
    }

    /// When [`Core::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.schedule.next_deadline();
        for t in [self.absent_at, self.next_forget()].into_iter().flatten() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// The check `id`.
    pub fn check(&self, id: CheckId) -> Option<&Check<M>> {
        self.checks.get(&id)
    }

    /// The id of the check named `name`.
    pub fn id_of(&self, name: &str) -> Option<CheckId> {
        self.by_name.get(name).copied()
    }

    /// Every check id.
    pub fn ids(&self) -> impl Iterator<Item = CheckId> + '_ {
        self.checks.keys().copied()
    }

    /// How many id slots the checks use (removed checks' slots are reused): a driver
    /// keeping per-check values in [`Slots`] under the same ids reserves this many.
    pub fn slot_count(&self) -> usize {
        self.checks.slot_count()
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// True without checks.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Everything due at `now`: runs, push deadlines, absent and forgotten nodes.
    pub fn handle_timeout(&mut self, now: Now) {
        self.last = Some(now);
        while let Some((id, planned)) = self.schedule.pop_due(now.mono) {
            self.due(id, planned, now);
        }
        if self.absent_at.is_some_and(|t| t <= now.mono) {
            self.absent_at = None;
            self.absent(now);
        }
        self.forget_due(now);
    }

    /// Records an attempt, feeds the state machine and handles a state change.
    fn record(&mut self, id: CheckId, outcome: M::Outcome, now: Now) {
        let at = now.wall_ms;
        let witness = self.is_witness(id);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        if outcome.is_local() || witness {
            // The monitor's own fault, or one vantage's witness of a multi-vantage check
            // (whose state comes from `handle_quorum`): recorded, no verdict.
            self.effects.push_back(Effect::Attempt {
                id,
                at_ms: at,
                outcome,
            });
            return;
        }
        let transition = c.state.handle(outcome.verdict());
        let state = c.state.state();
        c.cause = if state == State::Up {
            None
        } else {
            outcome.cause().or(c.cause.take())
        };
        if transition.is_some() {
            c.since_ms = at;
        }
        let cause = transition.and_then(|_| outcome.cause());
        self.effects.push_back(Effect::Attempt {
            id,
            at_ms: at,
            outcome,
        });
        if let Some(t) = transition {
            self.transition_with(id, t, at, cause);
        } else if state == State::Down {
            self.repeat_alerts(id, at);
        }
    }
}
