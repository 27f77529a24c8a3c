//! Nodes are checks too: with a `hub:` section, `linkpulse serve` shows each agent as the check
//! `node:NAME` (kind `node`) with the same state history, incidents and alerts as probes.

mod hub_support;

use std::path::Path;
use std::time::Duration;

use hub_support::*;
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;
use serde_json::Value;

/// Reads `linkpulse serve`'s stable stderr lines for the HTTP and hub addresses.
fn addresses(daemon: &LinkpulseProcess) -> (String, String) {
    let mut found = None;
    let ok = eventually(Duration::from_secs(20), || {
        let err = daemon.stderr();
        let word = |prefix: &str| {
            err.split_whitespace()
                .find_map(|w| w.strip_prefix(prefix))
                .map(str::to_owned)
        };
        found = word("http=").zip(word("agents="));
        found.is_some()
    });
    assert!(
        ok,
        "daemon did not report its addresses: {}",
        daemon.stderr()
    );
    found.expect("addresses")
}

/// `GET path` over HTTP/1.0 (so the body is never chunked); returns the status and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let addr = addr.parse().expect("the daemon's address");
    linkpulse_testsupport::http::get(addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn json(addr: &str, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The check `name` as `/api/v1/checks` lists it.
fn check(http: &str, name: &str) -> Option<Value> {
    json(http, "/api/v1/checks")
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

fn wait_check(http: &str, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let ok = eventually(Duration::from_secs(15), || {
        check(http, name).is_some_and(|c| pred(&c))
    });
    assert!(
        ok,
        "{name} never became {what}: {:#}",
        json(http, "/api/v1/checks")
    );
    check(http, name).expect("check listed")
}

fn daemon_config(dir: &Path, secret: &Path, events: &Path) -> String {
    let config = write_file(
        dir,
        "linkpulse.yaml",
        &format!(
            "listen: 127.0.0.1:0\ndatabase: {db}\nhub:\n  listen: 127.0.0.1:0\n  interval: 100ms\n  detector: fixed\n  timeout: 500ms\n  secret_file: {secret}\nmetrics: {{ labels: [role] }}\nchecks: []\nalerts:\n  - name: cmd\n    command: {{ program: /bin/sh, args: ['-c', 'cat >> \"$0\" && echo >> \"$0\"', '{events}'] }}\n",
            db = dir.join("lp.db").display(),
            secret = secret.display(),
            events = events.display(),
        ),
    );
    config.display().to_string()
}

/// The alert events the command wrote so far, one JSON object per line.
fn alert_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_killed_agent_is_a_down_check_with_an_incident_and_an_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "hub.secret", SECRET);
    let events = dir.path().join("events.jsonl");
    let config = daemon_config(dir.path(), &secret, &events);
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let (http, hub) = addresses(&daemon);

    let mut a = agent(&hub, "w1", Some(&secret), &["--label", "role=worker"], None);
    wait_connected(&mut a, &hub, Duration::from_secs(10));
    let up = wait_check(&http, "node:w1", "up", |c| c["state"] == "up");
    assert_eq!(up["kind"], "node", "{up:#}");
    assert_eq!(up["target"], "node://w1", "{up:#}");
    assert_eq!(up["labels"]["role"], "worker", "{up:#}");
    let metrics = get(&http, "/metrics").1;
    assert!(
        metrics.lines().any(|l| l.starts_with("linkpulse_check_up{")
            && l.contains("check=\"node:w1\"")
            && l.contains("kind=\"node\"")
            // The agent's `--label role=worker`, exported by `metrics.labels`.
            && l.contains("role=\"worker\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
    // Joining is not news: no alert yet.
    assert!(
        alert_events(&events).is_empty(),
        "{:?}",
        alert_events(&events)
    );

    // kill -9: the kernel closes the socket → dead (peer_closed or reset) → down.
    a.kill();
    let down = wait_check(&http, "node:w1", "down", |c| c["state"] == "down");
    let cause = down["cause"].as_str().unwrap_or_default().to_owned();
    assert!(
        cause.starts_with("peer_closed") || cause.starts_with("reset"),
        "{down:#}"
    );
    let incidents = json(&http, "/api/v1/incidents?check=node:w1");
    let open = incidents
        .as_array()
        .and_then(|l| l.iter().find(|i| i["ended_ms"].is_null()))
        .cloned()
        .unwrap_or_else(|| panic!("no open incident: {incidents:#}"));
    let icause = open["cause"].as_str().unwrap_or_default();
    assert!(
        icause.starts_with("peer_closed") || icause.starts_with("reset"),
        "{open:#}"
    );
    // The command alert fired for the node's check.
    let mut fired = Vec::new();
    let ok = eventually(Duration::from_secs(15), || {
        fired = alert_events(&events);
        fired.iter().any(|e| e["event"] == "down")
    });
    assert!(ok, "no down alert: {fired:?}");
    let alert = fired.iter().find(|e| e["event"] == "down").expect("down");
    assert_eq!(
        (
            alert["check"].as_str(),
            alert["kind"].as_str(),
            alert["alert"].as_str()
        ),
        (Some("node:w1"), Some("node"), Some("cmd")),
        "{alert:#}"
    );
    // The hub's diagnosis (loopback answers, the agent does not) lands on the incident.
    wait_check(&http, "node:w1", "diagnosed", |c| {
        c["diagnosis"] == "process_gone"
    });
    let ok = eventually(Duration::from_secs(10), || {
        json(&http, "/api/v1/incidents?check=node:w1")[0]["diagnosis"] == "process_gone"
    });
    assert!(ok, "{:#}", json(&http, "/api/v1/incidents?check=node:w1"));

    // Back again: up, the incident is closed and an `up` alert follows.
    let mut b = agent(&hub, "w1", Some(&secret), &[], None);
    wait_connected(&mut b, &hub, Duration::from_secs(10));
    wait_check(&http, "node:w1", "up again", |c| c["state"] == "up");
    let ok = eventually(Duration::from_secs(15), || {
        alert_events(&events).iter().any(|e| e["event"] == "up")
    });
    assert!(ok, "no up alert: {:?}", alert_events(&events));
    let ok = eventually(Duration::from_secs(10), || {
        !json(&http, "/api/v1/incidents?check=node:w1")[0]["ended_ms"].is_null()
    });
    assert!(ok, "{:#}", json(&http, "/api/v1/incidents?check=node:w1"));

    // A graceful stop pages no one: `unknown`, and no alert beyond down and up.
    terminate(&b);
    wait_check(&http, "node:w1", "unknown after GOODBYE", |c| {
        c["state"] == "unknown"
    });
    let one = json(&http, "/api/v1/checks/node:w1");
    let day = &one["availability"]["24h"];
    assert_eq!(day["incidents"], 1, "{one:#}");
    assert!(day["down_ms"].as_i64().unwrap_or(0) > 0, "{one:#}");
    assert!(day["up_ms"].as_i64().unwrap_or(0) > 0, "{one:#}");
    let kinds: Vec<Value> = alert_events(&events)
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(kinds, ["down", "up"], "{one:#}");

    // Node checks are not in the file: a reload (SIGHUP) keeps them.
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -HUP failed");
    let ok = eventually(Duration::from_secs(10), || {
        daemon.stderr().contains("configuration reloaded:")
    });
    assert!(ok, "{}", daemon.stderr());
    assert!(
        check(&http, "node:w1").is_some(),
        "{:#}",
        json(&http, "/api/v1/checks")
    );
}

/// A daemon that crashes and restarts still lists every node's check at once, in its stored
/// state; an agent that stays reconnects and stays `up`; a node that went away while the
/// daemon was down is reported `down` with cause `absent` after the rejoin grace.
#[test]
fn node_checks_survive_a_restart_and_a_node_gone_meanwhile_is_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "hub.secret", SECRET);
    let events = dir.path().join("events.jsonl");
    // A fixed agent port, so the agents find the restarted daemon: take one from the kernel.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = daemon_config(dir.path(), &secret, &events);
    let cfg_text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        cfg_text.replace(
            "hub:\n  listen: 127.0.0.1:0",
            &format!("hub:\n  listen: 127.0.0.1:{port}"),
        ),
    )
    .expect("write config");
    let mut daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let (http, hub) = addresses(&daemon);
    assert_eq!(hub, format!("127.0.0.1:{port}"));
    let mut stay = agent(&hub, "stay", Some(&secret), &["--label", "role=db"], None);
    let mut gone = agent(&hub, "gone", Some(&secret), &[], None);
    wait_connected(&mut stay, &hub, Duration::from_secs(10));
    wait_connected(&mut gone, &hub, Duration::from_secs(10));
    wait_check(&http, "node:stay", "up", |c| c["state"] == "up");
    wait_check(&http, "node:gone", "up", |c| c["state"] == "up");

    // The daemon crashes; while it is down, one agent goes away for good.
    daemon.kill();
    gone.kill();
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("restart");
    let (http, _) = addresses(&daemon);
    // Both checks are there from the first answer, in their stored state.
    for name in ["node:stay", "node:gone"] {
        let c = check(&http, name).unwrap_or_else(|| {
            panic!(
                "{name} missing after the restart: {:#}",
                json(&http, "/api/v1/checks")
            )
        });
        assert_eq!(c["state"], "up", "{c:#}");
    }
    // The agent that stayed reconnects (labels come back with it); the other is absent.
    let ok = eventually(Duration::from_secs(30), || {
        check(&http, "node:gone").is_some_and(|c| c["state"] == "down")
    });
    assert!(ok, "{:#}", json(&http, "/api/v1/checks"));
    let down = check(&http, "node:gone").expect("listed");
    assert!(
        down["cause"]
            .as_str()
            .unwrap_or_default()
            .starts_with("absent"),
        "{down:#}"
    );
    let stayed = check(&http, "node:stay").expect("listed");
    assert_eq!(stayed["state"], "up", "{stayed:#}");
    assert_eq!(stayed["labels"]["role"], "db", "{stayed:#}");
    drop(stay);
}

/// A node dead for longer than `hub.forget_after` leaves `/api/v1/nodes` and `/api/v1/checks`
/// (its incident closed, its history kept); after a restart, the check restored from the
/// database is forgotten too, since the new hub never knew the node.
#[test]
fn a_node_dead_longer_than_forget_after_is_forgotten_and_stays_forgotten_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "hub.secret", SECRET);
    let events = dir.path().join("events.jsonl");
    let config = daemon_config(dir.path(), &secret, &events);
    let cfg_text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        cfg_text.replace(
            "  timeout: 500ms\n",
            "  timeout: 500ms\n  forget_after: 3s\n",
        ),
    )
    .expect("write config");
    let mut daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let (http, hub) = addresses(&daemon);
    let mut stay = agent(&hub, "stay", Some(&secret), &[], None);
    let mut gone = agent(&hub, "gone", Some(&secret), &[], None);
    wait_connected(&mut stay, &hub, Duration::from_secs(10));
    wait_connected(&mut gone, &hub, Duration::from_secs(10));
    wait_check(&http, "node:gone", "up", |c| c["state"] == "up");

    gone.kill();
    wait_check(&http, "node:gone", "down", |c| c["state"] == "down");
    let open = json(&http, "/api/v1/incidents?check=node:gone");
    assert!(open[0]["ended_ms"].is_null(), "{open:#}");
    // `/api/v1/nodes` answers `{revision, nodes: [...]}`, `/api/v1/checks` an array.
    let listed = |path: &str, name: &str| {
        let body = json(&http, path);
        let list = if body.is_array() {
            &body
        } else {
            &body["nodes"]
        };
        list.as_array()
            .is_some_and(|l| l.iter().any(|n| n["name"] == name))
    };
    assert!(listed("/api/v1/nodes", "gone"));
    let ok = eventually(Duration::from_secs(20), || {
        !listed("/api/v1/nodes", "gone") && !listed("/api/v1/checks", "node:gone")
    });
    assert!(
        ok,
        "not forgotten: {:#} {:#}",
        json(&http, "/api/v1/nodes"),
        json(&http, "/api/v1/checks")
    );
    // The outage is over as far as anyone will ever know: its incident is closed, kept.
    let ok = eventually(Duration::from_secs(10), || {
        !json(&http, "/api/v1/incidents?check=node:gone")[0]["ended_ms"].is_null()
    });
    assert!(ok, "{:#}", json(&http, "/api/v1/incidents?check=node:gone"));
    // The live node is untouched.
    assert_eq!(check(&http, "node:stay").expect("stay")["state"], "up");

    // Restarted, the daemon restores node:gone from its database; the new hub never knew
    // the node, and it has been gone longer than forget_after: it is forgotten again.
    daemon.kill();
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("restart");
    let (http, _) = addresses(&daemon);
    let ok = eventually(Duration::from_secs(20), || {
        check(&http, "node:gone").is_none()
    });
    assert!(ok, "{:#}", json(&http, "/api/v1/checks"));
    drop(stay);
}
