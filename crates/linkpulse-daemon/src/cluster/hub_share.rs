//! Cluster mode with `hub:`: this member's nodes published to the others through PostgreSQL,
//! and theirs merged into this hub's [`linkpulse_hub::SharedView`].
//!
//! A thread of its own (the sync `postgres` client, as the coordinator's) keeps two
//! connections: one writes this member's rows of `hub_nodes` — one per node its hub holds,
//! rewritten when the registry's revision moves — and announces them with
//! `NOTIFY linkpulse_hub_nodes, '<member>'` in the same transaction; the other `LISTEN`s on the
//! channel and, for each member named, reads that member's rows back into the view. Every
//! few seconds it reads every row (a notification lost while reconnecting is caught up), and
//! at each tick hands the view the live members (from the coordinator's last renewal,
//! [`ClusterView`]) and the time, so nodes of a member whose lease lapsed go in transit and,
//! after the agents' failover budget, `dead`. The decisions are the view's; this is its I/O.
//!
//! Database lost: both connections are dropped and opened again every second; meanwhile the
//! hub serves its own nodes and the other members' as last seen, `/readyz` and the log say
//! so. On reconnection this member's rows are rewritten in one transaction (never deleted
//! first: the others would see its nodes vanish).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use linkpulse_hub::{Hub, Node};
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use super::ClusterView;
use crate::health::Health;
use crate::storage::postgres::{PgTarget, describe};

/// The `NOTIFY` channel; the payload is the name of the member whose rows changed.
pub const CHANNEL: &str = "linkpulse_hub_nodes";

/// How long the thread waits for a notification before it looks at its own registry, the
/// members and the time again.
const TICK: Duration = Duration::from_millis(100);

/// How often every row is read again (notifications missed while reconnecting).
const FULL_RELOAD: Duration = Duration::from_secs(5);

/// How long the thread waits before it tries the database again after losing it.
const RETRY: Duration = Duration::from_secs(1);

/// The running thread; [`HubShareHandle::stop`] ends it.
#[derive(Debug)]
pub struct HubShareHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HubShareHandle {
    /// Stops publishing (before the hub closes its sessions at shutdown, so the others see
    /// this member's agents in transit rather than dead) and waits for the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts sharing `hub`'s nodes as member `member` through `target`'s database. The nodes of
/// a member whose lease lapsed stay in transit for `transit` (see `docs/cluster.md`).
pub fn start(
    hub: Hub,
    member: String,
    target: PgTarget,
    cluster: ClusterView,
    transit: Duration,
    health: Arc<Health>,
) -> std::io::Result<HubShareHandle> {
    hub.share_as(&member, transit);
    let stop = Arc::new(AtomicBool::new(false));
    let mut sharer = Sharer {
        hub,
        member,
        target,
        cluster,
        health,
        write: None,
        listen: None,
        published: HashMap::new(),
        published_rev: None,
        known: BTreeSet::new(),
        last_full: Instant::now(),
        problem: None,
        loaded: false,
    };
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("linkpulse-hub-share".to_owned())
        .spawn(move || sharer.run(&flag))?;
    Ok(HubShareHandle {
        stop,
        thread: Some(thread),
    })
}

struct Sharer {
    hub: Hub,
    member: String,
    target: PgTarget,
    cluster: ClusterView,
    health: Arc<Health>,
    /// Writes this member's rows.
    write: Option<Client>,
    /// `LISTEN`s (a connection of its own: notifications arrive between queries).
    listen: Option<Client>,
    /// This member's rows as last written: node → body.
    published: HashMap<String, String>,
    /// The registry revision they reflect (`None`: rewrite them all).
    published_rev: Option<u64>,
    /// The other members whose rows the view holds.
    known: BTreeSet<String>,
    last_full: Instant,
    /// Why the database is out of reach, while it is.
    problem: Option<String>,
    /// Whether the others' rows were read once.
    loaded: bool,
}

impl Sharer {
    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.step() {
                Ok(()) => {
                    if self.problem.take().is_some() {
                        tracing::info!("hub: the shared node table is reachable again");
                        self.health.hub_share(None);
                    }
                }
                Err(e) => {
                    let why = describe(&e);
                    if self.problem.is_none() {
                        tracing::warn!(error = %why, "hub: the shared node table is unreachable; showing this member's nodes and the other members' as last seen");
                    }
                    self.health.hub_share(Some(why.clone()));
                    self.problem = Some(why);
                    self.write = None;
                    self.listen = None;
                    self.published_rev = None;
                    let now = SystemTime::now();
                    self.hub.with_shared(|v| v.handle_resumed(now));
                    let until = Instant::now() + RETRY;
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                    }
                }
            }
            self.members();
        }
    }

    /// One round: publish this member's changes, wait up to [`TICK`] for the others'.
    fn step(&mut self) -> Result<(), postgres::Error> {
        if self.write.as_ref().is_none_or(Client::is_closed) {
            self.write = Some(self.target.connect()?);
            self.published_rev = None;
        }
        // The others' rows are read once the members are known (the coordinator's first
        // renewal), so the nodes of a member that lapsed long ago are never shown alive.
        if self.listen.as_ref().is_none_or(Client::is_closed) && self.members() {
            let mut c = self.target.connect()?;
            c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            self.listen = Some(c);
            self.reload_all(true)?;
        }
        self.publish()?;
        let mut changed = BTreeSet::new();
        if let Some(listen) = self.listen.as_mut() {
            let mut n = listen.notifications();
            let first = n.timeout_iter(TICK).next()?;
            if let Some(first) = first {
                changed.insert(first.payload().to_owned());
                let mut rest = n.iter();
                while let Some(more) = rest.next()? {
                    changed.insert(more.payload().to_owned());
                }
            }
        }
        if self.last_full.elapsed() >= FULL_RELOAD {
            return self.reload_all(false);
        }
        changed.remove(&self.member);
        for m in changed {
            self.reload_member(&m)?;
        }
        Ok(())
    }

    /// Rewrites the rows of the nodes that changed since the last round, in one transaction
    /// with its `NOTIFY`.
    fn publish(&mut self) -> Result<(), postgres::Error> {
        let (revision, nodes) = self.hub.local_nodes();
        if self.published_rev == Some(revision) {
            return Ok(());
        }
        let fresh = self.published_rev.is_none();
        let Some(client) = self.write.as_mut() else {
            return Ok(());
        };
        let mut now: HashMap<String, (String, String)> = HashMap::with_capacity(nodes.len());
        for n in nodes {
            let body = serde_json::to_string(&n).unwrap_or_default();
            now.insert(n.name, (n.state.as_str().to_owned(), body));
        }
        let mut tx = client.transaction()?;
        let mut wrote = false;
        if fresh {
            // Rows of nodes this hub no longer knows (a restart): dropped in the same
            // transaction as the rewrite, so the others never see the member empty.
            let names: Vec<&str> = now.keys().map(String::as_str).collect();
            tx.execute(
                "DELETE FROM hub_nodes WHERE member = $1 AND NOT (node = ANY($2))",
                &[&self.member, &names],
            )?;
            self.published.clear();
            wrote = true;
        }
        for (name, (state, body)) in &now {
            if self.published.get(name) == Some(body) {
                continue;
            }
            tx.execute(
                "INSERT INTO hub_nodes (node, member, state, body, updated_at)
                 VALUES ($1, $2, $3, $4, now())
                 ON CONFLICT (member, node) DO UPDATE SET
                     state = EXCLUDED.state, body = EXCLUDED.body, updated_at = now()",
                &[name, &self.member, state, body],
            )?;
            wrote = true;
        }
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|n| !now.contains_key(*n))
            .cloned()
            .collect();
        if !gone.is_empty() {
            tx.execute(
                "DELETE FROM hub_nodes WHERE member = $1 AND node = ANY($2)",
                &[&self.member, &gone],
            )?;
            wrote = true;
        }
        if wrote {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &self.member])?;
        }
        tx.commit()?;
        self.published = now.into_iter().map(|(n, (_, b))| (n, b)).collect();
        self.published_rev = Some(revision);
        Ok(())
    }

    fn reload_member(&mut self, member: &str) -> Result<(), postgres::Error> {
        let Some(c) = self.listen.as_mut() else {
            return Ok(());
        };
        let rows = c.query("SELECT body FROM hub_nodes WHERE member = $1", &[&member])?;
        let nodes = rows
            .iter()
            .filter_map(|r| parse(member, r.get(0)))
            .collect();
        self.known.insert(member.to_owned());
        self.hub
            .with_shared(|v| v.handle_remote(member, nodes, SystemTime::now()));
        Ok(())
    }

    /// Reads every other member's rows (also those of members that hold none any more).
    /// Right after connecting (`reconnected`), a member whose rows are all missing keeps its
    /// nodes: a database that crashed may have lost its last commits, which that member
    /// writes again when it reconnects (and announces); the next full read settles it.
    fn reload_all(&mut self, reconnected: bool) -> Result<(), postgres::Error> {
        let Some(c) = self.listen.as_mut() else {
            return Ok(());
        };
        let rows = c.query(
            "SELECT member, body FROM hub_nodes WHERE member <> $1",
            &[&self.member],
        )?;
        let mut by_member: BTreeMap<String, Vec<Node>> = BTreeMap::new();
        for r in &rows {
            let member: String = r.get(0);
            if let Some(n) = parse(&member, r.get(1)) {
                by_member.entry(member).or_default().push(n);
            }
        }
        let mut found: HashSet<String> = by_member.keys().cloned().collect();
        for m in &self.known {
            if reconnected {
                found.insert(m.clone());
            } else {
                by_member.entry(m.clone()).or_default();
            }
        }
        let now = SystemTime::now();
        self.hub.with_shared(|v| {
            for (m, nodes) in by_member {
                v.handle_remote(&m, nodes, now);
            }
        });
        self.known = found.into_iter().collect();
        self.last_full = Instant::now();
        self.loaded = true;
        Ok(())
    }

    /// The live members as of the coordinator's last renewal, since when the others' leases
    /// ran out, and the time, to the view; false before the first renewal.
    fn members(&mut self) -> bool {
        let Some(status) = self.cluster.get() else {
            return false;
        };
        let now = SystemTime::now();
        if self.problem.is_some() || status.database != "reachable" {
            // No member list to trust without the database: lapses do not age meanwhile, so
            // no node goes dead for the time nobody could tell.
            self.hub.with_shared(|v| v.handle_resumed(now));
            return true;
        }
        // How long ago each lapsed lease ran out, on the database's clock only (this member's
        // last renewal against the other's expiry), placed on this member's clock.
        let db_now = status
            .members
            .iter()
            .find(|m| m.name == self.member)
            .map(|m| m.last_renewal_ms)
            .or_else(|| status.members.iter().map(|m| m.last_renewal_ms).max())
            .unwrap_or(0);
        self.hub.with_shared(|v| {
            // Only before the others' rows are first read: later, a lapse is noticed when it
            // happens (and leases that lapsed during a database outage, renewed at once when
            // it ends, must not count from their expiry).
            for m in status.members.iter().filter(|m| !m.live && !self.loaded) {
                let ago = u64::try_from(db_now.saturating_sub(m.lease_expires_ms)).unwrap_or(0);
                let at = now.checked_sub(Duration::from_millis(ago)).unwrap_or(now);
                v.handle_lapse(&m.name, at, now);
            }
            v.handle_members(
                status
                    .members
                    .iter()
                    .filter(|m| m.live)
                    .map(|m| m.name.as_str()),
                now,
            );
            v.handle_timeout(now);
        });
        true
    }
}

fn parse(member: &str, body: &str) -> Option<Node> {
    serde_json::from_str(body)
        .inspect_err(
            |e| tracing::warn!(member, error = %e, "hub: ignoring an unreadable row of hub_nodes"),
        )
        .ok()
}
