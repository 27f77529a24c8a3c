//! `linkpulse status` and `linkpulse nodes` end to end: the real binary against a real HTTP
//! server answering with the daemon's JSON, for every `--output` format, aligned tables and a
//! stdout whose reader went away.

use std::net::SocketAddr;
use std::time::Duration;

use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use linkpulse_testsupport::servers::{HttpResponse, HttpServer};

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const DEADLINE: Duration = Duration::from_secs(30);

/// A server answering every request with `body` as JSON.
fn api(body: &serde_json::Value) -> HttpServer {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let response = HttpResponse::new(200)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    HttpServer::start(any, None, response).unwrap()
}

fn run(args: &[&str]) -> Finished {
    LinkpulseProcess::run(BIN, args, None, DEADLINE).unwrap()
}

/// `/api/v1/checks`: one check up, one down (with a long name), one degraded.
fn checks() -> serde_json::Value {
    let check = |name: &str, kind: &str, state: &str, latency: f64| {
        serde_json::json!({
            "name": name, "kind": kind, "state": state,
            "last": {"latency_ms": latency},
            "uptime": {"24h": 99.5, "7d": 100.0, "30d": 100.0},
            "incidents_30d": {"count": 1, "mttr_ms": 4000, "mtbf_ms": 90_000_000},
        })
    };
    let mut down = check("a-rather-long-check-name-for-the-table", "tcp", "down", 1.0);
    down["cause"] = "refused".into();
    down["diagnosis"] = "process_down".into();
    serde_json::json!([
        check("web", "http", "up", 12.25),
        down,
        check("db", "tcp", "degraded", 1234.5),
    ])
}

/// The column of `header` in the header line, in characters.
fn column(table: &str, header: &str) -> usize {
    let first = table.lines().next().unwrap();
    let at = first
        .find(header)
        .unwrap_or_else(|| panic!("{header} in {first}"));
    first[..at].chars().count()
}

/// The text of `line` from character `col` on.
fn from(line: &str, col: usize) -> String {
    line.chars().skip(col).collect()
}

#[test]
fn status_prints_text_json_and_nagios_with_one_exit_code() {
    let server = api(&checks());
    let url = format!("http://{}", server.addr());

    let text = run(&["status", "--url", &url]);
    assert_eq!(text.code(), Some(2), "{text:?}");
    let table = text.stdout.join("\n");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    // Every column starts where its header does, however long the cells.
    let (kind, state, cause) = (
        column(&table, "KIND"),
        column(&table, "STATE"),
        column(&table, "CAUSE"),
    );
    for (line, (k, s)) in
        lines[1..]
            .iter()
            .zip([("http", "up"), ("tcp", "down"), ("tcp", "degraded")])
    {
        assert!(from(line, kind).starts_with(&format!("{k} ")), "{table}");
        assert!(from(line, state).starts_with(&format!("{s} ")), "{table}");
    }
    assert_eq!(from(lines[2], cause), "refused [process_down]", "{table}");
    assert!(lines.iter().all(|l| !l.ends_with(' ')), "{table}");

    let json = run(&["status", "--url", &url, "--output", "json"]);
    assert_eq!(json.code(), Some(2));
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout.join("\n")).unwrap();
    assert_eq!(parsed, checks());
    // The old spelling still works, hidden from --help.
    let alias = run(&["status", "--url", &url, "--json"]);
    assert_eq!(alias.code(), Some(2));
    assert_eq!(alias.stdout, json.stdout);
    let help = run(&["status", "--help"]);
    assert!(!help.stdout.join("\n").contains("--json"), "{help:?}");

    let nagios = run(&["status", "--url", &url, "--output", "nagios"]);
    assert_eq!(nagios.code(), Some(2));
    assert_eq!(nagios.stdout.len(), 1, "{nagios:?}");
    assert!(
        nagios.stdout[0].starts_with(
            "LINKPULSE STATUS CRITICAL - 3 checks: 1 up, 1 degraded, 1 down, 0 unknown (down: a-rather-long-check-name-for-the-table) | up=1;;;0 degraded=1;;;0 down=1;;;0"
        ),
        "{nagios:?}"
    );
}

#[test]
fn nodes_table_aligns_and_nagios_gives_the_worst_state() {
    let node = |name: &str, state: &str, rtt: f64, labels: serde_json::Value| {
        serde_json::json!({
            "name": name, "state": state, "rtt_ms": rtt, "labels": labels,
            "since": "2026-12-04T10:00:00Z", "incarnation": "ab/01", "session": 1,
        })
    };
    let mut dead = node(
        "worker-with-a-name-longer-than-twenty",
        "dead",
        120.5,
        serde_json::json!({"role": "db"}),
    );
    dead["cause"] = "timeout".into();
    let list = serde_json::json!({"revision": 7, "nodes": [
        node("w1", "alive", 0.25, serde_json::json!({"role": "web", "zone": "a"})),
        dead,
        node("w3", "suspect", 3.5, serde_json::json!({})),
    ]});
    let server = api(&list);
    let url = format!("http://{}", server.addr());

    let text = run(&["nodes", "--hub-api", &url]);
    assert_eq!(text.code(), Some(0), "{text:?}");
    let table = text.stdout.join("\n");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    let (state, rtt_end, cause, labels) = (
        column(&table, "STATE"),
        column(&table, "RTT") + "RTT".len(),
        column(&table, "CAUSE"),
        column(&table, "LABELS"),
    );
    let want = [
        ("alive", "0.25ms", "-", "role=web,zone=a"),
        ("dead", "120.50ms", "timeout", "role=db"),
        ("suspect", "3.50ms", "-", ""),
    ];
    for (line, (s, rtt, c, l)) in lines[1..].iter().zip(want) {
        assert!(from(line, state).starts_with(&format!("{s} ")), "{table}");
        // RTT is a number: right-aligned under its header.
        let head: String = line.chars().take(rtt_end).collect();
        assert!(head.ends_with(&format!(" {rtt}")), "{table}");
        assert!(from(line, cause).starts_with(&format!("{c} ")), "{table}");
        assert_eq!(from(line, labels), l, "{table}");
    }

    let nagios = run(&["nodes", "--hub-api", &url, "--output", "nagios"]);
    assert_eq!(nagios.code(), Some(2), "{nagios:?}");
    assert!(
        nagios.stdout[0].starts_with(
            "LINKPULSE NODES CRITICAL - 3 nodes: 1 alive, 1 suspect, 1 dead, 0 left | alive=1;;;0"
        ),
        "{nagios:?}"
    );
    let json = run(&["nodes", "--hub-api", &url, "--output", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout.join("\n")).unwrap();
    assert_eq!(
        parsed["nodes"][1]["name"],
        "worker-with-a-name-longer-than-twenty"
    );
    // `human` is still accepted for `text`.
    let human = run(&["nodes", "--hub-api", &url, "--output", "human"]);
    assert_eq!(human.stdout, text.stdout);
}

/// `linkpulse status --output json | head -c 10` and the like: the closed pipe ends the
/// output quietly (no panic, exit 101), and the exit code still says what was seen.
#[test]
fn a_closed_stdout_ends_status_and_nodes_quietly() {
    let server = api(&checks());
    let url = format!("http://{}", server.addr());
    for format in ["json", "text", "nagios"] {
        let done = LinkpulseProcess::run_with_closed_stdout(
            BIN,
            &["status", "--url", &url, "--output", format],
            DEADLINE,
        )
        .unwrap();
        assert_eq!(done.code(), Some(2), "{format}: {done:?}");
        assert!(done.stderr.is_empty(), "{format}: {}", done.stderr);
    }
    let done = LinkpulseProcess::run_with_closed_stdout(
        BIN,
        &["status", "--url", &url, "--json"],
        DEADLINE,
    )
    .unwrap();
    assert_eq!(done.code(), Some(2), "{done:?}");

    let nodes = api(&serde_json::json!({"revision": 1, "nodes": []}));
    let url = format!("http://{}", nodes.addr());
    for format in ["json", "text"] {
        let done = LinkpulseProcess::run_with_closed_stdout(
            BIN,
            &["nodes", "--hub-api", &url, "--output", format],
            DEADLINE,
        )
        .unwrap();
        assert_eq!(done.code(), Some(0), "{format}: {done:?}");
        assert!(done.stderr.is_empty(), "{format}: {}", done.stderr);
    }
    let done =
        LinkpulseProcess::run_with_closed_stdout(BIN, &["keepalive", "--output", "json"], DEADLINE)
            .unwrap();
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert!(done.stderr.is_empty(), "{}", done.stderr);
}

/// `linkpulse status` and `nodes` over `https://`: they trust the CA that `SSL_CERT_FILE`
/// names (in place of the system roots), read a chunked answer whole, and an untrusted
/// certificate is an error naming the URL.
#[test]
fn status_and_nodes_speak_https_and_read_chunked_answers() {
    use linkpulse_testsupport::servers::{TestCa, Validity};
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let chunked = |body: String| {
        HttpResponse::new(200)
            .header("Content-Type", "application/json")
            .body(body)
            .chunked()
    };
    let checks_api = HttpServer::start_tls(any, None, chunked(checks().to_string()), &id).unwrap();
    let list = serde_json::json!({"revision": 3, "nodes": [{
        "name": "w1", "state": "alive", "rtt_ms": 0.5, "labels": {},
        "since": "2026-12-04T10:00:00Z", "incarnation": "ab/01", "session": 1,
    }]});
    let nodes_api = HttpServer::start_tls(any, None, chunked(list.to_string()), &id).unwrap();
    let with_roots = |roots: &std::path::Path, args: &[&str]| {
        let mut command = std::process::Command::new(BIN);
        command.args(args).env("SSL_CERT_FILE", roots);
        LinkpulseProcess::spawn(command)
            .unwrap()
            .wait_exit(DEADLINE)
            .unwrap()
    };
    let checks_url = format!("https://{}", checks_api.addr());
    let nodes_url = format!("https://{}", nodes_api.addr());

    let json = with_roots(
        ca.pem_path(),
        &["status", "--url", &checks_url, "--output", "json"],
    );
    assert_eq!(json.code(), Some(2), "{json:?}");
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout.join("\n")).unwrap();
    assert_eq!(parsed, checks());
    let nodes = with_roots(
        ca.pem_path(),
        &["nodes", "--hub-api", &nodes_url, "--output", "json"],
    );
    assert_eq!(nodes.code(), Some(0), "{nodes:?}");
    let parsed: serde_json::Value = serde_json::from_str(&nodes.stdout.join("\n")).unwrap();
    assert_eq!(parsed["nodes"][0]["name"], "w1", "{nodes:?}");

    // Another CA's roots: the certificate is not trusted, and the error says where.
    let other = TestCa::new().unwrap();
    let refused = with_roots(other.pem_path(), &["status", "--url", &checks_url]);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("{checks_url}/api/v1/checks"))
            && refused.stderr.contains("invalid peer certificate"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{refused:?}");
    let refused = with_roots(other.pem_path(), &["nodes", "--hub-api", &nodes_url]);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("{nodes_url}/api/v1/nodes")),
        "{}",
        refused.stderr
    );
}
