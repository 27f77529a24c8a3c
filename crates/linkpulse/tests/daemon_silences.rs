//! Silences, maintenance windows and grouped alerts end to end: the real binary, a real SQLite
//! file, real loopback checks and the webhook receiver of testsupport. Every wait polls a
//! condition with a deadline.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::servers::{TcpHold, WebhookReceiver};
use serde_json::Value;

const TOKEN: &str = "writer-token-for-silences";

fn serve(config: &Path) -> Daemon {
    Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), config, &[])
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `linkpulse silence ARGS…` against `d`; its stdout, or a panic with its stderr.
fn cli(d: &Daemon, args: &[&str]) -> String {
    let url = format!("http://{}", d.addr());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .arg("silence")
        .args(args)
        .args(["--url", &url])
        .env("LINKPULSE_TOKEN", TOKEN)
        .output()
        .expect("run linkpulse silence");
    assert!(
        out.status.success(),
        "linkpulse silence {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_silence_made_through_the_api_holds_across_a_restart_and_ends_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let db = TcpHold::start("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let cfg = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\napi_token: {TOKEN}\ndefaults: {{ interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }}\nchecks:\n  - name: db\n    tcp: {{ address: '{}' }}\nalerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\n",
            dir.path().join("lp.db").display(),
            db.addr(),
            hook.url()
        ),
    )
    .unwrap();
    let d = serve(&cfg);
    d.wait_state("db", "up");
    // Without the write token: refused.
    let (status, _) = d.request("DELETE", "/api/v1/silences/nope", &[]);
    assert_eq!(status, 401);
    let id = cli(
        &d,
        &[
            "add",
            "--check",
            "db",
            "--duration",
            "12s",
            "--comment",
            "patching",
        ],
    );
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 16, "{id:?}");
    let list: Vec<Value> = serde_json::from_str(&cli(&d, &["list", "--json"])).unwrap();
    assert_eq!(list.len(), 1);
    let ends_ms = list[0]["ends_ms"].as_i64().unwrap();
    assert_eq!(list[0]["comment"], "patching");
    assert_eq!(list[0]["active"], true);

    // Restart: the silence is read back from the database.
    d.terminate();
    let d = serve(&cfg);
    let list = d.json("/api/v1/silences");
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    let m = eventually("maintenance shown", Duration::from_secs(10), || {
        let c = d.check("db");
        c["maintenance"]
            .is_object()
            .then_some(c["maintenance"].clone())
    });
    assert_eq!(m["kind"], "silence");
    assert_eq!(m["name"], id.as_str());

    // The check fails during the silence: recorded, not sent.
    drop(db);
    d.wait_state("db", "down");
    assert!(
        now_ms() < ends_ms - 1000,
        "the test machine is too slow for this silence"
    );
    assert_eq!(
        hook.received(),
        Vec::<Value>::new(),
        "held during the silence"
    );

    // Still down when it ends: one down alert, sent after the end.
    let got = eventually("the held alert", Duration::from_secs(60), || {
        let r = hook.received();
        (!r.is_empty()).then_some(r)
    });
    assert!(now_ms() >= ends_ms, "delivered before the silence ended");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0]["event"].as_str(), got[0]["check"].as_str()),
        (Some("down"), Some("db"))
    );
    assert!(d.json("/api/v1/silences").as_array().unwrap().is_empty());
    let c = d.check("db");
    assert!(c["maintenance"].is_null());
    // Availability both with and without the silence: its down time is counted apart.
    let day = &c["availability"]["24h"];
    let apart = &day["excluding_maintenance"];
    assert!(apart["maintenance_ms"].as_i64().unwrap() >= 11_000, "{day}");
    assert!(
        apart["down_ms"].as_i64().unwrap() < day["down_ms"].as_i64().unwrap(),
        "{day}"
    );
    assert!(c["uptime_excluding_maintenance"]["24h"].is_number(), "{c}");
    // The channel list: the target, its delivery, never its URL.
    let channels = eventually("the delivery recorded", Duration::from_secs(10), || {
        let ch = d.json("/api/v1/alerts/channels");
        (ch[0]["delivered"] == 1).then_some(ch)
    });
    assert_eq!(channels[0]["name"], "hook");
    assert_eq!(channels[0]["kind"], "webhook");
    assert!(channels[0]["last_delivered_ms"].as_i64().unwrap() >= ends_ms);
    assert!(!channels.to_string().contains(&hook.url()), "{channels}");
}

#[test]
fn expiring_a_silence_ends_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\napi_token: {TOKEN}\ndefaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: db\n    tcp: {{ address: '127.0.0.1:1' }}\n    labels: {{ team: db }}\nstatus_page:\n  title: Acme\n  groups:\n    - name: Data\n      checks: [db]\n",
            dir.path().join("lp.db").display(),
        ),
    )
    .unwrap();
    let d = serve(&cfg);
    let id = cli(
        &d,
        &[
            "add",
            "--label",
            "team=db",
            "--duration",
            "1h",
            "--comment",
            "x",
        ],
    );
    let id = id.trim();
    eventually("maintenance shown", Duration::from_secs(10), || {
        d.check("db")["maintenance"].is_object().then_some(())
    });
    assert!(cli(&d, &["list"]).contains("team=db"));
    // The public status page says "maintenance" too (its summary is cached up to 10 s).
    eventually(
        "maintenance on the status page",
        Duration::from_secs(20),
        || {
            let s = d.json("/api/v1/status");
            (s["groups"][0]["components"][0]["maintenance"] == true).then_some(())
        },
    );
    cli(&d, &["expire", id]);
    assert!(d.json("/api/v1/silences").as_array().unwrap().is_empty());
    assert!(d.check("db")["maintenance"].is_null());
    // Afterwards the status page gives both figures, as status pages do: the uptime, and the
    // uptime with the silence's time left out.
    eventually(
        "both uptime figures on the status page",
        Duration::from_secs(20),
        || {
            let s = d.json("/api/v1/status");
            let c = &s["groups"][0]["components"][0];
            (c["maintenance"].is_null() && c["uptime_excluding_maintenance"].is_number())
                .then_some(())
        },
    );
    // Bad input: a clear answer, never a panic.
    let (status, body) = linkpulse_testsupport::http::request(
        d.addr(),
        "POST",
        "/api/v1/silences",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        r#"{"check": "db", "duration": "soon", "comment": "x"}"#,
    )
    .map(|r| (r.status, r.body))
    .unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("duration: invalid duration \\\"soon\\\""),
        "{body}"
    );
}

#[test]
fn five_hundred_checks_down_together_make_one_grouped_notification_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let chat = WebhookReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
    // A port with no listener: every check is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut yaml = format!(
        "listen: 127.0.0.1:0\ndatabase: {}\ndefaults: {{ interval: 2s, timeout: 1s, rise: 1, fall: 1 }}\nalerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\n    group_by: [site]\n    group_wait: 20s\n  - name: chat\n    slack: {{ url: '{}' }}\n    group_by: [site]\n    group_wait: 20s\nchecks:\n",
        dir.path().join("lp.db").display(),
        hook.url(),
        chat.url()
    );
    for i in 0..500 {
        yaml.push_str(&format!(
            "  - {{ name: c{i}, tcp: {{ address: '{closed}' }}, labels: {{ site: dc1 }} }}\n"
        ));
    }
    let cfg = dir.path().join("linkpulse.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let d = serve(&cfg);
    let got = eventually("a grouped notification", Duration::from_secs(120), || {
        let r = hook.received();
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(got.len(), 1, "one notification");
    let g = &got[0];
    assert_eq!(g["event"], "group");
    assert_eq!(g["count"], 500, "{}", g["summary"]);
    assert_eq!(g["state"], "down");
    assert_eq!(g["group"]["site"], "dc1");
    assert_eq!(g["alerts"].as_array().unwrap().len(), 500);
    assert!(
        g["diagnosis"].is_string(),
        "the shared diagnosis: {}",
        g["diagnoses"]
    );
    let text = eventually("the chat message", Duration::from_secs(30), || {
        chat.received().first().cloned()
    });
    let text = text["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("[linkpulse] 500 checks: 500 down"),
        "{text}"
    );
    // Nothing more while they stay down.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hook.received().len(), 1);
    assert_eq!(chat.received().len(), 1);
    drop(d);
}
