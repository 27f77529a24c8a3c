//! The daemon against its own faults and hostile clients (issue 16, items 1–3), end to end:
//! the real binary with a lowered open-files limit, slow and idle clients on its HTTP port, a
//! full or immutable database file system, a deleted database file, and an alert receiver
//! that comes back while alerts wait in backoff.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::fs::{
    Immutable, Tmpfs, raise_own_open_files_limit, set_open_files_limit,
};
use linkpulse_testsupport::http::{KeepAlive, time_to_close};
use linkpulse_testsupport::servers::{HttpResponse, HttpServer, TcpHold, WebhookReceiver};
use linkpulse_testsupport::{eventually, eventually_some};

fn serve(config: &Path) -> Daemon {
    Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), config, &[])
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// Writes `linkpulse.yaml` in `dir` with the database at `db` and `body` after it.
fn config(dir: &Path, db: &Path, body: &str) -> PathBuf {
    let path = dir.join("linkpulse.yaml");
    std::fs::write(
        &path,
        format!("listen: 127.0.0.1:0\ndatabase: {}\n{body}", db.display()),
    )
    .unwrap();
    path
}

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

/// Transitions of `check` as `(from, to)`.
fn transitions(d: &Daemon, check: &str) -> Vec<(String, String)> {
    let h = d.json(&format!("/api/v1/checks/{check}/history?limit=10000"));
    h["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap_or("").to_owned(),
                t["to"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The value of the first sample of `metric` (with its labels as written) in `text`.
fn sample(text: &str, metric: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(metric) && l[metric.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// With no file descriptor left (RLIMIT_NOFILE lowered on the running daemon), every probe
/// fails `local`: no check leaves `up`, no alert, no `host_unreachable`; `/readyz` says why and
/// `linkpulse_probe_local_errors_total` counts it. With the limit back, probes succeed again.
#[test]
fn no_file_descriptors_is_the_monitors_fault_never_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let web = HttpServer::start(local(), None, HttpResponse::new(200).body("ok")).unwrap();
    let tcp = TcpHold::start(local(), None).unwrap();
    let hook = WebhookReceiver::start(local()).unwrap();
    let cfg = config(
        dir.path(),
        &dir.path().join("history.db"),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: web\n    http: {{ url: '{}' }}\n  - name: db\n    tcp: {{ address: '{}' }}\nalerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\n",
            web.url("/"),
            tcp.addr(),
            hook.url()
        ),
    );
    let d = serve(&cfg);
    d.wait_state("web", "up");
    d.wait_state("db", "up");
    assert_eq!(d.get("/readyz").0, 200);
    let alerts_before = hook.received().len();
    // Opened before the limit drops: the daemon cannot accept new connections afterwards.
    let mut conn = KeepAlive::open(d.addr()).unwrap();
    assert_eq!(conn.get("/healthz").unwrap().0, 200, "accepted");
    set_open_files_limit(d.pid(), 3, 20_000).unwrap();
    let why = eventually_some(
        "/readyz says the monitor is out of descriptors",
        Duration::from_secs(20),
        || {
            let (status, body) = conn.get("/readyz").ok()?;
            (status == 503 && body.contains("file descriptor")).then_some(body)
        },
    );
    assert!(why.contains("not ready"), "{why}");
    // Some seconds of failing probes (each check runs every 200 ms) …
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let (_, body) = conn.get("/api/v1/checks").unwrap();
        let checks: serde_json::Value = serde_json::from_str(&body).unwrap();
        for c in checks.as_array().unwrap() {
            assert_eq!(
                c["state"], "up",
                "a local fault changed a check's state: {c}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, metrics) = conn.get("/metrics").unwrap();
    let counted = sample(
        &metrics,
        "linkpulse_probe_local_errors_total{reason=\"no_file_descriptors\"}",
    )
    .unwrap_or(0.0);
    assert!(counted >= 2.0, "{metrics}");
    let (_, last) = conn.get("/api/v1/checks/web").unwrap();
    let last: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(last["last"]["error"]["kind"], "local", "{last}");
    assert!(last.get("diagnosis").is_none_or(|v| v.is_null()), "{last}");
    // The limit back: probes work, nothing happened to the targets.
    set_open_files_limit(d.pid(), 1024, 20_000).unwrap();
    eventually_some("a successful probe again", Duration::from_secs(20), || {
        let h = d.json("/api/v1/checks/web");
        (h["last"]["up"] == true).then_some(())
    });
    assert_eq!(transitions(&d, "web"), [("unknown".into(), "up".into())]);
    assert_eq!(transitions(&d, "db"), [("unknown".into(), "up".into())]);
    assert_eq!(
        hook.received().len(),
        alerts_before,
        "{:?}",
        hook.received()
    );
    let history = d.json("/api/v1/checks/web/history?limit=10000");
    assert!(
        history["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["error_kind"] == "local"),
        "local results are recorded"
    );
}

/// A slowloris client (a request head that never ends) is cut off by the header-read timeout
/// (10 s); an idle connection, fresh or after a request, is closed by the idle timeout (30 s)
/// at the latest. Before the fix the daemon held both for ever.
#[test]
fn slowloris_and_idle_connections_are_closed_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &dir.path().join("history.db"), "checks: []\n");
    let d = serve(&cfg);
    let slow = TcpStream::connect(d.addr()).unwrap();
    (&slow)
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let idle = TcpStream::connect(d.addr()).unwrap();
    // Kept alive after one request (HTTP/1.1), then silent.
    let used = TcpStream::connect(d.addr()).unwrap();
    (&used)
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    for s in [&slow, &idle, &used] {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
    }
    let (slow, idle, used) = (
        std::thread::spawn(move || time_to_close(slow, Duration::from_secs(60), true)),
        std::thread::spawn(move || time_to_close(idle, Duration::from_secs(60), false)),
        std::thread::spawn(move || time_to_close(used, Duration::from_secs(60), false)),
    );
    let used = used
        .join()
        .unwrap()
        .expect("the kept-alive connection was never closed");
    assert!(
        used <= Duration::from_secs(33),
        "kept-alive connection held {used:?}"
    );
    let slow = slow
        .join()
        .unwrap()
        .expect("the slowloris connection was never closed");
    let idle = idle
        .join()
        .unwrap()
        .expect("the idle connection was never closed");
    assert!(slow <= Duration::from_secs(13), "slowloris held {slow:?}");
    assert!(idle <= Duration::from_secs(33), "idle held {idle:?}");
    // The port still serves.
    assert_eq!(d.get("/healthz").0, 200);
}

/// With the open-files limit at 1,000 and 1,000 idle connections to the HTTP port, the daemon
/// keeps descriptors for its probes (no check goes down) and `/healthz` still answers.
#[test]
fn healthz_answers_under_a_thousand_idle_connections_with_a_lowered_limit() {
    raise_own_open_files_limit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tcp = TcpHold::start(local(), None).unwrap();
    let cfg = config(
        dir.path(),
        &dir.path().join("history.db"),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: db\n    tcp: {{ address: '{}' }}\n",
            tcp.addr()
        ),
    );
    let d = serve(&cfg);
    d.wait_state("db", "up");
    set_open_files_limit(d.pid(), 1000, 20_000).unwrap();
    let idle: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect_timeout(&d.addr(), Duration::from_secs(5)).ok())
        .collect();
    assert!(idle.len() >= 900, "only {} connections", idle.len());
    let start = Instant::now();
    let answered = eventually(Duration::from_secs(20), || {
        linkpulse_testsupport::http::get(d.addr(), "/healthz").is_ok_and(|(s, _)| s == 200)
    });
    assert!(answered, "/healthz did not answer within 20 s");
    assert!(start.elapsed() < Duration::from_secs(20));
    // Probes kept their descriptors: the check never failed.
    let history = d.json("/api/v1/checks/db/history?limit=10000");
    let failed: Vec<_> = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["up"] == false)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(d.state("db"), "up");
    drop(idle);
}

/// The states a receiver was told, in order.
fn told(hook: &[serde_json::Value]) -> Vec<String> {
    hook.iter()
        .map(|a| a["state"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Disk full (a 2 MB tmpfs) while a check goes down and up: nothing is lost. The writes wait
/// in memory, `/readyz` says the database refuses writes and `linkpulse_storage_errors_total`
/// counts; with space back, both transitions are stored and both alerts arrive, in order.
#[test]
fn disk_full_loses_no_transition_and_no_alert() {
    let fs = Tmpfs::mount("2m").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = WebhookReceiver::start(local()).unwrap();
    let target = TcpHold::start(port, None).unwrap();
    let cfg = config(
        dir.path(),
        &fs.path().join("history.db"),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: svc\n    tcp: {{ address: '{port}' }}\nalerts:\n  - name: hook\n    webhook: {{ url: '{}' }}\n",
            hook.url()
        ),
    );
    let d = serve(&cfg);
    d.wait_state("svc", "up");
    fs.fill().unwrap();
    let why = eventually_some(
        "/readyz: the database refuses writes",
        Duration::from_secs(20),
        || {
            let (status, body) = d.get("/readyz");
            (status == 503 && body.contains("refuses writes")).then_some(body)
        },
    );
    assert!(why.contains("full"), "{why}");
    drop(target);
    d.wait_state("svc", "down");
    let target = TcpHold::start(port, None).unwrap();
    d.wait_state("svc", "up");
    let metrics = d.get("/metrics").1;
    assert!(
        sample(&metrics, "linkpulse_storage_errors_total").unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );
    fs.free().unwrap();
    eventually_some("/readyz ready again", Duration::from_secs(20), || {
        (d.get("/readyz").0 == 200).then_some(())
    });
    let want: Vec<(String, String)> = [("unknown", "up"), ("up", "down"), ("down", "up")]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(transitions(&d, "svc"), want);
    eventually_some(
        "the down and up alerts, in order",
        Duration::from_secs(30),
        || (told(&hook.received()) == ["down", "up"]).then_some(()),
    );
    drop(target);
}

/// An immutable database (`chattr +i` on the file and its WAL) refuses writes: held, then
/// committed once the attribute is cleared; `/readyz` tells the truth meanwhile.
#[test]
fn an_immutable_database_loses_no_transition() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let db = dir.path().join("history.db");
    let cfg = config(
        dir.path(),
        &db,
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: svc\n    tcp: {{ address: '{port}' }}\n"
        ),
    );
    let d = serve(&cfg);
    d.wait_state("svc", "up");
    let mut frozen = Immutable::default();
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        frozen.set(&dir.path().join(f)).unwrap();
    }
    drop(target);
    d.wait_state("svc", "down");
    eventually_some(
        "/readyz: the database refuses writes",
        Duration::from_secs(20),
        || {
            let (status, body) = d.get("/readyz");
            (status == 503 && body.contains("refuses writes")).then_some(())
        },
    );
    frozen.clear().unwrap();
    eventually_some("/readyz ready again", Duration::from_secs(20), || {
        (d.get("/readyz").0 == 200).then_some(())
    });
    let t = transitions(&d, "svc");
    assert_eq!(
        t.last(),
        Some(&("up".to_owned(), "down".to_owned())),
        "{t:?}"
    );
}

/// The database file deleted while running: noticed (log, metric), a new database is opened
/// at the path, and what happens afterwards is stored there (it is in the history after a
/// restart). The file is created 0600.
#[test]
fn a_deleted_database_file_is_noticed_and_later_history_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let db = dir.path().join("history.db");
    let cfg = config(
        dir.path(),
        &db,
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: svc\n    tcp: {{ address: '{port}' }}\n"
        ),
    );
    let d = serve(&cfg);
    d.wait_state("svc", "up");
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}: mode {mode:o}");
    }
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    eventually_some("the deletion reported", Duration::from_secs(20), || {
        d.log().contains("was deleted").then_some(())
    });
    assert!(db.exists(), "a new database is opened at the path");
    eventually_some("the deletion counted", Duration::from_secs(20), || {
        let metrics = d.get("/metrics").1;
        (sample(&metrics, "linkpulse_storage_errors_total").unwrap_or(0.0) >= 1.0).then_some(())
    });
    drop(target);
    d.wait_state("svc", "down");
    assert!(d.terminate().success());
    let d = serve(&cfg);
    let t = transitions(&d, "svc");
    assert!(t.contains(&("up".to_owned(), "down".to_owned())), "{t:?}");
}

/// The receiver is down while a check goes down (its alert in backoff) and comes back just
/// before the check comes up: it gets `down`, then `up` — never the stale `down` last.
#[test]
fn a_receiver_back_from_an_outage_gets_the_alerts_in_event_order() {
    let dir = tempfile::tempdir().unwrap();
    let hook_addr = free_port();
    let port = free_port();
    let target = TcpHold::start(port, None).unwrap();
    let cfg = config(
        dir.path(),
        &dir.path().join("history.db"),
        &format!(
            "defaults: {{ interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }}\nchecks:\n  - name: svc\n    tcp: {{ address: '{port}' }}\nalerts:\n  - name: hook\n    webhook: {{ url: 'http://{hook_addr}/hook' }}\n"
        ),
    );
    let d = serve(&cfg);
    d.wait_state("svc", "up");
    drop(target);
    d.wait_state("svc", "down");
    // The down alert fails thrice (1 s, 2 s, 4 s of backoff): its next try is ~8 s away.
    eventually_some("three failed deliveries", Duration::from_secs(30), || {
        (d.log().matches("alert delivery failed").count() >= 3).then_some(())
    });
    let hook = WebhookReceiver::start(hook_addr).unwrap();
    let target = TcpHold::start(port, None).unwrap();
    d.wait_state("svc", "up");
    let got = eventually_some("the down and up alerts", Duration::from_secs(40), || {
        let states = told(&hook.received());
        (states.len() >= 2).then_some(states)
    });
    // Every event, in order: the stale `down` first, then `up` — the last word is right.
    assert_eq!(got, ["down", "up"]);
    drop(target);
}
