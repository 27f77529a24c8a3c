//! `auth:` on the daemon's own surfaces (issue 16): every endpoint answers 401 without
//! credentials and 403 with too small a role; the status page, health and push stay public;
//! bearer tokens (any case of `Bearer`), a user's login and Prometheus' basic auth with a token
//! work; `linkpulse status` and `nodes` send a token. The real binary on port 0, a real SQLite
//! file.

use std::path::Path;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::http::{read_stream, request};

const READER: &str = "reader-token-0123456789";
const WRITER: &str = "writer-token-0123456789";

fn serve(config: &Path) -> Daemon {
    Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), config, &[])
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// An argon2id hash of `password` (small parameters: the test verifies, it does not defend).
fn hash(password: &str) -> String {
    let params = Params::new(256, 1, 1, None).unwrap();
    let salt = SaltString::encode_b64(b"linkpulse-test-salt").unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The status of `GET path`; streams (Server-Sent Events) are read only up to their head.
fn status(d: &Daemon, method: &str, path: &str, auth: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    if path.ends_with("events") || path.ends_with("watch") {
        let text = read_stream(d.addr(), path, &headers, Duration::from_secs(10), |t| {
            t.contains("\r\n\r\n")
        })
        .unwrap();
        return text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{path}: {text}"));
    }
    request(d.addr(), method, path, &headers, "")
        .unwrap()
        .status
}

#[test]
fn every_surface_needs_its_role_and_the_public_ones_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("read.token"), format!("{READER}\n")).unwrap();
    std::fs::write(dir.path().join("write.token"), WRITER).unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nauth:\n  tokens:\n    - {{ role: read, token_file: read.token }}\n    - {{ role: write, token_file: write.token }}\n  users:\n    - {{ name: alice, role: read, password_hash: '{}' }}\nchecks:\n  - name: job\n    push: {{ period: 1h, token: job-push-token }}\nstatus_page:\n  title: Acme\n  groups:\n    - {{ name: Jobs, checks: [job] }}\n",
            dir.path().join("history.db").display(),
            hash("alice-password"),
        ),
    )
    .unwrap();
    let d = serve(&config);
    let read = format!("Bearer {READER}");
    let write = format!("bearer {WRITER}");

    let readable = [
        "/",
        "/checks/job",
        "/nodes",
        "/api/v1/checks",
        "/api/v1/checks/job",
        "/api/v1/checks/job/history",
        "/api/v1/incidents",
        "/api/v1/events",
        "/api/v1/dashboard/status-page",
        "/api/v1/dashboard/sparklines",
        "/metrics",
        "/probe?module=tcp_connect&target=127.0.0.1:1",
    ];
    for path in readable {
        let r = request(d.addr(), "GET", path, &[], "").unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(r.status, 401, "{path} without credentials: {}", r.body);
        assert!(
            r.header("WWW-Authenticate")
                .is_some_and(|h| h.starts_with("Basic")),
            "{path}: {:?}",
            r.headers
        );
        assert_eq!(
            status(&d, "GET", path, Some("Bearer wrong-token-0123456789")),
            401,
            "{path}"
        );
        let got = status(&d, "GET", path, Some(&read));
        assert!(got != 401 && got != 403, "{path} with the read role: {got}");
    }
    // The dashboard's login (a user) and Prometheus' basic auth with a token.
    assert_eq!(
        status(&d, "GET", "/", Some(&basic("alice", "alice-password"))),
        200
    );
    assert_eq!(status(&d, "GET", "/", Some(&basic("alice", "wrong"))), 401);
    assert_eq!(
        status(&d, "GET", "/metrics", Some(&basic("prometheus", READER))),
        200
    );

    // Changing things needs the write role.
    assert_eq!(status(&d, "POST", "/api/v1/reload", None), 401);
    assert_eq!(status(&d, "POST", "/api/v1/reload", Some(&read)), 403);
    assert_eq!(
        status(
            &d,
            "POST",
            "/api/v1/reload",
            Some(&basic("alice", "alice-password"))
        ),
        403
    );
    assert_eq!(status(&d, "POST", "/api/v1/reload", Some(&write)), 200);

    // Public: health, the status page and its data, pushes (their token is the credential).
    for path in [
        "/healthz",
        "/readyz",
        "/status",
        "/api/v1/status",
        "/api/v1/status/events",
    ] {
        assert_eq!(status(&d, "GET", path, None), 200, "{path}");
    }
    assert_eq!(status(&d, "POST", "/api/v1/push/job-push-token", None), 200);
}

#[test]
fn auth_problems_name_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short.token"), "short").unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        "auth:\n  tokens:\n    - { role: admin, token_file: short.token }\n    - { role: read, token_file: missing.token }\n  users:\n    - { name: bob, role: read, password_hash: plain }\n",
    )
    .unwrap();
    let (ok, stderr) =
        linkpulse_testsupport::bin::config_check(env!("CARGO_BIN_EXE_linkpulse"), &config).unwrap();
    assert!(!ok, "{stderr}");
    for want in [
        ":3: auth.tokens[0].role: invalid role \"admin\"",
        ":3: auth.tokens[0].token_file: ",
        ":4: auth.tokens[1].token_file: cannot read ",
        ":6: auth.users[0].password_hash: not an argon2 hash",
    ] {
        assert!(stderr.contains(want), "{want}\n{stderr}");
    }
}

/// `linkpulse status`/`nodes ARGS` against a daemon, with `token` in `LINKPULSE_TOKEN` (and no
/// inherited one without it).
fn cli(args: &[&str], token: Option<&str>) -> Finished {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(args).env_remove("LINKPULSE_TOKEN");
    if let Some(t) = token {
        command.env("LINKPULSE_TOKEN", t);
    }
    LinkpulseProcess::spawn(command)
        .unwrap()
        .wait_exit(Duration::from_secs(30))
        .unwrap()
}

/// `linkpulse status` and `linkpulse nodes` (list and `--watch`) against a daemon with `auth:`:
/// refused without a token with words naming the fix (exit 3, as other usage errors), served
/// with `--token-file` or `LINKPULSE_TOKEN`, a wrong token said to be wrong.
#[test]
fn status_and_nodes_send_a_token_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("read.token");
    std::fs::write(&token_file, format!("{READER}\n")).unwrap();
    std::fs::write(dir.path().join("hub.secret"), "hub-secret-0123456789abcdef").unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nhub:\n  listen: 127.0.0.1:0\n  secret_file: hub.secret\nauth:\n  tokens:\n    - {{ role: read, token_file: read.token }}\nchecks:\n  - name: job\n    push: {{ period: 1h }}\n",
            dir.path().join("history.db").display(),
        ),
    )
    .unwrap();
    let d = serve(&config);
    let url = format!("http://{}", d.addr());
    let file = token_file.to_str().unwrap();

    for args in [
        vec!["status", "--url", &url],
        vec!["nodes", "--hub-api", &url],
        vec!["nodes", "--hub-api", &url, "--watch"],
    ] {
        let out = cli(&args, None);
        assert_eq!(out.code(), Some(3), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("HTTP 401")
                && out
                    .stderr
                    .contains("--token-file FILE or set LINKPULSE_TOKEN"),
            "{args:?}: {}",
            out.stderr
        );
        let out = cli(&args, Some("not-the-token-0123456789"));
        assert_eq!(out.code(), Some(3), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("did not accept the token"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(READER), "{}", out.stderr);
    }

    // A token from a file, and from the environment.
    let out = cli(&["status", "--url", &url, "--token-file", file], None);
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.iter().any(|l| l.starts_with("job ")), "{out:?}");
    let out = cli(&["status", "--url", &url, "--output", "json"], Some(READER));
    assert_eq!(out.code(), Some(0), "{out:?}");
    let listed: serde_json::Value = serde_json::from_str(&out.stdout.join("\n")).unwrap();
    assert_eq!(listed[0]["name"], "job", "{out:?}");
    // The file wins over the environment.
    let out = cli(
        &["status", "--url", &url, "--token-file", file],
        Some("not-the-token-0123456789"),
    );
    assert_eq!(out.code(), Some(0), "{out:?}");
    let out = cli(
        &[
            "nodes",
            "--hub-api",
            &url,
            "--output",
            "json",
            "--token-file",
            file,
        ],
        None,
    );
    assert_eq!(out.code(), Some(0), "{out:?}");
    let listed: serde_json::Value = serde_json::from_str(&out.stdout.join("\n")).unwrap();
    assert!(listed["nodes"].is_array(), "{out:?}");

    // `--watch` follows the stream with the token.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command
        .args(["nodes", "--hub-api", &url, "--watch", "--output", "json"])
        .env("LINKPULSE_TOKEN", READER);
    let mut watch = LinkpulseProcess::spawn(command).unwrap();
    let snapshot = watch.wait_for_json(Duration::from_secs(20), |v| v["event"] == "snapshot");
    assert!(snapshot.is_some(), "{}", watch.stderr());
    watch.kill();

    // An unreadable token file is an error naming it.
    let out = cli(
        &["status", "--url", &url, "--token-file", "/nonexistent/t"],
        Some(READER),
    );
    assert_eq!(out.code(), Some(3), "{out:?}");
    assert!(
        out.stderr
            .contains("--token-file: cannot read /nonexistent/t"),
        "{}",
        out.stderr
    );
}
