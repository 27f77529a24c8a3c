//! The backend conformance suite: the same test bodies run against SQLite (a real file) and
//! PostgreSQL (a throwaway cluster from `linkpulse-testsupport`), so both backends keep the
//! semantics the daemon relies on and give back identical API JSON.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::postgres::{PgTarget, PostgresStorage};
use super::sqlite::SqliteStorage;
use super::*;
use crate::state::State;

/// One database of one backend; `open` may be called again to reopen the same database.
pub(super) trait Fixture {
    /// Opens the database (a new writer and reader each time).
    fn open(&self) -> Arc<dyn Storage>;
    /// Rows of `table` another connection sees committed.
    fn committed_rows(&self, table: &str) -> i64;
    /// Result rows another connection sees committed.
    fn committed_results(&self) -> i64 {
        self.committed_rows("results")
    }
}

/// A SQLite file in a temporary directory.
pub(super) struct Sqlite(tempfile::TempDir);

impl Sqlite {
    pub(super) fn new() -> Sqlite {
        Sqlite(tempfile::tempdir().unwrap())
    }
}

impl Fixture for Sqlite {
    fn open(&self) -> Arc<dyn Storage> {
        SqliteStorage::open(&self.0.path().join("h.db")).unwrap()
    }
    fn committed_rows(&self, table: &str) -> i64 {
        rusqlite::Connection::open(self.0.path().join("h.db"))
            .unwrap()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

/// A fresh database on a throwaway PostgreSQL cluster, logged in with its password.
pub(super) struct Postgres(pub(super) linkpulse_testsupport::postgres::PgDatabase);

impl Postgres {
    pub(super) fn new() -> Postgres {
        Postgres(linkpulse_testsupport::postgres::database().unwrap())
    }

    pub(super) fn target(&self) -> PgTarget {
        let mut t = PgTarget::parse_url(&self.0.url()).unwrap();
        t.password = Some(self.0.password().to_owned());
        t
    }
}

impl Fixture for Postgres {
    fn open(&self) -> Arc<dyn Storage> {
        PostgresStorage::open(&self.target()).unwrap()
    }
    fn committed_rows(&self, table: &str) -> i64 {
        self.0
            .psql(&format!("SELECT COUNT(*) FROM {table}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// Runs each named body against both backends: `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Sqlite::new()) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(&super::Postgres::new()) })*
        }
    };
}

conformance!(
    writes_survive_reopen_and_read_back_in_order,
    attempts_round_trip_with_the_exact_api_json,
    transitions_window_includes_the_state_before_it,
    outbox_is_idempotent_by_key_and_tracks_delivery,
    an_alert_waits_behind_an_earlier_one_of_the_same_check_and_target,
    prune_folds_old_results_into_hourly_rows,
    many_writes_are_batched_quickly,
    reads_see_every_write_submitted_before_them,
    queued_writes_are_committed_soon_without_any_read,
    a_new_target_of_a_check_is_a_new_series_and_old_rows_keep_theirs,
    dropping_the_storage_commits_what_is_queued,
    every_result_shape_reads_back_identically,
    silences_survive_reopen_and_expire,
    outbox_status_counts_per_alert_target,
);

fn outbox_status_counts_per_alert_target(f: &dyn Fixture) {
    let db = f.open();
    for (key, alert) in [("a/1", "hook"), ("a/2", "hook"), ("b/1", "chat")] {
        db.submit(WriteOp::EnqueueAlert {
            key: key.into(),
            target: json!({"webhook": {"url": "http://127.0.0.1:9/", "headers": {}}}),
            payload: json!({"check": &key[..1], "alert": alert}),
            at_ms: 1_000,
        });
    }
    db.flush().unwrap();
    let due = db.due_alerts(2_000, 10).unwrap();
    let first = due.iter().find(|i| i.key == "a/1").unwrap().id;
    let chat = due.iter().find(|i| i.key == "b/1").unwrap().id;
    db.submit(WriteOp::AlertDelivered {
        id: first,
        at_ms: 3_000,
    });
    db.submit(WriteOp::AlertFailed {
        id: chat,
        attempts: 1,
        next_ms: 9_000,
        error: "connection refused".into(),
    });
    let status = db.outbox_status().unwrap();
    assert_eq!(
        status,
        vec![
            OutboxStatus {
                alert: "chat".into(),
                pending: 1,
                delivered: 0,
                last_delivered_ms: None,
                last_error: Some("connection refused".into()),
            },
            OutboxStatus {
                alert: "hook".into(),
                pending: 1,
                delivered: 1,
                last_delivered_ms: Some(3_000),
                last_error: None,
            },
        ]
    );
}

fn silences_survive_reopen_and_expire(f: &dyn Fixture) {
    let silence = Silence {
        id: "0123456789abcdef".into(),
        matcher: linkpulse_checks::routing::Matcher {
            checks: vec!["db".into()],
            labels: [("team".to_owned(), "db".to_owned())].into(),
        },
        starts_ms: 1_000,
        ends_ms: 10_000,
        comment: "patching".into(),
        created_by: "ops".into(),
        created_ms: 900,
    };
    let db = f.open();
    db.put_silence(&silence).unwrap();
    drop(db);
    let db = f.open();
    assert_eq!(db.silences(5_000).unwrap(), vec![silence.clone()]);
    // Expired (ended now): no longer listed, still stored.
    let mut ended = silence.clone();
    ended.ends_ms = 5_000;
    db.put_silence(&ended).unwrap();
    assert_eq!(db.silences(5_000).unwrap(), vec![]);
    assert_eq!(db.silences(4_000).unwrap(), vec![ended]);
    assert_eq!(f.committed_rows("silences"), 1);
}

fn attempt(check: &str, at_ms: Millis, up: bool, latency: f64) -> WriteOp {
    WriteOp::Attempt(Attempt {
        check: check.to_owned(),
        at_ms,
        up,
        latency_ms: Some(latency),
        error_kind: (!up).then(|| "refused".to_owned()),
        result: json!({"target": "tcp://127.0.0.1:1", "up": up}),
    })
}

fn transition(check: &str, at_ms: Millis, from: State, to: State) -> WriteOp {
    WriteOp::Transition(TransitionRecord {
        check: check.to_owned(),
        at_ms,
        from,
        to,
        cause: None,
    })
}

/// A probe-shape result as the engine stores it.
pub(super) fn tcp_result(port: u16, up: bool, latency: Option<f64>) -> serde_json::Value {
    json!({"target": format!("tcp://127.0.0.1:{port}"), "kind": "tcp", "up": up,
        "warning": null, "latency_ms": latency, "resolved": "127.0.0.1",
        "error": if up { json!(null) } else { json!({"kind": "refused", "message": "connection refused"}) }})
}

fn writes_survive_reopen_and_read_back_in_order(fx: &dyn Fixture) {
    {
        let db = fx.open();
        for i in 0..100 {
            db.submit(attempt("a", 1_000 + i, i % 2 == 0, i as f64));
        }
        db.submit(transition("a", 1_000, State::Unknown, State::Up));
        db.submit(transition("a", 1_050, State::Up, State::Down));
        db.submit(WriteOp::OpenIncident {
            check: "a".into(),
            at_ms: 1_050,
            cause: Some("refused".into()),
        });
        db.submit(WriteOp::OpenIncident {
            check: "a".into(),
            at_ms: 1_060,
            cause: None,
        });
        db.submit(WriteOp::Diagnosis {
            check: "a".into(),
            verdict: "process_down".into(),
            detail: json!({"x": 1}),
        });
        db.flush().unwrap();
    }
    let db = fx.open();
    let h = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(h.len(), 10);
    assert_eq!(h[0].at_ms, 1_099, "newest first");
    assert_eq!(h[0].result["target"], "tcp://127.0.0.1:1");
    assert_eq!(db.history("a", 1_090, 1_095, 100).unwrap().len(), 5);
    let inc = db.incidents(None, 0, 10).unwrap();
    assert_eq!(inc.len(), 1, "a second open while one is open is ignored");
    assert_eq!(inc[0].diagnosis.as_deref(), Some("process_down"));
    assert_eq!(inc[0].diagnosis_detail, Some(json!({"x": 1})));
    assert_eq!(inc[0].cause.as_deref(), Some("refused"));
    assert_eq!(inc[0].ended_ms, None);
    let r = db.resume().unwrap();
    assert_eq!(r["a"].state, State::Down);
    assert_eq!(r["a"].since_ms, 1_050);
    assert_eq!(r["a"].last.as_ref().map(|a| a.at_ms), Some(1_099));
    assert_eq!(r["a"].diagnosis.as_deref(), Some("process_down"));
    db.submit(WriteOp::CloseIncident {
        check: "a".into(),
        at_ms: 2_000,
    });
    db.flush().unwrap();
    assert_eq!(
        db.incidents(Some("a"), 0, 10).unwrap()[0].ended_ms,
        Some(2_000)
    );
    assert!(
        db.incidents(Some("a"), 3_000, 10).unwrap().is_empty(),
        "ended before the window"
    );
    assert_eq!(db.resume().unwrap()["a"].diagnosis, None, "closed");
    // A new outage opens a new incident; the diagnosis goes to the newest one.
    db.submit(WriteOp::OpenIncident {
        check: "a".into(),
        at_ms: 4_000,
        cause: Some("timeout".into()),
    });
    db.submit(WriteOp::Diagnosis {
        check: "a".into(),
        verdict: "port_filtered".into(),
        detail: json!({}),
    });
    let inc = db.incidents(Some("a"), 0, 10).unwrap();
    let got: Vec<_> = inc
        .iter()
        .map(|i| (i.started_ms, i.ended_ms, i.diagnosis.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (4_000, None, Some("port_filtered")),
            (1_050, Some(2_000), Some("process_down"))
        ]
    );
}

/// The results the engine writes, of every shape: what comes back is the identical JSON.
pub(super) fn api_samples() -> Vec<Attempt> {
    let http = json!({"target": "http://127.3.0.1:80/", "kind": "http", "up": true,
        "warning": "slow: 900 ms", "latency_ms": 0.5, "error": null, "resolved": "127.3.0.1",
        "http": {"status": 200, "version": "HTTP/1.1", "body_bytes": 2, "redirects": 0,
            "final_url": "http://127.3.0.1/", "phases": {"dns_ms": 0.0, "connect_ms": 0.1,
            "tls_ms": null, "first_byte_ms": 0.2, "total_ms": 0.5}}});
    let odd = json!({"target": "tcp://a:1", "kind": "tcp", "up": true, "warning": null,
        "latency_ms": 5, "error": null, "resolved": null, "ünïcode": "✓ \"quoted\""});
    let samples = [
        (
            "tcp",
            1_000,
            true,
            Some(0.123),
            None,
            tcp_result(80, true, Some(0.123)),
        ),
        (
            "tcp",
            1_001,
            false,
            None,
            Some("refused"),
            tcp_result(80, false, None),
        ),
        ("web", 1_002, true, Some(0.5), None, http),
        ("odd", 1_003, true, Some(5.0), None, odd),
        (
            "verbatim",
            1_004,
            true,
            None,
            None,
            json!({"target": "push://x", "up": true}),
        ),
        (
            "verbatim",
            1_005,
            false,
            None,
            Some("x"),
            json!([1, "two", null]),
        ),
    ];
    samples
        .into_iter()
        .map(
            |(check, at_ms, up, latency_ms, error_kind, result)| Attempt {
                check: check.to_owned(),
                at_ms,
                up,
                latency_ms,
                error_kind: error_kind.map(str::to_owned),
                result,
            },
        )
        .collect()
}

/// Every sample, read back through `history`, as the API serializes it.
pub(super) fn api_json(db: &dyn Storage) -> Vec<String> {
    let mut out = Vec::new();
    for check in ["tcp", "web", "odd", "verbatim"] {
        for a in db.history(check, 0, i64::MAX, 100).unwrap() {
            out.push(serde_json::to_string(&a).unwrap());
        }
    }
    out
}

fn attempts_round_trip_with_the_exact_api_json(fx: &dyn Fixture) {
    let db = fx.open();
    let samples = api_samples();
    for (i, a) in samples.iter().enumerate() {
        // Both ways in: as the engine submits (packed) and as a plain attempt.
        if i % 2 == 0 {
            db.submit(WriteOp::Packed(PackedAttempt::from(a.clone())));
        } else {
            db.submit(WriteOp::Attempt(a.clone()));
        }
    }
    let mut want: Vec<String> = Vec::new();
    for check in ["tcp", "web", "odd", "verbatim"] {
        let mut of: Vec<&Attempt> = samples.iter().filter(|a| a.check == check).collect();
        of.reverse(); // newest first
        want.extend(of.iter().map(|a| serde_json::to_string(a).unwrap()));
    }
    assert_eq!(api_json(db.as_ref()), want);
    drop(db);
    assert_eq!(api_json(fx.open().as_ref()), want, "after reopening");
}

/// Typed probe results as the engine packs them (`PackedAttempt::probe`), with the attempt
/// the API must give back for each.
pub(super) fn typed_samples() -> Vec<(PackedAttempt, Attempt)> {
    use linkpulse_probe::{
        ErrorKind, HttpDetail, HttpPhases, IcmpDetail, ProbeKind, ProbeResult, TlsDetail,
        UnreachableDetail,
    };
    let mut tcp = ProbeResult::empty("tcp://127.1.0.7:8080", ProbeKind::Tcp);
    tcp.up = true;
    tcp.latency_ms = Some(0.087);
    tcp.resolved = Some("127.1.0.7".parse().unwrap());
    let mut refused = ProbeResult::empty("tcp://127.1.0.7:8080", ProbeKind::Tcp)
        .fail(ErrorKind::Refused, "connection refused by 127.1.0.7:8080");
    refused.resolved = tcp.resolved;
    let mut https = ProbeResult::empty("https://127.3.0.1:8443/health?x=1", ProbeKind::Http);
    https.up = true;
    https.warning = Some("certificate expires in 3 days".to_owned());
    https.latency_ms = Some(4.503);
    https.resolved = Some("127.3.0.1".parse().unwrap());
    https.http = Some(Box::new(HttpDetail {
        status: Some(200),
        version: Some("HTTP/2".to_owned()),
        body_bytes: Some(1234),
        content_length: Some(1234),
        last_modified: Some("Wed, 21 Oct 2026 07:28:00 GMT".to_owned()),
        redirects: 1,
        final_url: "https://127.3.0.1:8443/health/".to_owned(),
        phases: HttpPhases {
            dns_ms: Some(0.0),
            connect_ms: Some(0.061),
            tls_ms: Some(1.5),
            first_byte_ms: Some(3.25),
            total_ms: Some(4.503),
        },
        redirect_phases: Some(HttpPhases::default()),
    }));
    https.tls = Some(Box::new(TlsDetail {
        version: Some("TLSv1.3".to_owned()),
        alpn: Some("h2".to_owned()),
        cert_days_left: Some(3),
        earliest_expiry: Some(1_800_000_000),
        subject: Some("CN=linkpulse.test".to_owned()),
        issuer: Some("CN=Test CA #1".to_owned()),
        leaf_sha256: Some("ab".repeat(32)),
        leaf_dns_names: vec!["linkpulse.test".to_owned(), "*.linkpulse.test".to_owned()],
    }));
    let mut status = ProbeResult::empty("http://127.3.0.2/", ProbeKind::Http)
        .fail(ErrorKind::HttpStatus, "HTTP 503 Service Unavailable");
    status.latency_ms = Some(12.0);
    status.http = Some(Box::new(HttpDetail {
        status: Some(503),
        redirects: 0,
        final_url: "http://127.3.0.2/".to_owned(),
        ..HttpDetail::default()
    }));
    let mut icmp = ProbeResult::empty("icmp://127.0.0.1", ProbeKind::Icmp);
    icmp.up = true;
    icmp.latency_ms = Some(0.042);
    icmp.icmp = Some(Box::new(IcmpDetail {
        sent: 3,
        received: 2,
        loss: 100.0 / 3.0,
        rtt_min_ms: Some(0.031),
        rtt_avg_ms: Some(0.042),
        rtt_max_ms: Some(0.053),
        rtt_mdev_ms: Some(0.008981462390204987),
        reply_hop_limit: Some(64),
        ..IcmpDetail::default()
    }));
    let mut unreachable = ProbeResult::empty("icmp://127.0.0.9", ProbeKind::Icmp)
        .fail(ErrorKind::Unreachable, "host unreachable");
    unreachable.latency_ms = Some(f64::NAN);
    unreachable.icmp = Some(Box::new(IcmpDetail {
        sent: 3,
        loss: 100.0,
        unreachable: vec![UnreachableDetail {
            from: "127.0.0.2".parse().unwrap(),
            code: 1,
            meaning: "host unreachable".to_owned(),
        }],
        ..IcmpDetail::default()
    }));
    let results = [
        ("tcp", 2_000, tcp.clone()),
        ("tcp", 2_001, refused),
        // Two results of one check in the same millisecond keep their order.
        ("tcp", 2_001, tcp),
        ("web", 2_002, https),
        ("web", 2_003, status),
        ("ping", 2_004, icmp),
        ("ping", 2_005, unreachable),
    ];
    results
        .into_iter()
        .map(|(check, at_ms, r)| {
            let error_kind = r.error.as_ref().map(|e| e.kind.as_str().to_owned());
            let packed = PackedAttempt::probe(check.to_owned(), at_ms, error_kind.clone(), &r);
            let want = Attempt {
                check: check.to_owned(),
                at_ms,
                up: r.up,
                latency_ms: r.latency_ms.filter(|l| l.is_finite()),
                error_kind,
                result: serde_json::to_value(&r).unwrap(),
            };
            (packed, want)
        })
        .collect()
}

/// Push and node results (JSON built by the engine), with latencies of any precision.
pub(super) fn json_samples() -> Vec<Attempt> {
    let base = |target: &str, kind: &str, up: bool, latency: Option<f64>| {
        json!({"target": target, "kind": kind, "up": up, "warning": null,
            "latency_ms": latency, "error": null, "resolved": null})
    };
    let failure = |target: &str, kind: &str, error: &str, message: &str| {
        json!({"target": target, "kind": kind, "up": false, "warning": null,
            "latency_ms": null, "error": {"kind": error, "message": message}, "resolved": null})
    };
    let mut alive = base("node://edge-1", "node", true, Some(0.123456789));
    alive["warning"] = json!("degraded: 2 of 3 probes lost");
    [
        (
            "push",
            3_000,
            true,
            None,
            None,
            base("push://t0k", "push", true, None),
        ),
        (
            "push",
            3_001,
            false,
            None,
            Some("timeout"),
            failure(
                "push://t0k",
                "push",
                "timeout",
                "no push for 90s (period 60s)",
            ),
        ),
        ("node:edge-1", 3_002, true, Some(0.123456789), None, alive),
        (
            "node:edge-1",
            3_003,
            false,
            None,
            Some("absent"),
            failure(
                "node://edge-1",
                "node",
                "absent",
                "not in the hub since 12:00:00",
            ),
        ),
        (
            "node:edge-1",
            3_004,
            true,
            Some(1e-7),
            None,
            base("node://edge-1", "node", true, Some(1e-7)),
        ),
    ]
    .into_iter()
    .map(
        |(check, at_ms, up, latency_ms, error_kind, result)| Attempt {
            check: check.to_owned(),
            at_ms,
            up,
            latency_ms,
            error_kind: error_kind.map(str::to_owned),
            result,
        },
    )
    .collect()
}

/// Every sample above (typed, JSON, API), packed as the engine packs it, with the attempt the
/// API must give back: what the migration tests write with the old schemas' statements.
pub(super) fn all_samples() -> Vec<(PackedAttempt, Attempt)> {
    let json = api_samples().into_iter().chain(json_samples());
    typed_samples()
        .into_iter()
        .chain(json.map(|a| (PackedAttempt::from(a.clone()), a)))
        .collect()
}

/// Asserts that `db`'s history of every check of `want` (in submission order) is exactly
/// `want` newest first, as the API serializes it; and that `resume` has each check's last.
pub(super) fn assert_history_is(db: &dyn Storage, want: &[Attempt]) {
    let mut checks: Vec<&str> = want.iter().map(|a| a.check.as_str()).collect();
    checks.dedup();
    checks.sort_unstable();
    checks.dedup();
    let resume = db.resume().unwrap();
    for check in checks {
        let mut of: Vec<&Attempt> = want.iter().filter(|a| a.check == check).collect();
        of.sort_by_key(|a| a.at_ms); // stable: one millisecond's results in submission order
        let expected: Vec<String> = of
            .iter()
            .rev()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        let got: Vec<String> = db
            .history(check, 0, i64::MAX, 1000)
            .unwrap()
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(got, expected, "history of {check}");
        let last = resume[check]
            .last
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap());
        assert_eq!(last.as_ref(), expected.first(), "resume of {check}");
    }
}

fn every_result_shape_reads_back_identically(fx: &dyn Fixture) {
    let db = fx.open();
    let mut want: Vec<Attempt> = Vec::new();
    for (packed, attempt) in typed_samples() {
        db.submit(WriteOp::Packed(packed));
        want.push(attempt);
    }
    for (i, a) in json_samples().into_iter().enumerate() {
        if i % 2 == 0 {
            db.submit(WriteOp::Packed(PackedAttempt::from(a.clone())));
        } else {
            db.submit(WriteOp::Attempt(a.clone()));
        }
        want.push(a);
    }
    let read = |db: &dyn Storage| -> Vec<String> {
        let mut out = Vec::new();
        for check in ["tcp", "web", "ping", "push", "node:edge-1"] {
            let mut h = db.history(check, 0, i64::MAX, 100).unwrap();
            h.reverse(); // oldest first, as submitted
            out.extend(h.iter().map(|a| serde_json::to_string(a).unwrap()));
        }
        out
    };
    let mut expected: Vec<String> = Vec::new();
    for check in ["tcp", "web", "ping", "push", "node:edge-1"] {
        let of = want.iter().filter(|a| a.check == check);
        expected.extend(of.map(|a| serde_json::to_string(a).unwrap()));
    }
    assert_eq!(read(db.as_ref()), expected);
    let resume = db.resume().unwrap();
    let last = |check: &str| {
        resume[check]
            .last
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap())
    };
    assert_eq!(
        last("tcp").as_ref(),
        expected.get(2),
        "the later of two in one ms"
    );
    assert_eq!(last("node:edge-1").as_ref(), expected.last());
    drop(db);
    assert_eq!(read(fx.open().as_ref()), expected, "after reopening");
}

fn transitions_window_includes_the_state_before_it(fx: &dyn Fixture) {
    let db = fx.open();
    db.submit(transition("a", 10, State::Unknown, State::Up));
    db.submit(transition("a", 20, State::Up, State::Down));
    db.submit(transition("a", 30, State::Down, State::Up));
    db.submit(transition("b", 5, State::Unknown, State::Down));
    db.submit(WriteOp::Transition(TransitionRecord {
        check: "c".into(),
        at_ms: 40,
        from: State::Up,
        to: State::Degraded,
        cause: Some("slow: 900 ms".into()),
    }));
    db.flush().unwrap();
    let t = db.transitions(None, 25).unwrap();
    let got: Vec<_> = t.iter().map(|t| (t.check.as_str(), t.at_ms)).collect();
    assert_eq!(got, [("b", 5), ("a", 20), ("a", 30), ("c", 40)]);
    assert_eq!(db.transitions(Some("b"), 0).unwrap().len(), 1);
    let c = &db.transitions(Some("c"), 0).unwrap()[0];
    assert_eq!(
        (c.from, c.to, c.cause.as_deref()),
        (State::Up, State::Degraded, Some("slow: 900 ms"))
    );
    let r = db.resume().unwrap();
    assert_eq!((r["a"].state, r["a"].since_ms), (State::Up, 30));
    assert_eq!(r["c"].state, State::Degraded);
    assert_eq!(r["a"].last, None, "no attempt stored");
}

/// A later alert of a check to a target is held while an earlier one is undelivered (even in
/// backoff); other checks and other targets are not held up.
fn an_alert_waits_behind_an_earlier_one_of_the_same_check_and_target(fx: &dyn Fixture) {
    let db = fx.open();
    let alert = |key: &str, check: &str, hook: i64, at_ms: Millis| WriteOp::EnqueueAlert {
        key: key.into(),
        target: json!({"webhook": {"url": format!("http://h/{hook}")}}),
        payload: json!({"check": check, "state": key}),
        at_ms,
    };
    db.submit(alert("down", "a", 1, 100));
    db.submit(alert("other-target", "a", 2, 150));
    db.submit(alert("other-check", "b", 1, 150));
    db.submit(alert("up", "a", 1, 200));
    db.flush().unwrap();
    let keys = |now: Millis| -> Vec<String> {
        db.due_alerts(now, 10)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    };
    assert_eq!(keys(1_000), ["down", "other-target", "other-check"]);
    let down = db.due_alerts(1_000, 10).unwrap().remove(0);
    // The down alert in backoff until 9 s: the up alert still waits behind it.
    db.submit(WriteOp::AlertFailed {
        id: down.id,
        attempts: 3,
        next_ms: 9_000,
        error: "refused".into(),
    });
    db.flush().unwrap();
    assert_eq!(keys(5_000), ["other-target", "other-check"]);
    assert_eq!(keys(9_000), ["other-target", "other-check", "down"]);
    db.submit(WriteOp::AlertDelivered {
        id: down.id,
        at_ms: 9_000,
    });
    db.flush().unwrap();
    assert_eq!(keys(9_000), ["other-target", "other-check", "up"]);
}

fn outbox_is_idempotent_by_key_and_tracks_delivery(fx: &dyn Fixture) {
    let db = fx.open();
    for _ in 0..2 {
        db.submit(WriteOp::EnqueueAlert {
            key: "k1".into(),
            target: json!({"t": 1}),
            payload: json!({"p": 1}),
            at_ms: 100,
        });
    }
    db.submit(WriteOp::EnqueueAlert {
        key: "k2".into(),
        target: json!({}),
        payload: json!({}),
        at_ms: 200,
    });
    db.flush().unwrap();
    let due = db.due_alerts(150, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key, "k1");
    assert_eq!(
        (&due[0].target, &due[0].payload, due[0].attempts),
        (&json!({"t": 1}), &json!({"p": 1}), 0)
    );
    db.submit(WriteOp::AlertFailed {
        id: due[0].id,
        attempts: 1,
        next_ms: 1_000,
        error: "refused".into(),
    });
    db.flush().unwrap();
    assert_eq!(
        db.due_alerts(500, 10)
            .unwrap()
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["k2"]
    );
    let due = db.due_alerts(1_000, 10).unwrap();
    let k1 = due.iter().find(|o| o.key == "k1").unwrap();
    assert_eq!((k1.attempts, k1.next_ms), (1, 1_000));
    db.submit(WriteOp::AlertDelivered {
        id: k1.id,
        at_ms: 1_000,
    });
    db.flush().unwrap();
    assert_eq!(db.due_alerts(i64::MAX, 10).unwrap().len(), 1);
    // Enqueued again after delivery (a restart replaying an event): still once.
    db.submit(WriteOp::EnqueueAlert {
        key: "k1".into(),
        target: json!({"t": 1}),
        payload: json!({"p": 1}),
        at_ms: 5_000,
    });
    let left: Vec<_> = db
        .due_alerts(i64::MAX, 10)
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, ["k2"]);
}

fn prune_folds_old_results_into_hourly_rows(fx: &dyn Fixture) {
    let db = fx.open();
    let hour = 3_600_000;
    for i in 0..4 {
        db.submit(attempt(
            "a",
            hour + i * 1_000,
            i != 3,
            10.0 * (i + 1) as f64,
        ));
    }
    db.submit(attempt("a", 5 * hour, true, 1.0));
    db.submit(transition("a", hour, State::Unknown, State::Up));
    db.submit(transition("a", hour + 1, State::Up, State::Down));
    db.submit(WriteOp::OpenIncident {
        check: "a".into(),
        at_ms: hour + 1,
        cause: None,
    });
    db.submit(WriteOp::CloseIncident {
        check: "a".into(),
        at_ms: hour + 2,
    });
    db.flush().unwrap();
    // Interned: the shapes of an up and a down result, and the error kind.
    assert_eq!(fx.committed_rows("texts"), 3);
    db.prune(3 * hour + 17, 0).unwrap();
    let recent = db.history("a", 0, i64::MAX, 100).unwrap();
    assert_eq!(recent.len(), 1, "only the recent raw row");
    assert_eq!(
        recent[0].result,
        json!({"target": "tcp://127.0.0.1:1", "up": true}),
        "its shape is kept"
    );
    assert_eq!(
        fx.committed_rows("texts"),
        1,
        "texts only pruned results used are deleted with them"
    );
    let h = db.hourly("a", 0, i64::MAX).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].hour_ms, h[0].attempts, h[0].ups), (hour, 4, 3));
    assert_eq!(h[0].latency_avg_ms, Some(25.0));
    assert_eq!(h[0].latency_max_ms, Some(40.0));
    // A second pass over a later hour adds to the aggregates; the rest is deleted by age.
    db.submit(attempt("a", hour + 5_000, true, 100.0));
    db.flush().unwrap();
    db.prune(3 * hour, 0).unwrap();
    let h = db.hourly("a", 0, i64::MAX).unwrap();
    assert_eq!((h[0].attempts, h[0].ups), (5, 4));
    assert_eq!(h[0].latency_max_ms, Some(100.0));
    assert_eq!(h[0].latency_avg_ms, Some(40.0));
    db.prune(3 * hour, 2 * hour).unwrap();
    assert!(
        db.hourly("a", 0, i64::MAX).unwrap().is_empty(),
        "old hours deleted"
    );
    assert!(
        db.incidents(None, 0, 10).unwrap().is_empty(),
        "old closed incidents"
    );
    let t = db.transitions(Some("a"), 0).unwrap();
    assert_eq!(
        t.iter().map(|t| t.at_ms).collect::<Vec<_>>(),
        [hour + 1],
        "the last transition stays: the state a window starts in"
    );
}

fn many_writes_are_batched_quickly(fx: &dyn Fixture) {
    let db = fx.open();
    for i in 0..20_000 {
        db.submit(attempt(&format!("c{}", i % 1000), i, true, 1.0));
    }
    db.flush().unwrap();
    assert_eq!(db.history("c7", 0, i64::MAX, 1000).unwrap().len(), 20);
    assert_eq!(fx.committed_results(), 20_000);
}

fn reads_see_every_write_submitted_before_them(fx: &dyn Fixture) {
    let db = fx.open();
    for round in 0..20 {
        db.submit(attempt("a", 1_000 + round, true, 1.0));
        db.submit(transition("a", 1_000 + round, State::Unknown, State::Up));
        db.submit(WriteOp::EnqueueAlert {
            key: format!("k{round}"),
            target: json!({}),
            payload: json!({}),
            at_ms: round,
        });
        // No flush: the read itself makes the queued writes visible.
        assert_eq!(
            db.history("a", 0, i64::MAX, 100).unwrap().len() as i64,
            round + 1
        );
        assert_eq!(
            db.transitions(Some("a"), 0).unwrap().len() as i64,
            round + 1
        );
        assert_eq!(
            db.due_alerts(i64::MAX, 100).unwrap().len() as i64,
            round + 1
        );
    }
}

fn queued_writes_are_committed_soon_without_any_read(fx: &dyn Fixture) {
    let db = fx.open();
    db.submit(attempt("a", 1_000, true, 1.0));
    // Another connection sees only committed rows; the writer commits on its own within
    // COMMIT_EVERY (polled with a generous deadline).
    assert!(
        linkpulse_testsupport::eventually(Duration::from_secs(20), || fx.committed_results() == 1),
        "never committed"
    );
}

fn a_new_target_of_a_check_is_a_new_series_and_old_rows_keep_theirs(fx: &dyn Fixture) {
    let db = fx.open();
    for (at, port) in [(1_000, 80), (1_001, 81), (1_002, 80)] {
        db.submit(WriteOp::Attempt(Attempt {
            check: "a".into(),
            at_ms: at,
            up: true,
            latency_ms: Some(1.0),
            error_kind: None,
            result: tcp_result(port, true, Some(1.0)),
        }));
    }
    drop(db);
    // Reopened: the writer's series cache starts empty and finds the stored series.
    let db = fx.open();
    db.submit(attempt("a", 1_003, true, 1.0));
    db.submit(WriteOp::Attempt(Attempt {
        check: "a".into(),
        at_ms: 1_004,
        up: true,
        latency_ms: Some(1.0),
        error_kind: None,
        result: tcp_result(81, true, Some(1.0)),
    }));
    let h = db.history("a", 0, i64::MAX, 10).unwrap();
    let targets: Vec<_> = h.iter().map(|r| r.result["target"].clone()).collect();
    assert_eq!(
        targets,
        [
            json!("tcp://127.0.0.1:81"),
            json!("tcp://127.0.0.1:1"),
            json!("tcp://127.0.0.1:80"),
            json!("tcp://127.0.0.1:81"),
            json!("tcp://127.0.0.1:80"),
        ]
    );
    assert_eq!(
        db.resume().unwrap()["a"].last.as_ref().map(|a| a.at_ms),
        Some(1_004)
    );
}

fn dropping_the_storage_commits_what_is_queued(fx: &dyn Fixture) {
    let open = fx.open();
    open.submit(attempt("a", 1, true, 1.0));
    // What the daemon does on SIGTERM: close the backend (no flush before).
    drop(open);
    assert_eq!(
        fx.committed_results(),
        1,
        "close committed the queued write"
    );
    let db = fx.open();
    assert_eq!(db.history("a", 0, i64::MAX, 10).unwrap().len(), 1);
}

#[test]
fn both_backends_give_identical_api_json() {
    let (s, p) = (Sqlite::new(), Postgres::new());
    let (s, p) = (s.open(), p.open());
    for a in api_samples() {
        s.submit(WriteOp::Attempt(a.clone()));
        p.submit(WriteOp::Attempt(a));
    }
    let from_sqlite = api_json(s.as_ref());
    assert_eq!(from_sqlite.len(), api_samples().len());
    assert_eq!(api_json(p.as_ref()), from_sqlite);
}
