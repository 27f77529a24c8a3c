//! TLS on the hub port: server certificate verified by the agent, client certificates
//! required by the hub; the heartbeat session and HMAC authentication run inside.

mod hub_support;

use std::time::Duration;

use hub_support::*;
use linkpulse_hub::NodeState;
use linkpulse_hub::tls::HubTls;
use linkpulse_testsupport::eventually;
use linkpulse_testsupport::servers::{TestCa, Validity};

#[test]
fn agents_with_the_right_certificates_join_over_tls_and_others_are_refused() {
    let ca = TestCa::new().expect("test CA");
    let dir = ca.dir().to_owned();
    let server = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .expect("server cert");
    let client = ca
        .issue(&["agent-t1"], Validity::expires_in_days(30))
        .expect("client cert");
    let other_ca = TestCa::new().expect("other CA");
    let secret = write_file(&dir, "secret", SECRET);
    let mut config = hub_config(Some(secret.clone()));
    config.tls = Some(HubTls {
        cert_file: write_file(&dir, "hub.pem", &server.cert_pem),
        key_file: write_file(&dir, "hub.key", &server.key_pem),
        client_ca_file: Some(ca.pem_path().to_owned()),
    });
    let hub = TestHub::start(config, None);
    let addr = hub.agent_addr.to_string();
    let ca_path = ca.pem_path().display().to_string();
    let cert = write_file(&dir, "agent.pem", &client.cert_pem)
        .display()
        .to_string();
    let key = write_file(&dir, "agent.key", &client.key_pem)
        .display()
        .to_string();

    let mut good = agent(
        &addr,
        "t1",
        Some(&secret),
        &["--tls-ca", &ca_path, "--tls-cert", &cert, "--tls-key", &key],
        None,
    );
    wait_connected(&mut good, &addr, Duration::from_secs(10));
    let n = hub.wait_node("t1", Duration::from_secs(5), |n| {
        n.state == NodeState::Alive && n.rtt_ms.is_some()
    });
    assert_eq!(n.state, NodeState::Alive);

    // No client certificate: the hub refuses the TLS handshake.
    let mut no_cert = agent(&addr, "t2", Some(&secret), &["--tls-ca", &ca_path], None);
    // The hub's certificate is not signed by the CA the agent trusts.
    let other = other_ca.pem_path().display().to_string();
    let mut wrong_ca = agent(
        &addr,
        "t3",
        Some(&secret),
        &["--tls-ca", &other, "--tls-cert", &cert, "--tls-key", &key],
        None,
    );
    // Plain TCP to a TLS port.
    let mut plain = agent(&addr, "t4", Some(&secret), &[], None);
    assert!(
        eventually(Duration::from_secs(10), || wrong_ca
            .stderr()
            .contains("TLS handshake failed")
            && wrong_ca.stderr().contains("certificate")),
        "{}",
        wrong_ca.stderr()
    );
    assert!(
        eventually(Duration::from_secs(10), || hub
            .hub
            .stats()
            .failed_handshakes
            >= 3),
        "{:?}",
        hub.hub.stats()
    );
    for (p, name) in [
        (&mut no_cert, "t2"),
        (&mut wrong_ca, "t3"),
        (&mut plain, "t4"),
    ] {
        assert!(hub.node(name).is_none(), "{name} joined");
        assert!(
            p.lines().iter().all(|l| !l.starts_with("connected")),
            "{:?}",
            p.lines()
        );
    }
    // The good session was never disturbed; a graceful stop still says GOODBYE over TLS.
    assert_eq!(hub.state("t1"), Some(NodeState::Alive));
    terminate(&good);
    let left = hub.wait_node("t1", Duration::from_secs(5), |n| n.state == NodeState::Left);
    assert_eq!(left.cause.as_deref(), Some("goodbye"));
}

#[test]
fn unusable_tls_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = hub_config(None);
    config.tls = Some(HubTls {
        cert_file: write_file(dir.path(), "empty.pem", ""),
        key_file: dir.path().join("missing.key"),
        client_ca_file: None,
    });
    let err = linkpulse_hub::Hub::new(config)
        .expect_err("must fail")
        .to_string();
    assert!(
        err.contains("empty.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
}
