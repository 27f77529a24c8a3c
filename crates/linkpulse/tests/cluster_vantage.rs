//! Multi-vantage checks in cluster mode: three `linkpulse serve` members (the real binary) in
//! the vantages eu, us and ap share one throwaway PostgreSQL database, and every one of them
//! runs each `vantage: { from: [eu, us, ap], quorum: 2 }` check. A target is made to fail
//! from some vantages only by giving those members a refusing address for it (each member has
//! its own config file, as each has its own `cluster.node`). Every wait polls a condition
//! with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use linkpulse_testsupport::cluster::{assert_isolated, failing_vantages, with_vantages};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::postgres::{self, PgDatabase};
use linkpulse_testsupport::servers::{TcpHold, WebhookReceiver};

const MEMBERS: [(&str, &str); 3] = [("m-eu", "eu"), ("m-us", "us"), ("m-ap", "ap")];

/// An address nothing listens on (connections are refused).
fn refusing() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Starts the three members; `target(vantage, check)` is the address that member probes for
/// each of `checks`.
fn start_members(
    dir: &Path,
    db: &PgDatabase,
    checks: &[&str],
    hook: &WebhookReceiver,
    target: impl Fn(&str, &str) -> SocketAddr,
) -> BTreeMap<&'static str, Daemon> {
    std::fs::write(dir.join("pg.pass"), format!("{}\n", db.password())).unwrap();
    MEMBERS
        .iter()
        .map(|(node, vantage)| {
            let mut yaml = format!(
                "listen: 127.0.0.1:0\ndatabase: {}\ndatabase_password_file: pg.pass\n\
                 cluster: {{ node: {node}, vantage: {vantage}, lease: 3s }}\n\
                 defaults: {{ interval: 500ms, timeout: 250ms, rise: 1, fall: 1 }}\n\
                 alerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\nchecks:\n",
                db.url(),
                hook.url()
            );
            for c in checks {
                yaml.push_str(&format!(
                    "  - name: {c}\n    tcp: {{ address: '{}' }}\n    vantage: {{ from: [eu, us, ap], quorum: 2 }}\n",
                    target(vantage, c)
                ));
            }
            let path = dir.join(format!("{node}.yaml"));
            std::fs::write(&path, yaml).unwrap();
            let d = Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), &path, &[])
                .unwrap_or_else(|e| panic!("{e}"));
            (*node, d)
        })
        .collect()
}

/// Down alerts received per check, and whether any idempotency key came twice.
fn downs(hook: &WebhookReceiver) -> (BTreeMap<String, usize>, bool) {
    let (mut per_check, mut keys) = (BTreeMap::new(), BTreeSet::new());
    let mut twice = false;
    for a in hook.received() {
        twice |= !keys.insert(a["idempotency_key"].as_str().unwrap_or("").to_owned());
        if a["state"] == "down" {
            *per_check
                .entry(a["check"].as_str().unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
    }
    (per_check, twice)
}

#[test]
fn one_failing_vantage_is_a_partial_outage_two_are_down_with_one_alert_from_one_decider() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let up = TcpHold::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let down = refusing();
    let hook = WebhookReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    // `ok` answers everywhere (so eu does not fail on every check: not isolated), `one` fails
    // from eu, `two` from eu and us, `all` from every vantage.
    let mut members = start_members(
        dir.path(),
        &db,
        &["ok", "one", "two", "all"],
        &hook,
        |vantage, check| match (check, vantage) {
            ("one", "eu") | ("two", "eu" | "us") | ("all", _) => down,
            _ => up.addr(),
        },
    );
    let m = &members["m-ap"];

    let one = eventually("`one` degraded from eu", Duration::from_secs(60), || {
        let c = with_vantages(m, "one", 3)?;
        (c["state"] == "degraded").then_some(c)
    });
    assert_eq!(one["diagnosis"], "partial_outage", "{one:#}");
    assert!(one["cause"].as_str().unwrap().contains("eu"), "{one:#}");
    assert_eq!(failing_vantages(&one), BTreeSet::from(["eu".to_owned()]));
    assert_eq!(one["vantages"]["quorum"], 2);
    let eu = one["vantages"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["vantage"] == "eu")
        .unwrap();
    assert_eq!(
        (eu["member"].as_str(), eu["error_kind"].as_str()),
        (Some("m-eu"), Some("refused"))
    );

    let two = eventually("`two` down from eu and us", Duration::from_secs(60), || {
        let c = with_vantages(m, "two", 3)?;
        (c["state"] == "down").then_some(c)
    });
    let cause = two["cause"].as_str().unwrap();
    assert!(cause.contains("eu") && cause.contains("us"), "{two:#}");
    assert_eq!(
        failing_vantages(&two),
        BTreeSet::from(["eu".to_owned(), "us".to_owned()])
    );
    eventually("`ok` up", Duration::from_secs(30), || {
        (with_vantages(m, "ok", 3)?["state"] == "up").then_some(())
    });
    // Every member shows the same states (one decides, the others mirror its inputs).
    for (name, d) in &members {
        eventually(&format!("{name} agrees"), Duration::from_secs(30), || {
            (d.state("one") == "degraded" && d.state("two") == "down").then_some(())
        });
    }

    // The down alerts of `two` and `all` go out once, and `one` (a partial outage) pages no
    // `down`; one incident each, opened by the decider alone.
    let want = BTreeMap::from([("all".to_owned(), 1), ("two".to_owned(), 1)]);
    eventually(
        "a down alert for `two` and `all`",
        Duration::from_secs(30),
        || (downs(&hook).0.len() == 2).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(3)); // room for a second delivery, if any
    let (per_check, twice) = downs(&hook);
    assert_eq!(per_check, want, "{:#?}", hook.received());
    assert!(!twice, "an alert delivered twice: {:#?}", hook.received());
    let incidents = db
        .psql("SELECT check_name || ':' || COUNT(*) FROM incidents GROUP BY check_name ORDER BY 1")
        .unwrap();
    assert_eq!(
        incidents.split_whitespace().collect::<Vec<_>>(),
        ["all:1", "two:1"]
    );

    // Each result is stored with its vantage and member.
    let series = db
        .psql("SELECT DISTINCT check_name || ':' || vantage || ':' || member FROM series WHERE vantage IS NOT NULL ORDER BY 1")
        .unwrap();
    let series: BTreeSet<&str> = series
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for c in ["ok", "one", "two", "all"] {
        for (node, vantage) in MEMBERS {
            let want = format!("{c}:{vantage}:{node}");
            assert!(series.contains(want.as_str()), "{want} not in {series:?}");
        }
    }
    // The history still reads as one: every vantage's results under the check's name.
    let history = m.json("/api/v1/checks/one/history?limit=1000");
    assert!(
        history["results"].as_array().unwrap().len() >= 3,
        "{history:#}"
    );

    // The check page shows the per-vantage table in a real browser.
    let url = format!("http://{}", m.addr());
    linkpulse_testsupport::browser::run_script_with(
        "vantage.mjs",
        env!("CARGO_BIN_EXE_linkpulse"),
        &[
            ("VANTAGE_URL", url.as_str()),
            ("VANTAGE_CHECK", "one"),
            ("VANTAGE_FAILING", "eu"),
            ("VANTAGE_ALL", "ap,eu,us"),
        ],
    );

    // kill -9 the decider of `all`: another member decides it, resumed from the shared
    // history (still down), and no alert goes out a second time.
    let decider = eventually("`all`'s decider named", Duration::from_secs(30), || {
        let c = with_vantages(&members["m-ap"], "all", 3)?;
        c["vantages"]["decider"].as_str().map(str::to_owned)
    });
    let node = *members
        .keys()
        .find(|n| **n == decider)
        .expect("a member decides");
    members.remove(node).unwrap().kill9();
    let survivor = members.values().next().unwrap();
    eventually("a new decider of `all`", Duration::from_secs(30), || {
        let c = survivor.check("all");
        let now = c["vantages"]["decider"].as_str()?;
        (now != decider && c["state"] == "down").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let (per_check, twice) = downs(&hook);
    assert_eq!(per_check, want, "{:#?}", hook.received());
    assert!(!twice, "an alert delivered twice: {:#?}", hook.received());
}

#[test]
fn a_vantage_failing_alone_on_every_check_is_isolated_not_an_outage() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let up = TcpHold::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let down = refusing();
    let hook = WebhookReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    // eu cannot reach anything.
    let checks = ["a", "b", "c"];
    let members = start_members(dir.path(), &db, &checks, &hook, |vantage, _| {
        if vantage == "eu" { down } else { up.addr() }
    });
    let m = &members["m-us"];
    for c in checks {
        assert_isolated(m, c, 3, "eu");
    }
    // Not an outage of every target: no down alert.
    std::thread::sleep(Duration::from_secs(2));
    let (per_check, _) = downs(&hook);
    assert!(per_check.is_empty(), "{:#?}", hook.received());
}

/// `linkpulse config check` (the real binary) names the file, line and key of a bad `vantage:`.
#[test]
fn config_check_names_a_bad_vantage_by_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let check = |yaml: &str| {
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, yaml).unwrap();
        let (ok, stderr) =
            linkpulse_testsupport::bin::config_check(env!("CARGO_BIN_EXE_linkpulse"), &path)
                .unwrap();
        assert!(!ok, "accepted: {yaml}");
        stderr
    };
    let e = check(
        "database: history.db\nchecks:\n  - name: web\n    tcp: { address: '127.0.0.1:1' }\n    vantage: { from: [eu, us] }\n",
    );
    assert!(
        e.contains("c.yaml:5: checks[0].vantage: `vantage:` needs cluster mode"),
        "{e}"
    );
    let e = check(
        "database: postgres://u@127.0.0.1/db\ncluster: { node: a, vantage: eu }\nchecks:\n  - name: web\n    tcp: { address: '127.0.0.1:1' }\n    vantage: { from: [eu, us], quorum: 3 }\n",
    );
    assert!(
        e.contains("c.yaml:6: checks[0].vantage.quorum: quorum 3 out of range: between 1 and 2"),
        "{e}"
    );
}
