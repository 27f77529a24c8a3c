//! `dns:` and `grpc:` checks in the daemon: the real `linkpulse serve` watching a real dnsmasq
//! and a real gRPC health server, seen through the API (state, target, diagnosis) and
//! `/metrics`; and a config with bad `dns:` / `grpc:` values refused with file, line and key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::dnsmasq::Dnsmasq;
use linkpulse_testsupport::eventually_some;
use linkpulse_testsupport::servers::GrpcHealthServer;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("linkpulse.yaml");
    let db = dir.join("history.db");
    std::fs::write(
        &path,
        format!("listen: 127.0.0.1:0\ndatabase: {}\n{body}", db.display()),
    )
    .expect("write config");
    path
}

#[test]
fn dns_and_grpc_checks_go_up_and_down_with_a_named_cause() {
    let zone = Dnsmasq::start(&["--address=/db.test/10.0.0.1"]).expect("dnsmasq");
    let grpc = GrpcHealthServer::start("127.0.0.1:0".parse().unwrap()).expect("gRPC server");
    grpc.set("shop.Orders", true);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 300ms, timeout: 250ms, rise: 1, fall: 1 }}
checks:
  - name: dns-ok
    dns: {{ server: '{dns}', name: db.test, type: A, answer_regex: ['10\\.0\\.0\\.1$'] }}
  - name: dns-gone
    dns: {{ server: '{dns}', name: gone.test }}
  - name: dns-tcp
    dns: {{ server: '{dns}', name: db.test, tcp: true, expect_rcode: 'NOERROR' }}
  - name: orders
    grpc: {{ address: '{grpc}', service: shop.Orders }}
",
            dns = zone.addr(),
            grpc = grpc.addr()
        ),
    );
    let d = Daemon::start(BIN, &cfg, &[]).unwrap_or_else(|e| panic!("serve: {e}"));
    d.wait_state("dns-ok", "up");
    d.wait_state("dns-tcp", "up");
    d.wait_state("orders", "up");
    d.wait_state("dns-gone", "down");

    let ok = d.check("dns-ok");
    assert_eq!(ok["kind"], "dns");
    assert_eq!(
        ok["target"],
        format!("dns://{}/db.test?type=A", zone.addr()),
        "{ok}"
    );
    assert_eq!(ok["last"]["dns"]["rcode"], "NOERROR", "{ok}");
    let gone = d.check("dns-gone");
    assert!(
        gone["incidents"][0]["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("dns: NXDOMAIN")),
        "{gone}"
    );
    // The server answered: the fault is the application's, not the network's.
    eventually_some("a diagnosis", Duration::from_secs(30), || {
        (d.check("dns-gone")["diagnosis"] == "app_error").then_some(())
    });

    // The service stops serving: down, with its status named.
    grpc.set("shop.Orders", false);
    d.wait_state("orders", "down");
    let orders = d.check("orders");
    assert_eq!(orders["kind"], "grpc");
    assert_eq!(
        orders["target"],
        format!("grpc://{}/shop.Orders", grpc.addr())
    );
    assert!(
        orders["incidents"][0]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("NOT_SERVING")),
        "{orders}"
    );
    eventually_some("a diagnosis", Duration::from_secs(30), || {
        (d.check("orders")["diagnosis"] == "app_error").then_some(())
    });
    grpc.set("shop.Orders", true);
    d.wait_state("orders", "up");

    // /metrics carries the new kinds like any other.
    let (status, metrics) = d.get("/metrics");
    assert_eq!(status, 200);
    for (check, kind) in [("dns-ok", "dns"), ("orders", "grpc")] {
        assert!(
            metrics.lines().any(|l| l.starts_with("linkpulse_check_up{")
                && l.contains(&format!("check=\"{check}\""))
                && l.contains(&format!("kind=\"{kind}\""))),
            "no linkpulse_check_up for {check}: {metrics}"
        );
    }
}

#[test]
fn bad_dns_and_grpc_keys_are_refused_with_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "checks:
  - name: a
    dns:
      server: 127.0.0.1:0
      name: db.test
  - name: b
    dns:
      server: 127.0.0.1
      name: db.test
      type: BOGUS
      expect_rcode: [NOERROR, NOPE]
      answer_regex: ['(']
  - name: c
    grpc: { address: 'localhost' }
  - name: d
    grpc: { address: 'localhost:1', service: 'a b' }
",
    );
    let (ok, stderr) =
        linkpulse_testsupport::bin::config_check(BIN, &cfg).expect("run config check");
    assert!(!ok, "{stderr}");
    let file = cfg.display().to_string();
    for expected in [
        format!("{file}:6: checks[0].dns.server: port 0 out of range 1-65535"),
        format!("{file}:12: checks[1].dns.type: unknown DNS record type `BOGUS`"),
        format!("{file}:13: checks[1].dns.expect_rcode: unknown DNS response code `NOPE`"),
        format!("{file}:14: checks[1].dns.answer_regex[0]: invalid regular expression"),
        format!("{file}:16: checks[2].grpc.address: missing port"),
        format!("{file}:18: checks[3].grpc.service: invalid gRPC service name `a b`"),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    // A key the kind does not have: named, with the keys it does have.
    let cfg = write_config(
        dir.path(),
        "checks:\n  - name: e\n    dns: { server: 127.0.0.1, name: db.test, colour: blue }\n",
    );
    let (ok, stderr) =
        linkpulse_testsupport::bin::config_check(BIN, &cfg).expect("run config check");
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{}:5: checks[0].dns.colour: unknown field `colour`",
            cfg.display()
        )),
        "{stderr}"
    );
}
