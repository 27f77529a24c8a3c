//! Cluster mode's share of the engine: every check of the configuration, the ones this member
//! runs (only those are in the core), its role in each multi-vantage check, and the commands
//! the cluster driver and the hub feed send when ownership changes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use linkpulse_checks::{QuorumVerdict, VantageRole};

use super::Engine;
use crate::checks::{HubPolicy, Now, Origin};
use crate::config::CheckConfig;
use crate::config::cluster::ClusterConfig;
use crate::storage::{ResultVantage, Resume};

/// A check a cluster member takes over: its name, its stored state, and for a multi-vantage
/// check this member's role.
pub type Gained = (String, Option<Resume>, Option<VantageRole>);

/// The checks of a cluster member: the configuration's, and the share it runs.
pub(super) struct Shard {
    all: HashMap<String, CheckConfig>,
    owned: HashSet<String>,
    /// This member's vantage and name, stored with the results of multi-vantage checks.
    pub(super) tag: Arc<ResultVantage>,
    /// This member's role for each multi-vantage check it holds (applied again after a
    /// reload re-creates a changed check).
    pub(super) roles: HashMap<String, VantageRole>,
    /// Told the checks after a reload.
    pub(super) driver: Option<crate::cluster::ClusterNotifier>,
}

impl Shard {
    /// A member's share at its start: every check known, none run (the cluster driver hands
    /// it its share).
    pub(super) fn new(cluster: &ClusterConfig, checks: impl Iterator<Item = CheckConfig>) -> Shard {
        Shard {
            all: checks.map(|c| (c.name.clone(), c)).collect(),
            owned: HashSet::new(),
            roles: HashMap::new(),
            tag: Arc::new(ResultVantage {
                vantage: cluster.vantage.clone(),
                member: cluster.node.clone(),
            }),
            driver: None,
        }
    }

    /// A reload: `checks` become every check known, and are cut down to this member's share
    /// (the core keeps and updates only those; the driver hands over new ones as they are
    /// assigned, so it is told the new list).
    pub(super) fn reload(&mut self, checks: &mut Vec<CheckConfig>) {
        self.all = checks.iter().map(|c| (c.name.clone(), c.clone())).collect();
        self.owned.retain(|n| self.all.contains_key(n));
        checks.retain(|c| self.owned.contains(&c.name));
        if let Some(d) = &self.driver {
            d.set_checks(
                self.all
                    .values()
                    .map(crate::cluster::ClusterCheck::of)
                    .collect(),
            );
        }
    }
}

impl Engine {
    /// Cluster mode: the checks this member took over join the core with their stored state;
    /// those it gave up leave it (their history stays in the shared database).
    pub(super) fn ownership(&mut self, gained: Vec<Gained>, lost: Vec<String>, now: Now) {
        let Some(shard) = self.cluster.as_mut() else {
            return;
        };
        let names: Vec<&str> = lost
            .iter()
            .map(String::as_str)
            .filter(|n| shard.owned.contains(*n))
            .collect();
        drop(self.core.remove_checks(&names));
        for n in &lost {
            shard.owned.remove(n);
            shard.roles.remove(n);
        }
        let (mut add, mut roles) = (Vec::new(), Vec::new());
        for (name, resume, role) in gained {
            if let Some(cfg) = shard.all.get(&name)
                && shard.owned.insert(name.clone())
            {
                add.push((cfg.clone(), resume.map_or(Origin::Fresh, Origin::TakeOver)));
                if let Some(r) = role {
                    shard.roles.insert(name.clone(), r);
                    roles.push((name, r));
                }
            }
        }
        self.core.add_checks(add, now);
        self.apply_roles(roles);
        self.drain();
    }

    /// Tells the core this member's role in each multi-vantage check it holds.
    pub(super) fn apply_roles(&mut self, roles: Vec<(String, VantageRole)>) {
        for (name, role) in roles {
            if let Some(id) = self.core.id_of(&name) {
                self.core.set_vantage_role(id, role);
            }
        }
    }

    /// Cluster mode: the combined verdicts of multi-vantage checks, for those in the core.
    pub(super) fn quorum(&mut self, verdicts: Vec<(String, QuorumVerdict)>, now: Now) {
        for (name, q) in verdicts {
            if let Some(id) = self.core.id_of(&name) {
                self.core.handle_quorum(id, q, now);
            }
        }
    }

    /// Cluster mode: node checks gained (restored) and lost (removed from the core only).
    pub(super) fn node_ownership(
        &mut self,
        policy: HubPolicy,
        gained: Vec<(String, Resume)>,
        lost: Vec<String>,
        now: Now,
    ) {
        let names: Vec<&str> = lost.iter().map(String::as_str).collect();
        drop(self.core.remove_checks(&names));
        if !gained.is_empty() {
            self.core.restore_nodes(policy, gained, now);
        }
        self.drain();
    }
}
