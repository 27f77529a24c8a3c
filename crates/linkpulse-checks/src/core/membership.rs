//! Checks joining and leaving the core: the start, a reload, a hand-over to or from another
//! owner (the seam cluster mode uses), and a resume after a restart.

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use serde::Serialize;

use super::{Check, Core};
use crate::effect::{AlertKind, Effect};
use crate::handoff::Handoff;
use crate::input::Origin;
use crate::model::{AlertSettings, CheckSettings, Mode, Model};
use crate::schedule::{self, CheckId};
use crate::state::{CheckState, State};
use crate::time::{Millis, Now};

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

impl<M: Model> Core<M> {
    /// Adds checks (start, reload, a hand-over); returns their ids. A name already present is
    /// skipped.
    pub fn add_checks(
        &mut self,
        checks: impl IntoIterator<Item = (M::Check, Origin<M>)>,
        now: Now,
    ) -> Vec<CheckId> {
        self.last = Some(now);
        let checks = checks.into_iter();
        self.checks.reserve(checks.size_hint().0);
        checks
            .filter_map(|(cfg, origin)| self.add(Arc::new(cfg), origin, now))
            .collect()
    }

    /// Takes checks out (reload, a hand-over to another owner) with their state, open
    /// incident and pending alerts. Unknown names are skipped.
    pub fn remove_checks(&mut self, names: &[&str]) -> Vec<Handoff<M>> {
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

    /// Replaces the file's checks and alert targets, keeping the state of unchanged checks
    /// (node checks come from the hub and are kept).
    pub fn reload(
        &mut self,
        checks: &[M::Check],
        alerts: Vec<M::Alert>,
        now: Now,
    ) -> ReloadSummary {
        self.last = Some(now);
        let mut summary = ReloadSummary::default();
        let keep = |c: &Check<M>| {
            c.cfg.mode() == Mode::Node
                || checks
                    .iter()
                    .any(|n| n.name() == c.cfg.name() && *n == *c.cfg)
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
            if checks.iter().any(|n| n.name() == c.cfg.name()) {
                summary.changed += 1;
            } else {
                summary.removed += 1;
            }
        }
        self.alerts = alerts;
        for c in checks {
            if self.by_name.contains_key(c.name()) {
                summary.unchanged += 1;
            } else {
                self.add(Arc::new(c.clone()), Origin::Fresh, now);
            }
        }
        summary.added = checks.len() - summary.unchanged - summary.changed;
        summary
    }

    pub(super) fn add(
        &mut self,
        cfg: Arc<M::Check>,
        origin: Origin<M>,
        now: Now,
    ) -> Option<CheckId> {
        if self.by_name.contains_key(cfg.name()) {
            return None;
        }
        let id = self.checks.vacant_id();
        let mut c = Check::<M> {
            state: CheckState::new(cfg.rise(), cfg.fall()),
            since_ms: now.wall_ms,
            planned: None,
            queued: None,
            running: None,
            rejoin: None,
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
        // A resumed push check: its last stored attempt (time, success).
        let mut last_push = None;
        // A check taken over keeps its previous owner's cadence.
        let taken_over = matches!(origin, Origin::TakeOver(_));
        match origin {
            Origin::Fresh => {}
            Origin::Resume(r) | Origin::TakeOver(r) => {
                c.state = CheckState::restore(r.state, c.cfg.rise(), c.cfg.fall());
                c.since_ms = r.since_ms;
                if r.state == State::Down {
                    // Repeats restart from now; the down alert itself is re-queued with the
                    // key it had, so it is a no-op if it reached the outbox before a crash.
                    for a in &self.alerts {
                        c.last_alert.insert(a.name().to_owned(), now.wall_ms);
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
                last_push = r.last.as_ref().map(|a| (a.at_ms, a.up));
                last = r.last;
            }
            Origin::Handoff(h) => {
                c.state = CheckState::restore(h.state, c.cfg.rise(), c.cfg.fall());
                c.since_ms = h.since_ms;
                c.incident_ms = h.incident_ms;
                c.cause = h.cause;
                c.diagnosis = h.diagnosis;
                c.pending_down = h.pending_down;
                c.last_alert = h.last_alert;
            }
        }
        let first = match c.cfg.mode() {
            Mode::Push {
                token,
                period,
                grace,
            } => {
                self.tokens.insert(token.to_owned(), id);
                Some(now.mono + push_deadline(last_push, period, grace, now.wall_ms))
            }
            // A node check is driven by the hub's changes, never by the schedule.
            Mode::Node => None,
            Mode::Active => Some(match last_push.filter(|_| taken_over) {
                Some((at_ms, _)) => {
                    let since = u64::try_from(now.wall_ms.saturating_sub(at_ms)).unwrap_or(0);
                    let (first, rejoin) = schedule::taken_over_run(
                        now.mono,
                        c.cfg.interval(),
                        std::time::Duration::from_millis(since),
                        self.rng.random::<f64>(),
                    );
                    c.rejoin = rejoin;
                    first
                }
                None => schedule::first_run(now.mono, c.cfg.interval(), self.rng.random::<f64>()),
            }),
        };
        if let Some(first) = first {
            c.planned = Some(first);
            c.queued = Some(first);
            self.schedule.insert(id, first);
        }
        // A down alert still waiting for a diagnosis the previous owner never got: ask again.
        let rediagnose = c.pending_down.is_some() && c.diagnosable();
        self.by_name.insert(c.cfg.name().to_owned(), id);
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

    pub(super) fn remove(&mut self, id: CheckId, forgotten: bool) -> Option<Check<M>> {
        let c = self.checks.remove(&id)?;
        self.by_name.remove(c.cfg.name());
        if let Mode::Push { token, .. } = c.cfg.mode() {
            self.tokens.remove(token);
        }
        self.orphans.remove(&id);
        self.vantage.remove(&id);
        self.effects.push_back(Effect::Removed {
            id,
            name: c.cfg.name().to_owned(),
            forgotten,
        });
        Some(c)
    }
}

/// How long after `now_ms` a push check's first deadline falls: `period + grace` for a new
/// check; for one resumed (a restart, or another cluster member taking it over) the deadline
/// its stored history sets — the last success plus `period + grace`, the last missed
/// deadline or failure plus `period` — so the pushes received before are honoured and a
/// missing job is found as late as it would have been without the handover. When that
/// deadline already passed (no owner watched meanwhile), a full `period + grace` again: the
/// job's pushes of that time reached nobody, so their absence says nothing.
fn push_deadline(
    last: Option<(Millis, bool)>,
    period: std::time::Duration,
    grace: std::time::Duration,
    now_ms: Millis,
) -> std::time::Duration {
    let full = period + grace;
    let Some((at_ms, up)) = last else {
        return full;
    };
    let after = if up { full } else { period };
    let due_ms = at_ms.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
    match u64::try_from(due_ms.saturating_sub(now_ms)) {
        Ok(left) if left > 0 => std::time::Duration::from_millis(left).min(full),
        _ => full,
    }
}

#[cfg(test)]
mod push_deadline_tests {
    use std::time::Duration;

    use super::push_deadline;

    const PERIOD: Duration = Duration::from_secs(60);
    const GRACE: Duration = Duration::from_secs(10);

    #[test]
    fn a_resumed_push_check_keeps_the_deadline_of_its_last_push() {
        let now = 1_000_000;
        // New: a full period and grace.
        assert_eq!(push_deadline(None, PERIOD, GRACE, now), PERIOD + GRACE);
        // Pushed 20 s before the takeover: 50 s left, not 70.
        assert_eq!(
            push_deadline(Some((now - 20_000, true)), PERIOD, GRACE, now),
            Duration::from_secs(50)
        );
        // Missed 15 s before: the next miss is a period after it.
        assert_eq!(
            push_deadline(Some((now - 15_000, false)), PERIOD, GRACE, now),
            Duration::from_secs(45)
        );
        // The deadline passed while nobody watched: a full period again.
        assert_eq!(
            push_deadline(Some((now - 600_000, true)), PERIOD, GRACE, now),
            PERIOD + GRACE
        );
        // A clock that went back never gives more than a full period.
        assert_eq!(
            push_deadline(Some((now + 600_000, true)), PERIOD, GRACE, now),
            PERIOD + GRACE
        );
    }
}
