//! Conditions on HTTP answers end to end: `linkpulse check http URL --condition …` and the
//! daemon's `conditions:` (a bad one refused at load with file, line and a caret; a failed one
//! visible in the API as the `condition` error naming the value seen), against real loopback
//! HTTP and HTTPS servers.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use linkpulse_testsupport::bin::config_check;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TestCa, Validity};

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

const DOWN_JSON: &str = r#"{"status":"DOWN","items":[{"id":1}],"version":"1.4.2"}"#;
const UP_JSON: &str = r#"{"status":"UP","items":[{"id":1},{"id":2}],"version":"1.4.2"}"#;

fn json_server(body: &str) -> HttpServer {
    HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200)
            .body(body)
            .header("X-Version", "1.4.2"),
    )
    .expect("HTTP server")
}

fn check(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["check", "http"])
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run linkpulse")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn json(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Runs `check http URL --condition C` for each condition; returns the exit code and the
/// error message (empty when up).
fn verdict(url: &str, conditions: &[&str], extra: &[&str]) -> (i32, String) {
    let mut args = vec![url];
    for c in conditions {
        args.extend(["--condition", c]);
    }
    args.extend(extra);
    let o = check(&args);
    let v = json(&o);
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !message.is_empty() {
        assert_eq!(v["error"]["kind"], "condition", "{v}");
    }
    (code(&o), message)
}

#[test]
fn each_operand_holds_or_fails_naming_the_value_seen() {
    let up = json_server(UP_JSON);
    let down = json_server(DOWN_JSON);
    let (u, d) = (up.url("/health"), down.url("/health"));
    let ok = [
        "status == 200",
        "body.status == \"UP\"",
        "body.items.length > 1",
        "body.items[1].id >= 2",
        "header.x-version contains \"1.4\"",
        "header.x-version matches \"^1\\\\.\"",
        "header.x-missing not contains x",
        "body contains \"items\"",
        "response_time < 30s",
        "connected == true",
        "body.status == any(\"UP\", \"DEGRADED\")",
        "body.version == pat(\"1.*\")",
    ];
    assert_eq!(verdict(&u, &ok, &[]), (0, String::new()));
    for (condition, saw) in [
        ("body.status == \"UP\"", "\"DOWN\""),
        ("body.items.length > 1", "1"),
        ("status != 200", "200"),
        ("header.x-version == \"2.0\"", "\"1.4.2\""),
        ("header.x-trace == abc", "no header x-trace"),
        ("body.health.db == \"ok\"", "nothing at body.health"),
        ("body not contains DOWN", &format!("{DOWN_JSON:?}")),
        ("body.version matches \"^2\"", "\"1.4.2\""),
        ("status == any(201, 204)", "200"),
    ] {
        let (code, message) = verdict(&d, &["status == 200", condition], &[]);
        assert_eq!(code, 2, "{condition}: {message}");
        assert_eq!(
            message,
            format!("condition failed: {condition} (saw {saw})"),
            "{condition}"
        );
    }
    // Plain HTTP has no certificate to judge.
    let (code, message) = verdict(&u, &["cert_expiry > 7d"], &[]);
    assert_eq!(code, 2);
    assert_eq!(
        message,
        "condition failed: cert_expiry > 7d (saw no TLS certificate)"
    );
}

#[test]
fn response_time_and_cert_expiry_are_judged_on_the_real_answer() {
    let slow = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).delay(Duration::from_millis(400)),
    )
    .expect("server");
    let (code, message) = verdict(&slow.url("/"), &["response_time < 200ms"], &[]);
    assert_eq!(code, 2, "{message}");
    assert!(
        message.starts_with("condition failed: response_time < 200ms (saw "),
        "{message}"
    );
    assert_eq!(
        verdict(&slow.url("/"), &["response_time > 200ms"], &[]).0,
        0
    );

    let ca = TestCa::new().expect("CA");
    let identity = ca
        .issue(&["localhost"], Validity::expires_in_days(30))
        .expect("certificate");
    let https = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200),
        &identity,
    )
    .expect("HTTPS server");
    let url = format!("https://localhost:{}/", https.addr().port());
    let ca_file = ca.pem_path().display().to_string();
    let tls = ["--ca", ca_file.as_str()];
    assert_eq!(
        verdict(&url, &["cert_expiry > 7d"], &tls),
        (0, String::new())
    );
    let (code, message) = verdict(&url, &["cert_expiry > 60d"], &tls);
    assert_eq!(code, 2, "{message}");
    assert!(
        message.starts_with("condition failed: cert_expiry > 60d (saw 30days"),
        "{message}"
    );
}

#[test]
fn a_bad_condition_is_exit_3_with_a_caret_under_the_token() {
    let o = Command::new(BIN)
        .args([
            "check",
            "http",
            "http://127.0.0.1:1/",
            "--condition",
            "response_time < 300",
        ])
        .output()
        .expect("run linkpulse");
    assert_eq!(code(&o), 3);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("response_time is a duration: write the value with a unit, e.g. 300ms or 2s\n  response_time < 300\n                  ^^^"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

fn write_config(dir: &Path, checks: &str) -> std::path::PathBuf {
    let path = dir.join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nchecks:\n{checks}",
            dir.join("history.db").display()
        ),
    )
    .expect("write config");
    path
}

#[test]
fn config_refuses_a_bad_condition_naming_file_line_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "  - name: api\n    http:\n      url: http://127.0.0.1:1/\n      conditions:\n        - status == 200\n        - body.status === UP\n        - cert_expiry > 7\n",
    );
    let (ok, err) = config_check(BIN, &config).expect("config check");
    assert!(!ok, "{err}");
    let file = config.display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:9: checks[0].http.conditions[1]: unknown operator `===` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)\n  body.status === UP\n              ^^^"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:10: checks[0].http.conditions[2]: cert_expiry is a duration: write the value with a unit, e.g. 300ms or 2s\n  cert_expiry > 7\n                ^"
        )),
        "{err}"
    );
}

#[test]
fn daemon_reports_the_failed_condition_and_sends_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let target = json_server(DOWN_JSON);
    std::fs::write(dir.path().join("pw.txt"), "hunter2-pw\n").unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "  - name: api\n    interval: 300ms\n    timeout: 250ms\n    fall: 1\n    http:\n      url: {}\n      method: POST\n      body: ping\n      basic_auth: {{ username: ops, password_file: pw.txt }}\n      conditions: ['status == 200', 'body.status == \"UP\"']\n",
            target.url("/health")
        ),
    );
    let d = Daemon::start(BIN, &config, &[]).unwrap_or_else(|e| panic!("serve: {e}"));
    d.wait_state("api", "down");
    let check = d.check("api");
    assert_eq!(check["last"]["error"]["kind"], "condition", "{check}");
    assert_eq!(
        check["last"]["error"]["message"],
        "condition failed: body.status == \"UP\" (saw \"DOWN\")"
    );
    let history = d.get("/api/v1/checks/api/history?limit=10").1;
    assert!(
        history.contains("condition failed: body.status"),
        "{history}"
    );
    let asked = target.received();
    let first = asked.first().expect("a request");
    assert!(first.starts_with("POST /health"), "{first}");
    assert!(first.ends_with("\r\n\r\nping"), "{first}");
    // `ops:hunter2-pw`
    assert!(
        first
            .to_ascii_lowercase()
            .contains("authorization: basic b3bzomh1bnrlcjitchc="),
        "{first}"
    );
    for path in ["/api/v1/checks", "/api/v1/checks/api"] {
        assert!(!d.get(path).1.contains("hunter2"), "{path}");
    }
    assert!(!d.log().contains("hunter2"));
}

#[test]
fn a_failed_condition_is_the_application_layer_in_the_diagnosis() {
    let down = json_server(DOWN_JSON);
    let o = Command::new(BIN)
        .args(["diagnose", &down.url("/health")])
        .args(["--condition", "body.status == \"UP\"", "--output", "json"])
        .output()
        .expect("run linkpulse");
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "app_error", "{v}");
    assert_eq!(v["layers"]["target"]["error"]["kind"], "condition", "{v}");
    let summary = v["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("(saw \"DOWN\")"), "{summary}");
}

#[test]
fn connected_false_is_up_when_nothing_answers() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{closed}/");
    assert_eq!(
        verdict(&url, &["connected == false"], &[]),
        (0, String::new())
    );
    // Not met: the refused connection stays the cause, for the diagnosis.
    for conditions in [
        &["connected == true"][..],
        &["connected == false", "status == 200"],
    ] {
        let mut args = vec![url.as_str()];
        for c in conditions {
            args.extend(["--condition", c]);
        }
        let o = check(&args);
        assert_eq!(code(&o), 2);
        assert_eq!(json(&o)["error"]["kind"], "refused", "{conditions:?}");
    }
    // Reachable after all: connected is true.
    let up = json_server(UP_JSON);
    let (code, message) = verdict(&up.url("/"), &["connected == false"], &[]);
    assert_eq!(code, 2);
    assert_eq!(message, "condition failed: connected == false (saw true)");
}
