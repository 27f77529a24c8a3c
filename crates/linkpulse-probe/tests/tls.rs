//! HTTPS probes against local TLS servers with rcgen certificates from a private CA.

mod support;

use linkpulse_probe::{ErrorKind, HttpOptions, ProbeOptions, ProbeResult, Prober, Target};

fn https(addr: std::net::SocketAddr) -> Target {
    format!("https://{addr}/").parse().unwrap()
}

fn opts(ca: Option<&std::path::Path>, insecure: bool, warn: Option<u32>) -> ProbeOptions {
    ProbeOptions {
        http: HttpOptions {
            ca_file: ca.map(|p| p.to_path_buf()),
            insecure,
            ..HttpOptions::default()
        },
        cert_warn_days: warn,
        ..ProbeOptions::default()
    }
}

fn tls_message(r: &ProbeResult) -> String {
    let e = r.error.as_ref().expect("an error");
    assert_eq!(e.kind, ErrorKind::Tls, "{r:?}");
    e.message.clone()
}

#[tokio::test]
async fn private_ca_h2_and_cert_days() {
    let pki = support::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let server = support::http_server(Some(pki.server_config(-1, 30))).await;
    let r = Prober::new()
        .probe(&https(server.addr), &opts(Some(&ca), false, Some(7)))
        .await;
    assert!(r.up, "{r:?}");
    assert!(r.warning.is_none());
    let tls = r.tls.as_ref().unwrap();
    assert_eq!(tls.alpn.as_deref(), Some("h2"));
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(matches!(tls.cert_days_left, Some(29 | 30)), "{tls:?}");
    assert!(tls.earliest_expiry.is_some());
    let h = r.http.as_ref().unwrap();
    assert_eq!(h.version.as_deref(), Some("HTTP/2"));
    assert!(h.phases.tls_ms.is_some());
    let v = serde_json::to_value(&r).unwrap();
    assert!(v["tls"]["cert_days_left"].is_number());
}

#[tokio::test]
async fn unknown_issuer_without_the_ca_and_insecure_accepts_it() {
    let pki = support::Pki::new();
    let server = support::http_server(Some(pki.server_config(-1, 30))).await;
    let r = Prober::new()
        .probe(&https(server.addr), &opts(None, false, None))
        .await;
    assert!(!r.up);
    let msg = tls_message(&r);
    assert!(
        msg.contains("unknown issuer") || msg.contains("no trusted CA"),
        "{msg}"
    );

    let r = Prober::new()
        .probe(&https(server.addr), &opts(None, true, None))
        .await;
    assert!(r.up, "{r:?}");
    assert!(r.tls.unwrap().cert_days_left.is_some());
}

#[tokio::test]
async fn expiring_soon_warns_and_expired_fails() {
    let pki = support::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let prober = Prober::new();

    let soon = support::http_server(Some(pki.server_config(-10, 3))).await;
    let r = prober
        .probe(&https(soon.addr), &opts(Some(&ca), false, Some(7)))
        .await;
    assert!(r.up, "{r:?}");
    let w = r.warning.expect("a warning");
    assert!(
        w.contains("expires in 2 days") || w.contains("expires in 3 days"),
        "{w}"
    );
    // Without a threshold there is nothing to warn about.
    let r = prober
        .probe(&https(soon.addr), &opts(Some(&ca), false, None))
        .await;
    assert!(r.up && r.warning.is_none());

    let expired = support::http_server(Some(pki.server_config(-30, -1))).await;
    let r = prober
        .probe(&https(expired.addr), &opts(Some(&ca), false, None))
        .await;
    assert!(!r.up);
    assert!(tls_message(&r).contains("certificate expired"));
    // Insecure still reports how long ago it expired.
    let r = prober
        .probe(&https(expired.addr), &opts(Some(&ca), true, Some(7)))
        .await;
    assert!(r.up);
    assert!(r.tls.unwrap().cert_days_left.is_some_and(|d| d < 0));
    assert!(r.warning.is_some());
}

#[tokio::test]
async fn name_mismatch_and_plain_http_server() {
    let pki = support::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let (chain, key) = pki.leaf(&["other.example"], -1, 30);
    let server = support::http_server(Some(support::tls_config(chain, key))).await;
    let r = Prober::new()
        .probe(&https(server.addr), &opts(Some(&ca), false, None))
        .await;
    assert!(tls_message(&r).contains("name mismatch"));

    let plain = support::http_server(None).await;
    let r = Prober::new()
        .probe(&https(plain.addr), &opts(Some(&ca), false, None))
        .await;
    assert!(!r.up);
    assert_eq!(r.error.unwrap().kind, ErrorKind::Tls);
}

#[tokio::test]
async fn http1_over_tls_when_the_server_only_speaks_it() {
    let pki = support::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let (chain, key) = pki.leaf(&["localhost"], -1, 30);
    let mut config = (*support::tls_config(chain, key)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = support::http_server(Some(std::sync::Arc::new(config))).await;
    let target: Target = format!("https://localhost:{}/", server.addr.port())
        .parse()
        .unwrap();
    let r = Prober::new()
        .probe(&target, &opts(Some(&ca), false, None))
        .await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.http.unwrap().version.as_deref(), Some("HTTP/1.1"));
}
