use super::*;
use crate::storage::conformance::{Fixture, Postgres};

#[test]
fn schema_version_is_recorded_and_a_newer_schema_is_refused() {
    let fx = Postgres::new();
    drop(fx.open());
    let version = fx.0.psql("SELECT version FROM schema_version").unwrap();
    assert_eq!(version.trim(), schema::supported().to_string());
    // Opening again is a no-op migration that keeps what is stored.
    let db = fx.open();
    db.submit(WriteOp::OpenIncident {
        check: "a".into(),
        at_ms: 1,
        cause: None,
    });
    db.flush().unwrap();
    drop(db);
    assert_eq!(fx.open().incidents(None, 0, 10).unwrap().len(), 1);
    fx.0.psql("UPDATE schema_version SET version = 999")
        .unwrap();
    let err = PostgresStorage::open(&fx.target()).unwrap_err();
    assert!(
        matches!(err, StorageError::TooNew { found: 999, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("schema version 999"), "{text}");
    assert!(text.contains(fx.0.name()), "names the database: {text}");
    assert!(!text.contains(fx.0.password()), "{text}");
}

#[test]
fn an_unreachable_server_or_a_wrong_password_is_a_clear_error() {
    let fx = Postgres::new();
    let mut wrong = fx.target();
    wrong.password = Some("not-the-password".into());
    let err = PostgresStorage::open(&wrong).unwrap_err().to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains(fx.0.name()) && err.contains("postgres@127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    // A port nobody listens on (bound and released just now).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut gone = fx.target();
    gone.port = port;
    let err = PostgresStorage::open(&gone).unwrap_err();
    assert!(matches!(err, StorageError::Postgres { .. }), "{err:?}");
    let err = err.to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("error connecting to server"), "{err}");
    assert!(!err.contains(fx.0.password()), "{err}");
}

#[test]
fn writes_continue_after_the_server_closed_the_connections() {
    let fx = Postgres::new();
    let db = fx.open();
    db.submit(WriteOp::OpenIncident {
        check: "a".into(),
        at_ms: 1,
        cause: None,
    });
    db.flush().unwrap();
    // An administrator (or a failover) ends every session of linkpulse.
    fx.0.psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND application_name = 'linkpulse'",
        fx.0.name()
    ))
    .unwrap();
    db.submit(WriteOp::CloseIncident {
        check: "a".into(),
        at_ms: 2,
    });
    // The writer retries the batch on a new connection, the reader its read.
    db.flush().unwrap();
    assert_eq!(db.incidents(None, 0, 10).unwrap()[0].ended_ms, Some(2));
}

#[test]
fn writes_made_while_the_server_is_unreachable_are_committed_once_it_is_back() {
    let fx = Postgres::new();
    let db = fx.open();
    let attempt = |at_ms| {
        WriteOp::Attempt(Attempt {
            check: "a".into(),
            at_ms,
            up: true,
            latency_ms: Some(1.0),
            error_kind: None,
            result: serde_json::json!({"target": "tcp://127.0.0.1:1", "up": true}),
        })
    };
    db.submit(attempt(1));
    db.flush().unwrap();
    // The database refuses every connection, and linkpulse's sessions are ended.
    let cluster = fx.0.cluster();
    let name = fx.0.name();
    cluster
        .psql(
            "postgres",
            &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        )
        .unwrap();
    cluster
        .psql(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ),
        )
        .unwrap();
    db.submit(attempt(2));
    db.submit(WriteOp::EnqueueAlert {
        key: "k".into(),
        target: serde_json::json!({}),
        payload: serde_json::json!({}),
        at_ms: 2,
    });
    let err = db.flush().unwrap_err();
    assert!(matches!(err, StorageError::Postgres { .. }), "{err:?}");
    assert!(err.to_string().contains(name), "{err}");
    cluster
        .psql(
            "postgres",
            &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
        )
        .unwrap();
    // Back: the held ops go first, then the new ones, in order.
    db.submit(attempt(3));
    db.flush().unwrap();
    let h = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(h.iter().map(|a| a.at_ms).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(
        db.due_alerts(i64::MAX, 10).unwrap().len(),
        1,
        "the alert was kept"
    );
}

#[test]
fn a_nul_in_free_text_does_not_fail_the_batch() {
    let fx = Postgres::new();
    let db = fx.open();
    db.submit(WriteOp::Attempt(Attempt {
        check: "a".into(),
        at_ms: 1,
        up: false,
        latency_ms: None,
        error_kind: Some("bad\0kind".into()),
        result: serde_json::json!({"target": "tcp://x\u{0}y:1", "kind": "tcp", "up": false,
            "warning": null, "latency_ms": null, "error": {"message": "nul \u{0} here"},
            "resolved": null}),
    }));
    db.submit(WriteOp::AlertFailed {
        id: 1,
        attempts: 1,
        next_ms: 1,
        error: "the server said \0".into(),
    });
    db.submit(WriteOp::OpenIncident {
        check: "a".into(),
        at_ms: 1,
        cause: Some("refused\0".into()),
    });
    db.flush().unwrap();
    let h = db.history("a", 0, i64::MAX, 10).unwrap();
    assert_eq!(h[0].error_kind.as_deref(), Some("bad\u{FFFD}kind"));
    assert_eq!(
        h[0].result["error"]["message"], "nul \u{0} here",
        "JSON escapes it"
    );
    assert_eq!(h[0].result["target"], "tcp://x\u{FFFD}y:1");
    let inc = db.incidents(None, 0, 10).unwrap();
    assert_eq!(inc[0].cause.as_deref(), Some("refused\u{FFFD}"));
}

/// A database as the previous release (schema 1) leaves it, written with that schema's own
/// statements: after the migration to typed rows every result reads back as the identical
/// API JSON, in the same order (two results of a check in one millisecond included).
#[test]
fn a_version_1_database_keeps_its_history_after_the_migration_to_typed_rows() {
    use crate::storage::conformance::{all_samples, assert_history_is};
    use crate::storage::rows;
    let fx = Postgres::new();
    let samples = all_samples();
    {
        let mut c = fx.target().connect().unwrap();
        c.batch_execute(schema::MIGRATIONS[0]).unwrap();
        c.batch_execute(
            "CREATE TABLE schema_version (version BIGINT NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO transitions (check_name, at_ms, from_state, to_state)
             VALUES ('tcp', 2001, 'up', 'down');",
        )
        .unwrap();
        for (packed, _) in &samples {
            let (kind, target, detail) = rows::packed_columns(packed);
            let found = c
                .query_opt(
                    "SELECT id FROM series WHERE check_name = $1
                     AND kind IS NOT DISTINCT FROM $2 AND target IS NOT DISTINCT FROM $3",
                    &[&packed.check, &kind, &target],
                )
                .unwrap();
            let series: i64 = match found {
                Some(r) => r.get(0),
                None => c
                    .query_one(
                        "INSERT INTO series (check_name, kind, target) VALUES ($1, $2, $3)
                         RETURNING id",
                        &[&packed.check, &kind, &target],
                    )
                    .unwrap()
                    .get(0),
            };
            c.execute(
                "INSERT INTO results (series, at_ms, up, latency_ms, error_kind, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &series,
                    &packed.at_ms,
                    &packed.up,
                    &packed.latency_ms,
                    &packed.error_kind,
                    &detail,
                ],
            )
            .unwrap();
        }
    }
    let db = fx.open();
    let want: Vec<Attempt> = samples.into_iter().map(|(_, a)| a).collect();
    assert_history_is(db.as_ref(), &want);
    assert_eq!(db.resume().unwrap()["tcp"].state, crate::state::State::Down);
    let version = fx.0.psql("SELECT version FROM schema_version").unwrap();
    assert_eq!(version.trim(), schema::supported().to_string());
    let old =
        fx.0.psql("SELECT COUNT(*) FROM pg_class WHERE relname LIKE 'results_v1%'")
            .unwrap();
    assert_eq!(old.trim(), "0", "the old table and its indexes dropped");
    drop(db);
    assert_history_is(fx.open().as_ref(), &want);
}

#[test]
fn tls_connections_verify_the_server_and_a_foreign_ca_is_refused() {
    use linkpulse_testsupport::postgres::PgCluster;
    use linkpulse_testsupport::servers::{TestCa, Validity};
    let ca = TestCa::new().unwrap();
    let identity = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let cluster = Arc::new(PgCluster::start_tls(&identity).unwrap());
    let db = cluster.database().unwrap();
    let target = |query: &str| {
        let mut t = PgTarget::parse_url(&format!("{}?{query}", db.url())).unwrap();
        t.password = Some(db.password().to_owned());
        t
    };

    // verify-full with the CA: the history is written over TLS.
    let verified = target(&format!(
        "sslmode=verify-full&sslrootcert={}",
        ca.pem_path().display()
    ));
    let s = PostgresStorage::open(&verified).unwrap();
    s.submit(WriteOp::Attempt(Attempt {
        check: "db".to_owned(),
        at_ms: 1_000,
        up: true,
        latency_ms: Some(1.0),
        error_kind: None,
        result: crate::storage::conformance::tcp_result(5432, true, Some(1.0)),
    }));
    s.flush().unwrap();
    let tls_sessions = db
        .psql(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'linkpulse'",
        )
        .unwrap();
    assert!(
        tls_sessions.trim().parse::<i64>().unwrap() >= 2,
        "writer and reader over TLS: {tls_sessions}"
    );
    assert_eq!(s.history("db", 0, i64::MAX, 10).unwrap().len(), 1);
    s.close();

    // require: encrypted without a CA.
    PostgresStorage::open(&target("sslmode=require"))
        .unwrap()
        .close();

    // verify-full against another CA: refused, with words saying why.
    let other = TestCa::new().unwrap();
    let err = PostgresStorage::open(&target(&format!(
        "sslmode=verify-full&sslrootcert={}",
        other.pem_path().display()
    )))
    .unwrap_err();
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls") || text.contains("issuer"),
        "{err}"
    );
}

/// Results of a multi-vantage check keep their vantage and member (in their series): the
/// latest of each vantage is read back, the history of the check stays one, and results
/// without a vantage are not vantages' results.
#[test]
fn results_keep_their_vantage_and_the_latest_per_vantage_is_read_back() {
    use crate::storage::{PackedAttempt, ResultVantage};
    use std::sync::Arc;
    let fx = Postgres::new();
    let db = fx.open();
    let tag = |vantage: &str, member: &str| {
        Arc::new(ResultVantage {
            vantage: vantage.into(),
            member: member.into(),
        })
    };
    let attempt = |check: &str, at_ms: i64, up: bool| {
        let result = serde_json::json!({ "kind": "tcp", "target": "tcp://h:1", "up": up });
        PackedAttempt::new(
            check.into(),
            at_ms,
            up,
            up.then_some(2.5),
            (!up).then(|| "refused".to_owned()),
            &result,
        )
    };
    let (eu1, eu2, us) = (tag("eu", "m1"), tag("eu", "m4"), tag("us", "m2"));
    for (a, v) in [
        (attempt("web", 1_000, true), Some(&eu1)),
        (attempt("web", 2_000, false), Some(&eu2)),
        (attempt("web", 1_500, true), Some(&us)),
        (attempt("web", 3_000, true), None),
        (attempt("old", 100, true), Some(&us)),
    ] {
        let a = match v {
            Some(v) => a.with_vantage(v.clone()),
            None => a,
        };
        db.submit(WriteOp::Packed(a));
    }
    db.flush().unwrap();
    let mut latest = db.vantage_latest(500).unwrap();
    latest.sort_by(|a, b| a.vantage.cmp(&b.vantage));
    let got: Vec<_> = latest
        .iter()
        .map(|r| {
            (
                r.check.as_str(),
                r.vantage.as_str(),
                r.member.as_str(),
                r.at_ms,
                r.up,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("web", "eu", "m4", 2_000, false),
            ("web", "us", "m2", 1_500, true)
        ]
    );
    assert_eq!(latest[0].error_kind.as_deref(), Some("refused"));
    assert_eq!(latest[1].latency_ms, Some(2.5));
    assert_eq!(db.history("web", 0, i64::MAX, 10).unwrap().len(), 4);
}
