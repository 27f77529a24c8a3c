//! Where a check runs: on one member, or on every member of some vantages.

use std::collections::BTreeSet;

use crate::membership::Membership;
use crate::rendezvous;

/// The vantages a multi-vantage check runs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VantageSet {
    /// Every vantage that has a live member (`from: all`).
    All,
    /// These vantage labels.
    Only(BTreeSet<String>),
}

impl VantageSet {
    /// Whether `vantage` is in the set.
    pub fn contains(&self, vantage: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(vantage),
        }
    }
}

/// How a check is placed on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// One live member runs the check and decides its state (the default).
    Single,
    /// Every live member of these vantages runs it; one of them (by rendezvous hashing among
    /// the runners) decides the state from the latest verdict of each vantage.
    Vantages {
        /// Where from.
        from: VantageSet,
        /// How many vantages must say down for the check to be down.
        quorum: usize,
    },
}

/// What one member does with one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role {
    /// It probes the target and stores the result with its vantage.
    pub run: bool,
    /// It decides the check's state, incidents and alerts.
    pub decide: bool,
}

impl Role {
    /// Neither runs nor decides.
    pub const NONE: Role = Role {
        run: false,
        decide: false,
    };

    /// Whether the member has anything to do with the check.
    pub fn any(self) -> bool {
        self.run || self.decide
    }
}

impl Placement {
    /// The role of `me` for the check `key` under `view`. A member that is not in the view
    /// (its own lease lapsed) has no role.
    pub fn role(&self, key: &str, me: &str, view: &Membership) -> Role {
        if !view.contains(me) {
            return Role::NONE;
        }
        match self {
            Placement::Single => {
                let own = rendezvous::owner(key, view.names()) == Some(me);
                Role {
                    run: own,
                    decide: own,
                }
            }
            Placement::Vantages { from, .. } => Role {
                run: view
                    .live()
                    .iter()
                    .any(|m| m.name == me && from.contains(&m.vantage)),
                decide: self.decider(key, view) == Some(me),
            },
        }
    }

    /// The live member that decides the check `key` under `view` (`None` without members).
    pub fn decider<'a>(&self, key: &str, view: &'a Membership) -> Option<&'a str> {
        match self {
            Placement::Single => rendezvous::owner(key, view.names()),
            Placement::Vantages { from, .. } => {
                let runners: Vec<&str> = view
                    .live()
                    .iter()
                    .filter(|m| from.contains(&m.vantage))
                    .map(|m| m.name.as_str())
                    .collect();
                // With no live member in any of its vantages, someone must still decide (and
                // say that no vantage is reporting): rendezvous over every live member.
                if runners.is_empty() {
                    rendezvous::owner(key, view.names())
                } else {
                    rendezvous::owner(key, runners)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Member;

    fn view(members: &[(&str, &str)]) -> Membership {
        Membership::from_rows(
            members.iter().map(|(n, v)| Member {
                name: (*n).into(),
                vantage: (*v).into(),
                lease_expires_ms: 10,
            }),
            0,
        )
    }

    #[test]
    fn a_single_check_has_exactly_one_owner() {
        let v = view(&[("a", "eu"), ("b", "us"), ("c", "ap")]);
        for i in 0..100 {
            let key = format!("k{i}");
            let owners: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .filter(|m| Placement::Single.role(&key, m, &v).decide)
                .collect();
            assert_eq!(owners.len(), 1, "{key}: {owners:?}");
        }
    }

    #[test]
    fn a_vantage_check_runs_on_every_member_of_its_vantages_and_one_decides() {
        let v = view(&[("a", "eu"), ("b", "us"), ("c", "ap"), ("d", "eu")]);
        let p = Placement::Vantages {
            from: VantageSet::Only(["eu".to_owned(), "us".to_owned()].into()),
            quorum: 2,
        };
        let roles: Vec<Role> = ["a", "b", "c", "d"]
            .iter()
            .map(|m| p.role("web", m, &v))
            .collect();
        assert_eq!(
            roles.iter().map(|r| r.run).collect::<Vec<_>>(),
            [true, true, false, true]
        );
        assert_eq!(roles.iter().filter(|r| r.decide).count(), 1);
        assert!(!roles[2].decide, "the decider is one of the runners");
    }

    #[test]
    fn the_decider_named_is_the_member_whose_role_decides() {
        let v = view(&[("a", "eu"), ("b", "us"), ("c", "ap")]);
        let p = Placement::Vantages {
            from: VantageSet::Only(["eu".to_owned(), "us".to_owned()].into()),
            quorum: 2,
        };
        for i in 0..50 {
            let key = format!("k{i}");
            let decider = p.decider(&key, &v).unwrap();
            assert_ne!(decider, "c", "a runner decides");
            assert!(p.role(&key, decider, &v).decide);
        }
        // No live member in its vantages: some live member still decides.
        let none = Placement::Vantages {
            from: VantageSet::Only(["sa".to_owned()].into()),
            quorum: 1,
        };
        let d = none.decider("web", &v).unwrap();
        assert_eq!(
            none.role("web", d, &v),
            Role {
                run: false,
                decide: true
            }
        );
    }

    #[test]
    fn a_member_whose_own_lease_lapsed_does_nothing() {
        let v = view(&[("a", "eu")]);
        assert_eq!(Placement::Single.role("web", "b", &v), Role::NONE);
    }
}
