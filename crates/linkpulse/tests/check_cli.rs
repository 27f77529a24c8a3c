//! `linkpulse check` end to end: the real binary against real loopback servers.

#[path = "../../linkpulse-probe/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;

use linkpulse_testsupport::bin::LinkpulseProcess;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
/// Longest a short `linkpulse` run may take.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

async fn run(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .output()
        .await
        .expect("run linkpulse")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Bad input: exit 3 and one line naming the input and what is wrong.
#[tokio::test]
async fn bad_input_is_unknown_with_a_precise_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt").display().to_string();
    let empty = write(dir.path(), "empty.txt", "# only a comment\n\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["check", "tcp", "db.example"],
            "invalid TCP target `db.example`: missing port",
        ),
        (
            vec!["check", "tcp", "host:0"],
            "port 0 out of range 1-65535",
        ),
        (
            vec!["check", "tcp", "host:65536"],
            "port 65536 out of range 1-65535",
        ),
        (vec!["check", "tcp", ":80"], "empty host"),
        (vec!["check", "tcp", "tcp://host"], "missing port"),
        (
            vec!["check", "http", "ftp://example.org/"],
            "unknown scheme `ftp`",
        ),
        (vec!["check", "http", "http:///x"], "empty host"),
        (vec!["check", "http", "example.org"], "no scheme"),
        (vec!["check", "icmp", ""], "empty host"),
        (
            vec!["check", "--targets", &missing],
            "cannot read targets file",
        ),
        (vec!["check", "--targets", &empty], "no targets"),
        (
            vec![
                "check",
                "http",
                "http://127.0.0.1/",
                "--expect-status",
                "2xx",
            ],
            "`2xx` is not a status code or range",
        ),
        (
            vec![
                "check",
                "http",
                "http://127.0.0.1/",
                "--expect-status",
                "600",
            ],
            "status code 600 out of range 100-599",
        ),
        (
            vec!["check", "tcp", "127.0.0.1:1", "--timeout", "soon"],
            "`soon` is not a duration",
        ),
        (
            vec!["check", "http", "http://127.0.0.1/", "--header", "nocolon"],
            "is not 'Name: value'",
        ),
        (
            vec!["check", "http", "http://127.0.0.1/", "--ca", &missing],
            "cannot read CA file",
        ),
        (vec!["check"], "nothing to check"),
    ];
    for (args, want) in cases {
        let o = run(&args).await;
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: wanted {want:?} in {err:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    // "No such file" is said in the OS's words, with the path.
    let o = run(&["check", "--targets", &missing]).await;
    assert!(stderr(&o).contains(&missing) && stderr(&o).contains("No such file"));
}

#[tokio::test]
async fn every_bad_line_of_a_targets_file_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "targets.txt",
        "# targets\ntcp://127.0.0.1:22\ntcp://host\n\nicmp://\ngopher://x\ntcp://h:99999\nhttp://:8080/\n",
    );
    let o = run(&["check", "--targets", &file]).await;
    assert_eq!(code(&o), 3);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(
        lines[0].contains(&format!("{file}:3: `tcp://host`: missing port")),
        "{err}"
    );
    assert!(
        lines[1].contains(&format!("{file}:5: `icmp://`: empty host")),
        "{err}"
    );
    assert!(
        lines[2].contains(&format!("{file}:6: `gopher://x`: unknown scheme")),
        "{err}"
    );
    assert!(
        lines[3].contains(&format!(
            "{file}:7: `tcp://h:99999`: port 99999 out of range"
        )),
        "{err}"
    );
    assert!(
        lines[4].contains(&format!("{file}:8: `http://:8080/`: empty host")),
        "{err}"
    );
}

#[tokio::test]
async fn tcp_up_and_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap().to_string();
    let o = run(&["check", "tcp", &up]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("UP"), "{}", stdout(&o));

    let closed = support::closed_port().to_string();
    let o = run(&["check", "tcp", &closed]).await;
    assert_eq!(code(&o), 2);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("refused: connection refused by {closed}")),
        "{out}"
    );

    let o = run(&["check", "tcp", &closed, "--output", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["target"], closed.as_str());
    assert_eq!(v["kind"], "tcp");
    assert_eq!(v["up"], false);
    assert!(v["latency_ms"].is_null());
    assert_eq!(v["error"]["kind"], "refused");

    let o = run(&["check", "tcp", &up, "--output", "nagios"]).await;
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("LINKPULSE TCP OK - {up} connected")),
        "{out}"
    );
    assert!(
        out.contains("| time=") && out.trim_end().ends_with("s;;;0"),
        "{out}"
    );
}

#[tokio::test]
async fn targets_file_gives_one_result_per_target_and_a_summary() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let closed = support::closed_port();
    let server = support::http_server(None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.txt",
        &format!(
            "# mixed\ntcp://{up}\n\ntcp://{closed}  # nothing here\nhttp://{}/\n",
            server.addr
        ),
    );
    let o = run(&["check", "--targets", &file, "--concurrency", "2"]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("UP") && lines[0].contains(&format!("tcp://{up}")));
    assert!(lines[1].starts_with("DOWN") && lines[1].contains("refused"));
    assert!(lines[2].starts_with("UP") && lines[2].contains("HTTP 200"));
    assert!(lines[3].starts_with("3 targets: 2 up, 1 down"), "{out}");
    // No progress bar when stderr is not a terminal.
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    let o = run(&["check", "--targets", &file, "--output", "json"]).await;
    let objects: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[1]["target"], format!("tcp://{closed}"));
    assert_eq!(objects[2]["http"]["status"], 200);

    let o = run(&["check", "--targets", &file, "--output", "nagios"]).await;
    let out = stdout(&o);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("LINKPULSE CRITICAL - 3 targets: 2 up, 1 down"),
        "{out}"
    );
    assert!(first.contains("| up=2;;;0 down=1;;;0"), "{out}");
    assert_eq!(out.lines().count(), 4);
}

#[tokio::test]
async fn http_status_body_and_nagios_line() {
    let server = support::http_server(None).await;
    let ok = format!("http://{}/", server.addr);
    let o = run(&["check", "http", &ok, "--body-contains", "linkpulse"]).await;
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    let o = run(&["check", "http", &ok, "--body-regex", "^nope"]).await;
    assert_eq!(code(&o), 2);
    assert!(stdout(&o).contains("body_mismatch"), "{}", stdout(&o));

    let bad = format!("http://{}/status/503", server.addr);
    let o = run(&["check", "http", &bad]).await;
    assert_eq!(code(&o), 2);
    assert!(
        stdout(&o).contains("http_status: HTTP 503, expected 200-299"),
        "{}",
        stdout(&o)
    );

    let o = run(&["check", "http", &bad, "--expect-status", "500-599"]).await;
    assert_eq!(code(&o), 0);

    let o = run(&["check", "http", &ok, "--output", "nagios"]).await;
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("LINKPULSE HTTP OK - {ok} HTTP 200")),
        "{out}"
    );
    assert!(
        out.contains("| time=") && out.contains(" size=26B;;;0"),
        "{out}"
    );

    let slow = format!("http://{}/slow", server.addr);
    let o = run(&[
        "check",
        "http",
        &slow,
        "--timeout",
        "300ms",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code(&o), 2);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["error"]["kind"], "timeout");
    assert!(v["http"]["phases"]["connect_ms"].is_number());

    let o = run(&[
        "check",
        "http",
        &format!("http://{}/redirect/2", server.addr),
        "--no-follow",
    ])
    .await;
    assert_eq!(code(&o), 2);
    assert!(stdout(&o).contains("HTTP 302"), "{}", stdout(&o));
}

#[tokio::test]
async fn tls_warning_expired_ca_and_insecure() {
    let pki = support::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path()).display().to_string();
    let soon = support::http_server(Some(pki.server_config(-10, 3))).await;
    let soon_url = format!("https://{}/", soon.addr);

    let o = run(&["check", "http", &soon_url, "--ca", &ca, "--cert-warn", "7"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).starts_with("WARN"), "{}", stdout(&o));

    let o = run(&["check", "http", &soon_url, "--ca", &ca, "--output", "json"]).await;
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        v["tls"]["cert_days_left"]
            .as_i64()
            .is_some_and(|d| (2..=3).contains(&d)),
        "{v}"
    );
    assert_eq!(v["tls"]["alpn"], "h2");
    assert!(v["http"]["phases"]["tls_ms"].is_number());

    let o = run(&[
        "check",
        "http",
        &soon_url,
        "--ca",
        &ca,
        "--cert-warn",
        "7",
        "--output",
        "nagios",
    ])
    .await;
    assert!(
        stdout(&o).starts_with("LINKPULSE HTTP WARNING - "),
        "{}",
        stdout(&o)
    );

    let expired = support::http_server(Some(pki.server_config(-30, -2))).await;
    let expired_url = format!("https://{}/", expired.addr);
    let o = run(&["check", "http", &expired_url, "--ca", &ca]).await;
    assert_eq!(code(&o), 2);
    assert!(stdout(&o).contains("tls: TLS handshake"), "{}", stdout(&o));
    assert!(stdout(&o).contains("certificate expired"), "{}", stdout(&o));

    // Without the private CA the issuer is unknown; --insecure accepts it anyway.
    let o = run(&["check", "http", &soon_url]).await;
    assert_eq!(code(&o), 2);
    let o = run(&["check", "http", &soon_url, "--insecure"]).await;
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

/// Each kind takes only its own flags: another kind's flag is a usage error (exit 3), and its
/// help lists only its own options. A targets file may mix kinds, so `--targets` takes them all.
#[tokio::test]
async fn each_kind_takes_only_its_own_flags() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap().to_string();
    let url = "http://127.0.0.1:1/";
    let foreign = [
        vec!["check", "tcp", &up, "--body-contains", "x"],
        vec!["check", "tcp", &up, "--count", "9"],
        vec!["check", "tcp", &up, "--method", "HEAD"],
        vec!["check", "http", url, "--count", "2"],
        vec!["check", "http", url, "--interval", "1s"],
        vec!["check", "icmp", "127.0.0.1", "--expect-status", "200"],
        vec!["check", "icmp", "127.0.0.1", "--no-follow"],
        // Flags of the targets mode before a kind are not taken either.
        vec!["check", "--body-contains", "x", "tcp", &up],
    ];
    for args in foreign {
        let o = run(&args).await;
        assert_eq!(code(&o), 3, "{args:?} was accepted: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("unexpected argument") || err.contains("cannot be used with"),
            "{args:?}: {err}"
        );
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
    }
    let help = |kind: &'static str| async move {
        let o = run(&["check", kind, "--help"]).await;
        assert_eq!(code(&o), 0);
        stdout(&o)
    };
    let tcp = help("tcp").await;
    let http = help("http").await;
    let icmp = help("icmp").await;
    for common in ["--timeout", "--dns-timeout", "--output"] {
        assert!(tcp.contains(common) && http.contains(common) && icmp.contains(common));
    }
    for http_only in [
        "--method",
        "--expect-status",
        "--body-contains",
        "--no-follow",
    ] {
        assert!(http.contains(http_only), "{http}");
        assert!(!tcp.contains(http_only), "{tcp}");
        assert!(!icmp.contains(http_only), "{icmp}");
    }
    // TLS flags: HTTPS and TCP (TLS on connect, STARTTLS) take them, ICMP does not.
    for tls in ["--ca", "--insecure", "--cert-warn"] {
        assert!(http.contains(tls) && tcp.contains(tls), "{tls}");
        assert!(!icmp.contains(tls), "{icmp}");
    }
    for tcp_only in ["--expect", "--send", "--starttls", "--tls"] {
        assert!(tcp.contains(tcp_only), "{tcp}");
        assert!(!icmp.contains(tcp_only), "{icmp}");
    }
    for icmp_only in ["--count", "--interval"] {
        assert!(icmp.contains(icmp_only), "{icmp}");
        assert!(!tcp.contains(icmp_only), "{tcp}");
        assert!(!http.contains(icmp_only), "{http}");
    }
    // The kind's own flags still work, and a targets file takes every kind's.
    let o = run(&[
        "check",
        "tcp",
        &up,
        "--timeout",
        "1s",
        "-4",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.txt", &format!("tcp://{up}\n"));
    let o = run(&[
        "check",
        "--targets",
        &file,
        "--count",
        "1",
        "--method",
        "HEAD",
        "--no-follow",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The CLI has the daemon's HTTP defaults and methods: every 2xx is up, redirects are
/// followed (a redirect to a missing page is down), and any method the config accepts works.
#[tokio::test]
async fn http_defaults_and_methods_are_the_daemons() {
    let server = support::http_server(None).await;
    let base = format!("http://{}", server.addr);

    let o = run(&["check", "http", &format!("{base}/moved/404")]).await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stdout(&o).contains("http_status"), "{}", stdout(&o));
    let o = run(&[
        "check",
        "http",
        &format!("{base}/moved/204"),
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["http"]["status"], 204);
    assert_eq!(v["http"]["redirects"], 1);

    for method in ["POST", "put", "DELETE", "OPTIONS", "PATCH", "HEAD"] {
        let o = run(&[
            "check",
            "http",
            &format!("{base}/method"),
            "--method",
            method,
        ])
        .await;
        assert_eq!(code(&o), 0, "--method {method}: {}", stderr(&o));
    }
    let o = run(&[
        "check",
        "http",
        &format!("{base}/method"),
        "--method",
        "post",
        "--body-contains",
        "POST",
    ])
    .await;
    assert_eq!(code(&o), 0, "the request was not a POST: {}", stdout(&o));
    let o = run(&["check", "http", &base, "--method", "FETCH"]).await;
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("unknown HTTP method \"FETCH\""),
        "{}",
        stderr(&o)
    );
}

/// ICMP limits are the daemon's: `--count` 1 to 1000, `--interval` 10ms to 1m.
#[tokio::test]
async fn icmp_limits_are_the_daemons() {
    for (flag, value, want) in [
        ("--count", "0", "0 is out of range (1 to 1000)"),
        ("--count", "1001", "1001 is out of range (1 to 1000)"),
        ("--interval", "1ms", "1ms is out of range (10ms to 1m)"),
        ("--timeout", "2h", "2h is out of range (1ms to 1h)"),
    ] {
        let o = run(&["check", "icmp", "127.0.0.1", flag, value]).await;
        assert_eq!(code(&o), 3, "{flag} {value}");
        assert!(stderr(&o).contains(want), "{flag} {value}: {}", stderr(&o));
    }
}

/// A reader that goes away (`| head -c 10`) ends the output quietly: no panic (exit 101), the
/// exit code still says what was seen.
#[tokio::test]
async fn closed_stdout_ends_quietly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let closed = support::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.txt",
        &format!("tcp://{up}\ntcp://{closed}\n"),
    );
    for format in ["json", "text", "nagios"] {
        let o = LinkpulseProcess::run_with_closed_stdout(
            BIN,
            &["check", "--targets", &file, "--output", format],
            DEADLINE,
        )
        .unwrap();
        assert_eq!(o.code(), Some(2), "{format}: {o:?}");
        assert!(o.stderr.is_empty(), "{format}: {}", o.stderr);
    }
    let o =
        LinkpulseProcess::run_with_closed_stdout(BIN, &["check", "tcp", &up.to_string()], DEADLINE)
            .unwrap();
    assert_eq!(o.code(), Some(0), "{o:?}");
    assert!(o.stderr.is_empty(), "{}", o.stderr);
}
