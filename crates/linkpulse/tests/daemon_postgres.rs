//! `linkpulse serve` with its history in PostgreSQL: the real binary, a throwaway PostgreSQL
//! cluster (linkpulse-testsupport), a real TCP listener on port 0. Every wait polls a
//! condition with a deadline.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually_some as eventually;
use linkpulse_testsupport::postgres::{self, PgDatabase};
use serde_json::Value;

/// `linkpulse serve --config CONFIG` with `PGPASSWORD` set to `pgpassword`, or removed (so the
/// environment the tests run in cannot supply one).
fn serve(config: &Path, pgpassword: Option<&str>) -> LinkpulseProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(["serve", "--config"]).arg(config);
    match pgpassword {
        Some(p) => command.env("PGPASSWORD", p),
        None => command.env_remove("PGPASSWORD"),
    };
    LinkpulseProcess::spawn(command).expect("spawn linkpulse serve")
}

/// The daemon under test (no `PGPASSWORD`); killed on drop.
fn start(config: &Path) -> Daemon {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("PGPASSWORD");
    Daemon::spawn(command).unwrap_or_else(|e| panic!("{e}"))
}

/// The stored results of `check`, newest first.
fn results(d: &Daemon, check: &str) -> Vec<Value> {
    d.json(&format!("/api/v1/checks/{check}/history?limit=10000"))["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A config in `dir` for `db` (password in a file beside it) with one TCP check of `target`.
fn config(dir: &Path, db: &PgDatabase, target: SocketAddr) -> std::path::PathBuf {
    std::fs::write(dir.join("pg.pass"), format!("{}\n", db.password())).unwrap();
    let path = dir.join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\ndatabase_password_file: pg.pass\n\
             defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\n\
             checks:\n  - name: svc\n    tcp: {{ address: '{target}' }}\n",
            db.url()
        ),
    )
    .unwrap();
    path
}

fn count(db: &PgDatabase, sql: &str) -> i64 {
    db.psql(sql).unwrap().trim().parse().unwrap()
}

#[test]
fn history_and_incidents_live_in_postgres_and_survive_kill_9() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let config = config(dir.path(), &db, target);

    let served = start(&config);
    // Up: attempts reach the API, read back from PostgreSQL.
    eventually("three successful attempts", Duration::from_secs(30), || {
        let r = results(&served, "svc");
        (r.len() >= 3 && r.iter().all(|a| a["up"] == true)).then_some(())
    });
    // Down: the listener goes away, the check fails, an incident opens.
    drop(listener);
    let incident = eventually("an open incident", Duration::from_secs(30), || {
        let list = served.json("/api/v1/incidents");
        list.as_array()
            .and_then(|l| l.first().cloned())
            .filter(|i| i["check"] == "svc" && i["ended_ms"].is_null())
    });
    assert!(
        incident["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("refused")),
        "{incident}"
    );
    let before = results(&served, "svc");
    let refused = before
        .iter()
        .find(|a| a["up"] == false)
        .cloned()
        .expect("a failed attempt");
    assert_eq!(refused["result"]["error"]["kind"], "refused", "{refused}");
    assert_eq!(refused["result"]["target"], format!("tcp://{target}"));
    // The rows are in PostgreSQL, and no SQLite file was made.
    assert!(count(&db, "SELECT COUNT(*) FROM results") >= before.len() as i64);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM incidents WHERE ended_ms IS NULL"),
        1
    );
    assert!(!dir.path().join("linkpulse.db").exists());
    assert!(!Path::new("linkpulse.db").exists());

    served.kill9();
    let committed = count(&db, "SELECT COUNT(*) FROM results");
    let served = start(&config);
    // Everything the API showed before the kill is still there, unchanged.
    let after = results(&served, "svc");
    assert!(
        after.len() as i64 >= committed.min(10_000),
        "{} < {committed}",
        after.len()
    );
    for a in &before {
        assert!(after.contains(a), "lost {a}");
    }
    let check = served.json("/api/v1/checks/svc");
    assert_eq!(check["state"], "down", "resumed from PostgreSQL: {check}");
    let list = served.json("/api/v1/incidents");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["started_ms"], incident["started_ms"]);
    // And it keeps writing after the restart.
    eventually(
        "new attempts after the restart",
        Duration::from_secs(30),
        || (count(&db, "SELECT COUNT(*) FROM results") > committed).then_some(()),
    );
}

#[test]
fn an_unreachable_postgres_is_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on (bound and released just now).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ndatabase: postgres://linkpulse@127.0.0.1:{port}/history\n\
             checks:\n  - name: svc\n    tcp: {{ address: '127.0.0.1:1' }}\n"
        ),
    )
    .unwrap();
    // `config check` validates without connecting.
    let check = Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let done = serve(&path, None)
        .wait_exit(Duration::from_secs(60))
        .expect("linkpulse serve exits");
    let (status, stderr) = (done.status, done.stderr);
    assert!(!status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains(&format!("linkpulse@127.0.0.1:{port}"))
            && stderr.contains("\"history\"")
            && stderr.contains("error connecting to server"),
        "{stderr}"
    );
}

#[test]
fn config_check_names_the_bad_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "listen: 127.0.0.1:0\ndatabase: postgres://linkpulse@db.internal:5432\n\
         checks:\n  - name: svc\n    tcp: { address: '127.0.0.1:1' }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:2: database: invalid PostgreSQL URL \"postgres://***@db.internal:5432\": \
         the URL names no database",
        path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn the_password_may_come_from_pgpassword_instead_of_a_file() {
    let db = postgres::database().expect("a throwaway PostgreSQL cluster");
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let path = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\n\
             defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\n\
             checks:\n  - name: svc\n    tcp: {{ address: '{}' }}\n",
            db.url(),
            listener.local_addr().unwrap()
        ),
    )
    .unwrap();
    // A wrong password: refused at start, named as such, never printed.
    let out = serve(&path, Some("wrong-password"))
        .wait_exit(Duration::from_secs(60))
        .expect("linkpulse serve exits");
    let stderr = out.stderr;
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-password"), "{stderr}");
    // The right one: the daemon runs and its results land in PostgreSQL.
    let _daemon = serve(&path, Some(db.password()));
    eventually("results in PostgreSQL", Duration::from_secs(30), || {
        // The tables appear once the daemon has connected and migrated.
        let n = db.psql("SELECT COUNT(*) FROM results").ok()?;
        (n.trim().parse::<i64>().ok()? >= 2).then_some(())
    });
}
