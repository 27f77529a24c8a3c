//! Secrets never leave the daemon (issue 16, defects 4 and 5): a password and tokens in a
//! check's URL are searched for in every API answer, the event stream, the alert payloads,
//! the log and the database file; a webhook token never reaches the log; push tokens cannot
//! be derived from a check's name and floods of pushes are limited. The real binary, real
//! local HTTP servers on port 0, a real SQLite file.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::http::read_stream;
use linkpulse_testsupport::servers::{HttpResponse, HttpServer};
use linkpulse_testsupport::{eventually, eventually_some};

const PASSWORD: &str = "S3cretPW-x9";
const QUERY_TOKEN: &str = "T0kenQ-x9";
const SESSION: &str = "S3ssionV-x9";
const HOOK_TOKEN: &str = "HookT0k-x9";
const WRITER: &str = "writer-token-1234";
/// A user name given without a password (`https://TOKEN@host/`): it is the credential.
const USER_ONLY: &str = "ghpUserT0ken-x9";

fn serve(config: &Path) -> Daemon {
    Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), config, &[])
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// Panics naming `what` when `text` holds any of `secrets`.
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

#[test]
fn url_passwords_and_tokens_never_leave_but_the_probe_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    // The target answers 200 without the text the check wants: down, with an error naming
    // the URL. The webhook answers 500: every delivery fails and is logged.
    let target = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body("hello"),
    )
    .unwrap();
    let hook =
        HttpServer::start("127.0.0.1:0".parse().unwrap(), None, HttpResponse::new(500)).unwrap();
    let db = dir.path().join("history.db");
    let url = format!(
        "http://admin:{PASSWORD}@{}/health?token={QUERY_TOKEN}&session={SESSION}&x=1",
        target.addr()
    );
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nsecret_query_params: [session]\ndefaults: {{ interval: 300ms, timeout: 250ms, fall: 1, rise: 1 }}\nchecks:\n  - name: web\n    http: {{ url: '{url}', body_contains: absent-text }}\n  - name: bare\n    http: {{ url: 'http://{USER_ONLY}@{}/bare', body_contains: absent-text }}\nalerts:\n  - webhook: {{ url: 'http://{}/hook?token={HOOK_TOKEN}' }}\n",
            db.display(),
            target.addr(),
            hook.addr()
        ),
    )
    .unwrap();
    let d = serve(&config);
    let secrets = [PASSWORD, QUERY_TOKEN, SESSION, USER_ONLY];

    // The event stream, read while the check goes down.
    let events = read_stream(
        d.addr(),
        "/api/v1/events",
        &[],
        Duration::from_secs(20),
        |t| {
            t.contains("body_mismatch")
                && t.contains("\"bare\"")
                && t.matches("event: state").count() >= 2
        },
    )
    .unwrap();
    assert!(events.contains("\"web\""), "{events}");
    assert_clean("/api/v1/events", &events, &secrets);

    d.wait_state("web", "down");
    d.wait_state("bare", "down");
    // Two failed deliveries: the webhook's URL was logged twice.
    assert!(eventually(Duration::from_secs(20), || hook.requests() >= 2));
    assert!(eventually(Duration::from_secs(20), || {
        d.log().matches("alert delivery failed").count() >= 2
    }));

    // The probe sent the real credentials.
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
    );
    let asked = target.received();
    assert!(
        asked
            .iter()
            .any(|r| r.contains(&format!("authorization: {want}"))
                || r.contains(&format!("Authorization: {want}"))),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|r| r.contains(&format!("token={QUERY_TOKEN}"))),
        "{asked:?}"
    );
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER_ONLY}:"))
    );
    assert!(
        asked
            .iter()
            .any(|r| r.to_ascii_lowercase().contains("authorization: basic")
                && r.contains(&want[6..])),
        "the user name alone is sent: {asked:?}"
    );

    // What it shows: the host and path, without the secrets.
    let check = d.check("web");
    let shown = check["target"].as_str().unwrap().to_owned();
    assert_eq!(
        shown,
        format!(
            "http://admin:***@{}/health?token=***&session=***&x=1",
            target.addr()
        )
    );
    let final_url = check["last"]["http"]["final_url"].as_str().unwrap();
    assert!(final_url.contains("admin:***@"), "{final_url}");
    let bare = d.check("bare");
    assert_eq!(
        bare["target"].as_str().unwrap(),
        format!("http://***@{}/bare", target.addr()),
        "{bare}"
    );
    for path in [
        "/api/v1/checks".to_owned(),
        "/api/v1/checks/web".to_owned(),
        "/api/v1/checks/web/history?limit=1000".to_owned(),
        "/api/v1/checks/bare".to_owned(),
        "/api/v1/checks/bare/history?limit=1000".to_owned(),
        "/api/v1/incidents".to_owned(),
    ] {
        let (status, body) = d.get(&path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.contains("\"web\"") || body.contains("\"bare\""),
            "{path}: {body}"
        );
        assert_clean(&path, &body, &secrets);
    }
    let incidents = d.get("/api/v1/incidents").1;
    assert!(incidents.contains("body_mismatch"), "{incidents}");

    // Alert payloads as the receiver got them.
    let payloads = hook.received().join("\n");
    assert!(payloads.contains("\"check\":\"web\""), "{payloads}");
    assert!(payloads.contains("\"check\":\"bare\""), "{payloads}");
    assert_clean("the webhook payloads", &payloads, &secrets);

    // The log: neither the check's secrets nor the webhook's token.
    let log = d.log();
    assert!(log.contains("/hook?token=***"), "{log}");
    assert_clean(
        "the log",
        &log,
        &[PASSWORD, QUERY_TOKEN, SESSION, HOOK_TOKEN, USER_ONLY],
    );

    // The database file, written out first.
    d.terminate();
    let mut bytes = std::fs::read(&db).unwrap();
    for extra in ["-wal", "-journal"] {
        let p = format!("{}{extra}", db.display());
        bytes.extend(std::fs::read(p).unwrap_or_default());
    }
    let file = String::from_utf8_lossy(&bytes);
    assert!(file.contains("admin:***@"), "the history was written");
    assert!(file.contains("http://***@"), "the history was written");
    assert_clean("the database file", &file, &secrets);
}

#[test]
fn config_errors_mask_the_url_they_quote() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "checks:\n  - name: web\n    http: {{ url: 'ftp://admin:{PASSWORD}@127.0.0.1/?key={QUERY_TOKEN}' }}\n"
        ),
    )
    .unwrap();
    let (ok, stderr) =
        linkpulse_testsupport::bin::config_check(env!("CARGO_BIN_EXE_linkpulse"), &config).unwrap();
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("checks[0].http.url: invalid URL \"ftp://admin:***@127.0.0.1/?key=***\""),
        "{stderr}"
    );
    assert_clean("config check", &stderr, &[PASSWORD, QUERY_TOKEN]);
}

#[test]
fn push_tokens_are_not_the_name_are_hidden_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\napi_token: {WRITER}\nchecks:\n  - name: nightly\n    push: {{ period: 1h }}\n",
            dir.path().join("history.db").display()
        ),
    )
    .unwrap();
    let d = serve(&config);
    // Public: the target hides the token; the name is not the token.
    let check = d.check("nightly");
    assert_eq!(check["target"], "push://***");
    assert!(check.get("push_url").is_none(), "{check}");
    assert_eq!(d.request("POST", "/api/v1/push/nightly", &[]).0, 404);
    let listed = d.get("/api/v1/checks").1;
    // A writer sees the push URL, and it works.
    let auth = format!("Bearer {WRITER}");
    let (status, body) = d.request("GET", "/api/v1/checks/nightly", &[("Authorization", &auth)]);
    assert_eq!(status, 200, "{body}");
    let url = serde_json::from_str::<serde_json::Value>(&body).unwrap()["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url.strip_prefix("/api/v1/push/").unwrap().to_owned();
    assert_eq!(token.len(), 32, "{url}");
    assert!(!listed.contains(&token), "{listed}");
    assert_eq!(d.request("POST", &url, &[]).0, 200);
    d.wait_state("nightly", "up");
    let events = read_stream(
        d.addr(),
        "/api/v1/events",
        &[],
        Duration::from_secs(5),
        |t| t.contains("event: hello") || t.contains("event: snapshot"),
    )
    .unwrap();
    assert_clean("/api/v1/events", &events, &[&token]);
    d.terminate();

    // The same token after a restart (the key is in the database).
    let d = serve(&config);
    let (_, body) = d.request("GET", "/api/v1/checks/nightly", &[("Authorization", &auth)]);
    assert!(body.contains(&url), "{body}");
    assert_eq!(d.request("POST", &url, &[]).0, 200);
}

#[test]
fn a_push_flood_is_limited_per_token_and_does_not_alert_per_push() {
    let dir = tempfile::tempdir().unwrap();
    let hook =
        HttpServer::start("127.0.0.1:0".parse().unwrap(), None, HttpResponse::new(200)).unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nchecks:\n  - name: job\n    push: {{ period: 1h, token: flood-job-token }}\n  - name: other\n    push: {{ period: 1h, token: other-job-token }}\nalerts:\n  - webhook: {{ url: 'http://{}/hook' }}\n",
            dir.path().join("history.db").display(),
            hook.addr()
        ),
    )
    .unwrap();
    let d = serve(&config);
    let (mut accepted, mut limited) = (0, 0);
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/api/v1/push/flood-job-token/fail"
        } else {
            "/api/v1/push/flood-job-token"
        };
        let (status, _) = d.request("POST", path, &[]);
        match status {
            200 => accepted += 1,
            429 => limited += 1,
            other => panic!("push answered {other}"),
        }
    }
    assert!(limited >= 150, "{accepted} accepted, {limited} limited");
    // Another token is not limited by this one's flood.
    assert_eq!(
        d.request("POST", "/api/v1/push/other-job-token", &[]).0,
        200
    );
    let history = d.json("/api/v1/checks/job/history?limit=1000");
    let stored = history["results"].as_array().unwrap().len();
    assert_eq!(stored, accepted, "only accepted pushes are stored");
    // Every accepted state change alerts once at most: far fewer than 200.
    let alerts = eventually_some("alerts delivered", Duration::from_secs(30), || {
        let n = hook
            .received()
            .iter()
            .filter(|r| r.contains("\"check\":\"job\""))
            .count();
        (n > 0).then_some(n)
    });
    assert!(alerts <= accepted, "{alerts} alerts for {accepted} pushes");
    assert!(alerts < 30, "{alerts} alerts");
}
