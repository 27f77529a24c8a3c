//! `linkpulse serve` end to end: the real binary, real local servers on port 0, a real SQLite
//! file. Every wait polls a condition with a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use linkpulse_testsupport::daemon::Daemon as Served;
use linkpulse_testsupport::eventually_some as eventually;

/// `linkpulse serve --config CONFIG` (killed on drop).
fn serve(config: &Path) -> Served {
    serve_with(config, &[])
}

/// `linkpulse serve --config CONFIG EXTRA…` (killed on drop).
fn serve_with(config: &Path, extra: &[&str]) -> Served {
    Served::start(env!("CARGO_BIN_EXE_linkpulse"), config, extra)
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// A TCP server that accepts and drops connections until dropped.
struct TcpServer {
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl TcpServer {
    fn bind(addr: &str) -> TcpServer {
        let listener = TcpListener::bind(addr).expect("bind");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpServer { addr, stop }
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // The listener closes when the thread sees the flag; wait until connects are refused.
        eventually("listener closed", Duration::from_secs(10), || {
            TcpStream::connect(self.addr).is_err().then_some(())
        });
    }
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("linkpulse.yaml");
    let db = dir.join("history.db");
    std::fs::write(
        &path,
        format!("listen: 127.0.0.1:0\ndatabase: {}\n{body}", db.display()),
    )
    .unwrap();
    path
}

/// Results (newest first) and the at_ms of the last transition into `to`.
fn results_and_transition(d: &Served, check: &str, to: &str) -> (Vec<(i64, bool)>, i64) {
    let h = d.json(&format!("/api/v1/checks/{check}/history?limit=1000"));
    let results: Vec<(i64, bool)> = h["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["at_ms"].as_i64().unwrap(), r["up"].as_bool().unwrap()))
        .collect();
    let at = h["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to"] == to)
        .map(|t| t["at_ms"].as_i64().unwrap())
        .max()
        .unwrap_or_else(|| panic!("no transition to {to}: {h}"));
    (results, at)
}

/// Length of the streak of `up` results ending at the transition at `at`.
fn streak_before(results: &[(i64, bool)], at: i64, up: bool) -> usize {
    results
        .iter()
        .filter(|(t, _)| *t <= at)
        .take_while(|(_, u)| *u == up)
        .count()
}

#[test]
fn tcp_check_goes_down_after_fall_and_up_after_rise_then_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = TcpServer::bind("127.0.0.1:0");
    let addr = server.addr;
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 300ms, timeout: 200ms, fastinter: 100ms, rise: 2, fall: 3 }}\nchecks:\n  - name: svc\n    tcp: {{ address: '{addr}' }}\n"
        ),
    );
    let d = serve(&cfg);
    d.wait_state("svc", "up");
    let (results, at) = results_and_transition(&d, "svc", "up");
    assert_eq!(streak_before(&results, at, true), 2, "rise=2: {results:?}");

    drop(server);
    d.wait_state("svc", "down");
    let (results, at) = results_and_transition(&d, "svc", "down");
    assert_eq!(streak_before(&results, at, false), 3, "fall=3: {results:?}");
    let c = d.check("svc");
    assert_eq!(c["last"]["error"]["kind"], "refused", "{c}");
    assert!(c["cause"].as_str().unwrap().starts_with("refused"), "{c}");
    let incidents = d.json("/api/v1/incidents");
    assert_eq!(incidents[0]["check"], "svc");
    assert!(incidents[0]["ended_ms"].is_null());

    let _server = TcpServer::bind(&addr.to_string());
    d.wait_state("svc", "up");
    let (results, at) = results_and_transition(&d, "svc", "up");
    assert_eq!(
        streak_before(&results, at, true),
        2,
        "rise=2 again: {results:?}"
    );
    let incidents = d.json("/api/v1/incidents?check=svc");
    assert!(incidents[0]["ended_ms"].is_i64(), "{incidents}");

    let status = d.terminate();
    assert_eq!(status.code(), Some(0), "graceful SIGTERM exits 0");
}

#[test]
fn push_check_follows_pings_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "checks:\n  - name: job\n    push: { period: 1s, grace: 500ms, token: s3cret-job }\n",
    );
    let d = serve(&cfg);
    assert_eq!(d.state("job"), "unknown");
    let (status, body) = d.request("POST", "/api/v1/push/s3cret-job", &[]);
    assert_eq!((status, body.as_str()), (200, "{\"ok\":true}"));
    assert_eq!(d.state("job"), "up");
    // No success within period + grace: down, with the reason named.
    d.wait_state("job", "down");
    let c = d.check("job");
    assert!(
        c["cause"]
            .as_str()
            .unwrap()
            .contains("no success within period + grace"),
        "{c}"
    );
    assert_eq!(
        d.request("GET", "/api/v1/push/s3cret-job/start", &[]).0,
        200
    );
    assert_eq!(d.request("GET", "/api/v1/push/s3cret-job", &[]).0, 200);
    assert_eq!(d.state("job"), "up");
    assert!(
        d.check("job")["last"]["latency_ms"].is_f64(),
        "start→success is timed"
    );
    assert_eq!(
        d.request("POST", "/api/v1/push/s3cret-job/fail", &[]).0,
        200
    );
    assert_eq!(d.state("job"), "down");
    assert_eq!(d.check("job")["last"]["error"]["kind"], "reported");
    let (status, _) = d.request("POST", "/api/v1/push/nope", &[]);
    assert_eq!(status, 404);
}

#[test]
fn api_fields_and_metrics_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let server = TcpServer::bind("127.0.0.1:0");
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 300ms, timeout: 200ms, rise: 1, fall: 1 }}\nchecks:\n  - name: open\n    tcp: {{ address: '{}' }}\n    labels: {{ team: core }}\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\n",
            server.addr
        ),
    );
    let d = serve(&cfg);
    d.wait_state("open", "up");
    d.wait_state("closed", "down");
    assert_eq!(d.get("/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(d.get("/readyz").0, 200);
    let list = d.json("/api/v1/checks");
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        for field in [
            "name", "kind", "state", "last", "uptime", "target", "since_ms",
        ] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
        assert_eq!(item["kind"], "tcp");
        assert_eq!(item["last"]["kind"], "tcp", "probe JSON shape: {item}");
        assert!(item["uptime"]["24h"].is_f64(), "{item}");
    }
    let open = items.iter().find(|i| i["name"] == "open").unwrap();
    assert_eq!(open["uptime"]["24h"], 100.0);
    assert_eq!(open["labels"]["team"], "core");
    let closed = d.check("closed");
    assert_eq!(closed["uptime"]["24h"], 0.0);
    assert_eq!(closed["availability"]["24h"]["incidents"], 1);
    assert_eq!(
        closed["incidents"][0]["cause"]
            .as_str()
            .map(|c| c.starts_with("refused")),
        Some(true)
    );
    // The layered diagnosis of a refused port on a live host: the process is down.
    eventually("a diagnosis", Duration::from_secs(30), || {
        (d.check("closed")["diagnosis"] == "process_down").then_some(())
    });
    let incidents = d.json("/api/v1/incidents?check=closed");
    assert_eq!(incidents[0]["diagnosis"], "process_down", "{incidents}");
    assert_eq!(
        incidents[0]["diagnosis_detail"]["verdict"], "process_down",
        "{incidents}"
    );
    assert!(
        open.get("diagnosis").is_none(),
        "no diagnosis while up: {open}"
    );
    assert_eq!(d.get("/api/v1/checks/none").0, 404);

    // `linkpulse status` prints the same as a table and exits 2 because one check is down.
    let out = Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(["status", "--url", &format!("http://{}", d.addr())])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("UP 24H") && lines[0].contains("MTTR"),
        "{table}"
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .copied()
            .unwrap_or_default()
    };
    let closed_row: Vec<&str> = row("closed").split_whitespace().collect();
    assert_eq!(&closed_row[..3], ["closed", "tcp", "down"], "{table}");
    assert!(
        row("closed").contains("0.00%") && row("closed").contains("[process_down]"),
        "{table}"
    );
    assert!(
        row("open").contains(" up ") && row("open").contains("100.00%"),
        "{table}"
    );
    assert_eq!(d.get("/api/v1/checks/none/history").0, 404);

    // Prometheus asks for OpenMetrics (counter families named without `_total`); anything
    // else gets the classic text format, where they are named with it.
    let (status, text) = d.request(
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(status, 200);
    let (_, classic) = d.get("/metrics");
    assert!(
        classic.contains("# TYPE linkpulse_check_state_changes_total counter"),
        "{classic}"
    );
    for (name, kind) in [
        ("linkpulse_check_up", "gauge"),
        ("linkpulse_check_state", "gauge"),
        ("linkpulse_check_latency_seconds", "histogram"),
        ("linkpulse_check_state_changes", "counter"),
        ("linkpulse_schedule_lag_seconds", "histogram"),
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "HELP {name}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "TYPE {name}:\n{text}"
        );
    }
    assert!(
        text.contains("linkpulse_check_up{check=\"open\",kind=\"tcp\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("linkpulse_check_up{check=\"closed\",kind=\"tcp\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("linkpulse_check_state_changes_total{check=\"closed\",to=\"down\"} 1"),
        "{text}"
    );
}

#[test]
fn kill_9_and_restart_keeps_history_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "defaults: { interval: 200ms, timeout: 100ms, rise: 1, fall: 2 }\nchecks:\n  - name: closed\n    tcp: { address: '127.0.0.1:1' }\n",
    );
    let d = serve(&cfg);
    d.wait_state("closed", "down");
    // Wait until a few results are committed (the history endpoint reads the database).
    let before = eventually("results stored", Duration::from_secs(30), || {
        let n = d.json("/api/v1/checks/closed/history?limit=1000")["results"]
            .as_array()
            .map_or(0, Vec::len);
        (n >= 4).then_some(n)
    });
    let since = d.check("closed")["since_ms"].as_i64().unwrap();
    d.kill9();

    let d = serve(&cfg);
    // Right after the restart, before any new run could decide it, the state is resumed.
    let c = d.check("closed");
    assert_eq!(c["state"], "down", "{c}");
    assert_eq!(c["since_ms"].as_i64(), Some(since));
    let after = d.json("/api/v1/checks/closed/history?limit=1000")["results"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(after >= before, "history kept: {after} < {before}");
    assert_eq!(
        d.json("/api/v1/incidents").as_array().map(Vec::len),
        Some(1),
        "still one incident"
    );
}

#[test]
fn reload_needs_the_token_and_keeps_unchanged_checks() {
    let dir = tempfile::tempdir().unwrap();
    let server = TcpServer::bind("127.0.0.1:0");
    let checks = format!(
        "api_token: test-token-123\ndefaults: {{ interval: 300ms, timeout: 200ms, rise: 1, fall: 1 }}\nchecks:\n  - name: keep\n    tcp: {{ address: '{}' }}\n",
        server.addr
    );
    let cfg = write_config(dir.path(), &checks);
    let d = serve(&cfg);
    d.wait_state("keep", "up");
    let since = d.check("keep")["since_ms"].as_i64().unwrap();
    write_config(
        dir.path(),
        &format!("{checks}  - name: added\n    tcp: {{ address: '127.0.0.1:1' }}\n"),
    );
    assert_eq!(d.request("POST", "/api/v1/reload", &[]).0, 401);
    assert_eq!(
        d.request(
            "POST",
            "/api/v1/reload",
            &[("Authorization", "Bearer wrong-token-1")]
        )
        .0,
        401
    );
    let reload = || {
        d.request(
            "POST",
            "/api/v1/reload",
            &[("Authorization", "Bearer test-token-123")],
        )
    };
    let (status, body) = reload();
    assert_eq!(status, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (summary["unchanged"].as_u64(), summary["added"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    let c = d.check("keep");
    assert_eq!(
        (c["state"].as_str(), c["since_ms"].as_i64()),
        (Some("up"), Some(since)),
        "{c}"
    );
    assert_eq!(summary["needs_restart"], serde_json::json!([]), "{summary}");
    d.wait_state("added", "down");
    // A start-only setting changed: everything else applies, and the answer says what needs a
    // restart instead of ignoring it silently.
    write_config(
        dir.path(),
        &format!(
            "retention: {{ raw: 2d, hourly: 30d }}\n{checks}  - name: added2\n    tcp: {{ address: '127.0.0.1:1' }}\n"
        ),
    );
    let (status, body) = reload();
    assert_eq!(status, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        summary["needs_restart"],
        serde_json::json!(["retention"]),
        "{summary}"
    );
    assert_eq!(summary["added"].as_u64(), Some(1), "{summary}");
    // A broken file is refused and changes nothing.
    std::fs::write(&cfg, "checks: [").unwrap();
    let (status, body) = reload();
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("linkpulse.yaml:1"), "{body}");
    assert_eq!(d.state("keep"), "up");
}

/// Records every POST it receives (headers and body) and answers 200.
fn webhook_receiver(listener: TcpListener) -> Arc<Mutex<Vec<String>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Read the head, then Content-Length bytes of body.
            while let Ok(n) = conn.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        sink.lock().unwrap().push(text);
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        break;
                    }
                }
            }
        }
    });
    got
}

#[test]
fn webhook_that_is_down_at_first_gets_the_alert_later_even_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // Take a free port from the kernel, then close it: the receiver is down at first.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }}\nchecks:\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\nalerts:\n  - name: hook\n    webhook: {{ url: 'http://127.0.0.1:{port}/hook' }}\n"
        ),
    );
    let d = serve(&cfg);
    d.wait_state("closed", "down");
    // Let the first delivery attempt fail and be recorded, then kill the daemon hard.
    eventually("a failed delivery", Duration::from_secs(30), || {
        let (_, m) = d.get("/metrics");
        m.lines()
            .any(|l| l.starts_with("linkpulse_alerts_failed_total") && !l.ends_with(" 0"))
            .then_some(())
    });
    d.kill9();
    let got =
        webhook_receiver(TcpListener::bind(("127.0.0.1", port)).expect("rebind the receiver port"));
    let _d = serve(&cfg);
    let alert = eventually("the alert", Duration::from_secs(60), || {
        got.lock().unwrap().first().cloned()
    });
    assert!(alert.starts_with("POST /hook HTTP/1.1"), "{alert}");
    assert!(
        alert
            .to_ascii_lowercase()
            .contains("idempotency-key: closed/down/"),
        "{alert}"
    );
    let body: Value = serde_json::from_str(alert.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(
        (
            body["event"].as_str(),
            body["check"].as_str(),
            body["state"].as_str()
        ),
        (Some("down"), Some("closed"), Some("down")),
        "{body}"
    );
    assert!(
        body["cause"].as_str().unwrap().starts_with("refused"),
        "{body}"
    );
    assert_eq!(
        body["diagnosis"], "process_down",
        "the down alert waits for the diagnosis: {body}"
    );
}

/// An HTTP server answering every request with 200 and `hello`.
fn hello_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    addr
}

/// Parses a text exposition into `name{labels}` → value, checking HELP and TYPE come first.
fn exposition(text: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap().to_owned();
            assert_eq!(parts.next(), Some("gauge"), "{line}");
            assert!(text.contains(&format!("# HELP {name} ")), "HELP for {name}");
            typed.insert(name);
        } else if !line.starts_with('#') && !line.is_empty() {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let name = key.split('{').next().unwrap();
            assert!(typed.contains(name), "{name} sampled before its TYPE line");
            out.insert(key.to_owned(), value.parse().unwrap());
        }
    }
    out
}

#[test]
fn probe_endpoint_speaks_blackbox_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let bb = dir.path().join("blackbox.yml");
    std::fs::write(
        &bb,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      valid_status_codes: [200]\n      preferred_ip_protocol: ip4\n  tcp_connect:\n    prober: tcp\n  icmp:\n    prober: icmp\n  dns_udp:\n    prober: dns\n    dns: { query_name: example.invalid }\n  mail:\n    prober: smtp\n",
    )
    .unwrap();
    let cfg = write_config(dir.path(), "checks: []\n");
    let d = serve_with(&cfg, &["--blackbox-config", bb.to_str().unwrap()]);
    let web = hello_server();

    let (status, text) = d.get(&format!("/probe?module=http_2xx&target=http://{web}/"));
    assert_eq!(status, 200, "{text}");
    let m = exposition(&text);
    assert_eq!(m["probe_success"], 1.0, "{text}");
    assert_eq!(m["probe_http_status_code"], 200.0);
    assert_eq!(m["probe_http_content_length"], 5.0);
    assert_eq!(m["probe_http_version"], 1.1);
    assert_eq!(m["probe_http_ssl"], 0.0);
    assert_eq!(m["probe_http_redirects"], 0.0);
    assert_eq!(m["probe_ip_protocol"], 4.0);
    assert_eq!(m["probe_failed_due_to_regex"], 0.0);
    let dns = m["probe_dns_lookup_time_seconds"];
    assert!(
        (0.0..0.001).contains(&dns),
        "an IP literal needs no lookup: {dns}"
    );
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        let v = m[&format!("probe_http_duration_seconds{{phase=\"{phase}\"}}")];
        assert!((0.0..5.0).contains(&v), "{phase}: {v}");
    }
    let total = m["probe_duration_seconds"];
    assert!(total > 0.0 && total < 5.0, "{total}");

    // Without a scheme the target is taken as http://, like the exporter.
    let (_, text) = d.get(&format!("/probe?module=http_2xx&target={web}"));
    assert_eq!(exposition(&text)["probe_success"], 1.0);

    let (_, text) = d.get("/probe?module=tcp_connect&target=127.0.0.1:1");
    let m = exposition(&text);
    assert_eq!(m["probe_success"], 0.0, "{text}");
    assert!(m.contains_key("probe_duration_seconds"));
    let (_, text) = d.get(&format!("/probe?module=tcp_connect&target={web}"));
    assert_eq!(exposition(&text)["probe_success"], 1.0, "{text}");

    let (_, text) = d.get("/probe?module=icmp&target=127.0.0.1");
    let m = exposition(&text);
    for phase in ["resolve", "rtt", "setup"] {
        assert!(
            m.contains_key(&format!("probe_icmp_duration_seconds{{phase=\"{phase}\"}}")),
            "{text}"
        );
    }
    assert!(m.contains_key("probe_success"), "{text}");

    assert_eq!(
        d.get("/probe?module=http_2xx"),
        (400, "Target parameter is missing\n".to_owned())
    );
    // dns is served: a port where no DNS server answers is a failed query.
    let (status, text) = d.get("/probe?module=dns_udp&target=127.0.0.1:1");
    assert_eq!(status, 200, "{text}");
    let m = exposition(&text);
    assert_eq!(m["probe_success"], 0.0, "{text}");
    assert_eq!(m["probe_dns_query_succeeded"], 0.0, "{text}");
    assert_eq!(
        d.get("/probe?module=mail&target=127.0.0.1:25").0,
        400,
        "an unknown prober is not served"
    );
    let (status, body) = d.get("/probe?module=nope&target=x");
    assert_eq!((status, body.as_str()), (400, "Unknown module \"nope\"\n"));
}

#[test]
fn bad_blackbox_config_exits_non_zero_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bb = dir.path().join("blackbox.yml");
    std::fs::write(
        &bb,
        "modules:\n  http_2xx:\n    prober: http\n    http:\n      valid_status_kodes: [200]\n",
    )
    .unwrap();
    let cfg = write_config(dir.path(), "checks: []\n");
    let out = Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--blackbox-config", bb.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "{}:5: modules.http_2xx.http.valid_status_kodes: unknown field",
        bb.display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
}

#[test]
fn sighup_reloads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = "defaults: { interval: 300ms, timeout: 200ms, rise: 1, fall: 1 }\nchecks:\n  - name: first\n    tcp: { address: '127.0.0.1:1' }\n";
    let cfg = write_config(dir.path(), base);
    let d = serve(&cfg);
    d.wait_state("first", "down");
    let since = d.check("first")["since_ms"].as_i64();
    write_config(
        dir.path(),
        &format!("{base}  - name: second\n    tcp: {{ address: '127.0.0.1:1' }}\n"),
    );
    let pid = d.pid().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    eventually("the reloaded check", Duration::from_secs(30), || {
        (d.get("/api/v1/checks/second").0 == 200).then_some(())
    });
    assert_eq!(
        d.check("first")["since_ms"].as_i64(),
        since,
        "state of the unchanged check kept"
    );
    d.wait_state("second", "down");
}

#[test]
fn command_and_slack_alerts_receive_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("event.json");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let slack = listener.local_addr().unwrap();
    let got = webhook_receiver(listener);
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }}\nchecks:\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\nalerts:\n  - name: cmd\n    command: {{ program: /bin/sh, args: ['-c', 'cat > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"', '{}'] }}\n  - name: chat\n    slack: {{ url: 'http://{slack}/services/x' }}\n",
            out_file.display()
        ),
    );
    let _d = serve(&cfg);
    let text = eventually("the command's event", Duration::from_secs(30), || {
        std::fs::read_to_string(&out_file).ok()
    });
    let event: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            event["event"].as_str(),
            event["check"].as_str(),
            event["alert"].as_str()
        ),
        (Some("down"), Some("closed"), Some("cmd")),
        "{event}"
    );
    let slack_post = eventually("the slack post", Duration::from_secs(30), || {
        got.lock().unwrap().first().cloned()
    });
    let body: Value = serde_json::from_str(slack_post.split_once("\r\n\r\n").unwrap().1).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[linkpulse] closed is down (tcp://127.0.0.1:1): refused"),
        "{text}"
    );
    assert!(text.ends_with(" — diagnosis: process_down"), "{text}");
}

#[test]
fn alerts_repeat_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.log");
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }}\nchecks:\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\nalerts:\n  - name: cmd\n    repeat: 1s\n    command: {{ program: /bin/sh, args: ['-c', 'cat >> \"$0\" && echo >> \"$0\"', '{}'] }}\n",
            log.display()
        ),
    );
    let _d = serve(&cfg);
    let events: Vec<Value> = eventually(
        "a down event and two repeats",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&log).ok()?;
            let events: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            (events.len() >= 3).then_some(events)
        },
    );
    assert_eq!(events[0]["event"], "down");
    assert_eq!(events[1]["event"], "repeat");
    assert_eq!(events[2]["event"], "repeat");
    let gap = events[2]["at_ms"].as_i64().unwrap() - events[1]["at_ms"].as_i64().unwrap();
    assert!(gap >= 1000, "repeats are at least `repeat` apart: {gap} ms");
    let keys: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e["idempotency_key"].to_string())
        .collect();
    assert_eq!(
        keys.len(),
        events.len(),
        "every alert has its own idempotency key"
    );
}

/// An `https://` webhook signed by a private CA is delivered when `ca_file` names that CA, and
/// not without it (the failure is counted, nothing is sent in clear).
#[test]
fn https_webhook_with_a_private_ca_gets_the_alert() {
    use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TestCa, Validity};
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().expect("test CA");
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .expect("server cert");
    let trusted = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200),
        &id,
    )
    .expect("https receiver");
    let untrusted = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200),
        &id,
    )
    .expect("second https receiver");
    let cfg = write_config(
        dir.path(),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }}\nchecks:\n  - name: closed\n    tcp: {{ address: '127.0.0.1:1' }}\nalerts:\n  - name: private\n    webhook: {{ url: '{}', ca_file: '{}' }}\n  - name: system-roots-only\n    webhook: {{ url: '{}' }}\n",
            trusted.url("/hook"),
            ca.pem_path().display(),
            untrusted.url("/hook"),
        ),
    );
    let d = serve(&cfg);
    d.wait_state("closed", "down");
    eventually("the alert over TLS", Duration::from_secs(30), || {
        (trusted.requests() >= 1).then_some(())
    });
    eventually(
        "the untrusted delivery failing",
        Duration::from_secs(30),
        || {
            let (_, m) = d.get("/metrics");
            m.lines()
                .any(|l| l.starts_with("linkpulse_alerts_failed_total") && !l.ends_with(" 0"))
                .then_some(())
        },
    );
    assert_eq!(
        untrusted.requests(),
        0,
        "no request may complete without a trusted certificate"
    );
}
