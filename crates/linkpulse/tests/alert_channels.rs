//! Alert channels end to end (issue 13, channels): the real daemon delivers to a real
//! Prometheus Alertmanager, a real SMTP server (aiosmtpd, STARTTLS and AUTH) and local HTTPS
//! receivers standing in for PagerDuty, Opsgenie, Teams, Discord, Telegram, Mattermost, ntfy
//! and Gotify, each request checked against the provider's documented schema; a 429 with
//! `Retry-After` is honoured; secrets never reach the log, `/metrics` or the API;
//! `linkpulse alert test` says what the receiver answered.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use linkpulse_testsupport::alertmanager::{self, Alertmanager};
use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::servers::{HttpResponse, Recorded, Recorder, TcpHold, TestCa, Validity};
use linkpulse_testsupport::smtp::{SmtpServer, SmtpTls};
use linkpulse_testsupport::{eventually, eventually_some};

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A port that was free a moment ago (for a server that starts later).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Writes `linkpulse.yaml` in `dir`: a fast tcp check `svc` of `port` (labels team=db) and
/// `alerts` (YAML items, indented by 2).
fn config(dir: &Path, port: SocketAddr, alerts: &str) -> PathBuf {
    let path = dir.join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\ndefaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\n\
             checks:\n  - name: svc\n    labels: {{ team: db }}\n    tcp: {{ address: '{port}' }}\nalerts:\n{alerts}",
            dir.join("history.db").display()
        ),
    )
    .unwrap();
    path
}

fn serve(config: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut command = Command::new(BIN);
    command.args(["serve", "--config"]).arg(config);
    for (k, v) in env {
        command.env(k, v);
    }
    Daemon::spawn(command).unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// The alerts Alertmanager holds for check `svc` (active ones: resolved alerts are not
/// listed by its API).
fn am_alerts(am: &Alertmanager) -> Vec<serde_json::Value> {
    let r =
        linkpulse_testsupport::http::request(am.addr(), "GET", "/api/v2/alerts", &[], "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let all: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    all.into_iter()
        .filter(|a| a["labels"]["check"] == "svc")
        .collect()
}

/// The value of the sample of `metric` whose labels contain `labels`.
fn sample(text: &str, metric: &str, labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(metric) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Alertmanager gets the alert with the check's labels, keeps it active across several of
/// its resolve_timeouts because linkpulse posts it again every `repeat` (with the same
/// `startsAt`), and resolves it when the check recovers.
#[test]
fn alertmanager_holds_the_alert_while_down_and_resolves_it_on_recovery() {
    let bin = alertmanager::binary().expect("prometheus-alertmanager (scripts/install-test-deps)");
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(&bin, dir.path(), "3s").unwrap();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let cfg = config(
        dir.path(),
        port,
        &format!(
            "  - name: am\n    repeat: 1s\n    alertmanager: {{ url: '{}' }}\n",
            am.url()
        ),
    );
    let d = serve(&cfg, &[]);
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");
    let first = eventually_some("the alert in Alertmanager", Duration::from_secs(30), || {
        am_alerts(&am)
            .into_iter()
            .find(|a| a["status"]["state"] == "active")
    });
    assert_eq!(first["labels"]["alertname"], "LinkpulseCheckDown");
    assert_eq!(first["labels"]["team"], "db");
    assert_eq!(first["labels"]["instance"], format!("tcp://{port}"));
    // Re-posted every second: after more than two resolve_timeouts (8 posts ≥ 7 s), still
    // active, still the same alert (same start).
    let posts = |d: &Daemon| {
        sample(
            &d.get("/metrics").1,
            "linkpulse_alert_deliveries_total",
            "alert=\"am\"",
        )
    };
    eventually_some("8 posts to Alertmanager", Duration::from_secs(40), || {
        (posts(&d) >= 8.0).then_some(())
    });
    let later = am_alerts(&am);
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0]["status"]["state"], "active", "{later:?}");
    assert_eq!(later[0]["startsAt"], first["startsAt"]);
    let target = TcpHold::start(port, None).unwrap();
    d.wait_state("svc", "up");
    assert!(
        eventually(Duration::from_secs(30), || am_alerts(&am).is_empty()),
        "still active after recovery: {:?}",
        am_alerts(&am)
    );
    drop(target);
}

/// A provider stand-in: an HTTPS recorder that answers 429 with `Retry-After: 3` once,
/// then `ok`.
fn provider(ca: &TestCa, ok: HttpResponse) -> Recorder {
    let id = ca
        .issue(&["localhost", "127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let limited = HttpResponse::new(429)
        .header("Retry-After", "3")
        .body(r#"{"retry_after": 3}"#);
    Recorder::start(local(), vec![limited, ok], Some(&id)).unwrap()
}

fn json_ok(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
}

/// Waits until `r` has at least `n` requests; returns them.
fn requests(r: &Recorder, what: &str, n: usize) -> Vec<Recorded> {
    eventually_some(what, Duration::from_secs(60), || {
        let got = r.received();
        (got.len() >= n).then_some(got)
    })
}

/// The first attempt was refused with 429 and `Retry-After: 3`: the same request came again,
/// not before 3 s (the backoff alone would have retried after 1 s).
fn retried_after_3s(what: &str, got: &[Recorded]) {
    assert_eq!(
        got[0].body, got[1].body,
        "{what}: the retry is the same request"
    );
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(2900),
        "{what}: retried after {gap:?}"
    );
}

#[test]
fn every_provider_gets_its_documented_request_and_429_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let caf = ca.pem_path().display().to_string();
    let pd = provider(
        &ca,
        json_ok(
            202,
            r#"{"status":"success","message":"Event processed","dedup_key":"linkpulse/svc"}"#,
        ),
    );
    let og = provider(
        &ca,
        json_ok(
            202,
            r#"{"result":"Request will be processed","took":0.1,"requestId":"r1"}"#,
        ),
    );
    let teams = provider(&ca, HttpResponse::new(202));
    let discord = provider(&ca, HttpResponse::new(204));
    let tg = provider(
        &ca,
        json_ok(200, r#"{"ok":true,"result":{"message_id":1}}"#),
    );
    let mm = provider(&ca, HttpResponse::new(200).body("ok"));
    let ntfy = provider(&ca, json_ok(200, r#"{"id":"x","event":"message"}"#));
    let gotify = provider(&ca, json_ok(200, r#"{"id":1}"#));
    // Secrets: from files and the environment.
    let secret = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let routing_file = secret("pd.key", "PDR0UTINGKEY0000000000000000000a");
    let bot_file = secret("tg.token", "123456:TGB0TT0KEN");
    let discord_file = secret("discord.url", &discord.url("/api/webhooks/42/D1SC0RDT0KEN"));
    let teams_file = secret(
        "teams.url",
        &teams.url("/workflows/abc/triggers/manual/paths/invoke?sig=TEAMSS1G"),
    );
    let gotify_file = secret("gotify.token", "G0T1FYAPPT0KEN");
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let alerts = format!(
        "  - name: pd\n    pagerduty: {{ routing_key_file: '{routing_file}', url: '{}', ca_file: '{caf}' }}\n\
         \x20 - name: og\n    opsgenie: {{ api_key_env: LP_TEST_OPSGENIE_KEY, url: '{}', responders: [dba], ca_file: '{caf}' }}\n\
         \x20 - name: teams\n    teams: {{ url_file: '{teams_file}', ca_file: '{caf}' }}\n\
         \x20 - name: discord\n    discord: {{ url_file: '{discord_file}', ca_file: '{caf}' }}\n\
         \x20 - name: tg\n    telegram: {{ bot_token_file: '{bot_file}', chat_id: '-1001234', api_url: '{}', ca_file: '{caf}' }}\n\
         \x20 - name: mm\n    mattermost: {{ url: '{}', channel: ops, ca_file: '{caf}' }}\n\
         \x20 - name: ntfy\n    ntfy: {{ url: '{}', token_env: LP_TEST_NTFY_TOKEN, tags: [db], ca_file: '{caf}' }}\n\
         \x20 - name: gotify\n    gotify: {{ url: '{}', token_file: '{gotify_file}', ca_file: '{caf}' }}\n",
        pd.url(""),
        og.url(""),
        tg.url(""),
        mm.url("/hooks/mmkey"),
        ntfy.url("/linkpulse-alerts"),
        gotify.url(""),
    );
    let cfg = config(dir.path(), port, &alerts);
    let d = serve(
        &cfg,
        &[
            ("LP_TEST_OPSGENIE_KEY", "0PSG3N1EKEY"),
            ("LP_TEST_NTFY_TOKEN", "tk_NTFYT0KEN"),
        ],
    );
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");

    // PagerDuty Events v2: POST /v2/enqueue, trigger with the routing key and a dedup key.
    let got = requests(&pd, "pagerduty trigger", 2);
    retried_after_3s("pagerduty", &got);
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("POST", "/v2/enqueue")
    );
    assert_eq!(got[1].header("content-type"), Some("application/json"));
    let b = got[1].json();
    assert_eq!(b["routing_key"], "PDR0UTINGKEY0000000000000000000a");
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], "linkpulse/svc");
    assert_eq!(b["payload"]["severity"], "critical");
    assert_eq!(b["payload"]["source"], format!("tcp://{port}"));
    assert!(
        b["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("svc is down"),
        "{b}"
    );
    assert!(
        b["payload"]["timestamp"].as_str().unwrap().ends_with('Z'),
        "{b}"
    );

    // Opsgenie: POST /v2/alerts with GenieKey, alias per check.
    let got = requests(&og, "opsgenie create", 2);
    retried_after_3s("opsgenie", &got);
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("POST", "/v2/alerts")
    );
    assert_eq!(got[1].header("authorization"), Some("GenieKey 0PSG3N1EKEY"));
    let b = got[1].json();
    assert_eq!(b["alias"], "linkpulse/svc");
    assert_eq!(b["message"], "svc is down");
    assert_eq!(b["priority"], "P1");
    assert_eq!(
        b["responders"],
        serde_json::json!([{"name": "dba", "type": "team"}])
    );

    // Teams (Workflows): a message with an Adaptive Card attachment.
    let got = requests(&teams, "teams card", 2);
    retried_after_3s("teams", &got);
    assert!(
        got[1]
            .path
            .starts_with("/workflows/abc/triggers/manual/paths/invoke?sig="),
        "{}",
        got[1].path
    );
    let b = got[1].json();
    assert_eq!(b["type"], "message");
    assert_eq!(
        b["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(b["attachments"][0]["content"]["type"], "AdaptiveCard");

    // Discord: content and embeds, no mentions.
    let got = requests(&discord, "discord message", 2);
    retried_after_3s("discord", &got);
    assert_eq!(got[1].path, "/api/webhooks/42/D1SC0RDT0KEN");
    let b = got[1].json();
    assert!(
        b["content"]
            .as_str()
            .unwrap()
            .starts_with("[linkpulse] svc is down"),
        "{b}"
    );
    assert_eq!(b["embeds"][0]["title"], "svc is down");
    assert_eq!(b["allowed_mentions"]["parse"], serde_json::json!([]));

    // Telegram: sendMessage to the chat.
    let got = requests(&tg, "telegram message", 2);
    retried_after_3s("telegram", &got);
    assert_eq!(got[1].path, "/bot123456:TGB0TT0KEN/sendMessage");
    let b = got[1].json();
    assert_eq!(b["chat_id"], -1_001_234);
    assert!(
        b["text"].as_str().unwrap().starts_with("svc is down"),
        "{b}"
    );

    // Mattermost: text and channel.
    let got = requests(&mm, "mattermost post", 2);
    retried_after_3s("mattermost", &got);
    assert_eq!(got[1].path, "/hooks/mmkey");
    let b = got[1].json();
    assert_eq!(b["channel"], "ops");
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .starts_with("[linkpulse] svc is down"),
        "{b}"
    );

    // ntfy: text body, Title/Priority/Tags headers, bearer token.
    let got = requests(&ntfy, "ntfy message", 2);
    retried_after_3s("ntfy", &got);
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("POST", "/linkpulse-alerts")
    );
    assert_eq!(got[1].header("title"), Some("svc is down"));
    assert_eq!(got[1].header("priority"), Some("5"));
    assert_eq!(got[1].header("tags"), Some("rotating_light,db"));
    assert_eq!(got[1].header("authorization"), Some("Bearer tk_NTFYT0KEN"));
    assert!(
        got[1].text().starts_with("[linkpulse] svc is down"),
        "{}",
        got[1].text()
    );

    // Gotify: POST /message with X-Gotify-Key.
    let got = requests(&gotify, "gotify message", 2);
    retried_after_3s("gotify", &got);
    assert_eq!(got[1].path, "/message");
    assert_eq!(got[1].header("x-gotify-key"), Some("G0T1FYAPPT0KEN"));
    let b = got[1].json();
    assert_eq!(b["title"], "svc is down");
    assert_eq!(b["priority"], 8);

    // Recovery: PagerDuty resolves and Opsgenie closes the same alert; the others are told.
    let target = TcpHold::start(port, None).unwrap();
    d.wait_state("svc", "up");
    let got = requests(&pd, "pagerduty resolve", 3);
    let b = got[2].json();
    assert_eq!(b["event_action"], "resolve");
    assert_eq!(b["dedup_key"], "linkpulse/svc");
    let got = requests(&og, "opsgenie close", 3);
    assert_eq!(
        got[2].path,
        "/v2/alerts/linkpulse%2Fsvc/close?identifierType=alias"
    );
    assert_eq!(got[2].header("authorization"), Some("GenieKey 0PSG3N1EKEY"));
    for (r, what) in [
        (&teams, "teams"),
        (&discord, "discord"),
        (&tg, "telegram"),
        (&mm, "mattermost"),
        (&ntfy, "ntfy"),
        (&gotify, "gotify"),
    ] {
        let got = requests(r, what, 3);
        assert!(
            String::from_utf8_lossy(&got[2].body).contains("svc is up"),
            "{what}: {}",
            got[2].text()
        );
    }

    // No secret in the log, /metrics or the API; the channels' status says what happened.
    let channels = d.json("/api/v1/alerts/channels");
    let tgs = channels
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "tg"))
        .expect("the tg channel listed");
    assert_eq!(tgs["kind"], "telegram");
    assert_eq!(tgs["deliveries"], 2);
    assert_eq!(tgs["failures"], 1);
    let error = tgs["last_error"].as_str().unwrap();
    assert!(error.contains("HTTP 429"), "{error}");
    assert!(error.contains("/bot***/sendMessage"), "{error}");
    let shown = format!("{}\n{}\n{channels}", d.log(), d.get("/metrics").1);
    for s in [
        "PDR0UTINGKEY",
        "0PSG3N1EKEY",
        "TGB0TT0KEN",
        "D1SC0RDT0KEN",
        "TEAMSS1G",
        "tk_NTFYT0KEN",
        "G0T1FYAPPT0KEN",
    ] {
        assert!(!shown.contains(s), "{s} shown:\n{shown}");
    }
    let metrics = d.get("/metrics").1;
    assert_eq!(
        sample(
            &metrics,
            "linkpulse_alert_delivery_failures_total",
            "alert=\"gotify\""
        ),
        1.0
    );
    drop(target);
}

/// A real SMTP server (`tls`: STARTTLS or implicit TLS, with the test CA's certificate)
/// requiring AUTH gets the mail; the test parses it.
fn email_arrives(tls: SmtpTls, setting: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost", "127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let smtp = SmtpServer::start(&id, tls, "linkpulse", "SMTPPASSW0RD").unwrap();
    let pw = dir.path().join("smtp.pw");
    std::fs::write(&pw, "SMTPPASSW0RD\n").unwrap();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let cfg = config(
        dir.path(),
        port,
        &format!(
            "  - name: mail\n    email:\n      host: 127.0.0.1\n      port: {}\n      tls: {setting}\n      username: linkpulse\n      password_file: {}\n      from: 'linkpulse <lp@example.org>'\n      to: [ops@example.org, dba@example.org]\n      ca_file: {}\n",
            smtp.port(),
            pw.display(),
            ca.pem_path().display()
        ),
    );
    let d = serve(&cfg, &[]);
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");
    let mail = eventually_some("the mail", Duration::from_secs(30), || {
        smtp.mails().into_iter().next()
    });
    assert!(mail.tls && mail.authenticated, "{mail:?}");
    assert_eq!(mail.mail_from, "lp@example.org");
    assert_eq!(mail.rcpt_tos, ["ops@example.org", "dba@example.org"]);
    assert_eq!(
        mail.header("subject").as_deref(),
        Some("[linkpulse] svc is down")
    );
    assert_eq!(
        mail.header("to").as_deref(),
        Some("ops@example.org, dba@example.org")
    );
    let body = mail.body();
    assert!(body.contains(&format!("Target: tcp://{port}")), "{body}");
    assert!(body.contains("Labels: team=db"), "{body}");
    assert!(body.contains("— diagnosis: "), "{body}");
    assert!(!d.log().contains("SMTPPASSW0RD"));
}

#[test]
fn email_arrives_over_starttls_with_auth() {
    email_arrives(SmtpTls::Starttls, "starttls");
}

#[test]
fn email_arrives_over_implicit_tls_with_auth() {
    email_arrives(SmtpTls::Implicit, "tls");
}

/// The templated webhook sends the method, headers and body written in the config, with the
/// event's fields filled in (JSON-escaped where `| json` says so).
#[test]
fn a_templated_webhook_sends_what_the_config_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Recorder::start(local(), vec![HttpResponse::new(200)], None).unwrap();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let cfg = config(
        dir.path(),
        port,
        &format!(
            "  - name: tpl\n    webhook_template:\n      url: '{}'\n      method: put\n      headers: {{ X-Team: '{{{{labels.team}}}}', X-Key: '{{{{idempotency_key}}}}' }}\n      body: '{{\"text\": {{{{summary | json}}}}, \"state\": \"{{{{state}}}}\", \"labels\": {{{{labels|json}}}}}}'\n",
            hook.url("/incoming")
        ),
    );
    let d = serve(&cfg, &[]);
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");
    let got = requests(&hook, "the templated request", 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].path.as_str()),
        ("PUT", "/incoming")
    );
    assert_eq!(got[0].header("x-team"), Some("db"));
    assert!(
        got[0].header("x-key").unwrap().starts_with("svc/down/"),
        "{:?}",
        got[0].headers
    );
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let b = got[0].json();
    assert_eq!(b["state"], "down", "{}", got[0].text());
    assert_eq!(b["labels"], serde_json::json!({"team": "db"}));
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .starts_with("[linkpulse] svc is down"),
        "{b}"
    );
}

/// The daemon is killed (-9) after the check went down and before the receiver is up: the
/// outbox keeps the alert, and the next daemon delivers it once the receiver is there.
#[test]
fn an_alert_survives_kill_9_and_a_receiver_down_at_first() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["localhost", "127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let receiver_addr = free_port();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let key = dir.path().join("pd.key");
    std::fs::write(&key, "R0UT1NGKEYFORKILLTEST").unwrap();
    let cfg = config(
        dir.path(),
        port,
        &format!(
            "  - name: pd\n    pagerduty: {{ routing_key_file: {}, url: 'https://{receiver_addr}', ca_file: {} }}\n",
            key.display(),
            ca.pem_path().display()
        ),
    );
    let d = serve(&cfg, &[]);
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");
    eventually_some("a failed delivery", Duration::from_secs(30), || {
        d.log().contains("alert delivery failed").then_some(())
    });
    d.kill9();
    let pd = Recorder::start(
        receiver_addr,
        vec![json_ok(202, r#"{"status":"success"}"#)],
        Some(&id),
    )
    .unwrap();
    let _d = serve(&cfg, &[]);
    let got = requests(&pd, "the trigger after the restart", 1);
    let b = got[0].json();
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], "linkpulse/svc");
    assert_eq!(b["routing_key"], "R0UT1NGKEYFORKILLTEST");
}

/// `linkpulse alert test`: 0 and the answer when delivered; 1 and the provider's answer when
/// refused; 3 for a name not in the config.
#[test]
fn alert_test_says_what_the_receiver_answered() {
    let dir = tempfile::tempdir().unwrap();
    let ok = Recorder::start(
        local(),
        vec![json_ok(
            202,
            r#"{"status":"success","message":"Event processed"}"#,
        )],
        None,
    )
    .unwrap();
    let refused = Recorder::start(
        local(),
        vec![json_ok(400, r#"{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is invalid"]}"#)],
        None,
    )
    .unwrap();
    let key = dir.path().join("pd.key");
    std::fs::write(&key, "T3STR0UTINGKEY").unwrap();
    let cfg = config(
        dir.path(),
        free_port(),
        &format!(
            "  - name: good\n    pagerduty: {{ routing_key_file: {k}, url: '{}' }}\n  - name: bad\n    pagerduty: {{ routing_key_file: {k}, url: '{}' }}\n",
            ok.url(""),
            refused.url(""),
            k = key.display()
        ),
    );
    let cfg = cfg.display().to_string();
    let run = |name: &str| {
        LinkpulseProcess::run(
            BIN,
            &["alert", "test", name, "--config", &cfg],
            None,
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let good = run("good");
    assert_eq!(good.code(), Some(0), "{good:?}");
    assert!(
        good.stdout
            .join("\n")
            .contains("good (pagerduty): delivered: {\"status\":\"success\""),
        "{good:?}"
    );
    let sent = ok.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["event_action"], "trigger");
    assert_eq!(sent[0].json()["payload"]["severity"], "info");
    let bad = run("bad");
    assert_eq!(bad.code(), Some(1), "{bad:?}");
    assert!(bad.stderr.contains("HTTP 400"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("'routing_key' is invalid"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("T3STR0UTINGKEY"), "{}", bad.stderr);
    let unknown = run("nope");
    assert_eq!(unknown.code(), Some(3), "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("no alert target named \"nope\" (the config has: good, bad)"),
        "{}",
        unknown.stderr
    );
}
