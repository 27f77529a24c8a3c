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

#[test]
fn icmp_to_a_namespace_host_is_up_with_every_reply() {
    let net = Topology::client_router_server().unwrap();
    for ip in server_addrs(&net) {
        let target = ip.to_string();
        let (done, result) = check(
            &net,
            &["icmp", &target, "--count", "3", "--interval", "50ms"],
        );
        assert_eq!(result["up"], true, "{result}");
        assert_eq!(done.code(), Some(0), "{result}");
        assert_eq!(result["kind"], "icmp");
        assert_eq!(result["icmp"]["sent"], 3, "{result}");
        assert_eq!(result["icmp"]["received"], 3, "{result}");
        assert_eq!(result["icmp"]["loss"].as_f64(), Some(0.0), "{result}");
        assert!(result["icmp"]["rtt_avg_ms"].is_number(), "{result}");
    }
}

#[test]
fn icmp_through_a_blackholed_router_is_down_and_silent() {
    let net = Topology::client_router_server().unwrap();
    for ip in server_addrs(&net) {
        net.router.blackhole(ip).unwrap();
        let target = ip.to_string();
        let (done, result) = check(
            &net,
            &[
                "icmp",
                &target,
                "--count",
                "2",
                "--interval",
                "50ms",
                "--timeout",
                "1s",
            ],
        );
        assert_eq!(result["up"], false, "{result}");
        assert_eq!(done.code(), Some(2), "{result}");
        assert_eq!(result["icmp"]["received"], 0, "{result}");
        assert_eq!(result["icmp"]["loss"].as_f64(), Some(100.0), "{result}");
        // Silence is not an unreachable report.
        assert_eq!(error_kind(&result), "timeout", "{result}");
        let unreachable = result["icmp"]["unreachable"].as_array().cloned();
        assert!(unreachable.unwrap_or_default().is_empty(), "{result}");
    }
}

#[test]
fn icmp_with_the_router_answering_unreachable_reports_the_code() {
    let net = Topology::client_router_server().unwrap();
    // (destination, router address that answers, expected ICMP code)
    let cases: [(IpAddr, IpAddr, u64); 2] = [
        // ICMPv4 type 3 code 1: host unreachable.
        (
            net.server.addr_v4().into(),
            net.client.gateway_v4().into(),
            1,
        ),
        // ICMPv6 type 1 code 0: no route to destination.
        (
            net.server.addr_v6().into(),
            net.client.gateway_v6().into(),
            0,
        ),
    ];
    for (dst, router, code) in cases {
        net.router.unreachable(dst).unwrap();
        let target = dst.to_string();
        let (done, result) = check(
            &net,
            &[
                "icmp",
                &target,
                "--count",
                "2",
                "--interval",
                "50ms",
                "--timeout",
                "2s",
            ],
        );
        assert_eq!(result["up"], false, "{result}");
        assert_eq!(done.code(), Some(2), "{result}");
        assert_eq!(error_kind(&result), "unreachable", "{result}");
        assert_eq!(result["icmp"]["received"], 0, "{result}");
        let reports = result["icmp"]["unreachable"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!reports.is_empty(), "{result}");
        assert_eq!(reports[0]["code"].as_u64(), Some(code), "{result}");
        assert_eq!(
            reports[0]["from"].as_str(),
            Some(router.to_string().as_str()),
            "{result}"
        );
    }
}

#[test]
fn icmp_administratively_prohibited_is_a_different_code() {
    let net = Topology::client_router_server().unwrap();
    let dst: IpAddr = net.server.addr_v4().into();
    net.router.prohibit(dst).unwrap();
    let target = dst.to_string();
    let (_, result) = check(&net, &["icmp", &target, "--count", "1", "--timeout", "2s"]);
    assert_eq!(error_kind(&result), "unreachable", "{result}");
    // ICMPv4 type 3 code 13: communication administratively prohibited.
    assert_eq!(
        result["icmp"]["unreachable"][0]["code"].as_u64(),
        Some(13),
        "{result}"
    );
}

/// Runs `linkpulse check icmp …` as user and group 65534 (no capabilities) in the client
/// namespace. The binary is copied to a world-readable directory first, because the build
/// tree may sit under a directory (e.g. /root) that user 65534 cannot enter.
fn check_icmp_unprivileged(net: &ClientRouterServer, target: &str) -> (Finished, Value) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("linkpulse");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin.to_string_lossy().into_owned();
    let args = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &bin,
        "check",
        "icmp",
        target,
        "--count",
        "2",
        "--interval",
        "50ms",
        "--timeout",
        "2s",
        "--output",
        "json",
    ];
    let done = LinkpulseProcess::run("setpriv", &args, Some(&net.client), RUN_DEADLINE).unwrap();
    let result = done
        .json_lines()
        .into_iter()
        .find(|v| v.get("target").is_some())
        .unwrap_or_else(|| panic!("no JSON result: {done:?}"));
    (done, result)
}

#[test]
fn icmp_without_privilege_says_how_to_fix_it_then_works_over_datagram_sockets() {
    let net = Topology::client_router_server().unwrap();
    let target = net.server.addr_v4().to_string();
    // A fresh namespace admits no group to ICMP datagram sockets, and the user has no
    // CAP_NET_RAW: the monitor cannot probe, which is "unknown" (3), not "down".
    let (done, result) = check_icmp_unprivileged(&net, &target);
    assert_eq!(error_kind(&result), "permission", "{result}");
    assert_eq!(done.code(), Some(3), "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ping_group_range"), "{message}");
    assert!(
        message.contains("CAP_NET_RAW") || message.contains("cap_net_raw"),
        "{message}"
    );

    // Allowed: the datagram socket works, and ICMP errors still arrive (error queue).
    net.client.allow_unprivileged_ping().unwrap();
    let (done, result) = check_icmp_unprivileged(&net, &target);
    assert_eq!(result["up"], true, "{result}");
    assert_eq!(done.code(), Some(0), "{result}");
    assert_eq!(result["icmp"]["received"], 2, "{result}");

    net.router.unreachable(net.server.addr_v4().into()).unwrap();
    let (_, result) = check_icmp_unprivileged(&net, &target);
    assert_eq!(error_kind(&result), "unreachable", "{result}");
    assert_eq!(
        result["icmp"]["unreachable"][0]["code"].as_u64(),
        Some(1),
        "{result}"
    );
}

#[test]
fn https_through_the_router_with_a_private_ca_then_unreachable() {
    use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TestCa, Validity};
    let net = Topology::client_router_server().unwrap();
    let ip = net.server.addr_v4().to_string();
    let ca = TestCa::new().unwrap();
    let id = ca.issue(&[&ip], Validity::expires_in_days(5)).unwrap();
    let server = HttpServer::start_tls(
        "0.0.0.0:0".parse().unwrap(),
        Some(&net.server),
        HttpResponse::new(200).body("ready"),
        &id,
    )
    .unwrap();
    let url = format!("https://{ip}:{}/health", server.addr().port());
    let ca_path = ca.pem_path().to_string_lossy().into_owned();
    let args = [
        "http",
        url.as_str(),
        "--ca",
        &ca_path,
        "--cert-warn",
        "10",
        "--body-contains",
        "ready",
    ];
    // Up, but the certificate expires within the warning window: exit 1 (warning).
    let (done, result) = check(&net, &args);
    assert_eq!(result["up"], true, "{result}");
    assert_eq!(done.code(), Some(1), "{result}");
    assert_eq!(result["http"]["status"], 200, "{result}");
    assert_eq!(result["tls"]["cert_days_left"], 5, "{result}");
    assert_eq!(server.requests(), 1);

    // The router now answers "host unreachable": HTTP names the network fault, not TLS.
    net.router.unreachable(net.server.addr_v4().into()).unwrap();
    let (done, result) = check(&net, &args);
    assert_eq!(result["up"], false, "{result}");
    assert_eq!(error_kind(&result), "unreachable", "{result}");
    assert_eq!(done.code(), Some(2), "{result}");
}

#[test]
fn http_to_a_server_that_reboots_mid_request_is_reset() {
    use linkpulse_testsupport::eventually;
    use linkpulse_testsupport::servers::{HttpResponse, HttpServer};
    let net = Topology::client_router_server().unwrap();
    // The server reads the request, then stalls long enough for us to "reboot" it.
    let server = HttpServer::start(
        "0.0.0.0:0".parse().unwrap(),
        Some(&net.server),
        HttpResponse::new(200).delay(Duration::from_secs(20)),
    )
    .unwrap();
    let url = format!("http://{}:{}/", net.server.addr_v4(), server.addr().port());
    let args = [
        "check",
        "http",
        &url,
        "--timeout",
        "15s",
        "--output",
        "json",
    ];
    let mut process = LinkpulseProcess::start(BIN, &args, Some(&net.client)).unwrap();
    assert!(eventually(Duration::from_secs(10), || server.requests() == 1));
    // The server host loses every connection (as in a reboot): its kernel resets them.
    net.server.kill_sockets().unwrap();
    let done = process.wait_exit(RUN_DEADLINE).unwrap();
    let result = done
        .json_lines()
        .into_iter()
        .find(|v| v.get("target").is_some())
        .unwrap_or_else(|| panic!("no JSON result: {done:?}"));
    assert_eq!(result["up"], false, "{result}");
    assert_eq!(error_kind(&result), "reset", "{result}");
    assert_eq!(done.code(), Some(2), "{result}");
}

/// `Icmp: … OutEchoReps` of the namespace's `/proc/net/snmp`: echo replies its kernel sent.
fn echo_replies_sent(ns: &linkpulse_testsupport::netns::Namespace) -> u64 {
    let snmp = ns.exec(&["cat", "/proc/net/snmp"]).unwrap_or_default();
    let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (Some(names), Some(values)) = (icmp.next(), icmp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutEchoReps")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Ctrl-C during `check icmp --count 20` prints the partial summary, as ping and fping do,
/// and exits with the code for what was seen (0: replies came back), not 130.
#[test]
fn ctrl_c_during_icmp_prints_the_partial_summary() {
    let net = Topology::with_hosts(1).unwrap();
    let host = &net.hosts[0];
    // Its own loopback: the namespace's counters count only this ping's replies.
    let args = [
        "check",
        "icmp",
        "127.0.0.1",
        "--count",
        "20",
        "--interval",
        "200ms",
    ];
    let mut process = LinkpulseProcess::start(BIN, &args, Some(host)).unwrap();
    assert!(
        linkpulse_testsupport::eventually(RUN_DEADLINE, || process.catches_sigint()),
        "no SIGINT handler: {}",
        process.stderr()
    );
    assert!(
        linkpulse_testsupport::eventually(RUN_DEADLINE, || echo_replies_sent(host) >= 3),
        "no echo replies: {}",
        process.stderr()
    );
    process.interrupt().unwrap();
    let done = process.wait_exit(RUN_DEADLINE).unwrap();
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert_eq!(done.stdout.len(), 1, "{done:?}");
    let line = &done.stdout[0];
    assert!(line.starts_with("UP      icmp 127.0.0.1"), "{line}");
    // "N/M replies, L% loss, rtt min/avg/max/mdev …" over what was sent before Ctrl-C.
    let (received, sent) = line
        .split_whitespace()
        .find_map(|w| w.split_once('/'))
        .and_then(|(r, s)| Some((r.parse::<u32>().ok()?, s.parse::<u32>().ok()?)))
        .unwrap_or_else(|| panic!("no replies count in {line}"));
    assert!((3..20).contains(&sent), "{line}");
    // The request in flight at Ctrl-C counts as lost, as in ping.
    assert!(received + 1 >= sent && received >= 2, "{line}");
    assert!(line.contains("% loss, rtt min/avg/max/mdev"), "{line}");
    assert!(
        done.stderr
            .contains(&format!("interrupted after {sent} of 20 echo requests")),
        "{}",
        done.stderr
    );
}
