//! The hub inside the real daemon: `linkpulse serve` with a `hub:` section accepts agents on
//! its own port and serves `/api/v1/nodes` (and the watch stream) on the daemon's HTTP port.

mod hub_support;

use std::time::Duration;

use hub_support::*;
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;

/// Reads `linkpulse serve`'s stable stderr lines for the HTTP and hub addresses.
fn addresses(daemon: &LinkpulseProcess) -> (String, String) {
    let mut found = None;
    let ok = eventually(Duration::from_secs(20), || {
        let err = daemon.stderr();
        let http = err
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .map(str::to_owned);
        let hub = err
            .split_whitespace()
            .find_map(|w| w.strip_prefix("agents="))
            .map(str::to_owned);
        found = http.zip(hub);
        found.is_some()
    });
    assert!(
        ok,
        "daemon did not report its addresses: {}",
        daemon.stderr()
    );
    found.expect("addresses")
}

fn nodes_json(api: &str) -> serde_json::Value {
    let out = std::process::Command::new(BIN)
        .args(["nodes", "--hub-api", api, "--output", "json"])
        .output()
        .expect("nodes");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("json")
}

fn state_of(api: &str, name: &str) -> Option<String> {
    nodes_json(api)["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .and_then(|n| n["state"].as_str().map(str::to_owned))
}

#[test]
fn linkpulse_serve_runs_the_hub_from_its_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write_file(dir.path(), "hub.secret", SECRET);
    let config = write_file(
        dir.path(),
        "linkpulse.yaml",
        &format!(
            "listen: 127.0.0.1:0\ndatabase: {db}\nhub:\n  listen: 127.0.0.1:0\n  interval: 100ms\n  detector: fixed\n  timeout: 500ms\n  secret_file: {secret}\nchecks: []\n",
            db = dir.path().join("lp.db").display(),
            secret = secret.display()
        ),
    );
    let config = config.display().to_string();
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let (http, hub) = addresses(&daemon);
    let api = format!("http://{http}");

    let mut a = agent(&hub, "d1", Some(&secret), &["--label", "role=worker"], None);
    wait_connected(&mut a, &hub, Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || state_of(&api, "d1").as_deref()
            == Some("alive")),
        "{}",
        nodes_json(&api)
    );
    let list = nodes_json(&api);
    assert_eq!(list["nodes"][0]["labels"]["role"], "worker");
    // A wrong secret is refused by the daemon's hub too.
    let wrong = write_file(dir.path(), "wrong", "definitely-wrong");
    let mut bad = agent(&hub, "d2", Some(&wrong), &[], None);
    assert!(
        eventually(Duration::from_secs(5), || bad
            .stderr()
            .contains("authentication failed")),
        "{}",
        bad.stderr()
    );
    bad.kill();
    assert_eq!(state_of(&api, "d2"), None);
    // Graceful stop → left.
    terminate(&a);
    assert!(
        eventually(Duration::from_secs(5), || state_of(&api, "d1").as_deref()
            == Some("left")),
        "{}",
        nodes_json(&api)
    );
}

#[test]
fn linkpulse_serve_runs_the_hub_over_tls_from_its_config() {
    use linkpulse_testsupport::servers::{TestCa, Validity};
    let ca = TestCa::new().expect("test CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .expect("server cert");
    let client = ca
        .issue(&["d-tls"], Validity::expires_in_days(30))
        .expect("client cert");
    let secret = write_file(dir.path(), "hub.secret", SECRET);
    let cert = write_file(dir.path(), "hub.pem", &server.cert_pem);
    let key = write_file(dir.path(), "hub.key", &server.key_pem);
    let config = write_file(
        dir.path(),
        "linkpulse.yaml",
        &format!(
            "listen: 127.0.0.1:0\ndatabase: {db}\nhub:\n  listen: 127.0.0.1:0\n  secret_file: {secret}\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n    client_ca_file: {ca}\nchecks: []\n",
            db = dir.path().join("lp.db").display(),
            secret = secret.display(),
            cert = cert.display(),
            key = key.display(),
            ca = ca.pem_path().display(),
        ),
    );
    let config = config.display().to_string();
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let (http, hub) = addresses(&daemon);
    let api = format!("http://{http}");
    let ca_path = ca.pem_path().display().to_string();
    let agent_cert = write_file(dir.path(), "agent.pem", &client.cert_pem)
        .display()
        .to_string();
    let agent_key = write_file(dir.path(), "agent.key", &client.key_pem)
        .display()
        .to_string();

    let mut good = agent(
        &hub,
        "d-tls",
        Some(&secret),
        &[
            "--tls-ca",
            &ca_path,
            "--tls-cert",
            &agent_cert,
            "--tls-key",
            &agent_key,
        ],
        None,
    );
    wait_connected(&mut good, &hub, Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || state_of(&api, "d-tls")
            .as_deref()
            == Some("alive")),
        "{}",
        nodes_json(&api)
    );
    // Plain TCP to the daemon's TLS agent port is refused.
    let mut plain = agent(&hub, "d-plain", Some(&secret), &[], None);
    assert!(
        eventually(Duration::from_secs(10), || plain
            .stderr()
            .contains("cannot reach hub")),
        "{}",
        plain.stderr()
    );
    assert_eq!(
        plain.wait_for_line(Duration::from_millis(100), |l| l
            .contains("connected to hub")),
        None
    );
    assert_eq!(state_of(&api, "d-plain"), None);
    plain.kill();
    good.kill();
}
