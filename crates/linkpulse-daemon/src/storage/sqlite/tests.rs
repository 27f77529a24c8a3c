use super::*;
use serde_json::json;

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

#[test]
fn writes_survive_reopen_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    {
        let db = SqliteStorage::open(&path).unwrap();
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
    let db = SqliteStorage::open(&path).unwrap();
    let h = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(h.len(), 10);
    assert_eq!(h[0].at_ms, 1_099, "newest first");
    assert_eq!(h[0].result["target"], "tcp://127.0.0.1:1");
    assert_eq!(db.history("a", 1_090, 1_095, 100).unwrap().len(), 5);
    let inc = db.incidents(None, 0, 10).unwrap();
    assert_eq!(inc.len(), 1, "a second open while one is open is ignored");
    assert_eq!(inc[0].diagnosis.as_deref(), Some("process_down"));
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
}

#[test]
fn schema_version_is_recorded_and_newer_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let v: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, MIGRATIONS.len() as i64);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute("UPDATE schema_version SET version = 999", [])
        .unwrap();
    drop(conn);
    let err = SqliteStorage::open(&path).unwrap_err();
    assert!(err.to_string().contains("schema version 999"), "{err}");
}

#[test]
fn transitions_window_includes_the_state_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("h.db")).unwrap();
    db.submit(transition("a", 10, State::Unknown, State::Up));
    db.submit(transition("a", 20, State::Up, State::Down));
    db.submit(transition("a", 30, State::Down, State::Up));
    db.submit(transition("b", 5, State::Unknown, State::Down));
    db.flush().unwrap();
    let t = db.transitions(None, 25).unwrap();
    let got: Vec<_> = t.iter().map(|t| (t.check.as_str(), t.at_ms)).collect();
    assert_eq!(got, [("b", 5), ("a", 20), ("a", 30)]);
    assert_eq!(db.transitions(Some("b"), 0).unwrap().len(), 1);
}

#[test]
fn outbox_is_idempotent_by_key_and_tracks_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("h.db")).unwrap();
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
    assert_eq!(k1.attempts, 1);
    db.submit(WriteOp::AlertDelivered {
        id: k1.id,
        at_ms: 1_000,
    });
    db.flush().unwrap();
    assert_eq!(db.due_alerts(i64::MAX, 10).unwrap().len(), 1);
}

#[test]
fn prune_folds_old_results_into_hourly_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("h.db")).unwrap();
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
    db.flush().unwrap();
    db.prune(3 * hour + 17, 0).unwrap();
    assert_eq!(
        db.history("a", 0, i64::MAX, 100).unwrap().len(),
        1,
        "only the recent raw row"
    );
    let h = db.hourly("a", 0, i64::MAX).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].hour_ms, h[0].attempts, h[0].ups), (hour, 4, 3));
    assert_eq!(h[0].latency_avg_ms, Some(25.0));
    assert_eq!(h[0].latency_max_ms, Some(40.0));
}

#[test]
fn many_writes_are_batched_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("h.db")).unwrap();
    for i in 0..20_000 {
        db.submit(attempt(&format!("c{}", i % 1000), i, true, 1.0));
    }
    db.flush().unwrap();
    assert_eq!(db.history("c7", 0, i64::MAX, 1000).unwrap().len(), 20);
}

#[test]
fn reads_see_every_write_submitted_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("h.db")).unwrap();
    for round in 0..20 {
        db.submit(attempt("a", 1_000 + round, true, 1.0));
        db.submit(transition("a", 1_000 + round, State::Unknown, State::Up));
        // No flush: the read itself makes the queued writes visible.
        assert_eq!(
            db.history("a", 0, i64::MAX, 100).unwrap().len() as i64,
            round + 1
        );
        assert_eq!(
            db.transitions(Some("a"), 0).unwrap().len() as i64,
            round + 1
        );
    }
}

#[test]
fn queued_writes_are_committed_soon_without_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let db = SqliteStorage::open(&path).unwrap();
    db.submit(attempt("a", 1_000, true, 1.0));
    // Another connection sees only committed rows; the writer commits on its own within
    // COMMIT_EVERY (polled with a generous deadline).
    let other = Connection::open(&path).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = other
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get(0))
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never committed");
        std::thread::sleep(Duration::from_millis(20)); // polling another connection
    }
}

/// A probe-shape result as the engine stores it.
fn tcp_result(port: u16, up: bool, latency: Option<f64>) -> serde_json::Value {
    json!({"target": format!("tcp://127.0.0.1:{port}"), "kind": "tcp", "up": up,
        "warning": null, "latency_ms": latency, "resolved": "127.0.0.1",
        "error": if up { json!(null) } else { json!({"kind": "refused", "message": "connection refused"}) }})
}

#[test]
fn a_version_1_database_keeps_its_history_and_state_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // A database written by the first schema, as a linkpulse of that version left it.
    let old = [
        ("a", 1_000, true, Some(0.5), tcp_result(80, true, Some(0.5))),
        ("b", 1_001, false, None, tcp_result(1, false, None)),
        ("a", 1_002, false, None, tcp_result(80, false, None)),
        (
            "c",
            1_003,
            true,
            None,
            json!({"target": "push://x", "up": true}),
        ),
    ];
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO transitions (check_name, at_ms, from_state, to_state)
             VALUES ('a', 1_002, 'up', 'down');",
        )
        .unwrap();
        for (check, at, up, latency, result) in &old {
            conn.execute(
                "INSERT INTO results (check_name, at_ms, up, latency_ms, error_kind, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    check,
                    at,
                    up,
                    latency,
                    (!up).then_some("refused"),
                    result.to_string()
                ],
            )
            .unwrap();
        }
    }
    let db = SqliteStorage::open(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let a = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].at_ms, a[0].up), (1_002, false), "newest first");
    assert_eq!(
        a[0].result, old[2].4,
        "the stored JSON comes back unchanged"
    );
    assert_eq!(a[0].error_kind.as_deref(), Some("refused"));
    assert_eq!(
        (a[1].result.clone(), a[1].latency_ms),
        (old[0].4.clone(), Some(0.5))
    );
    assert_eq!(
        db.history("c", 0, i64::MAX, 10).unwrap()[0].result,
        old[3].4
    );
    let resume = db.resume().unwrap();
    assert_eq!(resume["a"].state, State::Down);
    assert_eq!(resume["a"].last.as_ref().map(|l| l.at_ms), Some(1_002));
    assert_eq!(
        resume["b"].last.as_ref().map(|l| &l.result),
        Some(&old[1].4)
    );

    // New rows are written compactly beside the migrated ones and read back identically.
    let new = tcp_result(80, true, Some(0.25));
    db.submit(WriteOp::Attempt(Attempt {
        check: "a".into(),
        at_ms: 2_000,
        up: true,
        latency_ms: Some(0.25),
        error_kind: None,
        result: new.clone(),
    }));
    let a = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(
        a.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        [2_000, 1_002, 1_000]
    );
    assert_eq!(a[0].result, new);
    assert_eq!(
        db.resume().unwrap()["a"].last.as_ref().map(|l| l.at_ms),
        Some(2_000)
    );
    db.flush().unwrap();
    let detail: Option<String> = Connection::open(&path)
        .unwrap()
        .query_row("SELECT detail FROM results WHERE at_ms = 2000", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(detail.as_deref(), Some(r#"{"resolved":"127.0.0.1"}"#));
}

#[test]
fn a_new_target_of_a_check_is_a_new_series_and_old_rows_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let db = SqliteStorage::open(&path).unwrap();
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
    let db = SqliteStorage::open(&path).unwrap();
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
    let series: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM series", [], |r| r.get(0))
        .unwrap();
    assert_eq!(series, 3, "port 80, port 81, and the verbatim rows");
}

#[test]
fn retention_reads_old_rows_through_the_series_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(SqliteStorage::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("; ")
    };
    let select = plan(
        "SELECT s.check_name, COUNT(*) FROM series s CROSS JOIN results r ON r.series = s.id
         WHERE r.at_ms < 5 GROUP BY 1",
    );
    assert!(select.contains("results_series_at"), "{select}");
    let delete = plan("DELETE FROM results WHERE series IN (SELECT id FROM series) AND at_ms < 5");
    assert!(delete.contains("results_series_at"), "{delete}");
}
