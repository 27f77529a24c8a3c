//! Simulated members and a simulated database in virtual time: ownership, takeover after a
//! member dies, a member coming back, and a database outage. Each member and the database have
//! clocks of their own (different origins), as on real machines.

use std::collections::{BTreeMap, BTreeSet};

use linkpulse_cluster::{
    Coordinator, DatabaseState, Effect, Member, Placement, Role, Settings, VantageSet,
};

const TICK_MS: u64 = 50;
const LEASE_MS: u64 = 10_000;

/// The member table, dated by the server's own clock.
struct Db {
    rows: BTreeMap<String, Member>,
    clock_origin_ms: i64,
    up: bool,
}

struct Node {
    coord: Coordinator,
    alive: bool,
    clock_origin_ms: u64,
    db_events: Vec<DatabaseState>,
}

struct Sim {
    now_ms: u64,
    db: Db,
    nodes: BTreeMap<String, Node>,
    checks: Vec<(String, Placement)>,
}

impl Sim {
    fn new(members: &[(&str, &str)], checks: Vec<(String, Placement)>) -> Self {
        let mut sim = Sim {
            now_ms: 0,
            db: Db {
                rows: BTreeMap::new(),
                clock_origin_ms: 1_700_000_000_000,
                up: true,
            },
            nodes: BTreeMap::new(),
            checks,
        };
        for (i, (name, vantage)) in members.iter().enumerate() {
            sim.start(name, vantage, 1_000_000 * (i as u64 + 1));
        }
        sim
    }

    fn start(&mut self, name: &str, vantage: &str, clock_origin_ms: u64) {
        let settings = Settings {
            node: name.into(),
            vantage: vantage.into(),
            lease_ms: LEASE_MS,
        };
        let mut coord = Coordinator::new(settings, clock_origin_ms + self.now_ms);
        coord.set_checks(self.checks.clone());
        self.nodes.insert(
            name.into(),
            Node {
                coord,
                alive: true,
                clock_origin_ms,
                db_events: Vec::new(),
            },
        );
    }

    /// kill -9: the member stops renewing and running; its row stays until the lease lapses.
    fn kill(&mut self, name: &str) {
        self.nodes.get_mut(name).unwrap().alive = false;
    }

    fn db_now(&self) -> i64 {
        self.db.clock_origin_ms + self.now_ms as i64
    }

    fn step(&mut self) {
        self.now_ms += TICK_MS;
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let db_now = self.db_now();
            let node = self.nodes.get_mut(&name).unwrap();
            if !node.alive {
                continue;
            }
            let local = node.clock_origin_ms + self.now_ms;
            node.coord.handle_timeout(local);
            while let Some(effect) = node.coord.poll_effect() {
                match effect {
                    Effect::Renew { lease_ms } => {
                        if self.db.up {
                            let s = node.coord.settings();
                            self.db.rows.insert(
                                s.node.clone(),
                                Member {
                                    name: s.node.clone(),
                                    vantage: s.vantage.clone(),
                                    lease_expires_ms: db_now + lease_ms as i64,
                                },
                            );
                            let rows = self.db.rows.values().cloned().collect();
                            node.coord.handle_renewed(local, rows, db_now);
                        } else {
                            node.coord.handle_renew_failed(local);
                        }
                    }
                    Effect::Database(state) => node.db_events.push(state),
                    Effect::Deregister => {
                        self.db.rows.remove(&name);
                    }
                    Effect::Roles(_) => {}
                }
            }
        }
    }

    fn run_for(&mut self, ms: u64, mut each: impl FnMut(&Sim)) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.step();
            each(self);
        }
    }

    /// The live members deciding each check.
    fn deciders(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (key, _) in &self.checks {
            out.entry(key.as_str()).or_default();
        }
        for (name, node) in &self.nodes {
            if !node.alive {
                continue;
            }
            for (key, role) in node.coord.roles() {
                if role.decide {
                    out.get_mut(key).unwrap().insert(name.as_str());
                }
            }
        }
        out
    }

    fn owners(&self) -> BTreeMap<String, String> {
        self.deciders()
            .into_iter()
            .map(|(k, d)| {
                assert_eq!(d.len(), 1, "{k} is decided by {d:?}");
                (k.to_owned(), d.into_iter().next().unwrap().to_owned())
            })
            .collect()
    }
}

fn single_checks(n: usize) -> Vec<(String, Placement)> {
    (0..n)
        .map(|i| (format!("check-{i}"), Placement::Single))
        .collect()
}

const THREE: &[(&str, &str)] = &[("a", "eu"), ("b", "us"), ("c", "ap")];

#[test]
fn every_check_has_exactly_one_owner_and_the_shares_are_even() {
    let mut sim = Sim::new(THREE, single_checks(600));
    sim.run_for(5_000, |_| {});
    let owners = sim.owners();
    for m in ["a", "b", "c"] {
        let share = owners.values().filter(|o| *o == m).count();
        assert!((150..250).contains(&share), "{m} owns {share} of 600");
    }
}

#[test]
fn a_killed_members_checks_move_within_lease_plus_one_renewal_and_no_others_move() {
    let mut sim = Sim::new(THREE, single_checks(600));
    sim.run_for(5_000, |_| {});
    let before = sim.owners();
    let killed_at = sim.now_ms;
    sim.kill("b");
    let mut last_unowned = killed_at;
    sim.run_for(20_000, |s| {
        let d = s.deciders();
        if d.values().any(|owners| owners.is_empty()) {
            last_unowned = s.now_ms;
        }
        for (k, owners) in &d {
            assert!(owners.len() <= 1, "{k} run twice: {owners:?}");
            if before[*k] != "b" {
                assert!(
                    owners.contains(before[*k].as_str()),
                    "{k} moved off a live member"
                );
            }
        }
    });
    let settings = Settings {
        node: "x".into(),
        vantage: "x".into(),
        lease_ms: LEASE_MS,
    };
    let gap = last_unowned - killed_at;
    assert!(
        gap <= settings.takeover_bound_ms(),
        "unowned for {gap} ms after the kill, bound {} ms",
        settings.takeover_bound_ms()
    );
    assert!(
        gap >= LEASE_MS - settings.renew_every_ms(),
        "taken over before the lease lapsed: {gap} ms"
    );
    assert!(sim.owners().values().all(|o| o != "b"));
}

#[test]
fn a_member_that_comes_back_takes_its_share_without_a_gap_and_overlaps_less_than_a_renewal() {
    let mut sim = Sim::new(THREE, single_checks(600));
    sim.run_for(5_000, |_| {});
    sim.kill("b");
    sim.run_for(20_000, |_| {});
    sim.start("b", "us", 42_000_000);
    let renew = LEASE_MS / 3;
    let mut double_since: BTreeMap<String, u64> = BTreeMap::new();
    sim.run_for(15_000, |s| {
        for (k, owners) in s.deciders() {
            assert!(
                !owners.is_empty(),
                "{k} unowned at {} ms while b rejoined",
                s.now_ms
            );
            if owners.len() > 1 {
                let since = *double_since.entry(k.to_owned()).or_insert(s.now_ms);
                assert!(
                    s.now_ms - since <= renew,
                    "{k} run by {owners:?} for over {renew} ms"
                );
            } else {
                double_since.remove(k);
            }
        }
    });
    let share = sim.owners().values().filter(|o| *o == "b").count();
    assert!((150..250).contains(&share), "b took back {share} of 600");
}

#[test]
fn without_the_database_nobody_takes_over_and_ownership_returns_with_it() {
    let mut sim = Sim::new(THREE, single_checks(300));
    sim.run_for(5_000, |_| {});
    let before = sim.owners();
    sim.db.up = false;
    sim.kill("c");
    sim.run_for(20_000, |s| {
        for (k, owners) in s.deciders() {
            if before[k] == "c" {
                assert!(owners.is_empty(), "{k} taken over without the database");
            } else {
                assert_eq!(owners.len(), 1);
                assert!(
                    owners.contains(before[k].as_str()),
                    "{k} moved without the database"
                );
            }
        }
    });
    sim.db.up = true;
    // Every lease lapsed during the outage: no member may grab the others' checks on its
    // first renewal after it (a check run twice), nor leave one unowned that had an owner.
    sim.run_for(LEASE_MS, |s| {
        for (k, owners) in s.deciders() {
            assert!(owners.len() <= 1, "{k} run by {owners:?} after the outage");
            if before[k] != "c" {
                assert_eq!(owners.len(), 1, "{k} unowned after the outage");
            }
        }
    });
    let after = sim.owners();
    assert!(after.values().all(|o| o != "c"));
    for name in ["a", "b"] {
        assert_eq!(
            sim.nodes[name].db_events,
            [DatabaseState::Unreachable, DatabaseState::Reachable],
            "{name} reports the outage once and the return once"
        );
    }
}

#[test]
fn a_leaving_member_hands_over_at_the_others_next_renewal() {
    let mut sim = Sim::new(THREE, single_checks(300));
    sim.run_for(5_000, |_| {});
    let left_at = sim.now_ms;
    sim.nodes.get_mut("a").unwrap().coord.leave();
    sim.step();
    sim.kill("a");
    let mut last_unowned = left_at;
    sim.run_for(LEASE_MS, |s| {
        if s.deciders().values().any(|o| o.is_empty()) {
            last_unowned = s.now_ms;
        }
    });
    assert!(
        last_unowned - left_at <= LEASE_MS / 3 + TICK_MS,
        "a graceful leave left checks unowned for {} ms",
        last_unowned - left_at
    );
}

#[test]
fn a_vantage_check_runs_everywhere_in_its_vantages_and_moves_its_decider_on_death() {
    let members = &[("a", "eu"), ("b", "eu"), ("c", "us"), ("d", "ap")];
    let placement = Placement::Vantages {
        from: VantageSet::Only(["eu".to_owned(), "us".to_owned()].into()),
        quorum: 2,
    };
    let mut sim = Sim::new(members, vec![("web".to_owned(), placement)]);
    sim.run_for(5_000, |_| {});
    let role = |s: &Sim, n: &str| s.nodes[n].coord.role("web");
    let runners: Vec<bool> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| role(&sim, n).run)
        .collect();
    assert_eq!(runners, [true, true, true, false]);
    let decider = sim.owners()["web"].clone();
    assert_ne!(decider, "d");
    sim.kill(&decider);
    sim.run_for(LEASE_MS + LEASE_MS / 3 + TICK_MS, |_| {});
    let next = sim.owners()["web"].clone();
    assert_ne!(next, decider);
    assert_eq!(role(&sim, "d"), Role::NONE);
}

/// Drains `coord`'s effects; the role changes among them.
fn role_changes(coord: &mut Coordinator) -> Vec<(String, Role)> {
    let mut out = Vec::new();
    while let Some(effect) = coord.poll_effect() {
        if let Effect::Roles(changes) = effect {
            out.extend(changes);
        }
    }
    out
}

fn rows(members: &[&str], expires_ms: i64) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            name: (*m).into(),
            vantage: "eu".into(),
            lease_expires_ms: expires_ms,
        })
        .collect()
}

#[test]
fn renewals_of_the_same_members_change_nothing_and_a_change_seen_while_settling_still_moves_checks()
{
    let settings = Settings {
        node: "a".into(),
        vantage: "eu".into(),
        lease_ms: LEASE_MS,
    };
    let mut coord = Coordinator::new(settings, 0);
    coord.set_checks(single_checks(300));
    coord.handle_timeout(0);
    let _ = role_changes(&mut coord);
    coord.handle_renewed(0, rows(&["a", "b"], 20_000), 10_000);
    let first = role_changes(&mut coord);
    assert!(
        !first.is_empty() && first.len() < 300,
        "a takes its share of 300 checks, got {}",
        first.len()
    );
    // The same members renewed (later leases): no role changes.
    coord.handle_renewed(3_000, rows(&["a", "b"], 23_000), 13_000);
    assert_eq!(role_changes(&mut coord), []);
    // An outage, then b is gone in the first reading after it: roles wait one renewal (the
    // others renew meanwhile) ...
    coord.handle_renew_failed(6_000);
    coord.handle_renewed(7_000, rows(&["a"], 27_000), 17_000);
    assert_eq!(role_changes(&mut coord), []);
    // ... and the next reading of the same members hands b's checks to a.
    coord.handle_renewed(10_000, rows(&["a"], 30_000), 20_000);
    let gained = role_changes(&mut coord);
    assert_eq!(gained.len(), 300 - first.len(), "a gains every check of b");
    assert_eq!(coord.roles().count(), 300);
    coord.handle_renewed(13_000, rows(&["a"], 33_000), 23_000);
    assert_eq!(role_changes(&mut coord), []);
}
