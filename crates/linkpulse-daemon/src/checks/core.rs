//! [`Core`]: the check state machine of every check, fed with inputs, drained of effects.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{
    Alert, AlertKind, Cause, Effect, Handoff, HubPolicy, NODE_PREFIX, NodeEvent, NodeReport, Now,
    Origin, PendingDown, PushEvent, ReloadSummary, node_check,
};
use crate::config::{AlertConfig, CheckConfig, CheckKind, CheckSpec};
use crate::probe::Outcome;
use crate::schedule::{self, CheckId, Schedule};
use crate::state::{CheckState, State, Transition};
use crate::storage::{Millis, TransitionRecord, WriteOp};

/// One check as the core holds it; read by the driver through [`Core::check`].
#[derive(Debug)]
pub struct Check {
    /// Shared with the runs in flight (never deep-cloned per run).
    cfg: Arc<CheckConfig>,
    state: CheckState,
    /// When the current state was entered.
    since_ms: Millis,
    /// When the check is due next; a heap entry at another time is stale.
    planned: Option<Instant>,
    /// The time of this check's earliest heap entry (push checks keep at most one).
    queued: Option<Instant>,
    /// Active checks: the planned time of the run in flight.
    running: Option<Instant>,
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

impl Check {
    /// The check's settings.
    pub fn cfg(&self) -> &Arc<CheckConfig> {
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

    /// True for the checks the layered diagnosis can examine (HTTP, TCP, ICMP).
    fn diagnosable(&self) -> bool {
        matches!(
            self.cfg.spec.kind(),
            CheckKind::Http | CheckKind::Tcp | CheckKind::Icmp
        )
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
pub struct Core {
    checks: HashMap<CheckId, Check>,
    by_name: HashMap<String, CheckId>,
    tokens: HashMap<String, CheckId>,
    schedule: Schedule,
    alerts: Vec<AlertConfig>,
    effects: VecDeque<Effect>,
    next_id: CheckId,
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
}

impl Core {
    /// An empty core delivering to `alerts`; `seed` spreads first runs.
    pub fn new(alerts: Vec<AlertConfig>, seed: u64) -> Core {
        Core {
            checks: HashMap::new(),
            by_name: HashMap::new(),
            tokens: HashMap::new(),
            schedule: Schedule::new(),
            alerts,
            effects: VecDeque::new(),
            next_id: 0,
            rng: StdRng::seed_from_u64(seed),
            hub: None,
            absent_at: None,
            orphans: BTreeSet::new(),
            last: None,
        }
    }

    /// The next effect to carry out.
    pub fn poll_effect(&mut self) -> Option<Effect> {
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
    pub fn check(&self, id: CheckId) -> Option<&Check> {
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

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// True without checks.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Adds checks (start, reload, a hand-over); returns their ids. A name already present is
    /// skipped.
    pub fn add_checks(
        &mut self,
        checks: impl IntoIterator<Item = (CheckConfig, Origin)>,
        now: Now,
    ) -> Vec<CheckId> {
        self.last = Some(now);
        checks
            .into_iter()
            .filter_map(|(cfg, origin)| self.add(Arc::new(cfg), origin, now))
            .collect()
    }

    /// Takes checks out (reload, a hand-over to another owner) with their state, open
    /// incident and pending alerts. Unknown names are skipped.
    pub fn remove_checks(&mut self, names: &[&str]) -> Vec<Handoff> {
        let ids: Vec<CheckId> = names.iter().filter_map(|n| self.id_of(n)).collect();
        ids.into_iter()
            .filter_map(|id| self.remove(id, false))
            .map(|c| Handoff {
                state: c.state.state(),
                since_ms: c.since_ms,
                incident_ms: c.incident_ms,
                cause: c.cause,
                diagnosis: c.diagnosis,
                pending_down: c.pending_down,
                last_alert: c.last_alert,
                cfg: c.cfg,
            })
            .collect()
    }

    /// Applies the hub's settings and restores the check of every node known before a restart
    /// (in its stored state), so the API, dashboard and availability keep showing it before
    /// (or without) a rejoin. A restored node `up` or `degraded` that has not rejoined
    /// `rejoin_grace` from now goes `down` with cause `absent`; one `down` or `unknown` for
    /// longer than `forget_after` is forgotten.
    pub fn restore_nodes(
        &mut self,
        policy: HubPolicy,
        stored: impl IntoIterator<Item = (String, crate::storage::Resume)>,
        now: Now,
    ) {
        self.last = Some(now);
        self.hub = Some(policy);
        self.absent_at = Some(now.mono + policy.rejoin_grace);
        for (name, resume) in stored {
            let node = name.strip_prefix(NODE_PREFIX).unwrap_or(&name).to_owned();
            let cfg = node_check(&node, Default::default(), policy.interval);
            if let Some(id) = self.add(Arc::new(cfg), Origin::Resume(resume), now) {
                self.orphans.insert(id);
            }
        }
    }

    /// Replaces the file's checks and alert targets, keeping the state of unchanged checks
    /// (node checks come from the hub and are kept).
    pub fn reload(
        &mut self,
        checks: &[CheckConfig],
        alerts: Vec<AlertConfig>,
        now: Now,
    ) -> ReloadSummary {
        self.last = Some(now);
        let mut summary = ReloadSummary::default();
        let keep = |c: &Check| {
            c.cfg.spec.kind() == CheckKind::Node
                || checks.iter().any(|n| n.name == c.cfg.name && *n == *c.cfg)
        };
        let gone: Vec<CheckId> = self
            .checks
            .iter()
            .filter(|(_, c)| !keep(c))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            let Some(c) = self.remove(id, false) else {
                continue;
            };
            if checks.iter().any(|n| n.name == c.cfg.name) {
                summary.changed += 1;
            } else {
                summary.removed += 1;
            }
        }
        self.alerts = alerts;
        for c in checks {
            if self.by_name.contains_key(&c.name) {
                summary.unchanged += 1;
            } else {
                self.add(Arc::new(c.clone()), Origin::Fresh, now);
            }
        }
        summary.added = checks.len() - summary.unchanged - summary.changed;
        summary
    }

    fn add(&mut self, cfg: Arc<CheckConfig>, origin: Origin, now: Now) -> Option<CheckId> {
        if self.by_name.contains_key(&cfg.name) {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut c = Check {
            state: CheckState::new(cfg.rise, cfg.fall),
            since_ms: now.wall_ms,
            planned: None,
            queued: None,
            running: None,
            started: None,
            last_alert: HashMap::new(),
            incident_ms: None,
            pending_down: None,
            cause: None,
            diagnosis: None,
            cfg,
        };
        let mut last = None;
        let mut realert = None;
        match origin {
            Origin::Fresh => {}
            Origin::Resume(r) => {
                c.state = CheckState::restore(r.state, c.cfg.rise, c.cfg.fall);
                c.since_ms = r.since_ms;
                if r.state == State::Down {
                    // Repeats restart from now; the down alert itself is re-queued with the
                    // key it had, so it is a no-op if it reached the outbox before a crash.
                    for a in &self.alerts {
                        c.last_alert.insert(a.name.clone(), now.wall_ms);
                    }
                    c.incident_ms = Some(r.since_ms);
                    c.diagnosis = r.diagnosis;
                    c.cause = r
                        .last
                        .as_ref()
                        .and_then(|a| a.result.get("error"))
                        .and_then(|e| {
                            Some(format!(
                                "{}: {}",
                                e.get("kind")?.as_str()?,
                                e.get("message")?.as_str()?
                            ))
                        });
                    realert = Some(r.since_ms);
                }
                last = r.last;
            }
            Origin::Handoff(h) => {
                c.state = CheckState::restore(h.state, c.cfg.rise, c.cfg.fall);
                c.since_ms = h.since_ms;
                c.incident_ms = h.incident_ms;
                c.cause = h.cause;
                c.diagnosis = h.diagnosis;
                c.pending_down = h.pending_down;
                c.last_alert = h.last_alert;
            }
        }
        let first = match &c.cfg.spec {
            CheckSpec::Push {
                token,
                period,
                grace,
                ..
            } => {
                self.tokens.insert(token.clone(), id);
                Some(now.mono + *period + *grace)
            }
            // A node check is driven by the hub's changes, never by the schedule.
            CheckSpec::Node { .. } => None,
            _ => Some(schedule::first_run(
                now.mono,
                c.cfg.interval,
                self.rng.random::<f64>(),
            )),
        };
        if let Some(first) = first {
            c.planned = Some(first);
            c.queued = Some(first);
            self.schedule.insert(id, first);
        }
        // A down alert still waiting for a diagnosis the previous owner never got: ask again.
        let rediagnose = c.pending_down.is_some() && c.diagnosable();
        self.by_name.insert(c.cfg.name.clone(), id);
        self.checks.insert(id, c);
        self.effects.push_back(Effect::Added { id, last });
        if let Some(since) = realert {
            self.alert(
                id,
                AlertKind::Down,
                State::Down,
                State::Unknown,
                since,
                None,
            );
        }
        if rediagnose {
            self.effects.push_back(Effect::Diagnose { id });
        }
        Some(id)
    }

    fn remove(&mut self, id: CheckId, forgotten: bool) -> Option<Check> {
        let c = self.checks.remove(&id)?;
        self.by_name.remove(&c.cfg.name);
        if let CheckSpec::Push { token, .. } = &c.cfg.spec {
            self.tokens.remove(token);
        }
        self.orphans.remove(&id);
        self.effects.push_back(Effect::Removed {
            id,
            name: c.cfg.name.clone(),
            forgotten,
        });
        Some(c)
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

    fn due(&mut self, id: CheckId, planned: Instant, now: Now) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        if c.planned != Some(planned) {
            // A push success moved the deadline later without a new heap entry (so a check
            // pinged often keeps one entry): re-arm at the current deadline.
            if let (true, Some(later)) = (c.queued == Some(planned), c.planned)
                && later > planned
            {
                c.queued = Some(later);
                self.schedule.insert(id, later);
            }
            return;
        }
        c.planned = None;
        c.queued = None;
        if let CheckSpec::Push { period, grace, .. } = c.cfg.spec {
            let message = format!(
                "no success within period + grace ({} + {})",
                humantime::format_duration(period),
                humantime::format_duration(grace)
            );
            let outcome = Outcome::failure(
                &c.cfg.spec.target(),
                "push",
                Cause::Timeout.as_str(),
                message,
            );
            let next = now.mono + period;
            c.planned = Some(next);
            c.queued = Some(next);
            self.schedule.insert(id, next);
            self.record(id, outcome, now);
            return;
        }
        if c.running.is_some() || !c.diagnosable() {
            return;
        }
        c.running = Some(planned);
        self.effects.push_back(Effect::Run {
            id,
            planned,
            cfg: c.cfg.clone(),
        });
    }

    /// The outcome of the run [`Effect::Run`] started; plans the next one.
    pub fn handle_result(&mut self, id: CheckId, outcome: Outcome, now: Now) {
        self.last = Some(now);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let Some(planned) = c.running.take() else {
            return;
        };
        self.record(id, outcome, now);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let every = if c.state.transitioning() {
            c.cfg.fastinter
        } else if c.state.state() == State::Down {
            c.cfg.downinter
        } else {
            c.cfg.interval
        };
        let next = schedule::next_run(planned, every, now.mono);
        if next > planned + every {
            self.effects.push_back(Effect::Skipped { id });
        }
        c.planned = Some(next);
        c.queued = Some(next);
        self.schedule.insert(id, next);
    }

    /// A push event; false when no push check has this token.
    pub fn handle_push(&mut self, token: &str, event: PushEvent, now: Now) -> bool {
        self.last = Some(now);
        let Some(&id) = self.tokens.get(token) else {
            return false;
        };
        let Some(c) = self.checks.get_mut(&id) else {
            return false;
        };
        let CheckSpec::Push { period, grace, .. } = c.cfg.spec else {
            return false;
        };
        let target = c.cfg.spec.target();
        let outcome = match event {
            PushEvent::Start => {
                c.started = Some(now.mono);
                return true;
            }
            PushEvent::Success => {
                let latency = c
                    .started
                    .take()
                    .map(|s| now.mono.duration_since(s).as_secs_f64() * 1000.0);
                let next = now.mono + period + grace;
                c.planned = Some(next);
                if c.queued.is_none() {
                    c.queued = Some(next);
                    self.schedule.insert(id, next);
                }
                Outcome::success(&target, "push", None, latency)
            }
            PushEvent::Fail => {
                c.started = None;
                Outcome::failure(
                    &target,
                    "push",
                    Cause::Reported.as_str(),
                    "the job reported a failure".to_owned(),
                )
            }
        };
        self.record(id, outcome, now);
        true
    }

    /// A hub node's change, applied to its `node:NAME` check (created on first sight).
    pub fn handle_node(&mut self, report: NodeReport, now: Now) {
        self.last = Some(now);
        let name = format!("{NODE_PREFIX}{}", report.node);
        let id = match self.by_name.get(&name) {
            Some(id) => *id,
            None if matches!(report.event, NodeEvent::Diagnosis(_) | NodeEvent::Forgotten) => {
                return;
            }
            None => {
                let cfg = node_check(&report.node, report.labels.clone(), report.interval);
                let Some(id) = self.add(Arc::new(cfg), Origin::Fresh, now) else {
                    return;
                };
                id
            }
        };
        // The hub knows the node again: the absent/forget policy of restored nodes is over.
        self.orphans.remove(&id);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        if c.cfg.labels != report.labels {
            Arc::make_mut(&mut c.cfg).labels = report.labels;
            self.effects.push_back(Effect::Relabeled { id });
        }
        let target = c.cfg.spec.target();
        let outcome = match report.event {
            NodeEvent::Alive { warning, rtt_ms } => {
                Outcome::success(&target, "node", warning, rtt_ms)
            }
            NodeEvent::Dead { cause, detail } => Outcome::failure(
                &target,
                "node",
                &cause,
                detail.unwrap_or_else(|| "the session ended without GOODBYE".to_owned()),
            ),
            NodeEvent::Left => return self.node_left(id, now),
            NodeEvent::Forgotten => return self.forget(id, now),
            NodeEvent::Diagnosis(verdict) => {
                let detail = serde_json::json!({ "source": "hub", "verdict": verdict });
                return self.handle_diagnosis(id, verdict, detail, now);
            }
        };
        self.record(id, outcome, now);
    }

    /// Restored nodes still `up` or `degraded` whose node has not rejoined: `down`, `absent`.
    fn absent(&mut self, now: Now) {
        let Some(policy) = self.hub else { return };
        let detail = format!(
            "the node has not reconnected within {} of the hub's start",
            humantime::format_duration(policy.rejoin_grace)
        );
        let ids: Vec<CheckId> = self
            .orphans
            .iter()
            .copied()
            .filter(|id| {
                self.checks
                    .get(id)
                    .is_some_and(|c| c.state().is_available())
            })
            .collect();
        for id in ids {
            let Some(c) = self.checks.get(&id) else {
                continue;
            };
            let outcome = Outcome::failure(
                &c.cfg.spec.target(),
                "node",
                Cause::Absent.as_str(),
                detail.clone(),
            );
            self.record(id, outcome, now);
        }
    }

    /// The wall-clock time (ms) at which a restored node check is forgotten, if it will be.
    fn forget_wall_ms(&self, c: &Check) -> Option<Millis> {
        let policy = self.hub?;
        let forget = i64::try_from(policy.forget_after.as_millis()).unwrap_or(i64::MAX);
        matches!(c.state(), State::Down | State::Unknown)
            .then(|| c.since_ms.saturating_add(forget).saturating_add(1))
    }

    /// When the next restored node check is due to be forgotten.
    fn next_forget(&self) -> Option<Instant> {
        let last = self.last?;
        self.orphans
            .iter()
            .filter_map(|id| self.forget_wall_ms(self.checks.get(id)?))
            .min()
            .map(|wall| {
                let wait = u64::try_from(wall.saturating_sub(last.wall_ms)).unwrap_or(0);
                last.mono + Duration::from_millis(wait)
            })
    }

    /// Forgets restored node checks unknown to the hub and `down` or `unknown` for longer than
    /// `forget_after` (the hub never knew them, so it never forgets them itself).
    fn forget_due(&mut self, now: Now) {
        let due: Vec<CheckId> = self
            .orphans
            .iter()
            .copied()
            .filter(|id| {
                self.checks
                    .get(id)
                    .and_then(|c| self.forget_wall_ms(c))
                    .is_some_and(|at| at <= now.wall_ms)
            })
            .collect();
        for id in due {
            self.forget(id, now);
        }
    }

    /// A node the hub forgot: the check is removed, an open incident closed.
    fn forget(&mut self, id: CheckId, now: Now) {
        let Some(c) = self.remove(id, true) else {
            return;
        };
        if c.incident_ms.is_some() {
            self.effects
                .push_back(Effect::Write(WriteOp::CloseIncident {
                    check: c.cfg.name.clone(),
                    at_ms: now.wall_ms,
                }));
        }
    }

    /// A graceful leave: `unknown`, recorded as a transition, never alerted.
    fn node_left(&mut self, id: CheckId, now: Now) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let from = c.state.state();
        if from == State::Unknown {
            return;
        }
        c.state = CheckState::restore(State::Unknown, c.cfg.rise, c.cfg.fall);
        c.since_ms = now.wall_ms;
        c.cause = Some("left: the node said GOODBYE".to_owned());
        let outcome = Outcome::failure(
            &c.cfg.spec.target(),
            "node",
            Cause::Left.as_str(),
            "the node said GOODBYE".to_owned(),
        );
        let t = Transition {
            from,
            to: State::Unknown,
        };
        self.transition_with(id, t, now.wall_ms, outcome.cause());
    }

    /// Attaches a diagnosis to check `id`'s current incident (ignored unless it is down).
    pub fn handle_diagnosis(
        &mut self,
        id: CheckId,
        verdict: String,
        detail: serde_json::Value,
        now: Now,
    ) {
        self.last = Some(now);
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        if c.state.state() != State::Down {
            return;
        }
        c.diagnosis = Some(verdict.clone());
        let pending = c.pending_down.take();
        let check = c.cfg.name.clone();
        if let Some(p) = pending {
            self.alert(id, AlertKind::Down, State::Down, p.from, p.at_ms, None);
        }
        self.effects.push_back(Effect::Write(WriteOp::Diagnosis {
            check,
            verdict: verdict.clone(),
            detail,
        }));
        self.effects.push_back(Effect::Diagnosed {
            id,
            at_ms: now.wall_ms,
            verdict,
        });
    }

    /// Records an attempt, feeds the state machine and handles a state change.
    fn record(&mut self, id: CheckId, outcome: Outcome, now: Now) {
        let at = now.wall_ms;
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
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

    fn transition_with(&mut self, id: CheckId, t: Transition, at: Millis, cause: Option<String>) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let name = c.cfg.name.clone();
        self.effects
            .push_back(Effect::Write(WriteOp::Transition(TransitionRecord {
                check: name.clone(),
                at_ms: at,
                from: t.from,
                to: t.to,
                cause: cause.clone(),
            })));
        let kind = if t.to == State::Down {
            self.effects.push_back(Effect::Write(WriteOp::OpenIncident {
                check: name,
                at_ms: at,
                cause: cause.clone(),
            }));
            c.incident_ms = Some(at);
            c.diagnosis = None;
            if c.diagnosable() {
                // Layered diagnosis (DNS → ICMP → TCP → application) runs beside the
                // schedule; its verdict is attached to the incident when it arrives.
                self.effects.push_back(Effect::Diagnose { id });
            }
            Some(AlertKind::Down)
        } else if t.from == State::Down {
            self.effects
                .push_back(Effect::Write(WriteOp::CloseIncident {
                    check: name,
                    at_ms: at,
                }));
            c.incident_ms = None;
            c.diagnosis = None;
            (t.to != State::Unknown).then_some(AlertKind::Up)
        } else if t.to == State::Unknown {
            None // a node that left gracefully pages no one
        } else if t.to == State::Degraded {
            Some(AlertKind::Degraded)
        } else if t.from == State::Degraded {
            Some(AlertKind::Up)
        } else {
            None // unknown → up is not news
        };
        // After the writes above: a reader woken by this event (the public status page
        // re-reads its summary) sees the transition and the incident.
        self.effects.push_back(Effect::Transition {
            id,
            at_ms: at,
            transition: t,
            cause,
        });
        let Some(kind) = kind else { return };
        c.last_alert.clear();
        for a in &self.alerts {
            c.last_alert.insert(a.name.clone(), at);
        }
        // A down alert waits for the diagnosis so it can say where the fault is.
        if kind == AlertKind::Down && c.diagnosable() {
            c.pending_down = Some(PendingDown {
                at_ms: at,
                from: t.from,
            });
            return;
        }
        if let Some(p) = c.pending_down.take() {
            self.alert(id, AlertKind::Down, State::Down, p.from, p.at_ms, None);
        }
        self.alert(id, kind, t.to, t.from, at, None);
    }

    fn repeat_alerts(&mut self, id: CheckId, at: Millis) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let mut due = Vec::new();
        for a in &self.alerts {
            let Some(every) = a.repeat else { continue };
            let last = c.last_alert.get(&a.name).copied().unwrap_or(c.since_ms);
            let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            if at.saturating_sub(last) >= every {
                c.last_alert.insert(a.name.clone(), at);
                due.push(a.name.clone());
            }
        }
        if !due.is_empty() {
            self.alert(
                id,
                AlertKind::Repeat,
                State::Down,
                State::Down,
                at,
                Some(&due),
            );
        }
    }

    /// Queues one [`Effect::Alert`] per alert target (or those in `only`).
    fn alert(
        &mut self,
        id: CheckId,
        kind: AlertKind,
        state: State,
        previous: State,
        at: Millis,
        only: Option<&[String]>,
    ) {
        let Some(c) = self.checks.get(&id) else {
            return;
        };
        for a in &self.alerts {
            if only.is_some_and(|o| !o.contains(&a.name)) {
                continue;
            }
            self.effects.push_back(Effect::Alert(Box::new(Alert {
                event: kind,
                check: c.cfg.name.clone(),
                kind: c.cfg.spec.kind(),
                target: c.cfg.spec.target(),
                state,
                previous,
                at_ms: at,
                since_ms: c.since_ms,
                incident_started_ms: c.incident_ms,
                cause: c.cause.clone(),
                diagnosis: c.diagnosis.clone(),
                labels: c.cfg.labels.clone(),
                idempotency_key: format!("{}/{kind}/{at}/{}", c.cfg.name, a.name),
                alert: a.name.clone(),
                destination: a.target.clone(),
            })));
        }
    }
}
