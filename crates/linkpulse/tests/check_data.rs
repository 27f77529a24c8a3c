//! `linkpulse check redis|postgres|tcp --expect…` and data checks in `linkpulse serve`, end to
//! end: the real binary against Debian's `redis-server` and throwaway PostgreSQL clusters
//! started by the tests. Passwords come from files or the environment and never appear in
//! the output, the API or `/metrics`.

use std::process::Command;
use std::time::Duration;

use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::postgres::PgCluster;
use linkpulse_testsupport::redis::RedisServer;
use linkpulse_testsupport::servers::{TestCa, Validity};

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `linkpulse ARGS…` with `env` set.
fn run(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    LinkpulseProcess::spawn(c)
        .expect("spawn linkpulse")
        .wait_exit(DEADLINE)
        .expect("linkpulse exits")
}

fn out(f: &Finished) -> String {
    format!("{}\n{}", f.stdout.join("\n"), f.stderr)
}

#[test]
fn check_redis_up_auth_refused_and_bad_input() {
    let redis = RedisServer::start(Some("hunter2-redis")).unwrap();
    let url = redis.url();

    let up = run(
        &["check", "redis", &url, "--password-env", "REDIS_PW"],
        &[("REDIS_PW", "hunter2-redis")],
    );
    assert_eq!(up.code(), Some(0), "{}", out(&up));

    let wrong = run(
        &[
            "check",
            "redis",
            &url,
            "--password-env",
            "REDIS_PW",
            "--output",
            "json",
        ],
        &[("REDIS_PW", "not-it")],
    );
    assert_eq!(wrong.code(), Some(2), "{}", out(&wrong));
    let json = &wrong.json_lines()[0];
    assert_eq!(json["kind"], "redis");
    assert_eq!(json["error"]["kind"], "auth", "{json}");
    assert!(!out(&wrong).contains("not-it"));

    // A password in the URL is masked wherever the target is shown.
    let inline = format!("redis://:hunter2-redis@127.0.0.1:{}", redis.port());
    let shown = run(&["check", "redis", &inline], &[]);
    assert_eq!(shown.code(), Some(0), "{}", out(&shown));
    assert!(!out(&shown).contains("hunter2"), "{}", out(&shown));
    assert!(out(&shown).contains(":***@"), "{}", out(&shown));

    let port = redis.port();
    drop(redis);
    let refused = run(
        &["check", "redis", &format!("redis://127.0.0.1:{port}")],
        &[],
    );
    assert_eq!(refused.code(), Some(2));
    assert!(out(&refused).contains("refused"), "{}", out(&refused));

    // Bad input: exit 3 with the offending flag or target named.
    let bad = run(&["check", "redis", "redis://127.0.0.1:1/x"], &[]);
    assert_eq!(bad.code(), Some(3));
    assert!(bad.stderr.contains("invalid Redis URL"), "{}", bad.stderr);
    let bad = run(
        &[
            "check",
            "redis",
            "redis://127.0.0.1:1",
            "--password-env",
            "NO_SUCH_VAR_X",
        ],
        &[],
    );
    assert_eq!(bad.code(), Some(3));
    assert!(
        bad.stderr.contains("NO_SUCH_VAR_X is not set"),
        "{}",
        bad.stderr
    );
    let bad = run(&["check", "redis", "postgres://u@h/db"], &[]);
    assert_eq!(bad.code(), Some(3));
    assert!(bad.stderr.contains("not a redis one"), "{}", bad.stderr);
}

#[test]
fn check_postgres_password_file_wrong_password_and_standby() {
    let cluster = PgCluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("pw");
    std::fs::write(&good, format!("{}\n", cluster.password())).unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "wrong-secret\n").unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    let good = good.to_str().unwrap();

    let up = run(&["check", "postgres", &url, "--password-file", good], &[]);
    assert_eq!(up.code(), Some(0), "{}", out(&up));

    let auth = run(
        &[
            "check",
            "postgres",
            &url,
            "--password-file",
            bad.to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(auth.code(), Some(2));
    assert_eq!(
        auth.json_lines()[0]["error"]["kind"],
        "auth",
        "{}",
        out(&auth)
    );
    assert!(!out(&auth).contains("wrong-secret"));

    let query = run(
        &[
            "check",
            "postgres",
            &url,
            "--password-file",
            good,
            "--query",
            "SELECT nope",
        ],
        &[],
    );
    assert_eq!(query.code(), Some(2));
    assert!(out(&query).contains("query:"), "{}", out(&query));

    let missing = run(
        &[
            "check",
            "postgres",
            &url,
            "--password-file",
            "/nonexistent/pw",
        ],
        &[],
    );
    assert_eq!(missing.code(), Some(3));
    assert!(
        missing.stderr.contains("--password-file"),
        "{}",
        missing.stderr
    );

    let standby = PgCluster::start_standby(true).unwrap();
    std::fs::write(dir.path().join("spw"), standby.password()).unwrap();
    let surl = format!("postgres://postgres@127.0.0.1:{}/postgres", standby.port());
    let spw = dir.path().join("spw");
    let spw = spw.to_str().unwrap();
    let ro = run(
        &[
            "check",
            "postgres",
            &surl,
            "--password-file",
            spw,
            "--require-primary",
        ],
        &[],
    );
    assert_eq!(ro.code(), Some(2), "{}", out(&ro));
    assert!(out(&ro).contains("read_only"), "{}", out(&ro));
    let replica_ok = run(&["check", "postgres", &surl, "--password-file", spw], &[]);
    assert_eq!(replica_ok.code(), Some(0), "{}", out(&replica_ok));
}

#[test]
fn check_tcp_dialogue_and_tls_on_connect() {
    let redis = RedisServer::start(None).unwrap();
    let addr = format!("127.0.0.1:{}", redis.port());
    let up = run(
        &[
            "check", "tcp", &addr, "--send", "PING", "--expect", "^\\+PONG", "--send", "QUIT",
        ],
        &[],
    );
    assert_eq!(up.code(), Some(0), "{}", out(&up));
    assert!(out(&up).contains("3 of 3 steps"), "{}", out(&up));

    let mismatch = run(
        &[
            "check",
            "tcp",
            &addr,
            "--send",
            "QUIT",
            "--expect",
            "^\\+PONG",
            "--timeout",
            "2s",
        ],
        &[],
    );
    assert_eq!(mismatch.code(), Some(2), "{}", out(&mismatch));
    assert!(
        out(&mismatch).contains("body_mismatch"),
        "{}",
        out(&mismatch)
    );

    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(12))
        .unwrap();
    let tls = RedisServer::start_tls(&id).unwrap();
    let taddr = format!("127.0.0.1:{}", tls.port());
    let ca_path = ca.pem_path().to_str().unwrap().to_owned();
    let up = run(
        &[
            "check",
            "tcp",
            &taddr,
            "--tls",
            "--ca",
            &ca_path,
            "--send",
            "PING",
            "--expect",
            "^\\+PONG",
            "--cert-warn",
            "30",
        ],
        &[],
    );
    // Up, with the certificate close to expiry: a warning (exit 1).
    assert_eq!(up.code(), Some(1), "{}", out(&up));
    assert!(out(&up).contains("expires in"), "{}", out(&up));

    let bad = run(&["check", "tcp", &addr, "--expect", "(unclosed"], &[]);
    assert_eq!(bad.code(), Some(3));
    assert!(
        bad.stderr.contains("invalid regular expression"),
        "{}",
        bad.stderr
    );
}

#[test]
fn serve_runs_data_checks_and_masks_their_secrets() {
    let redis = RedisServer::start(Some("redis-secret-1")).unwrap();
    let cluster = PgCluster::start().unwrap();
    let maria = linkpulse_testsupport::mariadb::MariaDb::start("maria-secret-1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), cluster.password()).unwrap();
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {db}\n\
             defaults: {{ interval: 500ms, timeout: 400ms, rise: 1, fall: 1 }}\n\
             checks:\n\
             \x20 - name: cache\n    redis: {{ url: 'redis://127.0.0.1:{rp}', password_env: LP_REDIS_PW }}\n\
             \x20 - name: cache-inline\n    redis: {{ url: 'redis://:redis-secret-1@127.0.0.1:{rp}' }}\n\
             \x20 - name: cache-wrong\n    redis: {{ url: 'redis://127.0.0.1:{rp}' }}\n\
             \x20 - name: pg\n    postgres: {{ url: 'postgres://postgres@127.0.0.1:{pp}/postgres', password_file: pg.pw, require_primary: true }}\n\
             \x20 - name: maria\n    mysql: {{ url: '{my}', password_env: LP_MY_PW }}\n\
             \x20 - name: banner\n    tcp:\n      address: '127.0.0.1:{rp}'\n      query_response:\n        - send: PING\n        - expect: '^-NOAUTH (?P<word>\\w+)'\n          labels: [{{ name: word, value: '$${{word}}' }}]\n",
            db = dir.path().join("lp.db").display(),
            rp = redis.port(),
            pp = cluster.port(),
            my = maria.url(),
        ),
    )
    .unwrap();
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("LP_REDIS_PW", "redis-secret-1")
        .env("LP_MY_PW", "maria-secret-1");
    let d = Daemon::spawn(command).unwrap_or_else(|e| panic!("{e}"));
    d.wait_state("cache", "up");
    d.wait_state("cache-inline", "up");
    d.wait_state("pg", "up");
    d.wait_state("banner", "up");
    d.wait_state("maria", "up");
    d.wait_state("cache-wrong", "down");
    let wrong = d.check("cache-wrong");
    let text = wrong.to_string();
    assert!(text.contains("\"auth\""), "{text}");

    let inline = d.check("cache-inline").to_string();
    assert!(!inline.contains("redis-secret-1"), "{inline}");
    let (_, metrics) = d.get("/metrics");
    assert!(metrics.contains("kind=\"redis\""), "{metrics}");
    assert!(metrics.contains("kind=\"postgres\""), "{metrics}");
    assert!(metrics.contains("kind=\"mysql\""), "{metrics}");
    for (what, text) in [("metrics", metrics), ("log", d.log())] {
        assert!(
            !text.contains("redis-secret-1"),
            "{what} shows the password"
        );
        assert!(
            !text.contains(cluster.password()),
            "{what} shows the password"
        );
    }
}

#[test]
fn check_mysql_against_mariadb() {
    let db = linkpulse_testsupport::mariadb::MariaDb::start("maria-cli-pw").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "maria-cli-pw\n").unwrap();
    let pw = pw.to_str().unwrap();
    let up = run(&["check", "mysql", &db.url(), "--password-file", pw], &[]);
    assert_eq!(up.code(), Some(0), "{}", out(&up));
    let wrong = run(
        &[
            "check",
            "mysql",
            &db.url(),
            "--password-env",
            "MY_PW",
            "--output",
            "json",
        ],
        &[("MY_PW", "nope-pw")],
    );
    assert_eq!(wrong.code(), Some(2), "{}", out(&wrong));
    assert_eq!(wrong.json_lines()[0]["error"]["kind"], "auth");
    assert!(!out(&wrong).contains("nope-pw"));
    let bad = run(&["check", "mysql", "mysql://u@h:1/db?ssl=1"], &[]);
    assert_eq!(bad.code(), Some(3));
    assert!(bad.stderr.contains("invalid MySQL URL"), "{}", bad.stderr);
}

#[test]
fn a_targets_file_mixes_data_urls_with_other_kinds() {
    let redis = RedisServer::start(Some("file-pw")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.txt");
    std::fs::write(
        &file,
        format!(
            "{}\ntcp://127.0.0.1:{}\nredis://:wrong-inline@127.0.0.1:{}\n",
            redis.url(),
            redis.port(),
            redis.port()
        ),
    )
    .unwrap();
    let f = run(
        &[
            "check",
            "--targets",
            file.to_str().unwrap(),
            "--password-env",
            "T_PW",
            "--output",
            "json",
        ],
        &[("T_PW", "file-pw")],
    );
    let lines = f.json_lines();
    assert_eq!(lines.len(), 3, "{}", out(&f));
    assert_eq!(lines[0]["kind"], "redis");
    assert_eq!(lines[0]["up"], true, "{}", lines[0]);
    assert_eq!(lines[1]["kind"], "tcp");
    // --password-env wins over the URL's password, which is masked in the output.
    assert_eq!(lines[2]["up"], true, "{}", lines[2]);
    assert!(!out(&f).contains("wrong-inline"), "{}", out(&f));
    assert_eq!(f.code(), Some(0));
}
