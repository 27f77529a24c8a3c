//! `linkpulse serve` against faults only a real network shows: the daemon runs in a `client`
//! namespace, its targets in a `server` namespace, and faults are injected between them (a
//! blackhole route in the router, a packet filter on the server). Needs root.
//!
//! The daemon's API listens inside the client namespace, so it is read with `linkpulse status
//! --json` run in that namespace too.

use std::path::Path;
use std::time::Duration;

use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;
use linkpulse_testsupport::netns::{ClientRouterServer, Topology};
use linkpulse_testsupport::servers::TcpHold;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const BUDGET: Duration = Duration::from_secs(60);

/// The check list, read with `linkpulse status --json` inside the client namespace.
fn checks(net: &ClientRouterServer, api: &str) -> Vec<Value> {
    let url = format!("http://{api}");
    let done = LinkpulseProcess::run(
        BIN,
        &["status", "--url", &url, "--json"],
        Some(&net.client),
        BUDGET,
    )
    .expect("linkpulse status");
    let text = done.stdout.join("\n");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} / {}", done.stderr))
}

fn item(list: &[Value], name: &str) -> Value {
    list.iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// Waits until `check` satisfies `cond`; panics with the last view otherwise.
fn wait(
    net: &ClientRouterServer,
    api: &str,
    check: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let ok = eventually(BUDGET, || {
        last = item(&checks(net, api), check);
        cond(&last)
    });
    assert!(
        ok,
        "{check}: timed out waiting for {what}; last view: {last}"
    );
    last
}

#[test]
fn diagnosis_tells_a_filtered_port_from_an_unreachable_host() {
    let net = Topology::client_router_server().unwrap();
    net.client.allow_unprivileged_ping().unwrap();
    let open = TcpHold::start("0.0.0.0:0".parse().unwrap(), Some(&net.server)).unwrap();
    let filtered = TcpHold::start("0.0.0.0:0".parse().unwrap(), Some(&net.server)).unwrap();
    let server = net.server.addr_v4();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\ndefaults: {{ interval: 500ms, timeout: 400ms, rise: 1, fall: 2 }}\nchecks:\n  - name: host\n    tcp: {{ address: '{server}:{}' }}\n  - name: port\n    tcp: {{ address: '{server}:{}' }}\n",
            Path::new(dir.path()).join("h.db").display(),
            open.addr().port(),
            filtered.addr().port()
        ),
    )
    .unwrap();
    let daemon = LinkpulseProcess::start(
        BIN,
        &["serve", "--config", cfg.to_str().unwrap()],
        Some(&net.client),
    )
    .unwrap();
    let mut api = String::new();
    assert!(
        eventually(BUDGET, || {
            let err = daemon.stderr();
            match err
                .lines()
                .find_map(|l| l.strip_prefix("linkpulse listening on http="))
            {
                Some(rest) => {
                    api = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    true
                }
                None => false,
            }
        }),
        "no listening line: {}",
        daemon.stderr()
    );
    wait(&net, &api, "host", "up", |c| c["state"] == "up");
    wait(&net, &api, "port", "up", |c| c["state"] == "up");

    // The server drops TCP to one port but still answers ping: port_filtered.
    let rule = format!(
        "add table inet lp; add chain inet lp in {{ type filter hook input priority 0; policy accept; }}; add rule inet lp in tcp dport {} drop",
        filtered.addr().port()
    );
    net.server.exec(&["nft", &rule]).unwrap();
    let c = wait(&net, &api, "port", "down with a diagnosis", |c| {
        c["state"] == "down" && c["diagnosis"].is_string()
    });
    assert_eq!(c["diagnosis"], "port_filtered", "{c}");
    assert_eq!(c["last"]["error"]["kind"], "timeout", "{c}");
    assert_eq!(
        item(&checks(&net, &api), "host")["state"],
        "up",
        "the other port is unaffected"
    );

    // The router now drops everything for the server: host_unreachable.
    net.router.blackhole(server.into()).unwrap();
    let c = wait(&net, &api, "host", "down with a diagnosis", |c| {
        c["state"] == "down" && c["diagnosis"].is_string()
    });
    assert_eq!(c["diagnosis"], "host_unreachable", "{c}");
}
