//! Hub nodes: the check `node:NAME` follows the hub's reports; after a restart, restored nodes
//! that do not rejoin within the grace are `absent`, and those `down` or `unknown` for longer
//! than `forget_after` are forgotten.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Check, Core};
use crate::effect::{Cause, Effect, Write};
use crate::input::{HubPolicy, NodeEvent, NodeReport, Origin, Resume};
use crate::model::{CheckSettings, Model, Outcome};
use crate::schedule::CheckId;
use crate::state::{CheckState, State, Transition};
use crate::time::{Millis, Now};

/// Name prefix of the checks of hub nodes (`node:NAME`); config check names cannot contain `:`.
pub const NODE_PREFIX: &str = "node:";

impl<M: Model> Core<M> {
    /// Applies the hub's settings and restores the check of every node known before a restart
    /// (in its stored state), so the API, dashboard and availability keep showing it before
    /// (or without) a rejoin. A restored node `up` or `degraded` that has not rejoined
    /// `rejoin_grace` from now goes `down` with cause `absent`; one `down` or `unknown` for
    /// longer than `forget_after` is forgotten.
    pub fn restore_nodes(
        &mut self,
        policy: HubPolicy,
        stored: impl IntoIterator<Item = (String, Resume)>,
        now: Now,
    ) {
        self.last = Some(now);
        self.hub = Some(policy);
        self.absent_at = Some(now.mono + policy.rejoin_grace);
        for (name, resume) in stored {
            let node = name.strip_prefix(NODE_PREFIX).unwrap_or(&name);
            let cfg = M::Check::node(node, BTreeMap::new(), policy.interval);
            if let Some(id) = self.add(Arc::new(cfg), Origin::Resume(resume), now) {
                self.orphans.insert(id);
            }
        }
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
                let cfg = M::Check::node(&report.node, report.labels.clone(), report.interval);
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
        if *c.cfg.labels() != report.labels {
            Arc::make_mut(&mut c.cfg).set_labels(report.labels);
            self.effects.push_back(Effect::Relabeled { id });
        }
        let target = c.cfg.target();
        let outcome = match report.event {
            NodeEvent::Alive { warning, rtt_ms } => {
                M::Outcome::success(&target, "node", warning, rtt_ms)
            }
            NodeEvent::Dead { cause, detail } => M::Outcome::failure(
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
    pub(super) fn absent(&mut self, now: Now) {
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
            let outcome = M::Outcome::failure(
                &c.cfg.target(),
                "node",
                Cause::Absent.as_str(),
                detail.clone(),
            );
            self.record(id, outcome, now);
        }
    }

    /// The wall-clock time (ms) at which a restored node check is forgotten, if it will be.
    fn forget_wall_ms(&self, c: &Check<M>) -> Option<Millis> {
        let policy = self.hub?;
        let forget = i64::try_from(policy.forget_after.as_millis()).unwrap_or(i64::MAX);
        matches!(c.state(), State::Down | State::Unknown)
            .then(|| c.since_ms.saturating_add(forget).saturating_add(1))
    }

    /// When the next restored node check is due to be forgotten.
    pub(super) fn next_forget(&self) -> Option<Instant> {
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
    pub(super) fn forget_due(&mut self, now: Now) {
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
            self.effects.push_back(Effect::Write(Write::CloseIncident {
                check: c.cfg.name().to_owned(),
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
        c.state = CheckState::restore(State::Unknown, c.cfg.rise(), c.cfg.fall());
        c.since_ms = now.wall_ms;
        c.cause = Some("left: the node said GOODBYE".to_owned());
        let outcome = M::Outcome::failure(
            &c.cfg.target(),
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
}
