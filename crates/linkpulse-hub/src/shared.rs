//! The registry of a cluster, sans-IO: this member's nodes merged with the nodes the other
//! members publish, and agents that fail over from a dead member told as `moved`.
//!
//! In cluster mode every member's hub holds the sessions of the agents connected to it (its
//! [`crate::Registry`]) and publishes those nodes to the others (the daemon does it through
//! PostgreSQL). A [`SharedView`] merges them: for each node name it keeps one candidate per
//! member that knows it and shows the best one, with [`Node::member`] naming the member that
//! holds its session. It never reads a clock or a socket: the driver feeds it this member's
//! own changes ([`SharedView::handle_local`]), every other member's current rows
//! ([`SharedView::handle_remote`]), the live members ([`SharedView::handle_members`]; before
//! the first rows, when the leases of those not live ran out: [`SharedView::handle_lapse`]),
//! the end of a database outage ([`SharedView::handle_resumed`]) and timeouts
//! ([`SharedView::handle_timeout`], due at [`SharedView::poll_timeout`]), each with the
//! wall-clock `now`, and drains the merged [`Change`]s with [`SharedView::poll_change`]
//! (revisions of its own, growing).
//!
//! # Which candidate is shown
//!
//! ```text
//!   rank 3  alive/suspect, held by a live member (the newest `since` wins: the latest session)
//!   rank 2  alive/suspect, held by a member whose lease lapsed, for `transit` after that was
//!           noticed ("in transit": its agent is failing over; shown unchanged, no event)
//!   rank 1  dead/left; or alive/suspect of a lapsed member after `transit`, shown `dead` with
//!           cause `member_lost`
//! ```
//!
//! # Events
//!
//! When the shown node changes, watchers get one change, derived from before and after:
//! `moved` when it was alive/suspect (or in transit) on one member and is alive/suspect on
//! another — never `dead` then `join` for an agent that failed over within `transit`;
//! otherwise `join`, `status`, `suspect`, `alive_again`, `dead`, `left`, `diagnosis` or
//! `forgotten`, as a single hub tells them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use crate::registry::{Change, ChangeKind, Node, NodeState, rfc3339};

/// The cause of a node whose member died and which did not reappear on another member in
/// time.
pub const MEMBER_LOST: &str = "member_lost";

/// The merged node table of a cluster member (sans-IO). See the module docs.
#[derive(Debug)]
pub struct SharedView {
    me: String,
    transit: Duration,
    /// Candidates: node name → member → the node as that member holds it.
    rows: BTreeMap<String, BTreeMap<String, Node>>,
    /// Members known not to be live, with when their lease ran out (or, when not told, when
    /// that was first noticed).
    lapsed: BTreeMap<String, SystemTime>,
    /// The live members as last told (`None` before [`SharedView::handle_members`]).
    live: Option<BTreeSet<String>>,
    /// What watchers were last told, per node.
    shown: BTreeMap<String, Node>,
    revision: u64,
    changes: VecDeque<Change>,
}

/// One candidate, ranked.
#[derive(Debug)]
struct Ranked {
    rank: u8,
    node: Node,
}

fn live_state(s: NodeState) -> bool {
    matches!(s, NodeState::Alive | NodeState::Suspect)
}

impl SharedView {
    /// The view of member `me`; the nodes of a member whose lease lapsed stay in transit for
    /// `transit` (the agents' failover budget) before they are shown `dead`.
    pub fn new(me: impl Into<String>, transit: Duration) -> Self {
        SharedView {
            me: me.into(),
            transit,
            rows: BTreeMap::new(),
            lapsed: BTreeMap::new(),
            live: None,
            shown: BTreeMap::new(),
            revision: 0,
            changes: VecDeque::new(),
        }
    }

    /// This member's name.
    pub fn member(&self) -> &str {
        &self.me
    }

    /// The revision of the last merged change (0 before any).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Every node as shown, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.shown.values()
    }

    /// One node as shown.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.shown.get(name)
    }

    /// The next merged change, oldest first.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    /// A change of this member's own registry.
    pub fn handle_local(&mut self, change: &Change, now: SystemTime) {
        let name = &change.node.name;
        if change.event == ChangeKind::Forgotten {
            if let Some(m) = self.rows.get_mut(name) {
                m.remove(&self.me);
            }
        } else {
            let mut node = change.node.clone();
            node.member = Some(self.me.clone());
            self.rows
                .entry(name.clone())
                .or_default()
                .insert(self.me.clone(), node);
        }
        self.refresh(name, now);
    }

    /// Every node member `member` holds now (its rows as published), replacing what it held
    /// before. Rows naming this member are ignored (its own registry is the truth).
    pub fn handle_remote(&mut self, member: &str, nodes: Vec<Node>, now: SystemTime) {
        if member == self.me {
            return;
        }
        let mut touched: BTreeSet<String> = self
            .rows
            .iter_mut()
            .filter_map(|(name, m)| m.remove(member).map(|_| name.clone()))
            .collect();
        if self
            .live
            .as_ref()
            .is_some_and(|live| !live.contains(member))
        {
            // Rows of a member not live: lapsed from now, unless its lapse time is known.
            self.lapsed.entry(member.to_owned()).or_insert(now);
        }
        for mut node in nodes {
            node.member = Some(member.to_owned());
            touched.insert(node.name.clone());
            self.rows
                .entry(node.name.clone())
                .or_default()
                .insert(member.to_owned(), node);
        }
        for name in touched {
            self.refresh(&name, now);
        }
    }

    /// The members whose lease runs now. Every other member holding nodes is lapsed from
    /// `now`, unless [`SharedView::handle_lapse`] said since when.
    pub fn handle_members<'a>(&mut self, live: impl IntoIterator<Item = &'a str>, now: SystemTime) {
        let live: BTreeSet<String> = live.into_iter().map(str::to_owned).collect();
        let holders: BTreeSet<String> = self
            .rows
            .values()
            .flat_map(|m| m.keys())
            .filter(|m| **m != self.me)
            .cloned()
            .collect();
        let before = self.lapsed.clone();
        // Transition: lapsed → live (it renewed again): its nodes are its own again.
        self.lapsed.retain(|m, _| !live.contains(m));
        for m in holders.iter().filter(|m| !live.contains(*m)) {
            // Transition: live → lapsed.
            self.lapsed.entry(m.clone()).or_insert(now);
        }
        self.live = Some(live);
        if before != self.lapsed {
            self.refresh_all(now);
        }
    }

    /// Member `member`'s lease ran out at `at` (on this member's clock): its nodes are in
    /// transit until `at + transit`, then `dead`. Tell it before the rows of a member lapsed
    /// long ago are loaded, so they are never shown alive. Ignored for a live member.
    pub fn handle_lapse(&mut self, member: &str, at: SystemTime, now: SystemTime) {
        if member == self.me || self.live.as_ref().is_some_and(|l| l.contains(member)) {
            return;
        }
        let slot = self.lapsed.entry(member.to_owned()).or_insert(at);
        if at < *slot {
            *slot = at;
        } else {
            return;
        }
        self.refresh_all(now);
    }

    /// The member list could not be trusted for a while (a database outage): every lapse
    /// counts from `now`, so no node is declared dead for the time nobody could tell.
    pub fn handle_resumed(&mut self, now: SystemTime) {
        for at in self.lapsed.values_mut() {
            *at = (*at).max(now);
        }
    }

    /// When [`SharedView::handle_timeout`] is next due: the end of the earliest transit.
    pub fn poll_timeout(&self, now: SystemTime) -> Option<SystemTime> {
        self.lapsed
            .values()
            .map(|t| *t + self.transit)
            .filter(|due| *due > now)
            .min()
    }

    /// Time passed: nodes whose transit ended are shown `dead` (cause `member_lost`).
    pub fn handle_timeout(&mut self, now: SystemTime) {
        self.refresh_all(now);
    }

    fn refresh_all(&mut self, now: SystemTime) {
        let names: Vec<String> = self.rows.keys().cloned().collect();
        for name in names {
            self.refresh(&name, now);
        }
    }

    /// The candidate of `member` for a node, ranked at `now`.
    fn rank(&self, member: &str, node: &Node, now: SystemTime) -> Ranked {
        let lapsed = self.lapsed.get(member).filter(|_| member != self.me);
        match (live_state(node.state), lapsed) {
            (true, None) => Ranked {
                rank: 3,
                node: node.clone(),
            },
            (true, Some(since)) if now < *since + self.transit => Ranked {
                rank: 2,
                node: node.clone(),
            },
            (true, Some(since)) => {
                // Transition: in transit → dead (member_lost): no member took the agent in.
                let mut dead = node.clone();
                dead.state = NodeState::Dead;
                dead.cause = Some(MEMBER_LOST.to_owned());
                dead.cause_detail = Some(format!(
                    "member {member} stopped renewing its lease and the node did not reconnect to another member within {}",
                    humantime::format_duration(self.transit)
                ));
                dead.since = rfc3339(*since + self.transit);
                Ranked {
                    rank: 1,
                    node: dead,
                }
            }
            (false, _) => Ranked {
                rank: 1,
                node: node.clone(),
            },
        }
    }

    /// Recomputes what `name` shows and emits the change, if any.
    fn refresh(&mut self, name: &str, now: SystemTime) {
        let best = self.rows.get(name).and_then(|m| {
            m.iter()
                .map(|(member, node)| self.rank(member, node, now))
                .max_by(|a, b| {
                    (a.rank, &a.node.since)
                        .cmp(&(b.rank, &b.node.since))
                        .then_with(|| b.node.member.cmp(&a.node.member))
                })
        });
        if self.rows.get(name).is_some_and(BTreeMap::is_empty) {
            self.rows.remove(name);
        }
        let before = self.shown.get(name);
        let (event, from) = match (before, &best) {
            (None, None) => return,
            (Some(old), None) => {
                let old = old.clone();
                self.shown.remove(name);
                self.emit(ChangeKind::Forgotten, old, None);
                return;
            }
            (None, Some(b)) => (appeared(b.node.state), None),
            (Some(old), Some(b)) => {
                if *old == b.node {
                    return;
                }
                match derive(old, &b.node) {
                    Some(e) => e,
                    None => {
                        // Only the RTT changed: shown, not announced.
                        self.shown.insert(name.to_owned(), b.node.clone());
                        return;
                    }
                }
            }
        };
        let node = best.map(|b| b.node).unwrap_or_else(|| unreachable!());
        self.shown.insert(name.to_owned(), node.clone());
        self.emit(event, node, from);
    }

    fn emit(&mut self, event: ChangeKind, node: Node, from: Option<String>) {
        self.revision += 1;
        let to = (event == ChangeKind::Moved)
            .then(|| node.member.clone())
            .flatten();
        self.changes.push_back(Change {
            revision: self.revision,
            event,
            node,
            from,
            to,
        });
    }
}

/// The event of a node that was not shown before.
fn appeared(state: NodeState) -> ChangeKind {
    match state {
        NodeState::Alive => ChangeKind::Join,
        NodeState::Suspect => ChangeKind::Suspect,
        NodeState::Dead => ChangeKind::Dead,
        NodeState::Left => ChangeKind::Left,
    }
}

/// The event that takes watchers from `old` to `new` (and the member it moved from), or
/// `None` when nothing they are told about changed.
fn derive(old: &Node, new: &Node) -> Option<(ChangeKind, Option<String>)> {
    use NodeState::{Alive, Dead, Left, Suspect};
    if old.member != new.member && live_state(old.state) && live_state(new.state) {
        return Some((ChangeKind::Moved, old.member.clone()));
    }
    let kind = match (old.state, new.state) {
        (Dead | Left, Alive) => ChangeKind::Join,
        (Dead | Left, Suspect) => ChangeKind::Suspect,
        (Suspect, Alive) => ChangeKind::AliveAgain,
        (Alive, Suspect) => ChangeKind::Suspect,
        (_, Dead) if old.state != Dead => ChangeKind::Dead,
        (_, Left) if old.state != Left => ChangeKind::Left,
        _ if old.session != new.session || old.member != new.member => {
            appeared(new.state).max_join()
        }
        _ if old.diagnosis != new.diagnosis => ChangeKind::Diagnosis,
        _ if old.status != new.status => ChangeKind::Status,
        _ if old.cause != new.cause || old.labels != new.labels || old.since != new.since => {
            appeared(new.state)
        }
        _ => return None,
    };
    Some((kind, None))
}

impl ChangeKind {
    /// A new session of a node alive before is a join (as a single hub tells it).
    fn max_join(self) -> ChangeKind {
        match self {
            ChangeKind::Suspect => ChangeKind::Join,
            k => k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSIT: Duration = Duration::from_secs(12);

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn node(name: &str, state: NodeState, since: u64, session: u64) -> Node {
        Node {
            name: name.into(),
            state,
            cause: (state == NodeState::Dead).then(|| "reset".to_owned()),
            cause_detail: None,
            diagnosis: None,
            status: None,
            labels: Default::default(),
            rtt_ms: None,
            since: rfc3339(t(since)),
            address: None,
            incarnation: "i".into(),
            restart: None,
            session,
            member: None,
        }
    }

    fn local(view: &mut SharedView, event: ChangeKind, n: Node, now: u64) {
        let c = Change {
            revision: 0,
            event,
            node: n,
            from: None,
            to: None,
        };
        view.handle_local(&c, t(now));
    }

    fn drain(view: &mut SharedView) -> Vec<(ChangeKind, String, Option<String>)> {
        std::iter::from_fn(|| view.poll_change())
            .map(|c| (c.event, c.node.member.unwrap_or_default(), c.from))
            .collect()
    }

    #[test]
    fn remote_nodes_are_shown_with_their_member() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 1)], t(1));
        local(
            &mut b,
            ChangeKind::Join,
            node("w2", NodeState::Alive, 1, 1),
            1,
        );
        assert_eq!(
            drain(&mut b),
            [
                (ChangeKind::Join, "a".into(), None),
                (ChangeKind::Join, "b".into(), None)
            ]
        );
        let names: Vec<_> = b.nodes().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["w1", "w2"]);
        assert_eq!(b.revision(), 2);
        // The rows of a member are replaced as a whole: w1 is gone from a → forgotten.
        b.handle_remote("a", vec![], t(2));
        assert_eq!(drain(&mut b), [(ChangeKind::Forgotten, "a".into(), None)]);
    }

    #[test]
    fn an_agent_failing_over_from_a_killed_member_is_moved_not_dead() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(0));
        drain(&mut b);
        // a is killed; its agent reconnects to b before a's lease lapses.
        local(
            &mut b,
            ChangeKind::Join,
            node("w1", NodeState::Alive, 2, 1),
            2,
        );
        assert_eq!(
            drain(&mut b),
            [(ChangeKind::Moved, "b".into(), Some("a".into()))]
        );
        // a's lease lapses, its transit ends: its stale row never shows again.
        b.handle_members(["b"], t(10));
        b.handle_timeout(t(40));
        assert_eq!(drain(&mut b), []);
        assert_eq!(b.get("w1").unwrap().state, NodeState::Alive);
    }

    #[test]
    fn a_node_reappearing_after_the_lease_lapsed_but_within_transit_is_moved() {
        let mut c = SharedView::new("c", TRANSIT);
        c.handle_members(["a", "b", "c"], t(0));
        c.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(0));
        drain(&mut c);
        c.handle_members(["b", "c"], t(10));
        assert_eq!(c.poll_timeout(t(10)), Some(t(22)));
        c.handle_timeout(t(15));
        assert_eq!(drain(&mut c), [], "in transit: nothing said yet");
        c.handle_remote("b", vec![node("w1", NodeState::Alive, 14, 3)], t(16));
        assert_eq!(
            drain(&mut c),
            [(ChangeKind::Moved, "b".into(), Some("a".into()))]
        );
        c.handle_timeout(t(30));
        assert_eq!(drain(&mut c), []);
    }

    #[test]
    fn a_node_that_does_not_reappear_in_time_is_dead_with_cause_member_lost() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(0));
        drain(&mut b);
        b.handle_members(["b"], t(10));
        b.handle_timeout(t(21));
        assert_eq!(drain(&mut b), []);
        b.handle_timeout(t(22));
        assert_eq!(drain(&mut b), [(ChangeKind::Dead, "a".into(), None)]);
        let w1 = b.get("w1").unwrap();
        assert_eq!(w1.cause.as_deref(), Some(MEMBER_LOST));
        assert_eq!(w1.since, rfc3339(t(22)));
        // It comes back later: a join, as for any dead node.
        local(
            &mut b,
            ChangeKind::Join,
            node("w1", NodeState::Alive, 30, 1),
            30,
        );
        assert_eq!(drain(&mut b), [(ChangeKind::Join, "b".into(), None)]);
    }

    #[test]
    fn a_member_renewing_again_brings_its_nodes_back_from_transit() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(0));
        b.handle_members(["b"], t(10));
        b.handle_members(["a", "b"], t(12));
        b.handle_timeout(t(40));
        drain(&mut b);
        assert_eq!(b.get("w1").unwrap().state, NodeState::Alive);
        assert_eq!(b.poll_timeout(t(40)), None);
    }

    #[test]
    fn rows_of_a_member_lapsed_long_ago_are_never_shown_alive() {
        // c starts while a has been dead for an hour: it learns the lapse, then a's rows.
        let mut c = SharedView::new("c", TRANSIT);
        c.handle_lapse("a", t(0), t(3600));
        c.handle_members(["b", "c"], t(3600));
        c.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(3600));
        assert_eq!(drain(&mut c), [(ChangeKind::Dead, "a".into(), None)]);
        assert_eq!(c.get("w1").unwrap().cause.as_deref(), Some(MEMBER_LOST));
        // Rows of a member the list does not name at all are lapsed from when they appear.
        c.handle_remote("x", vec![node("w9", NodeState::Alive, 0, 1)], t(3600));
        assert_eq!(c.poll_timeout(t(3600)), Some(t(3612)));
        c.handle_timeout(t(3612));
        let w9 = drain(&mut c);
        assert_eq!(
            w9,
            [
                (ChangeKind::Join, "x".into(), None),
                (ChangeKind::Dead, "x".into(), None)
            ]
        );
    }

    #[test]
    fn after_a_database_outage_transit_starts_again() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote("a", vec![node("w1", NodeState::Alive, 0, 7)], t(0));
        b.handle_members(["b"], t(1));
        // The database was away from 2 s to 20 s: nothing was known meanwhile.
        b.handle_resumed(t(20));
        b.handle_timeout(t(25));
        drain(&mut b);
        assert_eq!(b.get("w1").unwrap().state, NodeState::Alive);
        assert_eq!(b.poll_timeout(t(25)), Some(t(32)));
    }

    #[test]
    fn a_clean_leave_stays_a_leave_and_a_dead_agent_is_dead_everywhere() {
        let mut b = SharedView::new("b", TRANSIT);
        b.handle_members(["a", "b"], t(0));
        b.handle_remote(
            "a",
            vec![
                node("w1", NodeState::Alive, 0, 1),
                node("w2", NodeState::Alive, 0, 2),
            ],
            t(0),
        );
        drain(&mut b);
        b.handle_remote(
            "a",
            vec![
                node("w1", NodeState::Left, 5, 1),
                node("w2", NodeState::Dead, 5, 2),
            ],
            t(5),
        );
        assert_eq!(
            drain(&mut b),
            [
                (ChangeKind::Left, "a".into(), None),
                (ChangeKind::Dead, "a".into(), None)
            ]
        );
        // a dies afterwards: left and dead nodes are not in transit, nothing changes.
        b.handle_members(["b"], t(10));
        b.handle_timeout(t(30));
        assert_eq!(drain(&mut b), []);
        assert_eq!(b.get("w2").unwrap().cause.as_deref(), Some("reset"));
    }

    #[test]
    fn the_member_an_agent_left_sees_it_moved_not_dead() {
        // a keeps running but loses its path to the agent, which fails over to b.
        let mut a = SharedView::new("a", TRANSIT);
        a.handle_members(["a", "b"], t(0));
        local(
            &mut a,
            ChangeKind::Join,
            node("w1", NodeState::Alive, 0, 1),
            0,
        );
        local(
            &mut a,
            ChangeKind::Suspect,
            node("w1", NodeState::Suspect, 3, 1),
            3,
        );
        a.handle_remote("b", vec![node("w1", NodeState::Alive, 4, 9)], t(4));
        local(
            &mut a,
            ChangeKind::Dead,
            node("w1", NodeState::Dead, 5, 1),
            5,
        );
        assert_eq!(
            drain(&mut a),
            [
                (ChangeKind::Join, "a".into(), None),
                (ChangeKind::Suspect, "a".into(), None),
                (ChangeKind::Moved, "b".into(), Some("a".into())),
            ]
        );
        // Local status changes of the shown node are told as a single hub tells them.
        a.handle_remote("b", vec![node("w1", NodeState::Suspect, 6, 9)], t(6));
        a.handle_remote("b", vec![node("w1", NodeState::Alive, 7, 9)], t(7));
        assert_eq!(
            drain(&mut a),
            [
                (ChangeKind::Suspect, "b".into(), None),
                (ChangeKind::AliveAgain, "b".into(), None)
            ]
        );
    }
}
