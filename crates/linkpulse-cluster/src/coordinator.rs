//! The member's coordinator: renews its lease, reads the membership back, and turns it into
//! the roles this member plays for each check.

use std::collections::{BTreeMap, VecDeque};

use crate::membership::{Member, Membership};
use crate::placement::{Placement, Role};

/// This member's settings (the `cluster:` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The member's unique name.
    pub node: String,
    /// Its vantage label.
    pub vantage: String,
    /// How long a renewed lease lasts, in milliseconds. A member that stops renewing is gone
    /// this long after its last renewal; its checks move at the others' next renewal.
    pub lease_ms: u64,
}

impl Settings {
    /// The renewal period: a third of the lease, so two renewals can fail before it lapses.
    pub fn renew_every_ms(&self) -> u64 {
        (self.lease_ms / 3).max(1)
    }

    /// The longest a dead member's checks stay unowned: its lease, plus one renewal period of
    /// the survivors (who notice the lapse at their next renewal).
    pub fn takeover_bound_ms(&self) -> u64 {
        self.lease_ms + self.renew_every_ms()
    }
}

/// Whether the coordinator can reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseState {
    /// The last renewal worked.
    Reachable,
    /// The last renewal failed: the member keeps the roles it has and takes no new ones.
    Unreachable,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Renew the lease (`expires = now() + lease`, the server's clock) and read every member
    /// row with the server's `now()`; answer with [`Coordinator::handle_renewed`] or
    /// [`Coordinator::handle_renew_failed`].
    Renew {
        /// The lease to set, in milliseconds.
        lease_ms: u64,
    },
    /// Roles changed: start or stop running and deciding these checks. A role of
    /// [`Role::NONE`] means the check is no longer this member's.
    Roles(Vec<(String, Role)>),
    /// The database became reachable or unreachable (for `/readyz` and the log).
    Database(DatabaseState),
    /// Delete this member's row: it is leaving (shutdown), so the others take over at once.
    Deregister,
}

/// The coordinator of one member, sans-IO: `now_ms` is the member's own monotonic clock in
/// milliseconds (used only for its timers); lease expiry is compared with the database
/// server's clock only.
#[derive(Debug)]
pub struct Coordinator {
    settings: Settings,
    checks: BTreeMap<String, Placement>,
    view: Option<Membership>,
    roles: BTreeMap<String, Role>,
    db: DatabaseState,
    next_renew_ms: Option<u64>,
    effects: VecDeque<Effect>,
    left: bool,
    /// After a database outage every lease has lapsed, the others' as much as this member's:
    /// the first membership read after it would hand this member everything. Until this
    /// renewal count is reached, roles stay as they were (the others renew meanwhile).
    settle: u8,
    /// The live members (name, vantage) the roles were last computed for: a renewal that
    /// reads the same ones changes no role, so the checks are not placed again (with tens of
    /// thousands of checks that is most of a member's coordination CPU).
    assigned_for: Option<Vec<(String, String)>>,
}

impl Coordinator {
    /// A member that renews its lease at once (its first role comes with the first answer).
    pub fn new(settings: Settings, now_ms: u64) -> Self {
        Self {
            settings,
            checks: BTreeMap::new(),
            view: None,
            roles: BTreeMap::new(),
            db: DatabaseState::Reachable,
            next_renew_ms: Some(now_ms),
            effects: VecDeque::new(),
            left: false,
            settle: 0,
            assigned_for: None,
        }
    }

    /// This member's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The membership as last read, if any.
    pub fn membership(&self) -> Option<&Membership> {
        self.view.as_ref()
    }

    /// The role this member plays for `check`.
    pub fn role(&self, check: &str) -> Role {
        self.roles.get(check).copied().unwrap_or(Role::NONE)
    }

    /// The checks this member runs or decides, with their roles.
    pub fn roles(&self) -> impl Iterator<Item = (&str, Role)> {
        self.roles.iter().map(|(k, r)| (k.as_str(), *r))
    }

    /// Whether the database answered the last renewal.
    pub fn database(&self) -> DatabaseState {
        self.db
    }

    /// Replaces the cluster's checks (at start and on reload); roles follow at once if the
    /// membership is known.
    pub fn set_checks(&mut self, checks: impl IntoIterator<Item = (String, Placement)>) {
        self.checks = checks.into_iter().collect();
        self.assigned_for = None;
        self.reassign();
    }

    /// When [`Coordinator::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_renew_ms
    }

    /// Timers: issues [`Effect::Renew`] when a renewal is due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.left {
            return;
        }
        if self.next_renew_ms.is_some_and(|due| due <= now_ms) {
            // One renewal in flight at a time: the next is scheduled by its answer.
            self.next_renew_ms = None;
            self.effects.push_back(Effect::Renew {
                lease_ms: self.settings.lease_ms,
            });
        }
    }

    /// The renewal worked: `rows` are every member row and `db_now_ms` the server's clock when
    /// they were read.
    pub fn handle_renewed(&mut self, now_ms: u64, rows: Vec<Member>, db_now_ms: i64) {
        if self.left {
            return;
        }
        if self.db == DatabaseState::Unreachable {
            self.db = DatabaseState::Reachable;
            self.effects
                .push_back(Effect::Database(DatabaseState::Reachable));
            // Wait one renewal period (every live member renews within it) before deciding.
            self.settle = 1;
        }
        self.view = Some(Membership::from_rows(rows, db_now_ms));
        self.next_renew_ms = Some(now_ms + self.settings.renew_every_ms());
        if self.settle > 0 {
            self.settle -= 1;
            return;
        }
        self.reassign();
    }

    /// The renewal failed (the database is unreachable or refused): no takeover decisions are
    /// made without it — the member keeps running what it has — and it retries soon.
    pub fn handle_renew_failed(&mut self, now_ms: u64) {
        if self.left {
            return;
        }
        if self.db == DatabaseState::Reachable {
            self.db = DatabaseState::Unreachable;
            self.effects
                .push_back(Effect::Database(DatabaseState::Unreachable));
        }
        let retry = self.settings.renew_every_ms().min(1_000);
        self.next_renew_ms = Some(now_ms + retry);
    }

    /// The member is shutting down: gives up every role and asks for its row to be deleted.
    pub fn leave(&mut self) {
        if self.left {
            return;
        }
        self.left = true;
        self.next_renew_ms = None;
        let stopped: Vec<(String, Role)> = std::mem::take(&mut self.roles)
            .into_keys()
            .map(|k| (k, Role::NONE))
            .collect();
        if !stopped.is_empty() {
            self.effects.push_back(Effect::Roles(stopped));
        }
        self.effects.push_back(Effect::Deregister);
    }

    /// The next effect to carry out.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn reassign(&mut self) {
        let Some(view) = &self.view else { return };
        let live: Vec<(String, String)> = view
            .live()
            .iter()
            .map(|m| (m.name.clone(), m.vantage.clone()))
            .collect();
        if self.assigned_for.as_ref() == Some(&live) {
            return;
        }
        self.assigned_for = Some(live);
        let me = self.settings.node.as_str();
        let mut changed = Vec::new();
        let mut roles = BTreeMap::new();
        for (key, placement) in &self.checks {
            let role = placement.role(key, me, view);
            if role != self.role(key) {
                changed.push((key.clone(), role));
            }
            if role.any() {
                roles.insert(key.clone(), role);
            }
        }
        for key in self.roles.keys() {
            if !self.checks.contains_key(key) {
                changed.push((key.clone(), Role::NONE));
            }
        }
        self.roles = roles;
        if !changed.is_empty() {
            self.effects.push_back(Effect::Roles(changed));
        }
    }
}
