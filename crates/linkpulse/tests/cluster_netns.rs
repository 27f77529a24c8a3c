//! Cluster mode under network faults: PostgreSQL (and the alert receiver) on one host, each
//! member (the real `linkpulse serve`) on a host of its own, a router namespace between them
//! where the faults are injected (linkpulse-testsupport's netns topology). The members' checks
//! target a TCP listener on their own namespace's loopback, the same port in each, so a check
//! runs alike wherever it moves. The multi-vantage test puts its targets on hosts of their
//! own instead, and cuts one member's path to them in the router. Needs root; every namespace
//! is deleted on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use linkpulse_testsupport::cluster::{
    self, Shape, alerted, assert_isolated, checks_in_state, failing_vantages, in_state, owned,
    owned_by, split_once, webhook_alerts, with_vantages,
};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::netns::{Host, Topology};
use linkpulse_testsupport::postgres::{PgCluster, PgDatabase};
use linkpulse_testsupport::servers::{TcpHold, WebhookReceiver};

const LEASE_S: u64 = 3;
const INTERVAL_MS: u64 = 300;
/// The checks' target, on every member's own loopback.
const TARGET: &str = "127.0.0.1:7070";

/// The hosts: PostgreSQL and the webhook receiver on `hosts[0]`, members on the others.
struct Lab {
    net: Topology,
    db: PgDatabase,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(members: usize) -> Lab {
        let net = Topology::with_hosts(members + 1).expect("network namespaces (needs root)");
        let pg = PgCluster::start_in(&net.hosts[0], IpAddr::V4(net.hosts[0].addr_v4()))
            .expect("PostgreSQL inside the database host's namespace");
        let db = std::sync::Arc::new(pg).database().unwrap();
        Lab {
            net,
            db,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db_host(&self) -> &Host {
        &self.net.hosts[0]
    }

    fn member_host(&self, i: usize) -> &Host {
        &self.net.hosts[i + 1]
    }

    /// A webhook receiver on the database host.
    fn receiver(&self) -> WebhookReceiver {
        let at = SocketAddr::new(IpAddr::V4(self.db_host().addr_v4()), 0);
        WebhookReceiver::start_in(self.db_host(), at)
            .expect("a webhook receiver on the database host")
    }

    /// The check target listening on every member host's loopback.
    fn targets(&self, members: usize) -> Vec<TcpListener> {
        (0..members)
            .map(|i| {
                self.member_host(i)
                    .run_in(|| TcpListener::bind(TARGET))
                    .unwrap()
                    .expect("the target listener")
            })
            .collect()
    }

    /// Members `names` (on hosts 1, 2, …), each running `n` checks of [`TARGET`].
    fn start<'a>(&self, names: &[&'a str], n: usize, extra: &str) -> BTreeMap<&'a str, Daemon> {
        let shape = Shape {
            lease_s: LEASE_S,
            interval_ms: INTERVAL_MS,
            target: TARGET.parse().unwrap(),
            checks: n,
            extra,
            more_checks: "",
        };
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let config = cluster::member_config(self.dir.path(), &self.db, name, &shape);
                let command = cluster::serve_command(env!("CARGO_BIN_EXE_linkpulse"), &config);
                let d = Daemon::spawn_in(self.member_host(i), &command)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (*name, d)
            })
            .collect()
    }
}

/// The newest result time (ms) of each check `d` runs.
fn last_results(d: &Daemon) -> BTreeMap<String, i64> {
    d.json("/api/v1/checks")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["last_ms"].as_i64()?)))
        .collect()
}

#[test]
fn a_member_cut_off_keeps_its_checks_the_others_take_them_and_no_alert_is_sent_twice() {
    let lab = Lab::new(3);
    let hook = lab.receiver();
    let targets = lab.targets(3);
    let alerts = webhook_alerts(&hook);
    let n = 12;
    let mut members = lab.start(&["m1", "m2", "m3"], n, &alerts);
    let split = eventually(
        "12 checks split over 3 members",
        Duration::from_secs(60),
        || split_once(&members, n),
    );
    eventually("every check up", Duration::from_secs(30), || {
        (in_state(&members, "up") == n).then_some(())
    });
    let all: BTreeSet<String> = split.values().flatten().cloned().collect();
    let cut_owned: BTreeSet<String> = split["m2"].iter().cloned().collect();

    let t = Instant::now();
    let phase = |what: &str| eprintln!("[{:>6.1} s] {what}", t.elapsed().as_secs_f64());
    phase("split, every check up");
    // m2's host disappears from the network: the router drops everything sent to it.
    let m2_addr = IpAddr::V4(lab.member_host(1).addr_v4());
    lab.net.router.blackhole(m2_addr).unwrap();
    let cut_at = Instant::now();
    let cut = members.remove("m2").unwrap();
    let takeover = loop {
        // Every poll: no check unowned (m2 still runs its own), m2 takes nothing over.
        let mut running: BTreeSet<String> = owned(&members).into_values().flatten().collect();
        let m2_now: BTreeSet<String> = owned_by(&cut).into_iter().collect();
        assert!(
            m2_now.is_subset(&cut_owned),
            "the cut member took checks over: {m2_now:?} (owned {cut_owned:?})"
        );
        running.extend(m2_now);
        assert_eq!(running, all, "a check ran nowhere");
        if split_once(&members, n).is_some() {
            break cut_at.elapsed();
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(60),
            "m2's checks never taken over: {:?}",
            owned(&members)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Its lease lapses (≤ lease after its last renewal), the others see it at their next
    // renewal (≤ lease/3) and start the checks within an interval; plus a margin for a busy
    // machine.
    let bound = Duration::from_millis(LEASE_S * 1000 + LEASE_S * 1000 / 3 + INTERVAL_MS + 3_000);
    assert!(
        takeover <= bound,
        "takeover took {takeover:?} (bound {bound:?})"
    );

    phase("taken over");
    // The cut member says why it is not ready, keeps running its checks, takes none.
    let why = eventually(
        "m2's /readyz names the database",
        Duration::from_secs(40),
        || {
            let (code, body) = cut.get("/readyz");
            (code == 503 && body.contains("database unreachable")).then_some(body)
        },
    );
    assert!(why.contains("keeping the checks this member owns"), "{why}");
    assert!(
        cut.log().contains("cluster: the database is unreachable"),
        "{}",
        cut.log()
    );
    let before = last_results(&cut);
    eventually("m2 still runs its checks", Duration::from_secs(20), || {
        let now = last_results(&cut);
        (now.keys().cloned().collect::<BTreeSet<_>>() == cut_owned
            && now
                .iter()
                .all(|(c, t)| before.get(c).is_some_and(|b| t > b)))
        .then_some(())
    });

    phase("m2 keeps running its checks");
    // The target goes down everywhere while m2 is cut: the others alert for every check,
    // m2 sees its own checks down too and holds its alerts with its other writes.
    drop(targets);
    eventually("a down alert per check", Duration::from_secs(60), || {
        let downs: BTreeSet<String> = alerted(&hook, "down").into_iter().collect();
        (downs == all).then_some(())
    });
    eventually("m2 sees its checks down", Duration::from_secs(30), || {
        (checks_in_state(&cut, "down") == cut_owned.len()).then_some(())
    });

    phase("every check down, alerted");
    // The route comes back: m2 renews, ownership is split over three again, and what m2
    // held is written — without a second alert for any check.
    lab.net.router.restore(m2_addr).unwrap();
    members.insert("m2", cut);
    eventually("m2 ready again", Duration::from_secs(60), || {
        (members["m2"].get("/readyz").0 == 200).then_some(())
    });
    let after = eventually("a split over three again", Duration::from_secs(60), || {
        split_once(&members, n)
    });
    assert!(!after["m2"].is_empty());
    phase("split over three again");
    // Time for a held or second delivery to arrive, if there were one.
    std::thread::sleep(Duration::from_secs(LEASE_S * 2));
    let per_key = cluster::deliveries_per_key(&hook);
    assert!(
        per_key.values().all(|c| *c == 1),
        "an alert delivered twice: {per_key:?}"
    );
    // The cut member's own down alerts reached the outbox once it could write again, and were
    // recognised as the twins of those the others had delivered.
    let twins: usize = lab
        .db
        .psql("SELECT COUNT(*) FROM outbox WHERE last_error LIKE 'not sent: another member%'")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(twins, cut_owned.len(), "the cut member's alerts, not sent");
    let downs = alerted(&hook, "down");
    let distinct: BTreeSet<&String> = downs.iter().collect();
    assert_eq!(
        (downs.len(), distinct.len()),
        (n, n),
        "one down alert per check: {downs:?}"
    );
}

#[test]
fn the_database_host_answering_unreachable_is_reported_promptly() {
    let lab = Lab::new(2);
    let _targets = lab.targets(2);
    let n = 6;
    let members = lab.start(&["m1", "m2"], n, "");
    let split = eventually(
        "6 checks split over 2 members",
        Duration::from_secs(60),
        || split_once(&members, n),
    );

    // The router answers every packet for the database host with ICMP host unreachable.
    let db_addr = IpAddr::V4(lab.db_host().addr_v4());
    lab.net.router.unreachable(db_addr).unwrap();
    let from = Instant::now();
    for (name, d) in &members {
        let why = eventually(
            "/readyz names the database",
            Duration::from_secs(40),
            || {
                let (code, body) = d.get("/readyz");
                (code == 503 && body.contains("database unreachable")).then_some(body)
            },
        );
        // A renewal in flight waits for the connection's TCP user timeout (10 s); new
        // connections fail at once with the ICMP error.
        let took = from.elapsed();
        assert!(
            took <= Duration::from_secs(10 + LEASE_S + 5),
            "{name}: /readyz said it after {took:?}"
        );
        assert!(
            why.contains("keeping the checks this member owns"),
            "{name}: {why}"
        );
        assert!(
            d.log().contains("cluster: the database is unreachable"),
            "{name}: {}",
            d.log()
        );
    }
    assert_eq!(
        owned(&members),
        split,
        "no ownership change without the database"
    );

    lab.net.router.restore(db_addr).unwrap();
    for d in members.values() {
        eventually("ready again", Duration::from_secs(60), || {
            (d.get("/readyz").0 == 200).then_some(())
        });
    }
    let after = eventually("the same split after", Duration::from_secs(30), || {
        split_once(&members, n)
    });
    assert_eq!(after, split);
}

/// The members of the multi-vantage test and their vantages.
const VANTAGES: [(&str, &str); 3] = [("m-eu", "eu"), ("m-us", "us"), ("m-ap", "ap")];

/// Down alerts the receiver got, per check.
fn downs(hook: &WebhookReceiver) -> BTreeMap<String, usize> {
    let mut per_check = BTreeMap::new();
    for c in alerted(hook, "down") {
        *per_check.entry(c).or_insert(0) += 1;
    }
    per_check
}

#[test]
fn a_vantage_cut_from_a_target_subnet_in_the_router_is_a_partial_outage_then_isolated() {
    // Hosts: 0 the database and the receiver, 1–3 the members (eu, us, ap), 4 and 5 two
    // target subnets with a listener each; the check `a` probes the first, `b` the second.
    let lab = Lab::new(5);
    let hook = lab.receiver();
    let (subnet_a, subnet_b) = (&lab.net.hosts[4], &lab.net.hosts[5]);
    let listen = |h: &Host| {
        let at = SocketAddr::new(IpAddr::V4(h.addr_v4()), 7070);
        TcpHold::start(at, Some(&**h)).expect("a target listener")
    };
    let (target_a, target_b) = (listen(subnet_a), listen(subnet_b));
    let checks: String = [("a", target_a.addr()), ("b", target_b.addr())]
        .iter()
        .map(|(c, at)| {
            format!(
                "  - name: {c}\n    tcp: {{ address: '{at}' }}\n    \
                 vantage: {{ from: all, quorum: 2 }}\n"
            )
        })
        .collect();
    let alerts = webhook_alerts(&hook);
    let shape = Shape {
        lease_s: LEASE_S,
        interval_ms: 500,
        target: target_a.addr(),
        checks: 0,
        extra: &alerts,
        more_checks: &checks,
    };
    let members: BTreeMap<&str, Daemon> = VANTAGES
        .iter()
        .enumerate()
        .map(|(i, (node, vantage))| {
            let config = cluster::member_config_in(lab.dir.path(), &lab.db, node, vantage, &shape);
            let command = cluster::serve_command(env!("CARGO_BIN_EXE_linkpulse"), &config);
            let d = Daemon::spawn_in(lab.member_host(i), &command)
                .unwrap_or_else(|e| panic!("{node}: {e}"));
            (*node, d)
        })
        .collect();
    let m = &members["m-us"];
    for c in ["a", "b"] {
        eventually(
            &format!("`{c}` up from three vantages"),
            Duration::from_secs(60),
            || {
                let v = with_vantages(m, c, 3)?;
                (v["state"] == "up" && failing_vantages(&v).is_empty()).then_some(())
            },
        );
    }

    // The router drops what m-eu sends to the first target subnet; the database, the other
    // subnet and the other members' paths are untouched.
    let eu = IpAddr::V4(lab.member_host(0).addr_v4());
    let router = &lab.net.router;
    router
        .drop_between(eu, IpAddr::V4(subnet_a.addr_v4()))
        .unwrap();
    let a = eventually("`a` degraded from eu", Duration::from_secs(60), || {
        let v = with_vantages(m, "a", 3)?;
        (v["state"] == "degraded").then_some(v)
    });
    assert_eq!(a["diagnosis"], "partial_outage", "{a:#}");
    assert!(a["cause"].as_str().unwrap().contains("eu"), "{a:#}");
    assert_eq!(failing_vantages(&a), BTreeSet::from(["eu".to_owned()]));
    let eu_row = a["vantages"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["vantage"] == "eu")
        .unwrap();
    // Dropped in the router: the connection attempt times out (nothing refuses it).
    assert_eq!(
        (eu_row["member"].as_str(), eu_row["error_kind"].as_str()),
        (Some("m-eu"), Some("timeout")),
        "{a:#}"
    );
    let b = with_vantages(m, "b", 3).unwrap();
    assert_eq!(
        (b["state"].as_str(), failing_vantages(&b).len()),
        (Some("up"), 0),
        "{b:#}"
    );
    // Every member shows it alike, m-eu included: it still reaches the database.
    for (name, d) in &members {
        eventually(&format!("{name} agrees"), Duration::from_secs(30), || {
            (d.state("a") == "degraded" && d.state("b") == "up").then_some(())
        });
    }
    assert_eq!(members["m-eu"].get("/readyz").0, 200);
    // It stays a partial outage: never down, no down alert.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(m.state("a"), "degraded");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(downs(&hook).is_empty(), "{:#?}", hook.received());

    // m-eu is cut from the second subnet too, so from every target: eu fails alone on every
    // check, so it is the vantage that is isolated, not the targets that are down.
    router
        .drop_between(eu, IpAddr::V4(subnet_b.addr_v4()))
        .unwrap();
    for c in ["a", "b"] {
        assert_isolated(m, c, 3, "eu");
    }
    std::thread::sleep(Duration::from_secs(2)); // room for a down alert, if there were one
    assert!(downs(&hook).is_empty(), "{:#?}", hook.received());

    // The paths come back: every check up from every vantage again, never having paged.
    router.clear_filters().unwrap();
    for (name, d) in &members {
        for c in ["a", "b"] {
            eventually(
                &format!("{name}: `{c}` up from every vantage"),
                Duration::from_secs(60),
                || {
                    let v = with_vantages(d, c, 3)?;
                    (v["state"] == "up"
                        && failing_vantages(&v).is_empty()
                        && v["diagnosis"] != "vantage_isolated")
                        .then_some(())
                },
            );
        }
    }
    assert!(downs(&hook).is_empty(), "{:#?}", hook.received());
}
