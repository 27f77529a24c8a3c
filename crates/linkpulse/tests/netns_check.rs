//! `linkpulse check` against faults only a real network shows, built from network namespaces:
//! the binary runs in a `client` namespace, targets live in a `server` namespace, and faults
//! are injected in the `router` between them. Needs root.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use linkpulse_testsupport::netns::{ClientRouterServer, Topology};
use linkpulse_testsupport::servers::TcpHold;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
/// Generous: a run that hangs fails the test instead of blocking the suite.
const RUN_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `linkpulse check ARGS… --output json` in the client namespace; returns the process
/// outcome and its single JSON result line.
fn check(net: &ClientRouterServer, args: &[&str]) -> (Finished, Value) {
    let mut full = vec!["check"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--output", "json"]);
    let done = LinkpulseProcess::run(BIN, &full, Some(&net.client), RUN_DEADLINE).unwrap();
    let lines = done.json_lines();
    let results: Vec<Value> = lines
        .into_iter()
        .filter(|v| v.get("target").is_some())
        .collect();
    assert_eq!(
        results.len(),
        1,
        "expected one JSON result for {full:?}; stdout {:?}, stderr {:?}",
        done.stdout,
        done.stderr
    );
    let result = results.into_iter().next().unwrap_or_default();
    (done, result)
}

fn error_kind(result: &Value) -> &str {
    result["error"]["kind"].as_str().unwrap_or("<none>")
}

/// A listener in the server namespace on all addresses (both families).
fn listener(net: &ClientRouterServer) -> TcpHold {
    TcpHold::start("[::]:0".parse().unwrap(), Some(&net.server)).unwrap()
}

fn server_addrs(net: &ClientRouterServer) -> [IpAddr; 2] {
    [net.server.addr_v4().into(), net.server.addr_v6().into()]
}

/// TCP targets of the server, both families, on `port`.
fn tcp_targets(net: &ClientRouterServer, port: u16) -> Vec<String> {
    server_addrs(net)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port).to_string())
        .collect()
}

#[test]
fn tcp_to_a_silent_address_times_out() {
    let net = Topology::client_router_server().unwrap();
    let server = listener(&net);
    for target in tcp_targets(&net, server.addr().port()) {
        // Healthy first: the same target is up through the router …
        let (done, result) = check(&net, &["tcp", &target, "--timeout", "2s"]);
        assert_eq!(result["up"], true, "{result}");
        assert_eq!(done.code(), Some(0), "{result}");
        assert_eq!(result["kind"], "tcp");
        assert!(result["latency_ms"].is_number(), "{result}");

        // … then the router drops everything for it: silence, hence a timeout.
        let ip: SocketAddr = target.parse().unwrap();
        net.router.blackhole(ip.ip()).unwrap();
        let (done, result) = check(&net, &["tcp", &target, "--timeout", "1s"]);
        assert_eq!(result["up"], false, "{result}");
        assert_eq!(error_kind(&result), "timeout", "{result}");
        assert_eq!(done.code(), Some(2), "{result}");
        assert_eq!(result["target"], target.as_str());
        let message = result["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&ip.ip().to_string()), "{message}");
        assert!(result["latency_ms"].is_null(), "{result}");
    }
}

#[test]
fn tcp_through_a_router_answering_unreachable_is_unreachable() {
    let net = Topology::client_router_server().unwrap();
    let server = listener(&net);
    for target in tcp_targets(&net, server.addr().port()) {
        let ip: SocketAddr = target.parse().unwrap();
        net.router.unreachable(ip.ip()).unwrap();
        // The ICMP error arrives at once: well inside a long timeout.
        let (done, result) = check(&net, &["tcp", &target, "--timeout", "10s"]);
        assert_eq!(result["up"], false, "{result}");
        assert_eq!(error_kind(&result), "unreachable", "{result}");
        assert_eq!(done.code(), Some(2), "{result}");
        // Restoring the route brings the target back: the fault was the router's.
        net.router.restore(ip.ip()).unwrap();
        let (_, result) = check(&net, &["tcp", &target, "--timeout", "2s"]);
        assert_eq!(result["up"], true, "{result}");
    }
}

#[test]
fn tcp_to_a_host_with_no_listener_is_refused() {
    let net = Topology::client_router_server().unwrap();
    // A port that was just free in the server namespace: bind, read, close.
    let port = listener(&net).addr().port();
    for target in tcp_targets(&net, port) {
        let (done, result) = check(&net, &["tcp", &target, "--timeout", "5s"]);
        assert_eq!(result["up"], false, "{result}");
        assert_eq!(error_kind(&result), "refused", "{result}");
        assert_eq!(done.code(), Some(2), "{result}");
        let message = result["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("refused"), "{message}");
    }
}

#[test]
fn a_targets_file_names_each_fault_separately() {
    let mut topology = Topology::with_hosts(4).unwrap();
    // hosts[0] is the client; 1: healthy, 2: silent, 3: unreachable; 1 also has a closed port.
    let _ = topology.add_host().unwrap();
    let hosts = &topology.hosts;
    let up = TcpHold::start("[::]:0".parse().unwrap(), Some(&hosts[1])).unwrap();
    let closed = TcpHold::start("0.0.0.0:0".parse().unwrap(), Some(&hosts[1]))
        .unwrap()
        .addr()
        .port();
    let port = up.addr().port();
    topology
        .router
        .blackhole(hosts[2].addr_v4().into())
        .unwrap();
    topology
        .router
        .unreachable(hosts[3].addr_v4().into())
        .unwrap();
    let expected = [
        (format!("tcp://{}:{port}", hosts[1].addr_v4()), None),
        (
            format!("tcp://{}:{closed}", hosts[1].addr_v4()),
            Some("refused"),
        ),
        (
            format!("tcp://{}:{port}", hosts[2].addr_v4()),
            Some("timeout"),
        ),
        (
            format!("tcp://{}:{port}", hosts[3].addr_v4()),
            Some("unreachable"),
        ),
        (format!("tcp://[{}]:{port}", hosts[1].addr_v6()), None),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.txt");
    let mut text = String::from("# faults injected in the router\n\n");
    for (target, _) in &expected {
        text.push_str(target);
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let file = file.to_string_lossy().into_owned();
    let args = [
        "check",
        "--targets",
        &file,
        "--concurrency",
        "8",
        "--timeout",
        "1s",
        "--output",
        "json",
    ];
    let done = LinkpulseProcess::run(BIN, &args, Some(&hosts[0]), RUN_DEADLINE).unwrap();
    assert_eq!(done.code(), Some(2), "{done:?}");
    let results: Vec<Value> = done
        .json_lines()
        .into_iter()
        .filter(|v| v.get("target").is_some())
        .collect();
    assert_eq!(results.len(), expected.len(), "{done:?}");
    for (target, kind) in &expected {
        let result = results
            .iter()
            .find(|r| r["target"] == target.as_str())
            .unwrap_or_else(|| panic!("no result for {target}: {done:?}"));
        match kind {
            None => assert_eq!(result["up"], true, "{result}"),
            Some(kind) => {
                assert_eq!(result["up"], false, "{result}");
                assert_eq!(error_kind(result), *kind, "{result}");
            }
        }
    }
}
