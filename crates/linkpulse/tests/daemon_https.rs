//! HTTPS on `listen` (`tls: {cert_file, key_file}`) with a test CA: the daemon serves its API
//! over TLS, a client trusting the CA gets answers, a plain HTTP client does not, and a
//! renewed certificate written over the files is served without a restart. The client is the
//! real `linkpulse check http --ca`.

use std::path::Path;
use std::time::Duration;

use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some;
use linkpulse_testsupport::servers::{Identity, TestCa, Validity};

/// `linkpulse check http URL --ca CA`: the result's JSON.
fn check(url: &str, ca: &Path) -> serde_json::Value {
    let out = LinkpulseProcess::run(
        env!("CARGO_BIN_EXE_linkpulse"),
        &[
            "check",
            "http",
            url,
            "--ca",
            ca.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    out.json_lines()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no JSON from linkpulse check: {}", out.stderr))
}

fn write_identity(dir: &Path, id: &Identity) {
    std::fs::write(dir.join("key.pem.new"), &id.key_pem).unwrap();
    std::fs::write(dir.join("cert.pem.new"), &id.cert_pem).unwrap();
    // Key first, each file replaced at once, as a renewal tool does.
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
}

#[test]
fn the_api_is_served_over_https_and_a_renewed_certificate_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let first = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    write_identity(dir.path(), &first);
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\ntls: {{ cert_file: cert.pem, key_file: key.pem }}\nchecks: []\n",
            dir.path().join("history.db").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), &config, &[]).unwrap();
    assert!(d.log().contains("listening on https="), "{}", d.log());
    let url = format!("https://{}/api/v1/checks", d.addr());

    let r = check(&url, ca.pem_path());
    assert_eq!(r["up"], true, "{r}");
    assert_eq!(r["http"]["status"], 200, "{r}");
    let days = r["tls"]["cert_days_left"].as_i64().unwrap();
    assert!((29..=30).contains(&days), "{r}");

    // Plain HTTP on the HTTPS port gets no answer.
    assert!(
        linkpulse_testsupport::http::get(d.addr(), "/healthz")
            .map_or(true, |(status, _)| status != 200)
    );

    // A renewal: the files are replaced; the next handshakes present the new certificate.
    let renewed = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(90))
        .unwrap();
    write_identity(dir.path(), &renewed);
    let days = eventually_some("the renewed certificate", Duration::from_secs(20), || {
        let r = check(&url, ca.pem_path());
        let days = r["tls"]["cert_days_left"].as_i64()?;
        (days > 80).then_some(days)
    });
    assert!(days <= 90);
    assert!(
        d.log().contains("HTTPS certificate reloaded"),
        "{}",
        d.log()
    );
}

#[test]
fn a_bad_certificate_file_is_a_config_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        "checks: []\ntls:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    )
    .unwrap();
    let (ok, stderr) =
        linkpulse_testsupport::bin::config_check(env!("CARGO_BIN_EXE_linkpulse"), &config).unwrap();
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(":3: tls.cert_file: ") && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
}
