//! The hub: agent sessions on `hub.listen`, served by `linkpulse_hub`, and its routes
//! (`/api/v1/nodes`, `/api/v1/nodes/watch`) merged into [`crate::daemon::Daemon::router`].
//!
//! Nodes are checks too: [`feed`] follows the hub's change stream and reports every node to
//! the engine as the check `node:NAME` (kind `node`), so nodes share the state history,
//! availability figures and alerts of probes: `alive` → `up`, `suspect` (or a STATUS other
//! than `ok`) → `degraded`, `dead` → `down` with the hub's cause and, once known, its diagnosis;
//! `left` (GOODBYE) → `unknown`, a transition that never alerts.
//!
//! After a restart the check core restores every node's check in its stored state; a node
//! stored as `up` or `degraded` that has not rejoined [`HubConfig::rejoin_grace`] after the start goes
//! `down` with cause `absent` (it went away while the daemon was down), and one unknown to the
//! hub that stays `down` or `unknown` longer than `hub.forget_after` is forgotten — both
//! decided by [`crate::checks::Core`], not here.
//!
//! Cluster mode: the hub shows every member's nodes ([`crate::cluster::hub_share`]), and each
//! node's check is decided by one member, its owner ([`NodeOwners`]); a node whose agent fails
//! over to another member is `moved` (reported `alive` again: no state change, no alert).

use std::net::SocketAddr;
use std::time::Duration;

use linkpulse_hub::{ChangeKind, Hub, HubError, Node, NodeState};

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::checks::NODE_PREFIX;
use crate::engine::{EngineHandle, NodeEvent, NodeReport};
use crate::storage::{Resume, Storage};

pub use crate::config::HubConfig;

/// Binds `hub.listen` and accepts agents until `shutdown`; returns the hub, the bound
/// address and the accept task.
pub async fn start(
    c: &HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Hub, SocketAddr, JoinHandle<()>), HubError> {
    let hub = Hub::new(c.clone())?;
    let listener = hub.bind().await?;
    let addr = listener.local_addr().map_err(|source| HubError::Bind {
        addr: c.listen,
        source,
    })?;
    let h = hub.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = h.run(listener, shutdown).await {
            tracing::warn!(error = %e, "hub stopped");
        }
    });
    Ok((hub, addr, task))
}

/// What the engine is told about `node` after a change of kind `kind` (`None` for a full
/// snapshot, which also repeats a known diagnosis).
pub fn reports(node: &Node, kind: Option<ChangeKind>, interval: Duration) -> Vec<NodeReport> {
    let report = |event| NodeReport {
        node: node.name.clone(),
        labels: node.labels.clone(),
        interval,
        event,
    };
    let diagnosis = node
        .diagnosis
        .map(|d| report(NodeEvent::Diagnosis(d.to_string())));
    if kind == Some(ChangeKind::Diagnosis) {
        return diagnosis.into_iter().collect();
    }
    if kind == Some(ChangeKind::Forgotten) {
        return vec![report(NodeEvent::Forgotten)];
    }
    let unhealthy =
        node.status
            .as_ref()
            .filter(|s| s.health != "ok")
            .map(|s| match s.detail.as_str() {
                "" => format!("status {}", s.health),
                d => format!("status {}: {d}", s.health),
            });
    let event = match node.state {
        NodeState::Alive => NodeEvent::Alive {
            warning: unhealthy,
            rtt_ms: node.rtt_ms,
        },
        NodeState::Suspect => NodeEvent::Alive {
            warning: Some("suspect: heartbeats are late".to_owned()),
            rtt_ms: node.rtt_ms,
        },
        NodeState::Dead => NodeEvent::Dead {
            cause: node.cause.clone().unwrap_or_else(|| "unknown".to_owned()),
            detail: node.cause_detail.clone(),
        },
        NodeState::Left => NodeEvent::Left,
    };
    let mut out = vec![report(event)];
    if kind.is_none() && node.state == NodeState::Dead {
        out.extend(diagnosis);
    }
    out
}

/// Cluster mode: which member decides each node's check — the owner of `node:NAME` by the
/// same rendezvous hashing as every other check, over the live members of the coordinator's
/// last renewal. The node may be connected to any member; only its check's owner reports it
/// to its engine, so a node moving between members keeps one history and alerts once.
#[derive(Clone)]
pub struct NodeOwners {
    /// This member's name.
    pub me: String,
    /// The coordinator's snapshot (members and whether each is live).
    pub cluster: crate::cluster::ClusterView,
    /// The shared history, to restore a node check this member comes to decide.
    pub storage: Arc<dyn Storage>,
}

impl std::fmt::Debug for NodeOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOwners")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl NodeOwners {
    /// The live members, sorted (empty before the first renewal).
    fn live(&self) -> Vec<String> {
        self.cluster
            .get()
            .map(|s| {
                s.members
                    .into_iter()
                    .filter(|m| m.live)
                    .map(|m| m.name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether this member decides the check `check` (`node:NAME`) while `live` are the live
    /// members.
    fn owns(&self, live: &[String], check: &str) -> bool {
        linkpulse_cluster::rendezvous::owner(check, live.iter().map(String::as_str))
            == Some(self.me.as_str())
    }

    /// The live members changed from `before` to `live`: the node checks this member gains
    /// (with their stored state, when there is one) and loses, among the stored ones and
    /// those of `shown` nodes.
    async fn handover(
        &self,
        before: &[String],
        live: &[String],
        shown: &[Node],
    ) -> (Vec<(String, Resume)>, Vec<String>) {
        let storage = self.storage.clone();
        let mut stored: HashMap<String, Resume> =
            tokio::task::spawn_blocking(move || storage.resume())
                .await
                .ok()
                .and_then(|r| {
                    r.inspect_err(|e| tracing::warn!(error = %e, "hub: cannot read the stored node checks; those gained start fresh"))
                        .ok()
                })
                .unwrap_or_default();
        stored.retain(|name, _| name.starts_with(NODE_PREFIX));
        let mut names: BTreeSet<String> = stored.keys().cloned().collect();
        names.extend(shown.iter().map(|n| format!("{NODE_PREFIX}{}", n.name)));
        let (mut gained, mut lost) = (Vec::new(), Vec::new());
        for name in names {
            match (self.owns(before, &name), self.owns(live, &name)) {
                (false, true) => {
                    if let Some(r) = stored.remove(&name) {
                        gained.push((name, r));
                    }
                }
                (true, false) => lost.push(name),
                _ => {}
            }
        }
        (gained, lost)
    }
}

/// How often the feed looks at the live members again (cluster mode).
const OWNERS_TICK: Duration = Duration::from_millis(500);

/// Feeds every node of `hub` and each later change into `engine` until `shutdown`; a watcher
/// that falls behind starts again from a fresh snapshot (a repeated state changes nothing).
/// The feed only forwards the hub's changes: what happens to restored nodes that do not come
/// back (`absent`, then forgotten) is the check core's policy ([`crate::checks::Core`]).
///
/// With `owners` (cluster mode) only the nodes whose check this member owns are forwarded.
/// When the live members change, the node checks it comes to own are restored in the engine
/// from the shared history and reported at once with their node's current state; those it
/// no longer owns leave its engine.
pub async fn feed(
    hub: Hub,
    engine: EngineHandle,
    owners: Option<NodeOwners>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let config = hub.config().clone();
    let interval = config.interval;
    let policy = crate::checks::hub_policy(&config);
    let mut tick = tokio::time::interval(OWNERS_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Cluster mode starts owning nothing: the first tick with members hands over the share.
    let mut live: Vec<String> = Vec::new();
    let mine = |live: &[String], name: &str| {
        owners
            .as_ref()
            .is_none_or(|o| o.owns(live, &format!("{NODE_PREFIX}{name}")))
    };
    loop {
        let mut sub = hub.subscribe();
        for node in sub.nodes.iter().filter(|n| mine(&live, &n.name)) {
            for r in reports(node, None, interval) {
                if !engine.node(r).await {
                    return;
                }
            }
        }
        loop {
            let change = tokio::select! {
                () = &mut shutdown => return,
                c = sub.changes.recv() => c,
                _ = tick.tick(), if owners.is_some() => {
                    let Some(o) = owners.as_ref() else { continue };
                    let now = o.live();
                    if now == live {
                        continue;
                    }
                    let before = std::mem::replace(&mut live, now);
                    let shown = hub.nodes();
                    let (gained, lost) = o.handover(&before, &live, &shown).await;
                    let any = !(gained.is_empty() && lost.is_empty());
                    if any && !engine.node_ownership(policy, gained, lost).await {
                        return;
                    }
                    // Report the nodes this member now owns, in their current state.
                    for node in shown {
                        if mine(&live, &node.name) && !mine(&before, &node.name) {
                            for r in reports(&node, None, interval) {
                                if !engine.node(r).await {
                                    return;
                                }
                            }
                        }
                    }
                    continue;
                }
            };
            match change {
                Ok(c) if mine(&live, &c.node.name) => {
                    for r in reports(&c.node, Some(c.event), interval) {
                        if !engine.node(r).await {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "node checks fell behind the hub; resyncing");
                    break;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkpulse_hub::{Diagnosis, NodeStatus};

    fn node(state: NodeState) -> Node {
        Node {
            name: "w1".into(),
            state,
            cause: None,
            cause_detail: None,
            diagnosis: None,
            status: None,
            labels: [("role".to_owned(), "worker".to_owned())].into(),
            rtt_ms: Some(0.4),
            since: String::new(),
            address: None,
            incarnation: String::new(),
            restart: None,
            session: 1,
            member: None,
        }
    }

    fn events(n: &Node, kind: Option<ChangeKind>) -> Vec<NodeEvent> {
        let ms = Duration::from_millis(100);
        reports(n, kind, ms).into_iter().map(|r| r.event).collect()
    }

    #[test]
    fn each_node_state_maps_to_its_check_event() {
        let alive = node(NodeState::Alive);
        let r = reports(&alive, Some(ChangeKind::Join), Duration::from_millis(100));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].node.as_str(), r[0].labels["role"].as_str()),
            ("w1", "worker")
        );
        assert_eq!(
            r[0].event,
            NodeEvent::Alive {
                warning: None,
                rtt_ms: Some(0.4)
            }
        );
        let mut draining = node(NodeState::Alive);
        draining.status = Some(NodeStatus {
            health: "draining".into(),
            detail: "deploy".into(),
            gauges: Default::default(),
        });
        assert!(matches!(
            &events(&draining, Some(ChangeKind::Status))[..],
            [NodeEvent::Alive { warning: Some(w), .. }] if w == "status draining: deploy"
        ));
        assert!(matches!(
            &events(&node(NodeState::Suspect), Some(ChangeKind::Suspect))[..],
            [NodeEvent::Alive { warning: Some(w), .. }] if w.starts_with("suspect")
        ));
        assert_eq!(
            events(&node(NodeState::Dead), Some(ChangeKind::Forgotten)),
            [NodeEvent::Forgotten],
            "a forgotten dead node is not reported dead once more"
        );
        assert_eq!(
            events(&node(NodeState::Left), Some(ChangeKind::Left)),
            [NodeEvent::Left]
        );
    }

    #[test]
    fn a_moved_node_is_reported_alive_again_which_changes_no_state() {
        let mut moved = node(NodeState::Alive);
        moved.member = Some("b".into());
        assert_eq!(
            events(&moved, Some(ChangeKind::Moved)),
            [NodeEvent::Alive {
                warning: None,
                rtt_ms: Some(0.4)
            }]
        );
    }

    #[test]
    fn a_dead_node_carries_its_cause_and_later_its_diagnosis() {
        let mut dead = node(NodeState::Dead);
        dead.cause = Some("reset".into());
        let dead_event = NodeEvent::Dead {
            cause: "reset".into(),
            detail: None,
        };
        assert_eq!(
            events(&dead, Some(ChangeKind::Dead)),
            std::slice::from_ref(&dead_event)
        );
        dead.diagnosis = Some(Diagnosis::ProcessGone);
        assert_eq!(
            events(&dead, Some(ChangeKind::Diagnosis)),
            [NodeEvent::Diagnosis("process_gone".into())]
        );
        // A snapshot (start or resync) repeats both.
        assert_eq!(
            events(&dead, None),
            [dead_event, NodeEvent::Diagnosis("process_gone".into())]
        );
    }
}
