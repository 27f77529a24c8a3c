//! Data checks against real servers started by the tests: Debian's `redis-server` (with and
//! without `requirepass`, and with TLS), PostgreSQL clusters (a primary, a hot standby, a
//! standby refusing connections with 57P03) and Debian's `mariadbd` (MySQL protocol).

use std::time::Duration;

use linkpulse_probe::{DataOptions, ErrorKind, ProbeOptions, ProbeResult, Prober, TlsOptions};
use linkpulse_testsupport::mariadb::MariaDb;
use linkpulse_testsupport::postgres::PgCluster;
use linkpulse_testsupport::redis::RedisServer;
use linkpulse_testsupport::servers::{TestCa, Validity};

async fn probe(url: &str, data: DataOptions) -> ProbeResult {
    let target = url.parse().expect("a data target");
    let opts = ProbeOptions {
        data,
        timeout: Duration::from_secs(10),
        ..ProbeOptions::default()
    };
    Prober::new().probe(&target, &opts).await
}

fn password(p: &str) -> DataOptions {
    DataOptions {
        password: Some(p.to_owned()),
        ..DataOptions::default()
    }
}

fn error_of(r: &ProbeResult) -> (ErrorKind, String) {
    assert!(!r.up, "{r:?}");
    let e = r.error.as_ref().expect("an error");
    (e.kind, e.message.clone())
}

#[tokio::test]
async fn redis_without_a_password_answers_pong() {
    let redis = RedisServer::start(None).unwrap();
    let r = probe(&redis.url(), DataOptions::default()).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.kind.as_str(), "redis");
    // A database number in the path is selected.
    let r = probe(&format!("{}/3", redis.url()), DataOptions::default()).await;
    assert!(r.up, "{r:?}");
    let (kind, message) =
        error_of(&probe(&format!("{}/99", redis.url()), DataOptions::default()).await);
    assert_eq!(kind, ErrorKind::Query, "{message}");
}

#[tokio::test]
async fn redis_with_requirepass_tells_auth_failures_apart() {
    let redis = RedisServer::start(Some("s3cret pass")).unwrap();
    let r = probe(&redis.url(), password("s3cret pass")).await;
    assert!(r.up, "{r:?}");

    let (kind, message) = error_of(&probe(&redis.url(), DataOptions::default()).await);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(message.contains("NOAUTH"), "{message}");

    let (kind, message) = error_of(&probe(&redis.url(), password("wrong")).await);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(message.contains("WRONGPASS"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the password must not be shown: {message}"
    );

    // The password in the URL works too, and is masked in the result.
    let port = redis.port();
    let r = probe(
        &format!("redis://:s3cret%20pass@127.0.0.1:{port}"),
        DataOptions::default(),
    )
    .await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.target, format!("redis://:***@127.0.0.1:{port}"));
}

#[tokio::test]
async fn redis_refused_port() {
    let port = {
        let redis = RedisServer::start(None).unwrap();
        redis.port()
    };
    let (kind, _) =
        error_of(&probe(&format!("redis://127.0.0.1:{port}"), DataOptions::default()).await);
    assert_eq!(kind, ErrorKind::Refused);
}

#[tokio::test]
async fn rediss_speaks_tls_and_reports_the_certificate() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(40))
        .unwrap();
    let redis = RedisServer::start_tls(&id).unwrap();
    let tls = TlsOptions {
        ca_file: Some(ca.pem_path().to_path_buf()),
        ..TlsOptions::default()
    };
    let r = probe(
        &redis.url(),
        DataOptions {
            tls: tls.clone(),
            ..DataOptions::default()
        },
    )
    .await;
    assert!(r.up, "{r:?}");
    assert!(matches!(r.tls.unwrap().cert_days_left, Some(39 | 40)));
    // Without the CA the certificate is not trusted.
    let (kind, message) = error_of(&probe(&redis.url(), DataOptions::default()).await);
    assert_eq!(kind, ErrorKind::Tls, "{message}");
}

#[tokio::test]
async fn postgres_outcomes_on_a_primary() {
    let cluster = PgCluster::start().unwrap();
    let port = cluster.port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");

    let r = probe(&url, password(cluster.password())).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.kind.as_str(), "postgres");

    let (kind, message) = error_of(&probe(&url, password("not-the-password")).await);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(message.contains("28P01"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");

    let (kind, message) = error_of(&probe(&url, DataOptions::default()).await);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(message.contains("password_file"), "{message}");

    let query = DataOptions {
        query: Some("SELECT * FROM no_such_table".to_owned()),
        ..password(cluster.password())
    };
    let (kind, message) = error_of(&probe(&url, query).await);
    assert_eq!(kind, ErrorKind::Query);
    assert!(message.contains("no_such_table"), "{message}");

    let missing = format!("postgres://postgres@127.0.0.1:{port}/no_such_db");
    let (kind, message) = error_of(&probe(&missing, password(cluster.password())).await);
    assert_eq!(kind, ErrorKind::Query);
    assert!(message.contains("3D000"), "{message}");

    // A database whose transactions are read-only: up, unless a primary is required.
    cluster.psql("postgres", "CREATE DATABASE ro").unwrap();
    cluster
        .psql(
            "postgres",
            "ALTER DATABASE ro SET default_transaction_read_only = on",
        )
        .unwrap();
    let ro = format!("postgres://postgres@127.0.0.1:{port}/ro");
    assert!(probe(&ro, password(cluster.password())).await.up);
    let primary = DataOptions {
        require_primary: true,
        ..password(cluster.password())
    };
    let (kind, message) = error_of(&probe(&ro, primary.clone()).await);
    assert_eq!(kind, ErrorKind::ReadOnly);
    assert!(message.contains("read-only"), "{message}");
    assert!(probe(&url, primary).await.up);
}

#[tokio::test]
async fn postgres_hot_standby_is_read_only_when_a_primary_is_required() {
    let cluster = PgCluster::start_standby(true).unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    assert!(probe(&url, password(cluster.password())).await.up);
    let primary = DataOptions {
        require_primary: true,
        ..password(cluster.password())
    };
    let (kind, message) = error_of(&probe(&url, primary).await);
    assert_eq!(kind, ErrorKind::ReadOnly);
    assert!(message.contains("standby in recovery"), "{message}");
}

#[tokio::test]
async fn postgres_not_accepting_connections_is_starting_57p03() {
    let cluster = PgCluster::start_standby(false).unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    let (kind, message) = error_of(&probe(&url, password(cluster.password())).await);
    assert_eq!(kind, ErrorKind::Starting, "{message}");
    assert!(message.contains("57P03"), "{message}");
}

#[tokio::test]
async fn postgres_refused_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (kind, _) = error_of(
        &probe(
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            DataOptions::default(),
        )
        .await,
    );
    assert_eq!(kind, ErrorKind::Refused);
}

#[tokio::test]
async fn mysql_outcomes_on_mariadb() {
    let db = MariaDb::start("maria-pw").unwrap();
    let r = probe(&db.url(), password("maria-pw")).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.kind.as_str(), "mysql");

    let (kind, message) = error_of(&probe(&db.url(), password("wrong-maria")).await);
    assert_eq!(kind, ErrorKind::Auth);
    assert!(message.contains("1045"), "{message}");
    assert!(!message.contains("wrong-maria"), "{message}");

    let query = DataOptions {
        query: Some("SELECT no_such_column".to_owned()),
        ..password("maria-pw")
    };
    let (kind, message) = error_of(&probe(&db.url(), query).await);
    assert_eq!(kind, ErrorKind::Query);
    assert!(message.contains("no_such_column"), "{message}");

    // A read-only server (a replica's setting) is down only when a primary is required.
    db.sql("SET GLOBAL read_only = 1").unwrap();
    assert!(probe(&db.url(), password("maria-pw")).await.up);
    let primary = DataOptions {
        require_primary: true,
        ..password("maria-pw")
    };
    let (kind, _) = error_of(&probe(&db.url(), primary).await);
    assert_eq!(kind, ErrorKind::ReadOnly);

    let port = db.port();
    drop(db);
    let (kind, _) = error_of(
        &probe(
            &format!("mysql://monitor@127.0.0.1:{port}/probe"),
            DataOptions::default(),
        )
        .await,
    );
    assert_eq!(kind, ErrorKind::Refused);
}

/// The layered diagnosis places data-check failures: a refused port is the process, a wrong
/// password the application; a TCP dialogue that fails its `expect` is the application too.
#[tokio::test]
async fn diagnosis_places_data_and_dialogue_failures_in_their_layer() {
    use linkpulse_probe::diagnose::{Verdict, diagnose};
    use linkpulse_probe::dialogue::{Script, Step};

    let redis = RedisServer::start(Some("diag-pw")).unwrap();
    let prober = Prober::new();
    let opts = |data: DataOptions| ProbeOptions {
        data,
        timeout: Duration::from_secs(5),
        ..ProbeOptions::default()
    };
    let target = redis.url().parse().unwrap();
    let d = diagnose(&prober, &target, &opts(password("wrong"))).await;
    assert_eq!(d.verdict, Verdict::AppError, "{}", d.summary);
    let d = diagnose(&prober, &target, &opts(password("diag-pw"))).await;
    assert_eq!(d.verdict, Verdict::Ok, "{}", d.summary);

    let tcp = format!("tcp://127.0.0.1:{}", redis.port()).parse().unwrap();
    let mut dialogue = opts(DataOptions::default());
    dialogue.timeout = Duration::from_secs(1);
    dialogue.tcp.script = Script::new(vec![Step::send("QUIT"), Step::expect("^\\+PONG").unwrap()]);
    let d = diagnose(&prober, &tcp, &dialogue).await;
    assert_eq!(d.verdict, Verdict::AppError, "{}", d.summary);

    let port = redis.port();
    drop(redis);
    let target = format!("redis://127.0.0.1:{port}").parse().unwrap();
    let d = diagnose(&prober, &target, &opts(DataOptions::default())).await;
    assert_eq!(d.verdict, Verdict::ProcessDown, "{}", d.summary);
}

#[tokio::test]
async fn postgres_sslmode_require_verifies_the_certificate() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let cluster = PgCluster::start_tls(&id).unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        cluster.port()
    );
    let trusted = DataOptions {
        tls: TlsOptions {
            ca_file: Some(ca.pem_path().to_path_buf()),
            ..TlsOptions::default()
        },
        ..password(cluster.password())
    };
    let r = probe(&url, trusted).await;
    assert!(r.up, "{r:?}");
    let (kind, message) = error_of(&probe(&url, password(cluster.password())).await);
    assert_eq!(kind, ErrorKind::Tls, "{message}");
}

#[tokio::test]
async fn redis_replica_is_read_only_when_a_primary_is_required() {
    let primary = RedisServer::start(None).unwrap();
    let replica = RedisServer::start_replica_of(primary.port()).unwrap();
    let require = DataOptions {
        require_primary: true,
        ..DataOptions::default()
    };
    assert!(probe(&primary.url(), require.clone()).await.up);
    assert!(probe(&replica.url(), DataOptions::default()).await.up);
    let (kind, message) = error_of(&probe(&replica.url(), require).await);
    assert_eq!(kind, ErrorKind::ReadOnly, "{message}");
    assert!(message.contains("slave"), "{message}");
}
