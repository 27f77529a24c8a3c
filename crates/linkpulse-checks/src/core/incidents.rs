//! Transitions and what follows them: incidents opened and closed, the diagnosis attached, and
//! alert timing (a down alert waits for its diagnosis; `repeat` while down; no alert for
//! `unknown`).

use super::Core;
use crate::effect::{Alert, AlertKind, Effect, TransitionRecord, Write};
use crate::handoff::PendingDown;
use crate::model::{AlertSettings, CheckSettings, Model};
use crate::schedule::CheckId;
use crate::state::{State, Transition};
use crate::time::{Millis, Now};

impl<M: Model> Core<M> {
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
        let check = c.cfg.name().to_owned();
        if let Some(p) = pending {
            self.alert(id, AlertKind::Down, State::Down, p.from, p.at_ms, None);
        }
        self.effects.push_back(Effect::Write(Write::Diagnosis {
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

    /// A state change of check `id` at `at`: its writes, its event, its alerts.
    pub(super) fn transition_with(
        &mut self,
        id: CheckId,
        t: Transition,
        at: Millis,
        cause: Option<String>,
    ) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let name = c.cfg.name().to_owned();
        self.effects
            .push_back(Effect::Write(Write::Transition(TransitionRecord {
                check: name.clone(),
                at_ms: at,
                from: t.from,
                to: t.to,
                cause: cause.clone(),
            })));
        let kind = if t.to == State::Down {
            self.effects.push_back(Effect::Write(Write::OpenIncident {
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
            self.effects.push_back(Effect::Write(Write::CloseIncident {
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
            c.last_alert.insert(a.name().to_owned(), at);
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

    /// A down check's attempt: a `repeat` alert to each target whose `repeat` has passed.
    pub(super) fn repeat_alerts(&mut self, id: CheckId, at: Millis) {
        let Some(c) = self.checks.get_mut(&id) else {
            return;
        };
        let mut due = Vec::new();
        for a in &self.alerts {
            let Some(every) = a.repeat() else { continue };
            let last = c.last_alert.get(a.name()).copied().unwrap_or(c.since_ms);
            let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            if at.saturating_sub(last) >= every {
                c.last_alert.insert(a.name().to_owned(), at);
                due.push(a.name().to_owned());
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
    pub(super) fn alert(
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
            if only.is_some_and(|o| !o.iter().any(|n| n == a.name())) {
                continue;
            }
            let name = c.cfg.name();
            self.effects.push_back(Effect::Alert(Box::new(Alert {
                event: kind,
                check: name.to_owned(),
                kind: c.cfg.kind(),
                target: c.cfg.target(),
                state,
                previous,
                at_ms: at,
                since_ms: c.since_ms,
                incident_started_ms: c.incident_ms,
                cause: c.cause.clone(),
                diagnosis: c.diagnosis.clone(),
                labels: c.cfg.labels().clone(),
                idempotency_key: format!("{name}/{kind}/{at}/{}", a.name()),
                alert: a.name().to_owned(),
                destination: a.destination().clone(),
            })));
        }
    }
}
