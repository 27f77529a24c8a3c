//! The coordinator's thread: lease renewals against PostgreSQL, role changes to the engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use linkpulse_checks::VantageRole;
use linkpulse_cluster::{Coordinator, DatabaseState, Effect, Placement, Role, Settings};

use super::members::{self, MemberStatus};
use super::vantage::{Poller, VantageViews};
use super::{ClusterCheck, ClusterStatus, ClusterView};
use crate::config::cluster::ClusterConfig;
use crate::engine::EngineHandle;
use crate::health::Health;
use crate::storage::Storage;
use crate::storage::postgres::PgTarget;

enum Msg {
    Checks(Vec<ClusterCheck>),
    Address(String),
    Stop,
}

/// Tells the driver the checks after a reload (the engine holds one).
#[derive(Debug, Clone)]
pub struct ClusterNotifier(mpsc::Sender<Msg>);

impl ClusterNotifier {
    /// The configuration's checks changed (a reload): ownership is computed again.
    pub fn set_checks(&self, checks: Vec<ClusterCheck>) {
        let _ = self.0.send(Msg::Checks(checks));
    }
}

/// The running driver: tell it the checks after a reload, stop it at shutdown.
#[derive(Debug)]
pub struct ClusterHandle {
    tx: mpsc::Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClusterHandle {
    /// A handle for the engine, which tells the driver the checks after a reload.
    pub fn notifier(&self) -> ClusterNotifier {
        ClusterNotifier(self.tx.clone())
    }

    /// The address the API was bound to (shown to the other members and operators), when
    /// `cluster.address` does not say.
    pub fn set_address(&self, address: String) {
        let _ = self.tx.send(Msg::Address(address));
    }

    /// Leaves the cluster (the member's row is deleted, so the others take its checks at
    /// their next renewal instead of after the lease) and waits for the thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the driver needs.
struct Driver {
    cfg: ClusterConfig,
    address: String,
    target: PgTarget,
    storage: Arc<dyn Storage>,
    engine: EngineHandle,
    view: ClusterView,
    health: Arc<Health>,
    client: Option<postgres::Client>,
    /// The checks this member runs or decides, with its role; multi-vantage checks only in
    /// `vantage_checks`.
    owned: BTreeMap<String, Role>,
    vantage_checks: std::collections::BTreeSet<String>,
    /// Reads the vantages' results and hands the combined verdicts to the engine.
    poller: Option<Poller>,
    /// Multi-vantage checks this member will decide once their hand-over wait is over.
    promotions: Vec<(String, Instant)>,
    /// The placement of each multi-vantage check, and where their deciders are published.
    vantage_placements: Vec<(String, Placement)>,
    vantages: VantageViews,
    members: Vec<MemberStatus>,
    epoch: Instant,
}

/// Starts the coordinator's thread for `cfg`, sharing `checks` (each on one member, or on
/// every member of its vantages) with the other members of `target`'s database; the
/// per-vantage results of multi-vantage checks are published in `vantages`.
#[allow(clippy::too_many_arguments)]
pub fn start(
    cfg: ClusterConfig,
    address: String,
    target: PgTarget,
    checks: Vec<ClusterCheck>,
    storage: Arc<dyn Storage>,
    engine: EngineHandle,
    view: ClusterView,
    vantages: VantageViews,
    health: Arc<Health>,
) -> std::io::Result<ClusterHandle> {
    let (tx, rx) = mpsc::channel();
    let poller = Poller::start(
        &checks,
        cfg.lease,
        storage.clone(),
        engine.clone(),
        vantages.clone(),
    )?;
    let mut driver = Driver {
        cfg,
        address,
        target,
        storage,
        engine,
        view,
        health,
        client: None,
        owned: BTreeMap::new(),
        vantage_checks: Default::default(),
        poller: Some(poller),
        promotions: Vec::new(),
        vantage_placements: Vec::new(),
        vantages,
        members: Vec::new(),
        epoch: Instant::now(),
    };
    let thread = std::thread::Builder::new()
        .name("linkpulse-cluster".to_owned())
        .spawn(move || driver.run(checks, &rx))?;
    Ok(ClusterHandle {
        tx,
        thread: Some(thread),
    })
}

fn placed(checks: &[ClusterCheck]) -> impl Iterator<Item = (String, Placement)> + '_ {
    checks.iter().map(|c| (c.name.clone(), c.placement()))
}

impl Driver {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn set_checks(&mut self, coord: &mut Coordinator, checks: Vec<ClusterCheck>) {
        let before = std::mem::replace(
            &mut self.vantage_checks,
            checks
                .iter()
                .filter(|c| c.vantage.is_some())
                .map(|c| c.name.clone())
                .collect(),
        );
        coord.set_checks(placed(&checks));
        self.vantage_placements = placed(&checks)
            .filter(|(_, p)| *p != Placement::Single)
            .collect();
        self.publish_deciders(coord);
        if let Some(p) = &self.poller {
            p.set_checks(checks);
        }
        // A check this member holds that gained or lost `vantage:` (a reload) may keep the
        // same role, so no role change comes for it: it leaves the engine and joins again
        // with its new kind of role.
        let flipped: Vec<String> = self
            .owned
            .keys()
            .filter(|n| before.contains(*n) != self.vantage_checks.contains(*n))
            .cloned()
            .collect();
        if !flipped.is_empty() {
            for n in &flipped {
                self.owned.remove(n);
            }
            self.engine.ownership_blocking(Vec::new(), flipped.clone());
            let again = flipped
                .into_iter()
                .map(|n| {
                    let role = coord.role(&n);
                    (n, role)
                })
                .collect();
            self.roles(again);
        }
    }

    fn run(&mut self, checks: Vec<ClusterCheck>, rx: &mpsc::Receiver<Msg>) {
        let settings = Settings {
            node: self.cfg.node.clone(),
            vantage: self.cfg.vantage.clone(),
            lease_ms: u64::try_from(self.cfg.lease.as_millis()).unwrap_or(u64::MAX),
        };
        let mut coord = Coordinator::new(settings, self.now_ms());
        self.set_checks(&mut coord, checks);
        tracing::info!(node = %self.cfg.node, vantage = %self.cfg.vantage, lease = ?self.cfg.lease, "joining the cluster");
        loop {
            coord.handle_timeout(self.now_ms());
            self.carry_out(&mut coord);
            self.promote_due(&coord);
            let wait = coord
                .poll_timeout()
                .map_or(1_000, |due| due.saturating_sub(self.now_ms()));
            let promotion = self.promotions.iter().map(|(_, at)| *at).min().map(|at| {
                u64::try_from(at.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(0)
            });
            let wait = promotion.map_or(wait, |p| wait.min(p));
            match rx.recv_timeout(Duration::from_millis(wait)) {
                Ok(Msg::Checks(checks)) => self.set_checks(&mut coord, checks),
                Ok(Msg::Address(a)) => {
                    if self.cfg.address.is_none() {
                        self.address = a;
                    }
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(p) = self.poller.take() {
                        p.stop();
                    }
                    coord.leave();
                    self.carry_out(&mut coord);
                    tracing::info!(node = %self.cfg.node, "left the cluster");
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn carry_out(&mut self, coord: &mut Coordinator) {
        while let Some(effect) = coord.poll_effect() {
            match effect {
                Effect::Renew { lease_ms } => match self.renew(lease_ms) {
                    Ok(r) => {
                        self.members = r.status;
                        coord.handle_renewed(self.now_ms(), r.rows, r.db_now_ms);
                        self.publish_deciders(coord);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cluster lease renewal failed");
                        self.client = None;
                        self.health.cluster_database(Some(e));
                        coord.handle_renew_failed(self.now_ms());
                    }
                },
                Effect::Roles(changes) => self.roles(changes),
                Effect::Database(DatabaseState::Unreachable) => {
                    tracing::warn!(
                        "cluster: the database is unreachable; this member keeps running the {} checks it owns and takes over none until it returns",
                        self.owned.len()
                    );
                }
                Effect::Database(DatabaseState::Reachable) => {
                    self.health.cluster_database(None);
                    tracing::info!("cluster: the database is reachable again");
                }
                Effect::Deregister => {
                    if let Some(c) = self.client.as_mut()
                        && let Err(e) = members::deregister(c, &self.cfg.node)
                    {
                        tracing::warn!(error = %crate::storage::postgres::describe(&e), "cluster: could not delete this member's row; its lease will lapse");
                    }
                }
            }
            self.publish(coord);
        }
    }

    fn renew(&mut self, lease_ms: u64) -> Result<members::Renewed, String> {
        let describe = |e: postgres::Error| crate::storage::postgres::describe(&e);
        let client = match self.client.as_mut() {
            Some(c) if !c.is_closed() => c,
            _ => self.client.insert(self.target.connect().map_err(describe)?),
        };
        members::renew(
            client,
            &self.cfg.node,
            &self.cfg.vantage,
            &self.address,
            Duration::from_millis(lease_ms),
            i64::try_from(self.owned.len()).unwrap_or(i64::MAX),
        )
        .map_err(describe)
    }

    /// Gains and losses go to the engine; a gained check resumes from the shared history. A
    /// multi-vantage check whose role changed leaves and joins again with its new role (the
    /// new decider resumes its state and incident from the database).
    ///
    /// A member that starts deciding a multi-vantage check waits one renewal period and a
    /// margin first ([`Driver::handover`]): the previous decider stops at its next renewal and
    /// its last transition is committed by then, so the state is resumed, not made again (a
    /// second alert under another key). Meanwhile it runs the check as a witness.
    fn roles(&mut self, changes: Vec<(String, Role)>) {
        self.roles_now(changes, false);
    }

    /// The decisions of the multi-vantage checks whose hand-over wait is over.
    fn promote_due(&mut self, coord: &Coordinator) {
        let now = Instant::now();
        let (due, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.promotions)
            .into_iter()
            .partition(|(_, at)| *at <= now);
        self.promotions = wait;
        if !due.is_empty() {
            let changes = due
                .into_iter()
                .map(|(n, _)| {
                    let role = coord.role(&n);
                    (n, role)
                })
                .collect();
            self.roles_now(changes, true);
        }
    }

    /// How long a new decider waits: a renewal period (the previous decider's next renewal)
    /// and half a second (its writes committed).
    fn handover(&self) -> Duration {
        self.cfg.lease / 3 + Duration::from_millis(500)
    }

    fn roles_now(&mut self, changes: Vec<(String, Role)>, promote: bool) {
        let (mut gained, mut lost) = (Vec::new(), Vec::new());
        for (name, mut role) in changes {
            let vantage = self.vantage_checks.contains(&name);
            if vantage
                && role.decide
                && !promote
                && !self.owned.get(&name).is_some_and(|r| r.decide)
            {
                let at = Instant::now() + self.handover();
                self.promotions.retain(|(n, _)| *n != name);
                self.promotions.push((name.clone(), at));
                role.decide = false;
            }
            let active = if vantage { role.any() } else { role.run };
            let before = if active {
                self.owned.insert(name.clone(), role)
            } else {
                self.owned.remove(&name)
            };
            match (before, active) {
                (None, true) => gained.push(name),
                (Some(_), false) => lost.push(name),
                (Some(old), true) if vantage && old != role => {
                    lost.push(name.clone());
                    gained.push(name);
                }
                _ => {}
            }
        }
        if gained.is_empty() && lost.is_empty() {
            return;
        }
        let mut resume = if gained.is_empty() {
            HashMap::new()
        } else {
            self.storage.resume().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cluster: cannot read the state of the checks taken over; they start fresh");
                HashMap::new()
            })
        };
        tracing::info!(
            gained = gained.len(),
            lost = lost.len(),
            owned = self.owned.len(),
            "cluster: ownership changed"
        );
        let gained = gained
            .into_iter()
            .map(|n| {
                let stored = resume.remove(&n);
                let role = self
                    .vantage_checks
                    .contains(&n)
                    .then(|| self.owned.get(&n))
                    .flatten()
                    .map(|r| VantageRole {
                        run: r.run,
                        decide: r.decide,
                    });
                // A witness that does not decide starts fresh: resuming a `down` check would
                // queue its down alert again, which is the decider's alone.
                let stored = stored.filter(|_| role.is_none_or(|r| r.decide));
                (n, stored, role)
            })
            .collect();
        self.engine.ownership_blocking(gained, lost);
        if let Some(p) = &self.poller {
            p.resend();
        }
    }

    /// Who decides each multi-vantage check under the membership as last read (for the API).
    fn publish_deciders(&self, coord: &Coordinator) {
        let Some(view) = coord.membership() else {
            return;
        };
        let deciders = self
            .vantage_placements
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), p.decider(name, view)?.to_owned())))
            .collect();
        self.vantages.set_deciders(deciders);
    }

    fn publish(&self, coord: &Coordinator) {
        let database = match coord.database() {
            DatabaseState::Reachable => "reachable",
            DatabaseState::Unreachable => "unreachable",
        };
        self.view.set(ClusterStatus {
            node: self.cfg.node.clone(),
            vantage: self.cfg.vantage.clone(),
            lease_ms: u64::try_from(self.cfg.lease.as_millis()).unwrap_or(u64::MAX),
            database,
            checks_owned: self.owned.len(),
            members: self.members.clone(),
        });
    }
}
