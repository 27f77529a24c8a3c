//! The node table, sans-IO: who is connected, in which state, since when, and why a node died.
//!
//! The [`Registry`] never reads a clock or a socket: the server feeds it what each agent
//! session reports ([`Registry::join`], [`Registry::suspect`], [`Registry::ended`] …) with the
//! wall-clock `now`, and drains the resulting [`Change`]s with [`Registry::poll_change`]. Every
//! change carries a revision number that only grows, so a watcher can tell what it has seen.
//!
//! # States
//!
//! ```text
//!   join ──► alive ◄──── alive_again ──── suspect
//!              │  └──────── suspect ────────►│
//!              ├── dead (cause) ◄────────────┤   session ended without GOODBYE
//!              └── left         ◄────────────┘   GOODBYE
//!   dead/left ── join (same name) ──► alive      a new session (maybe a new incarnation)
//!   dead/left ── forget ──► (removed)             gone for longer than `forget_after`
//! ```

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use linkpulse_proto::{Cause, Incarnation, Restart, Status};
use serde::{Deserialize, Serialize};

/// Most nodes remembered; past it, the dead or left node gone longest is forgotten to make
/// room (announced as [`ChangeKind::Forgotten`]), and a join is refused if every node is
/// alive.
pub const MAX_NODES: usize = 100_000;

/// A node's liveness as the hub sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Its session is up and heartbeats arrive.
    Alive,
    /// Its heartbeats are late; it may be dead.
    Suspect,
    /// Its session ended without a GOODBYE (see `cause`).
    Dead,
    /// It said GOODBYE: a graceful leave.
    Left,
}

impl NodeState {
    /// The stable name: `alive`, `suspect`, `dead` or `left`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Left => "left",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node state name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown node state {0:?} (expected alive, suspect, dead or left)")]
pub struct UnknownState(pub String);

impl FromStr for NodeState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        Ok(match s {
            "alive" => NodeState::Alive,
            "suspect" => NodeState::Suspect,
            "dead" => NodeState::Dead,
            "left" => NodeState::Left,
            other => return Err(UnknownState(other.to_owned())),
        })
    }
}

/// Where the fault is, once the hub has probed a dead node's advertised address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Diagnosis {
    /// Neither ICMP nor TCP got an answer: the network or the host is down.
    HostUnreachable,
    /// The host answers (ICMP echo, or TCP refused/accepted) but the agent does not.
    ProcessGone,
}

impl Diagnosis {
    /// The stable name: `host_unreachable` or `process_gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Diagnosis::HostUnreachable => "host_unreachable",
            Diagnosis::ProcessGone => "process_gone",
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's own health, from its last STATUS frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `ok`, `degraded` or `draining`.
    pub health: String,
    /// A short text from the agent.
    #[serde(default)]
    pub detail: String,
    /// Numeric gauges (e.g. `load`).
    #[serde(default)]
    pub gauges: BTreeMap<String, f64>,
}

impl From<&Status> for NodeStatus {
    fn from(s: &Status) -> Self {
        NodeStatus {
            health: s.health.as_str().to_owned(),
            detail: s.detail.clone(),
            gauges: s.gauges.iter().cloned().collect(),
        }
    }
}

/// One node, as listed by `GET /api/v1/nodes` and carried in watch events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The agent's name (unique key).
    pub name: String,
    /// Its state.
    pub state: NodeState,
    /// Why its last session ended (`goodbye`, `peer_closed`, `reset`, `timeout`,
    /// `unreachable`, `protocol`, `local`), when dead or left.
    pub cause: Option<String>,
    /// More about the cause (a protocol error's text), when there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_detail: Option<String>,
    /// The hub's probe verdict after death, once known.
    pub diagnosis: Option<Diagnosis>,
    /// The node's own health report, if it sent one.
    pub status: Option<NodeStatus>,
    /// Labels from its HELLO.
    pub labels: BTreeMap<String, String>,
    /// Latest heartbeat round-trip time, milliseconds.
    pub rtt_ms: Option<f64>,
    /// When the node entered its current state (RFC 3339, UTC).
    pub since: String,
    /// The address it advertised (`HOST:PORT` or `HOST`), else the address it connected from.
    pub address: Option<String>,
    /// Its incarnation (`bootid/nonce` in hex).
    pub incarnation: String,
    /// Compared with the previous session of the same name: `same`, `process_restarted` or
    /// `host_rebooted`.
    #[serde(default)]
    pub restart: Option<String>,
    /// Identifies the session on the hub (grows with every join).
    #[serde(default)]
    pub session: u64,
    /// In cluster mode, the member whose hub holds the node's session (its last one when
    /// dead or left); absent on a hub of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

impl Node {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Alive and not reporting itself unhealthy (`degraded` or `draining`): a node a
    /// scheduler may send work to.
    pub fn is_healthy(&self) -> bool {
        self.state == NodeState::Alive && self.status.as_ref().is_none_or(|s| s.health == "ok")
    }
}

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A session came up (a new node, or a known name again).
    Join,
    /// The node reported a different health or detail.
    Status,
    /// Its heartbeats are late.
    Suspect,
    /// A suspect node was heard again.
    AliveAgain,
    /// Its session ended without GOODBYE.
    Dead,
    /// It said GOODBYE.
    Left,
    /// The probe verdict for a dead node is known (`node.diagnosis`).
    Diagnosis,
    /// A dead or left node was removed from the registry (gone longer than the hub's
    /// `forget_after`, or to make room); `node` is its last state. A later join of the same
    /// name is a new node.
    Forgotten,
    /// Cluster mode: the node's agent failed over from one member's hub to another's without
    /// being declared dead (`from` and `to` name the members; `node.member` is `to`).
    Moved,
}

impl ChangeKind {
    /// The SSE event name: `join`, `status`, `suspect`, `alive_again`, `dead`, `left`,
    /// `diagnosis`, `forgotten`, `moved`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Join => "join",
            ChangeKind::Status => "status",
            ChangeKind::Suspect => "suspect",
            ChangeKind::AliveAgain => "alive_again",
            ChangeKind::Dead => "dead",
            ChangeKind::Left => "left",
            ChangeKind::Diagnosis => "diagnosis",
            ChangeKind::Forgotten => "forgotten",
            ChangeKind::Moved => "moved",
        }
    }
}

impl FromStr for ChangeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "join" => ChangeKind::Join,
            "status" => ChangeKind::Status,
            "suspect" => ChangeKind::Suspect,
            "alive_again" => ChangeKind::AliveAgain,
            "dead" => ChangeKind::Dead,
            "left" => ChangeKind::Left,
            "diagnosis" => ChangeKind::Diagnosis,
            "forgotten" => ChangeKind::Forgotten,
            "moved" => ChangeKind::Moved,
            other => return Err(format!("unknown change {other:?}")),
        })
    }
}

/// One change, with the node as it is after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the hub's history; strictly increasing.
    pub revision: u64,
    /// What happened.
    pub event: ChangeKind,
    /// The node after the change.
    pub node: Node,
    /// For `moved`: the member whose hub held the node's session before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// For `moved`: the member whose hub holds it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Identifies one agent session in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// What the hub learned in a session's handshake.
#[derive(Debug, Clone)]
pub struct Join {
    /// Node name.
    pub name: String,
    /// Labels from HELLO.
    pub labels: Vec<(String, String)>,
    /// The address the agent advertised in HELLO (`HOST:PORT` or `HOST`), if any.
    pub advertise: Option<String>,
    /// The address the agent connected from: the node's address when it advertised none.
    pub connected_from: Option<IpAddr>,
    /// The agent's incarnation.
    pub incarnation: Incarnation,
}

/// The result of a [`Registry::join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The node's name as the registry keeps it (shared: hold this rather than a copy).
    pub name: Arc<str>,
    /// The new session.
    pub session: SessionId,
    /// A session of the same name that was still open and is now replaced: the caller closes
    /// it. Its `dead` (cause `reset`) was already recorded if the incarnation changed.
    pub replaced: Option<SessionId>,
}

/// The registry is full of live nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the registry holds {MAX_NODES} live nodes; refusing `{0}`")]
pub struct RegistryFull(pub String);

/// One node, stored compactly (a hub holds tens of thousands): typed fields instead of the
/// text [`Node`] shows, which is built only when asked for (a listing, a change).
#[derive(Debug)]
struct Entry {
    state: NodeState,
    diagnosis: Option<Diagnosis>,
    restart: Option<Restart>,
    /// Why its last session ended, when dead or left.
    cause: Option<Cause>,
    status: Option<Box<NodeStatus>>,
    labels: Labels,
    /// Latest RTT, µs (saturated at `u32::MAX`).
    rtt_us: Option<u32>,
    /// When it entered its current state, ms since the Unix epoch (the API shows ms).
    since_ms: u64,
    address: Option<Address>,
    /// Its incarnation, shown in `Node` and compared with the next join.
    incarnation: Incarnation,
    /// The session it joined with last ([`Node::session`]).
    last_session: SessionId,
    /// The id of the session that currently owns this node while it is alive or suspect;
    /// 0 when none does (ids start at 1). See [`Entry::owner`].
    owner: u64,
}

/// A node's labels, sorted by key, keys unique. Interned: nodes with the same labels (most
/// of a fleet) share one allocation.
type Labels = Arc<[(Box<str>, Box<str>)]>;

/// Where a node can be reached, kept without a string when it is the connecting address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    /// Advertised by the agent in HELLO.
    Advertised(Box<str>),
    /// The address its session came from.
    ConnectedFrom(IpAddr),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Advertised(a) => f.write_str(a),
            Address::ConnectedFrom(ip) => write!(f, "{ip}"),
        }
    }
}

/// `t` as ms since the Unix epoch (0 before it).
fn unix_ms(t: SystemTime) -> u64 {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Entry {
    /// The session that currently owns this node, while it is alive or suspect.
    fn owner(&self) -> Option<SessionId> {
        (self.owner != 0).then_some(SessionId(self.owner))
    }

    /// The node as the API shows it.
    fn node(&self, name: &str) -> Node {
        Node {
            name: name.to_owned(),
            state: self.state,
            cause: self.cause.as_ref().map(|c| c.as_str().to_owned()),
            cause_detail: self
                .cause
                .as_ref()
                .and_then(Cause::detail)
                .map(str::to_owned),
            diagnosis: self.diagnosis,
            status: self.status.as_deref().cloned(),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rtt_ms: self.rtt_us.map(|us| f64::from(us) / 1000.0),
            since: rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(self.since_ms)),
            address: self.address.as_ref().map(Address::to_string),
            incarnation: self.incarnation.to_string(),
            restart: self.restart.map(|r| r.as_str().to_owned()),
            session: self.last_session.0,
            member: None,
        }
    }
}

/// The node table (sans-IO). See the module docs.
#[derive(Debug, Default)]
pub struct Registry {
    /// Boxed entries: B-tree nodes are often half full, and a half-empty node of boxes costs
    /// far less than one of whole entries.
    /// The name is shared with the session's driver ([`Joined::name`]).
    nodes: BTreeMap<Arc<str>, Box<Entry>>,
    /// Every distinct label set in use, to share one copy between nodes.
    label_sets: HashSet<Labels>,
    /// `label_sets.len()` after its last sweep of sets no node uses any more.
    label_sets_swept: usize,
    revision: u64,
    next_session: u64,
    changes: VecDeque<Change>,
}

/// RFC 3339 text of a wall-clock instant (UTC, millisecond precision).
pub fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

impl Registry {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The revision of the last change (0 before any).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every node, by name (built from the compact entries).
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        self.nodes.iter().map(|(name, e)| e.node(name))
    }

    /// One node.
    pub fn get(&self, name: &str) -> Option<Node> {
        self.nodes.get(name).map(|e| e.node(name))
    }

    /// How many nodes are remembered.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if no node is remembered.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The session that currently owns `name`, if it is alive or suspect.
    pub fn session_of(&self, name: &str) -> Option<SessionId> {
        self.nodes.get(name).and_then(|e| e.owner())
    }

    /// The address of `name` (advertised, else the one it connected from), if known.
    pub fn address(&self, name: &str) -> Option<String> {
        self.nodes
            .get(name)
            .and_then(|e| e.address.as_ref())
            .map(Address::to_string)
    }

    /// The shared copy of `labels` (sorted, keys unique, the last value of a repeated key
    /// wins).
    fn intern_labels(&mut self, labels: Vec<(String, String)>) -> Labels {
        let sorted: BTreeMap<String, String> = labels.into_iter().collect();
        let labels: Labels = sorted
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
            .collect();
        if let Some(shared) = self.label_sets.get(&labels) {
            return Arc::clone(shared);
        }
        if self.label_sets.len() >= 2 * self.label_sets_swept + 64 {
            // Forget the sets no node holds any more (amortised: the table has doubled).
            self.label_sets.retain(|l| Arc::strong_count(l) > 1);
            self.label_sets_swept = self.label_sets.len();
        }
        self.label_sets.insert(Arc::clone(&labels));
        labels
    }

    /// The next change to publish, oldest first.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    fn emit(&mut self, name: &str, event: ChangeKind) {
        if let Some(e) = self.nodes.get(name) {
            self.revision += 1;
            self.changes.push_back(Change {
                revision: self.revision,
                event,
                node: e.node(name),
                from: None,
                to: None,
            });
        }
    }

    /// A session completed its handshake. A live session of the same name is replaced
    /// (see [`Joined::replaced`]); with a new incarnation it is recorded `dead` with cause
    /// `reset` first, so watchers know the old process's work is gone.
    pub fn join(&mut self, join: Join, now: SystemTime) -> Result<Joined, RegistryFull> {
        if !self.nodes.contains_key(join.name.as_str()) && self.nodes.len() >= MAX_NODES {
            let victim = self
                .nodes
                .iter()
                .filter(|(_, e)| e.owner().is_none())
                .min_by_key(|(_, e)| e.since_ms)
                .map(|(k, _)| Arc::clone(k));
            match victim {
                Some(k) => self.remove(&k),
                None => return Err(RegistryFull(join.name)),
            }
        }
        self.next_session += 1;
        let session = SessionId(self.next_session);
        let mut replaced = None;
        let mut restart = None;
        if let Some(old) = self.nodes.get(join.name.as_str()) {
            let r = join.incarnation.restart_since(&old.incarnation);
            restart = Some(r);
            if let Some(old_session) = old.owner() {
                replaced = Some(old_session);
                if r != Restart::Same {
                    // Transition: alive/suspect → dead (reset): the process behind the old
                    // session is gone, replaced by a new incarnation.
                    self.ended(&join.name, old_session, &Cause::Reset, now);
                }
            }
        }
        let address = match (join.advertise, join.connected_from) {
            (Some(a), _) => Some(Address::Advertised(a.into_boxed_str())),
            (None, Some(ip)) => Some(Address::ConnectedFrom(ip)),
            (None, None) => None,
        };
        let entry = Entry {
            state: NodeState::Alive,
            diagnosis: None,
            restart,
            cause: None,
            status: None,
            labels: self.intern_labels(join.labels),
            rtt_us: None,
            since_ms: unix_ms(now),
            address,
            incarnation: join.incarnation,
            last_session: session,
            owner: session.0,
        };
        // Transition: (new) / dead / left / alive (replaced) → alive.
        let name = match self.nodes.get_mut(join.name.as_str()) {
            Some(old) => {
                **old = entry;
                self.nodes
                    .get_key_value(join.name.as_str())
                    .map_or_else(|| Arc::from(join.name.as_str()), |(k, _)| Arc::clone(k))
            }
            None => {
                let name: Arc<str> = Arc::from(join.name);
                self.nodes.insert(Arc::clone(&name), Box::new(entry));
                name
            }
        };
        self.emit(&name, ChangeKind::Join);
        Ok(Joined {
            name,
            session,
            replaced,
        })
    }

    /// The entry of `name` if `session` still owns it.
    fn owned(&mut self, name: &str, session: SessionId) -> Option<&mut Entry> {
        self.nodes
            .get_mut(name)
            .map(|e| &mut **e)
            .filter(|e| e.owner == session.0)
    }

    /// A heartbeat round trip (no change event: RTT is read from the list).
    pub fn rtt(&mut self, name: &str, session: SessionId, rtt: Duration) {
        if let Some(e) = self.owned(name, session) {
            e.rtt_us = Some(u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX));
        }
    }

    /// The detector finds the node's silence suspicious.
    pub fn suspect(&mut self, name: &str, session: SessionId, now: SystemTime) {
        // Transition: alive → suspect.
        self.shift(name, session, NodeState::Alive, NodeState::Suspect, now);
    }

    /// A suspect node was heard again.
    pub fn alive_again(&mut self, name: &str, session: SessionId, now: SystemTime) {
        // Transition: suspect → alive.
        self.shift(name, session, NodeState::Suspect, NodeState::Alive, now);
    }

    /// Moves the node from `from` to `to` (announcing it) if `session` owns it and it is in
    /// `from`; otherwise nothing happens.
    fn shift(
        &mut self,
        name: &str,
        session: SessionId,
        from: NodeState,
        to: NodeState,
        now: SystemTime,
    ) {
        if let Some(e) = self.owned(name, session)
            && e.state == from
        {
            e.state = to;
            e.since_ms = unix_ms(now);
            let kind = if to == NodeState::Suspect {
                ChangeKind::Suspect
            } else {
                ChangeKind::AliveAgain
            };
            self.emit(name, kind);
        }
    }

    /// The node reported its health. A `status` change is emitted when health or detail
    /// differ from the previous report (gauges alone update silently).
    pub fn status(&mut self, name: &str, session: SessionId, status: &Status) {
        if let Some(e) = self.owned(name, session) {
            let new = NodeStatus::from(status);
            let changed = e
                .status
                .as_ref()
                .is_none_or(|old| old.health != new.health || old.detail != new.detail);
            e.status = Some(Box::new(new));
            if changed {
                self.emit(name, ChangeKind::Status);
            }
        }
    }

    /// The session ended with `cause`: `goodbye` makes the node `left`, anything else `dead`.
    /// Returns the new state, or `None` if `session` no longer owns the node (it was
    /// replaced), in which case nothing changes.
    pub fn ended(
        &mut self,
        name: &str,
        session: SessionId,
        cause: &Cause,
        now: SystemTime,
    ) -> Option<NodeState> {
        let e = self.owned(name, session)?;
        let state = if *cause == Cause::Goodbye {
            NodeState::Left
        } else {
            NodeState::Dead
        };
        // Transition: alive/suspect → dead or left; the session no longer owns the node.
        e.owner = 0;
        e.state = state;
        e.cause = Some(cause.clone());
        e.since_ms = unix_ms(now);
        let kind = match state {
            NodeState::Left => ChangeKind::Left,
            _ => ChangeKind::Dead,
        };
        self.emit(name, kind);
        Some(state)
    }

    /// Forgets every node that has been dead or left since before `cutoff` (announcing each
    /// as [`ChangeKind::Forgotten`]). Returns how many were forgotten.
    pub fn forget_before(&mut self, cutoff: SystemTime) -> usize {
        let cutoff_ms = unix_ms(cutoff);
        let gone: Vec<Arc<str>> = self
            .nodes
            .iter()
            .filter(|(_, e)| e.owner().is_none() && e.since_ms < cutoff_ms)
            .map(|(k, _)| Arc::clone(k))
            .collect();
        for name in &gone {
            self.remove(name);
        }
        gone.len()
    }

    /// Removes a node, announcing it as forgotten.
    fn remove(&mut self, name: &str) {
        self.emit(name, ChangeKind::Forgotten);
        self.nodes.remove(name);
    }

    /// Records the probe verdict for a node that died in `session`; ignored if the node has
    /// joined again since.
    pub fn diagnosis(&mut self, name: &str, session: SessionId, diagnosis: Diagnosis) {
        let Some(e) = self.nodes.get_mut(name) else {
            return;
        };
        if e.last_session != session || e.state != NodeState::Dead {
            return;
        }
        e.diagnosis = Some(diagnosis);
        self.emit(name, ChangeKind::Diagnosis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkpulse_proto::Health;

    fn join(name: &str, nonce: u64) -> Join {
        Join {
            name: name.into(),
            labels: vec![("zone".into(), "a".into())],
            advertise: Some("10.0.0.1:80".into()),
            connected_from: None,
            incarnation: Incarnation::new([1; 16], nonce),
        }
    }

    fn drain(r: &mut Registry) -> Vec<(u64, &'static str, String)> {
        std::iter::from_fn(|| r.poll_change())
            .map(|c| (c.revision, c.event.as_str(), c.node.state.to_string()))
            .collect()
    }

    #[test]
    fn lifecycle_emits_changes_with_growing_revisions() {
        let mut r = Registry::new();
        let t = SystemTime::UNIX_EPOCH;
        let j = r.join(join("w1", 1), t).unwrap();
        assert_eq!(j.replaced, None);
        r.rtt("w1", j.session, Duration::from_micros(1500));
        r.suspect("w1", j.session, t);
        r.suspect("w1", j.session, t); // no second change
        r.alive_again("w1", j.session, t);
        let status = Status {
            health: Health::Degraded,
            detail: "disk".into(),
            gauges: vec![("load".into(), 0.5)],
        };
        r.status("w1", j.session, &status);
        r.status("w1", j.session, &status); // same health and detail: silent
        assert_eq!(
            r.ended("w1", j.session, &Cause::Timeout, t),
            Some(NodeState::Dead)
        );
        r.diagnosis("w1", j.session, Diagnosis::HostUnreachable);
        let changes = drain(&mut r);
        let names: Vec<_> = changes.iter().map(|c| c.1).collect();
        assert_eq!(
            names,
            [
                "join",
                "suspect",
                "alive_again",
                "status",
                "dead",
                "diagnosis"
            ]
        );
        assert!(changes.windows(2).all(|w| w[0].0 < w[1].0));
        let n = r.get("w1").unwrap();
        assert_eq!(n.cause.as_deref(), Some("timeout"));
        assert_eq!(n.diagnosis, Some(Diagnosis::HostUnreachable));
        assert_eq!(n.rtt_ms, Some(1.5));
        assert_eq!(n.since, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn goodbye_is_left_and_stale_sessions_are_ignored() {
        let mut r = Registry::new();
        let t = SystemTime::UNIX_EPOCH;
        let a = r.join(join("w1", 1), t).unwrap();
        // Same incarnation reconnects (e.g. a blip): old session replaced quietly.
        let b = r.join(join("w1", 1), t).unwrap();
        assert_eq!(b.replaced, Some(a.session));
        assert_eq!(r.ended("w1", a.session, &Cause::Local, t), None);
        assert_eq!(r.get("w1").unwrap().state, NodeState::Alive);
        assert_eq!(r.get("w1").unwrap().restart.as_deref(), Some("same"));
        assert_eq!(
            r.ended("w1", b.session, &Cause::Goodbye, t),
            Some(NodeState::Left)
        );
        let names: Vec<_> = drain(&mut r).into_iter().map(|c| c.1).collect();
        assert_eq!(names, ["join", "join", "left"]);
    }

    #[test]
    fn new_incarnation_kills_the_old_session_with_reset() {
        let mut r = Registry::new();
        let t = SystemTime::UNIX_EPOCH;
        let a = r.join(join("w1", 1), t).unwrap();
        let b = r.join(join("w1", 2), t).unwrap();
        assert_eq!(b.replaced, Some(a.session));
        let changes: Vec<_> = std::iter::from_fn(|| r.poll_change()).collect();
        assert_eq!(changes[1].event, ChangeKind::Dead);
        assert_eq!(changes[1].node.cause.as_deref(), Some("reset"));
        assert_eq!(changes[2].event, ChangeKind::Join);
        assert_eq!(
            changes[2].node.restart.as_deref(),
            Some("process_restarted")
        );
        // A late diagnosis of the old session does not touch the new one.
        r.diagnosis("w1", a.session, Diagnosis::ProcessGone);
        assert_eq!(r.get("w1").unwrap().diagnosis, None);
        assert!(r.poll_change().is_none());
    }

    #[test]
    fn compact_entries_show_the_same_node() {
        let mut r = Registry::new();
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_500);
        let mut j = join("w1", 7);
        j.labels = vec![
            ("b".into(), "1".into()),
            ("a".into(), "2".into()),
            ("b".into(), "3".into()),
        ];
        let s = r.join(j, t).unwrap();
        r.ended("w1", s.session, &Cause::Protocol("bad frame".into()), t);
        let n = r.get("w1").unwrap();
        let labels: Vec<_> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(labels, ["a=2", "b=3"], "sorted, last value of a key wins");
        assert_eq!(n.since, "1970-01-01T00:00:01.500Z");
        assert_eq!(n.cause.as_deref(), Some("protocol"));
        assert_eq!(n.cause_detail.as_deref(), Some("bad frame"));
        assert_eq!(n.address.as_deref(), Some("10.0.0.1:80"));
        assert_eq!(n.incarnation, Incarnation::new([1; 16], 7).to_string());
        assert_eq!(n.session, s.session.0);
        assert_eq!((r.len(), r.is_empty()), (1, false));
        assert_eq!(r.nodes().map(|n| n.name).collect::<Vec<_>>(), ["w1"]);
    }

    #[test]
    fn label_sets_are_shared_and_forgotten_when_unused() {
        let mut r = Registry::new();
        let t = SystemTime::UNIX_EPOCH;
        let mut a = join("w1", 1);
        a.advertise = None;
        a.connected_from = Some(IpAddr::from([10, 0, 0, 9]));
        r.join(a, t).unwrap();
        r.join(join("w2", 1), t).unwrap();
        let labels = |r: &Registry, n: &str| Arc::clone(&r.nodes.get(n).unwrap().labels);
        assert!(
            Arc::ptr_eq(&labels(&r, "w1"), &labels(&r, "w2")),
            "one copy"
        );
        assert_eq!(r.address("w1").as_deref(), Some("10.0.0.9"));
        assert_eq!(r.get("w1").unwrap().address.as_deref(), Some("10.0.0.9"));
        assert_eq!(r.address("w2").as_deref(), Some("10.0.0.1:80"));
        // A node that rejoins with new labels 1000 times leaves no pile of old sets.
        for i in 0..1000 {
            let mut j = join("w3", i);
            j.labels = vec![("id".into(), i.to_string())];
            r.join(j, t).unwrap();
        }
        assert!(r.label_sets.len() < 200, "{} sets kept", r.label_sets.len());
        assert_eq!(r.get("w3").unwrap().label("id"), Some("999"));
    }

    #[test]
    fn states_parse_and_reject_unknown_names() {
        assert_eq!("suspect".parse::<NodeState>(), Ok(NodeState::Suspect));
        assert_eq!(
            "zombie".parse::<NodeState>().unwrap_err().to_string(),
            "unknown node state \"zombie\" (expected alive, suspect, dead or left)"
        );
    }

    #[test]
    fn nodes_gone_longer_than_the_cutoff_are_forgotten_and_announced() {
        let mut r = Registry::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let dead = r.join(join("dead", 1), t0).unwrap();
        let left = r.join(join("left", 1), t0).unwrap();
        let late = r.join(join("late", 1), t0).unwrap();
        r.join(join("alive", 1), t0).unwrap();
        r.ended("dead", dead.session, &Cause::Timeout, t0);
        r.ended("left", left.session, &Cause::Goodbye, t0);
        // Died later: not yet past the cutoff.
        r.ended(
            "late",
            late.session,
            &Cause::Timeout,
            t0 + Duration::from_secs(60),
        );
        drain(&mut r);
        assert_eq!(r.forget_before(t0 + Duration::from_secs(30)), 2);
        let changes: Vec<(String, ChangeKind, NodeState)> = std::iter::from_fn(|| r.poll_change())
            .map(|c| (c.node.name, c.event, c.node.state))
            .collect();
        assert_eq!(
            changes,
            vec![
                ("dead".into(), ChangeKind::Forgotten, NodeState::Dead),
                ("left".into(), ChangeKind::Forgotten, NodeState::Left),
            ]
        );
        let names: Vec<String> = r.nodes().map(|n| n.name).collect();
        assert_eq!(names, ["alive", "late"]);
        // An alive node is never forgotten, however old.
        assert_eq!(r.forget_before(t0 + Duration::from_secs(3_600)), 1);
        assert_eq!(r.len(), 1);
        assert_eq!("forgotten".parse::<ChangeKind>(), Ok(ChangeKind::Forgotten));
        // A forgotten name that joins again is a new node (no restart verdict).
        let j = r.join(join("dead", 2), t0).unwrap();
        assert_eq!(j.replaced, None);
        assert_eq!(r.get("dead").unwrap().restart, None);
    }
}
