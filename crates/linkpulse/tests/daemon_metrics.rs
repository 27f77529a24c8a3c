//! `GET /metrics` as a Prometheus user meets it: the real daemon scraped by a real Prometheus
//! (Debian's `prometheus`) on loopback, the series read back through Prometheus's query API,
//! and the exposition checked by `promtool check metrics`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;
use linkpulse_testsupport::prometheus::{Prometheus, http_get, promtool_check_metrics};
use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TestCa, Validity};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

/// The daemon's HTTP address, from its `listening on http=ADDR` line.
fn http_addr(daemon: &LinkpulseProcess) -> SocketAddr {
    let mut found = None;
    let ok = eventually(Duration::from_secs(30), || {
        found = daemon
            .stderr()
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .and_then(|a| a.parse().ok());
        found.is_some()
    });
    assert!(ok, "no listening line: {}", daemon.stderr());
    found.expect("address")
}

fn metrics(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// `check → value` of the samples of an instant query, keyed by the `check` label.
fn by_check(result: &[Value]) -> BTreeMap<String, (Value, f64)> {
    result
        .iter()
        .map(|s| {
            let v = s["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            (
                s["metric"]["check"].as_str().unwrap_or("").to_owned(),
                (s["metric"].clone(), v),
            )
        })
        .collect()
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("linkpulse.yaml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// An up, a down, a degraded (certificate expiring in 5 days) and an unknown (push, never
/// pushed) check: each has `linkpulse_check_up` and one `linkpulse_check_state` series per
/// state from the start, the labels listed under `metrics.labels` on its series, a latency
/// histogram, the certificate's expiry and the build info — as Prometheus itself reads them.
#[test]
fn prometheus_scrapes_a_series_for_every_check_and_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("test CA");
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(5))
        .expect("server cert");
    let tls = HttpServer::start_tls(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        HttpResponse::new(200),
        &id,
    )
    .expect("https server");
    let open = TcpListener::bind("127.0.0.1:0").expect("listener");
    let config = write_config(
        dir.path(),
        &format!(
            "listen: 127.0.0.1:0\ndatabase: {db}\ndefaults: {{ interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }}\nmetrics:\n  labels: [team, zone]\nchecks:\n  - name: open\n    tcp: {{ address: '{open}' }}\n    labels: {{ team: core, zone: eu-1, unexported: x }}\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\n    labels: {{ team: core }}\n  - name: expiring\n    http: {{ url: '{url}', ca_file: '{ca}' }}\n  - name: nightly\n    push: {{ period: 1h }}\n",
            db = dir.path().join("db.sqlite").display(),
            open = open.local_addr().expect("addr"),
            url = tls.url("/"),
            ca = ca.pem_path().display(),
        ),
    );
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let addr = http_addr(&daemon);

    // The push check was never pushed: it is `unknown`, and says so, from the first scrape.
    let text = metrics(addr);
    assert!(
        text.contains("linkpulse_check_up{check=\"nightly\",kind=\"push\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "linkpulse_check_state{check=\"nightly\",kind=\"push\",state=\"unknown\"} 1\n"
        ),
        "{text}"
    );
    let settled = |t: &str| {
        [
            "linkpulse_check_state{check=\"open\",kind=\"tcp\",team=\"core\",zone=\"eu-1\",state=\"up\"} 1",
            "linkpulse_check_state{check=\"closed\",kind=\"tcp\",team=\"core\",state=\"down\"} 1",
            "linkpulse_check_state{check=\"expiring\",kind=\"http\",state=\"degraded\"} 1",
        ]
        .iter()
        .all(|want| t.lines().any(|l| l == *want))
    };
    let mut text = String::new();
    let ok = eventually(Duration::from_secs(30), || {
        text = metrics(addr);
        settled(&text)
    });
    assert!(ok, "states never settled:\n{text}");

    // promtool accepts the exposition as it is served.
    match promtool_check_metrics(&text).expect("promtool") {
        Ok(_) => {}
        Err(problems) => panic!("promtool check metrics: {problems}\n{text}"),
    }

    let prom = Prometheus::start(addr, Duration::from_millis(500)).expect("prometheus");
    let query = |q: &str| prom.query(q).unwrap_or_else(|e| panic!("{e}"));
    // Wait for a scrape that saw the settled states (and histogram samples of `open`).
    let mut states = BTreeMap::new();
    let ok = eventually(Duration::from_secs(30), || {
        states = by_check(&query("linkpulse_check_state == 1"));
        states.len() == 4
            && states
                .get("expiring")
                .is_some_and(|(m, _)| m["state"] == "degraded")
            && !query("linkpulse_check_latency_seconds_count{check=\"open\"} > 0").is_empty()
    });
    assert!(ok, "{states:#?}\n{}", prom.log());
    let state_of = |c: &str| states[c].0["state"].as_str().unwrap_or("").to_owned();
    assert_eq!(state_of("open"), "up");
    assert_eq!(state_of("closed"), "down");
    assert_eq!(state_of("expiring"), "degraded");
    assert_eq!(state_of("nightly"), "unknown");
    // Four series per check, exactly one of them 1.
    assert_eq!(query("count(linkpulse_check_state)")[0]["value"][1], "16");

    // The scrape itself succeeded, and every check has `linkpulse_check_up`.
    assert_eq!(query("up{job=\"linkpulse\"}")[0]["value"][1], "1");
    let up = by_check(&query("linkpulse_check_up"));
    let values: BTreeMap<&str, f64> = up.iter().map(|(c, (_, v))| (c.as_str(), *v)).collect();
    assert_eq!(
        values,
        BTreeMap::from([
            ("closed", 0.0),
            ("expiring", 1.0),
            ("nightly", 0.0),
            ("open", 1.0)
        ])
    );
    // Exported labels: listed ones only, and only where the check has them.
    let open_labels = &up["open"].0;
    assert_eq!(open_labels["team"], "core", "{open_labels}");
    assert_eq!(open_labels["zone"], "eu-1", "{open_labels}");
    assert!(open_labels.get("unexported").is_none(), "{open_labels}");
    assert!(
        up["expiring"].0.get("team").is_none(),
        "{}",
        up["expiring"].0
    );
    assert_eq!(
        by_check(&query("sum by (team) (linkpulse_check_up{team=\"core\"})"))
            .values()
            .map(|(_, v)| *v)
            .collect::<Vec<_>>(),
        vec![1.0]
    );

    // Latency is a histogram with the documented buckets; a loopback connect is under 0.5 s.
    let le_half = query("linkpulse_check_latency_seconds_bucket{check=\"open\",le=\"0.5\"}");
    let count = query("linkpulse_check_latency_seconds_count{check=\"open\"}");
    assert_eq!(
        le_half[0]["value"][1], count[0]["value"][1],
        "{le_half:?} {count:?}"
    );
    assert!(
        query("histogram_quantile(0.5, linkpulse_check_latency_seconds_bucket{check=\"open\"})")[0]
            ["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|q| q > 0.0 && q <= 0.5),
    );

    // The certificate's notAfter: 5 days and 1 hour from when it was issued.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let expiry = by_check(&query("linkpulse_check_cert_expiry_timestamp_seconds"));
    assert_eq!(expiry.len(), 1, "only the TLS check has one: {expiry:?}");
    let left = expiry["expiring"].1 - now;
    assert!(
        (5.0 * 86_400.0..5.0 * 86_400.0 + 3_700.0).contains(&left),
        "{left} s left"
    );

    // Build info: always 1, version and commit as labels.
    let info = query("linkpulse_build_info");
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["value"][1], "1");
    assert_eq!(info[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        info[0]["metric"]["commit"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
}

/// A label under `metrics.labels` that Prometheus cannot take is refused when the config is
/// loaded, naming file, line and key.
#[test]
fn config_check_refuses_bad_metric_label_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "metrics:\n  labels:\n    - team\n    - zone-name\n    - instance\nchecks: []\n",
    );
    let mut run = LinkpulseProcess::start(BIN, &["config", "check", &config], None).expect("run");
    let done = run.wait_exit(Duration::from_secs(30)).expect("exit");
    assert_eq!(done.code(), Some(1), "{done:?}");
    let err = done.stderr;
    assert!(
        err.contains(&format!(
            "{config}:4: metrics.labels[1]: \"zone-name\" is not a Prometheus label name"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{config}:5: metrics.labels[2]: \"instance\" is reserved"
        )),
        "{err}"
    );
}

/// A reload that changes `metrics.labels` moves every kept check's series to the new label
/// set (no stale series under the old one), keeps its state, and drops a removed check's series.
#[test]
fn reload_relabels_series_and_drops_removed_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = "checks:\n  - name: closed\n    tcp: { address: '127.0.0.1:1' }\n    labels: { team: core, zone: eu-1 }\n";
    let head = format!(
        "listen: 127.0.0.1:0\ndatabase: {}\ndefaults: {{ interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }}\n",
        dir.path().join("db.sqlite").display()
    );
    let config = write_config(
        dir.path(),
        &format!(
            "{head}metrics: {{ labels: [team] }}\n{checks}  - name: gone\n    push: {{ period: 1h }}\n"
        ),
    );
    let daemon =
        LinkpulseProcess::start(BIN, &["serve", "--config", &config], None).expect("serve");
    let addr = http_addr(&daemon);
    let before =
        "linkpulse_check_state{check=\"closed\",kind=\"tcp\",team=\"core\",state=\"down\"} 1";
    let mut text = String::new();
    let ok = eventually(Duration::from_secs(30), || {
        text = metrics(addr);
        text.lines().any(|l| l == before)
    });
    assert!(ok, "{text}");
    assert!(text.contains("check=\"gone\""), "{text}");

    write_config(
        dir.path(),
        &format!("{head}metrics: {{ labels: [zone] }}\n{checks}"),
    );
    let pid = daemon.pid().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let after =
        "linkpulse_check_state{check=\"closed\",kind=\"tcp\",zone=\"eu-1\",state=\"down\"} 1";
    let ok = eventually(Duration::from_secs(30), || {
        text = metrics(addr);
        text.lines().any(|l| l == after) && !text.contains("check=\"gone\"")
    });
    assert!(ok, "{text}");
    assert!(
        !text.contains("team=\"core\""),
        "old label set left behind:\n{text}"
    );
    assert!(
        text.contains("linkpulse_check_up{check=\"closed\",kind=\"tcp\",zone=\"eu-1\"} 0\n"),
        "{text}"
    );
}
