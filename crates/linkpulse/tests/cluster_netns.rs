//! Cluster mode under network faults: PostgreSQL (and the alert receiver) on one host, each
//! member (the real `linkpulse serve`) on a host of its own, a router namespace between them
//! where the faults are injected (linkpulse-testsupport's netns topology). The members' checks
//! target a TCP listener on their own namespace's loopback, the same port in each, so a check
//! runs alike wherever it moves. Needs root; every namespace is deleted on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use linkpulse_testsupport::cluster::{
    self, Shape, alerted, in_state, owned, owned_by, split_once, webhook_alerts,
};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::netns::{Host, Topology};
use linkpulse_testsupport::postgres::{PgCluster, PgDatabase};
use linkpulse_testsupport::servers::WebhookReceiver;

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
        let m2 = BTreeMap::from([("m2", &cut)]);
        let down = m2
            .values()
            .flat_map(|d| {
                d.json("/api/v1/checks")
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|c| c["state"] == "down")
            .count();
        (down == cut_owned.len()).then_some(())
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
