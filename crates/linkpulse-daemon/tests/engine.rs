//! The engine against a real SQLite file and real local sockets.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use linkpulse_daemon::config::Config;
use linkpulse_daemon::engine::{Engine, EngineHandle, EngineParts, PushEvent};
use linkpulse_daemon::metrics::Metrics;
use linkpulse_daemon::storage::Storage;
use linkpulse_daemon::storage::sqlite::SqliteStorage;
use linkpulse_testsupport::eventually_async;
use tokio::sync::Notify;

fn start(text: &str, db: &Path) -> (Arc<SqliteStorage>, EngineParts, EngineHandle, Engine) {
    let config = Config::parse("test.yaml", text, Path::new(".")).expect("valid config");
    let storage = SqliteStorage::open(db).expect("open db");
    let parts = EngineParts {
        storage: storage.clone(),
        metrics: Arc::new(Metrics::new()),
        views: Arc::new(RwLock::new(Default::default())),
        alert_notify: Arc::new(Notify::new()),
        push_key: "test key".to_owned(),
    };
    let (engine, handle) = Engine::new(&config, parts.clone(), HashMap::new()).expect("engine");
    (storage, parts, handle, engine)
}

fn attempts(storage: &SqliteStorage, check: &str) -> Vec<bool> {
    storage.flush().expect("flush");
    storage
        .history(check, 0, i64::MAX, 100_000)
        .expect("history")
        .iter()
        .map(|a| a.up)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_check_never_delays_another() {
    // An HTTP server that accepts and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hang.incoming().flatten() {
            held.push(c);
        }
    });
    let fast = TcpListener::bind("127.0.0.1:0").unwrap();
    let fast_addr = fast.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Three 2 s hangs behind an HTTP limit of 1 cannot all start within their first 3 s
    // interval: the third waits at least 1 s for its slot, whatever the random spread.
    let mut text = "concurrency: { global: 8, http: 1 }\nchecks:\n".to_owned();
    for i in 1..=3 {
        text.push_str(&format!(
            "  - name: hang{i}\n    http: {{ url: 'http://{hang_addr}/{i}' }}\n    interval: 3s\n    timeout: 2s\n"
        ));
    }
    text.push_str(&format!(
        "  - name: fast\n    tcp: {{ address: '{fast_addr}' }}\n    interval: 200ms\n    fastinter: 200ms\n    timeout: 100ms\n"
    ));
    let (storage, parts, _handle, engine) = start(&text, &dir.path().join("h.db"));
    let task = tokio::spawn(engine.run(std::future::pending()));
    // Poll (bounded) until the hanging checks have timed out at least once each.
    let done = eventually_async(Duration::from_secs(30), || async {
        ["hang1", "hang2", "hang3"]
            .iter()
            .all(|c| !attempts(&storage, c).is_empty())
    })
    .await;
    assert!(done, "hanging checks never finished");
    task.abort();
    let fast_runs = attempts(&storage, "fast");
    // Two 2 s hangs ran one after the other (http limit 1): about 4 s or more passed, in
    // which `fast` (every 200 ms) kept its cadence.
    assert!(
        fast_runs.len() >= 10,
        "fast ran only {} times",
        fast_runs.len()
    );
    assert!(fast_runs.iter().all(|up| *up));
    let hang = attempts(&storage, "hang1");
    assert!(hang.iter().all(|up| !up));
    let text = parts.metrics.encode();
    assert!(
        text.contains("linkpulse_check_attempts_total{check=\"hang1\",result=\"timeout\"}"),
        "{text}"
    );
    // The per-kind limit delays the second HTTP run: the lag histogram saw a late start.
    let over_1s = text
        .lines()
        .filter(|l| l.starts_with("linkpulse_schedule_lag_seconds_bucket"))
        .find(|l| l.contains("le=\"1.024\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let count = text
        .lines()
        .find(|l| l.starts_with("linkpulse_schedule_lag_seconds_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        count > over_1s,
        "some run started more than 1 s late (waiting for the http slot):\n{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn push_misses_are_detected_on_a_fixed_cadence_in_virtual_time() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, parts, handle, engine) = start(
        "checks:\n  - name: job\n    push: { period: 10s, grace: 5s, token: job }\n",
        &dir.path().join("h.db"),
    );
    tokio::spawn(engine.run(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(14_900)).await;
    assert!(
        attempts(&storage, "job").is_empty(),
        "nothing before period + grace"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempts(&storage, "job"), [false], "missed once at 15 s");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        attempts(&storage, "job"),
        [false, false],
        "and again every period"
    );
    assert!(handle.push("job", PushEvent::Success).await);
    let state = parts.views.read().unwrap().get("job").unwrap().state;
    assert_eq!(state.as_str(), "up");
    // A success re-arms the deadline: no miss until period + grace after it.
    tokio::time::sleep(Duration::from_millis(14_900)).await;
    assert_eq!(attempts(&storage, "job"), [true, false, false]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempts(&storage, "job"), [false, true, false, false]);
    assert!(
        !handle.push("other", PushEvent::Success).await,
        "unknown token"
    );
}

/// When a connection was opened and (once it was) closed.
type Span = (std::time::Instant, Option<std::time::Instant>);

/// A TCP server that accepts, never answers, and records when each connection was opened and
/// when the prober closed it.
struct HangServer {
    addr: std::net::SocketAddr,
    spans: Arc<std::sync::Mutex<Vec<Span>>>,
}

impl HangServer {
    fn start() -> HangServer {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(std::sync::Mutex::new(Vec::new()));
        let all = spans.clone();
        std::thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                let i = {
                    let mut v = all.lock().unwrap();
                    v.push((std::time::Instant::now(), None));
                    v.len() - 1
                };
                let all = all.clone();
                std::thread::spawn(move || {
                    // Read (and drop) the request until the prober closes the connection.
                    let mut buf = [0u8; 1024];
                    while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
                    all.lock().unwrap()[i].1 = Some(std::time::Instant::now());
                });
            }
        });
        HangServer { addr, spans }
    }

    fn accepted(&self) -> usize {
        self.spans.lock().unwrap().len()
    }

    /// The longest time two connections were open together.
    fn max_overlap(&self) -> Duration {
        let now = std::time::Instant::now();
        let v = self.spans.lock().unwrap();
        let mut best = Duration::ZERO;
        for (i, (a0, a1)) in v.iter().enumerate() {
            for (b0, b1) in &v[i + 1..] {
                let start = (*a0).max(*b0);
                let end = a1.unwrap_or(now).min(b1.unwrap_or(now));
                best = best.max(end.saturating_duration_since(start));
            }
        }
        best
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_changed_concurrency_limits() {
    let server = HangServer::start();
    let dir = tempfile::tempdir().unwrap();
    // `fall: 100`: the checks never go down, so no diagnosis opens connections of its own.
    let checks = |limit: u32| {
        let mut text = format!("concurrency: {{ global: 8, http: {limit} }}\nchecks:\n");
        for i in 1..=3 {
            text.push_str(&format!(
                "  - name: hang{i}\n    http: {{ url: 'http://{}/{i}' }}\n    interval: 2s\n    timeout: 1500ms\n    fall: 100\n",
                server.addr
            ));
        }
        text
    };
    let (_storage, _parts, handle, engine) = start(&checks(1), &dir.path().join("h.db"));
    let task = tokio::spawn(engine.run(std::future::pending()));
    // Under `http: 1`, several 1.5 s runs of the three hanging checks, one after the other
    // (a connection may close a moment after the next one opened, never 0.5 s later).
    let ran = eventually_async(Duration::from_secs(30), || async { server.accepted() >= 4 }).await;
    assert!(ran, "the checks never ran");
    let serial = server.max_overlap();
    assert!(
        serial < Duration::from_millis(500),
        "http: 1 broken: {serial:?}"
    );

    let config = Config::parse("test.yaml", &checks(3), Path::new(".")).unwrap();
    let summary = handle.reload(config).await.expect("reload");
    assert_eq!((summary.unchanged, summary.changed), (3, 0), "{summary:?}");
    // Under `http: 3` the three 1.5 s hangs of a 2 s interval run side by side.
    let overlapped = eventually_async(Duration::from_secs(30), || async {
        server.max_overlap() >= Duration::from_millis(500)
    })
    .await;
    assert!(
        overlapped,
        "the new limit never let two runs overlap ({} runs)",
        server.accepted()
    );
    task.abort();
}
