//! The hub behind any cluster member: two `linkpulse serve` processes (the real binary) with a
//! `hub:` and a `cluster:` section share one throwaway PostgreSQL database; real `linkpulse
//! agent`s connect to either. Every member lists every node; when a member is killed with
//! SIGKILL its agents fail over and watchers on the survivor see `moved`, never `dead`; an
//! agent that cannot fail over is `dead` (cause `member_lost`) after the failover budget; an
//! agent stopped for good is `dead` on every member. Every wait polls a condition with a
//! deadline.

mod hub_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hub_support::{BIN, agent, wait_connected};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::postgres::{self, PgDatabase};
use serde_json::Value;

const LEASE_S: u64 = 2;
/// The hub's detector timeout; the failover budget is `10 s + 2 × timeout` after the lease
/// lapsed (docs/cluster.md).
const HUB_TIMEOUT_MS: u64 = 500;

/// Starts member `name` (its config in `dir`).
fn member(dir: &Path, db: &PgDatabase, name: &str) -> Daemon {
    std::fs::write(dir.join("pg.pass"), format!("{}\n", db.password())).unwrap();
    let yaml = format!(
        "listen: 127.0.0.1:0\ndatabase: {}\ndatabase_password_file: pg.pass\n\
         cluster: {{ node: {name}, vantage: lab, lease: {LEASE_S}s }}\n\
         hub: {{ listen: '127.0.0.1:0', interval: 100ms, timeout: {HUB_TIMEOUT_MS}ms }}\n\
         checks: []\n",
        db.url()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("PGPASSWORD");
    Daemon::spawn(command).unwrap_or_else(|e| panic!("{e}"))
}

/// The member's agent address, from its stable `agents=ADDR` stderr line.
fn agents_addr(d: &Daemon) -> String {
    eventually("the hub's agents= line", Duration::from_secs(20), || {
        d.log()
            .split_whitespace()
            .find_map(|w| w.strip_prefix("agents="))
            .map(str::to_owned)
    })
}

/// `name` as `d`'s `/api/v1/nodes` lists it.
fn node(d: &Daemon, name: &str) -> Option<Value> {
    d.json("/api/v1/nodes")["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .cloned()
}

/// Waits until `d` lists `name` in `state` held by `member`; returns the node.
fn wait_node(d: &Daemon, name: &str, state: &str, member: &str, budget: Duration) -> Value {
    eventually(
        &format!("{name} {state} on member {member}"),
        budget,
        || node(d, name).filter(|n| n["state"] == state && n["member"] == member),
    )
}

/// `linkpulse nodes --watch --output json` against `d`.
fn watch(d: &Daemon) -> LinkpulseProcess {
    let api = format!("http://{}", d.addr());
    let mut w = LinkpulseProcess::start(
        BIN,
        &["nodes", "--hub-api", &api, "--watch", "--output", "json"],
        None,
    )
    .expect("watch");
    w.wait_for_json(Duration::from_secs(10), |v| v["event"] == "snapshot")
        .expect("a snapshot");
    w
}

/// The events the watcher printed so far for `name`, in order.
fn events_of(w: &mut LinkpulseProcess, name: &str) -> Vec<Value> {
    // Take in every line printed so far.
    let _ = w.wait_for_line(Duration::from_millis(200), |_| false);
    w.lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["node"]["name"] == name)
        .collect()
}

/// How many members run the check `node:NAME`, and its transitions on the one that does.
fn node_checks(members: &[&Daemon], name: &str) -> (usize, Vec<(String, String)>) {
    let check = format!("node:{name}");
    let runners: Vec<&&Daemon> = members
        .iter()
        .filter(|d| {
            d.json("/api/v1/checks")
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c["name"] == check))
        })
        .collect();
    let transitions = runners
        .first()
        .map(|d| {
            d.json(&format!("/api/v1/checks/{check}/history?limit=10000"))["transitions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    (
                        t["from"].as_str().unwrap_or("").to_owned(),
                        t["to"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (runners.len(), transitions)
}

#[test]
fn agents_of_a_killed_member_move_and_watchers_never_see_them_dead() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let a = member(dir.path(), &db, "a");
    let b = member(dir.path(), &db, "b");
    let (hub_a, hub_b) = (agents_addr(&a), agents_addr(&b));

    // w1 can fail over to b; w3 knows only a; w2 is on b. w1's check is decided by a (the
    // member killed below), so b takes it over too.
    let w1_name = (1..)
        .map(|i| format!("w1-{i}"))
        .find(|n| {
            linkpulse_cluster::rendezvous::owner(&format!("node:{n}"), ["a", "b"]) == Some("a")
        })
        .unwrap();
    let w1_name = w1_name.as_str();
    let mut w1 = agent(&format!("{hub_a},{hub_b}"), w1_name, None, &[], None);
    wait_connected(&mut w1, &hub_a, Duration::from_secs(10));
    let mut w3 = agent(&hub_a, "w3", None, &[], None);
    wait_connected(&mut w3, &hub_a, Duration::from_secs(10));
    let mut w2 = agent(&hub_b, "w2", None, &[], None);
    wait_connected(&mut w2, &hub_b, Duration::from_secs(10));

    // Any member shows every node, with the member holding its session.
    let budget = Duration::from_secs(10);
    for d in [&a, &b] {
        wait_node(d, w1_name, "alive", "a", budget);
        wait_node(d, "w3", "alive", "a", budget);
        wait_node(d, "w2", "alive", "b", budget);
    }
    // Each node's check is decided by one member.
    eventually("node:w1 decided by one member", budget, || {
        let on_a = node_checks(&[&a], w1_name);
        (node_checks(&[&a, &b], w1_name).0 == 1 && on_a.0 == 1 && !on_a.1.is_empty()).then_some(())
    });

    let mut watcher = watch(&b);
    a.kill9();
    wait_connected(&mut w1, &hub_b, Duration::from_secs(15));
    wait_node(&b, w1_name, "alive", "b", budget);
    let moved = eventually("a moved event for w1", budget, || {
        events_of(&mut watcher, w1_name)
            .into_iter()
            .find(|e| e["event"] == "moved")
    });
    assert_eq!(
        (&moved["from"], &moved["to"], &moved["node"]["member"]),
        (&Value::from("a"), &Value::from("b"), &Value::from("b")),
        "{moved}"
    );

    // w3 could not fail over: dead once a's lease lapsed and the budget ran out (2 s lease
    // + a renewal + 11 s in transit), with its cause.
    let w3_dead = wait_node(&b, "w3", "dead", "a", Duration::from_secs(30));
    assert_eq!(w3_dead["cause"], "member_lost", "{w3_dead}");
    // By then w1's transit is long over: it was never dead nor joined again.
    let seen: Vec<String> = events_of(&mut watcher, w1_name)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(seen.first().map(String::as_str), Some("moved"), "{seen:?}");
    assert!(
        seen.iter().all(|e| e == "moved" || e == "status"),
        "w1's events on b: {seen:?}"
    );
    // Its check (now decided by b, the only member) never went down.
    let (runners, transitions) = node_checks(&[&b], w1_name);
    assert_eq!(runners, 1);
    // (Two members may both start it while they first learn of each other, hence `all`.)
    assert!(
        !transitions.is_empty() && transitions.iter().all(|(_, to)| to == "up"),
        "node:w1 has one history, taken over without a flap: {transitions:?}"
    );

    // A member starting now never shows a's nodes alive: w3 is dead when first listed.
    let c = member(dir.path(), &db, "c");
    let first = eventually("w3 listed on c", budget, || node(&c, "w3"));
    assert_eq!(
        (&first["state"], &first["cause"]),
        (&Value::from("dead"), &Value::from("member_lost")),
        "{first}"
    );
    drop(c);

    // An agent stopped for good is dead at once, with the session's cause.
    drop(w2);
    let w2_dead = wait_node(&b, "w2", "dead", "b", budget);
    assert_ne!(w2_dead["cause"], "member_lost", "{w2_dead}");
    drop(w1);
    drop(w3);
}

#[test]
fn every_member_lists_every_node_and_a_dead_agent_is_dead_everywhere() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Daemon> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| member(dir.path(), &db, m))
        .collect();
    let hubs: Vec<String> = members.iter().map(agents_addr).collect();
    let mut agents = Vec::new();
    for (i, hub) in hubs.iter().enumerate() {
        let mut p = agent(hub, &format!("n{i}"), None, &[], None);
        wait_connected(&mut p, hub, Duration::from_secs(10));
        agents.push(p);
    }
    let budget = Duration::from_secs(10);
    for d in &members {
        for i in 0..3 {
            wait_node(d, &format!("n{i}"), "alive", &format!("m{}", i + 1), budget);
        }
    }
    // The agent on m2 stops for good: every member shows it dead, held by m2.
    let mut watcher = watch(&members[0]);
    drop(agents.remove(1));
    for d in &members {
        wait_node(d, "n1", "dead", "m2", budget);
    }
    let seen = eventually("n1's dead event on m1", budget, || {
        let e = events_of(&mut watcher, "n1");
        (!e.is_empty()).then_some(e)
    });
    assert_eq!(seen[0]["event"], "dead", "{seen:?}");
    // One member decides node:n1, and its check is down.
    let refs: Vec<&Daemon> = members.iter().collect();
    eventually("node:n1 down on its owner", budget, || {
        let (runners, t) = node_checks(&refs, "n1");
        (runners == 1 && t.last().is_some_and(|(_, to)| to == "down")).then_some(())
    });
}

#[test]
fn without_postgres_a_member_serves_its_nodes_and_says_so() {
    let pg = std::sync::Arc::new(postgres::PgCluster::start().expect("a PostgreSQL cluster"));
    let db = pg.database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = member(dir.path(), &db, "a");
    let b = member(dir.path(), &db, "b");
    let (hub_a, hub_b) = (agents_addr(&a), agents_addr(&b));
    let mut wa = agent(&hub_a, "wa", None, &[], None);
    wait_connected(&mut wa, &hub_a, Duration::from_secs(10));
    let mut wb = agent(&hub_b, "wb", None, &[], None);
    wait_connected(&mut wb, &hub_b, Duration::from_secs(10));
    let budget = Duration::from_secs(10);
    wait_node(&a, "wb", "alive", "b", budget);
    let mut watcher = watch(&a);

    pg.halt();
    let why = eventually(
        "/readyz says the shared node table is unreachable",
        Duration::from_secs(30),
        || {
            let (code, body) = a.get("/readyz");
            (code == 503 && body.contains("the hub's shared node table is unreachable"))
                .then_some(body)
        },
    );
    assert!(why.contains("showing this member's nodes"), "{why}");
    // A new agent joins a meanwhile: a lists it, and b's node as last seen.
    let mut wc = agent(&hub_a, "wc", None, &[], None);
    wait_connected(&mut wc, &hub_a, Duration::from_secs(10));
    wait_node(&a, "wc", "alive", "a", budget);
    wait_node(&a, "wb", "alive", "b", budget);
    // Longer than the failover budget (10 s + 2 × 500 ms): every lease lapses meanwhile.
    std::thread::sleep(Duration::from_secs(13));
    pg.restart().expect("PostgreSQL back");

    for d in [&a, &b] {
        eventually("ready again", Duration::from_secs(60), || {
            (d.get("/readyz").0 == 200).then_some(())
        });
    }
    // What a learned during the outage reaches b.
    wait_node(&b, "wc", "alive", "a", Duration::from_secs(20));
    // Both leases lapsed during the outage; once both renew, b's node was never dead on a.
    std::thread::sleep(Duration::from_secs(LEASE_S * 2));
    let seen: Vec<Value> = events_of(&mut watcher, "wb");
    assert!(
        seen.iter()
            .all(|e| !["dead", "forgotten", "join"].contains(&e["event"].as_str().unwrap_or(""))),
        "wb's events on a: {seen:?}\n--- a:\n{}\n--- b:\n{}",
        a.log(),
        b.log()
    );
    assert_eq!(
        node(&a, "wb").map(|n| n["state"].clone()),
        Some("alive".into())
    );
}
