//! ICMP `ttl`, `payload_size` and `dont_fragment` through a real router: `linkpulse check
//! icmp --ttl/--payload-size/--dont-fragment` and the blackbox `icmp` module's keys, run in a
//! client namespace against a server namespace behind a router namespace (root needed).
//! A TTL of 1 dies at the router (time exceeded); 2 reaches the server. A 1600-byte payload
//! crosses the 1500-byte links in fragments, and cannot with don't-fragment.

use std::time::Duration;

use linkpulse_daemon::blackbox::BlackboxConfig;
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::netns::{ClientRouterServer, Topology};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const RUN_DEADLINE: Duration = Duration::from_secs(30);

/// `linkpulse check icmp HOST ARGS… --output json` in the client namespace: exit code and
/// the result.
fn check(net: &ClientRouterServer, host: &str, args: &[&str]) -> (Option<i32>, Value) {
    let mut full = vec!["check", "icmp", host, "--count", "1", "--timeout", "2s"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--output", "json"]);
    let done = LinkpulseProcess::run(BIN, &full, Some(&net.client), RUN_DEADLINE).unwrap();
    let result = done
        .json_lines()
        .into_iter()
        .find(|v| v.get("target").is_some())
        .unwrap_or_else(|| panic!("no result for {full:?}: {:?}", done.stderr));
    (done.code(), result)
}

#[test]
fn ttl_decides_whether_the_request_passes_the_router() {
    let net = Topology::client_router_server().unwrap();
    for (server, router) in [
        (
            net.server.addr_v4().to_string(),
            net.client.gateway_v4().to_string(),
        ),
        (
            net.server.addr_v6().to_string(),
            net.client.gateway_v6().to_string(),
        ),
    ] {
        let (code, r) = check(&net, &server, &["--ttl", "1"]);
        assert_eq!(code, Some(2), "{r}");
        assert_eq!(r["error"]["kind"], "unreachable", "{r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("time to live exceeded"), "{message}");
        assert!(message.contains(&router), "{message}");

        let (code, r) = check(&net, &server, &["--ttl", "2"]);
        assert_eq!(code, Some(0), "{r}");
        assert_eq!(r["up"], true, "{r}");
    }
}

#[test]
fn dont_fragment_refuses_a_request_larger_than_the_link() {
    let net = Topology::client_router_server().unwrap();
    let server = net.server.addr_v4().to_string();
    let (code, r) = check(&net, &server, &["--payload-size", "1600"]);
    assert_eq!(code, Some(0), "fragmented, it passes: {r}");
    let (code, r) = check(
        &net,
        &server,
        &["--payload-size", "1400", "--dont-fragment"],
    );
    assert_eq!(code, Some(0), "it fits the link: {r}");
    let (code, r) = check(
        &net,
        &server,
        &["--payload-size", "1600", "--dont-fragment"],
    );
    assert_eq!(code, Some(2), "{r}");
    assert_eq!(r["error"]["kind"], "unreachable", "{r}");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("message too long"),
        "{message}"
    );
}

#[test]
fn bad_icmp_flags_are_exit_3() {
    for args in [
        ["--ttl", "0"],
        ["--ttl", "256"],
        ["--payload-size", "70000"],
    ] {
        let mut full = vec!["check", "icmp", "127.0.0.1"];
        full.extend_from_slice(&args);
        let out = std::process::Command::new(BIN)
            .args(&full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
}

#[test]
fn blackbox_icmp_module_keys_reach_the_prober() {
    let net = Topology::client_router_server().unwrap();
    let config = BlackboxConfig::parse(
        "blackbox.yml",
        "modules:\n  ttl1:\n    prober: icmp\n    timeout: 3s\n    icmp:\n      preferred_ip_protocol: ip4\n      ttl: 1\n  ttl2:\n    prober: icmp\n    timeout: 3s\n    icmp:\n      preferred_ip_protocol: ip4\n      ttl: 2\n  big_df:\n    prober: icmp\n    timeout: 3s\n    icmp:\n      preferred_ip_protocol: ip4\n      payload_size: 1600\n      dont_fragment: true\n  big:\n    prober: icmp\n    timeout: 3s\n    icmp:\n      preferred_ip_protocol: ip4\n      payload_size: 1600\n",
        std::path::Path::new("."),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let target = net.server.addr_v4().to_string();
    let outcomes = net
        .client
        .block_on(|| async {
            let prober = linkpulse_probe::Prober::new();
            let mut out = Vec::new();
            for (name, _) in [("ttl1", 0), ("ttl2", 1), ("big_df", 0), ("big", 1)] {
                let module = &config.modules[name];
                let o = linkpulse_daemon::blackbox::run::probe(
                    &prober,
                    module,
                    &target,
                    Duration::from_secs(3),
                )
                .await;
                out.push((name, o));
            }
            out
        })
        .unwrap();
    for (name, o) in outcomes {
        let text = o.metrics.render();
        let success = text
            .lines()
            .find_map(|l| l.strip_prefix("probe_success "))
            .unwrap_or_default()
            .to_owned();
        let want = if name == "ttl2" || name == "big" {
            "1"
        } else {
            "0"
        };
        assert_eq!(success, want, "{name}: {}\n{text}", o.log.join("\n"));
        if want == "1" {
            // The reply crossed the router once: the server's 64, less one.
            assert!(
                text.contains("probe_icmp_reply_hop_limit 63"),
                "{name}: {text}"
            );
        }
    }
    // Out of range: the exporter's range, named.
    let e = BlackboxConfig::parse(
        "blackbox.yml",
        "modules:\n  x:\n    prober: icmp\n    icmp:\n      ttl: 300\n",
        std::path::Path::new("."),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "blackbox.yml:5: modules.x.icmp.ttl: ttl 300 out of range 0-255"
    );
}
