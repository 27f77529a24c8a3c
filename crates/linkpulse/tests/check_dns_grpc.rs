//! `linkpulse check dns` and `linkpulse check grpc` end to end: the real binary against a real
//! dnsmasq and a real gRPC health server (tonic-health) on loopback.

use std::process::Output;

use linkpulse_testsupport::dnsmasq::Dnsmasq;
use linkpulse_testsupport::servers::{GrpcHealthServer, TestCa, Validity};

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

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

/// The one JSON result of `check … --output json`.
fn json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON result ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

async fn dns(server: &Dnsmasq, args: &[&str]) -> Output {
    let server = server.addr().to_string();
    let mut all = vec!["check", "dns", "--server", &server, "--timeout", "5s"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    run(&all).await
}

/// Four TXT records of 200 characters: more than a 512-byte UDP answer holds.
fn big_txt() -> Vec<String> {
    (0..4)
        .map(|i| format!("--txt-record=big.test,{}", i.to_string().repeat(200)))
        .collect()
}

fn zone() -> Dnsmasq {
    let big = big_txt();
    let mut records = vec![
        "--address=/db.test/10.0.0.1",
        "--host-record=v6.test,fd00::5",
        "--txt-record=t.test,v=spf1 -all",
        "--mx-host=mail.test,mx1.test,10",
        "--srv-host=_ldap._tcp.test,ldap.test,389,0,100",
        "--cname=alias.test,db.test",
    ];
    records.extend(big.iter().map(String::as_str));
    Dnsmasq::start(&records).expect("start dnsmasq")
}

#[tokio::test]
async fn dns_answers_are_up_and_judged_by_regex() {
    let zone = zone();
    let o = dns(&zone, &["db.test"]).await;
    assert_eq!(code(&o), 0, "{o:?}");
    let r = json(&o);
    assert_eq!(r["kind"], "dns");
    assert_eq!(r["dns"]["rcode"], "NOERROR");
    assert_eq!(r["dns"]["transport"], "udp");
    assert_eq!(
        r["dns"]["answers"][0].as_str().unwrap(),
        "db.test.\t0\tIN\tA\t10.0.0.1"
    );

    for (name, ty, data) in [
        ("v6.test", "AAAA", "fd00::5"),
        ("t.test", "TXT", "v=spf1 -all"),
        ("mail.test", "MX", "10 mx1.test."),
        ("_ldap._tcp.test", "SRV", "0 100 389 ldap.test."),
        ("alias.test", "CNAME", "db.test."),
    ] {
        let o = dns(&zone, &[name, "--type", ty]).await;
        assert_eq!(code(&o), 0, "{name} {ty}: {o:?}");
        let answers = json(&o)["dns"]["answers"].to_string();
        assert!(answers.contains(data), "{name} {ty}: {answers}");
    }

    // An answer regex that no record matches: down, saying which section and which regex.
    let o = dns(&zone, &["db.test", "--answer-regex", r"\t10\.0\.0\.2$"]).await;
    assert_eq!(code(&o), 2);
    let r = json(&o);
    assert_eq!(r["error"]["kind"], "body_mismatch");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answer section")
    );
    let o = dns(&zone, &["db.test", "--answer-regex", r"\t10\.0\.0\.1$"]).await;
    assert_eq!(code(&o), 0);
    let o = dns(&zone, &["db.test", "--answer-reject", r"10\.0\.0\.1"]).await;
    assert_eq!(code(&o), 2);
}

#[tokio::test]
async fn dns_failures_name_the_rcode() {
    let zone = zone();
    let o = dns(&zone, &["nothing.test"]).await;
    assert_eq!(code(&o), 2, "{o:?}");
    let r = json(&o);
    assert_eq!(r["error"]["kind"], "dns");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("NXDOMAIN for nothing.test A"),
        "{r}"
    );
    // NXDOMAIN may be what the user expects.
    let o = dns(
        &zone,
        &["nothing.test", "--expect-rcode", "NXDOMAIN,NOERROR"],
    )
    .await;
    assert_eq!(code(&o), 0, "{o:?}");

    let servfail = Dnsmasq::servfail(zone.addr()).expect("start validating dnsmasq");
    let o = dns(&servfail, &["db.test"]).await;
    assert_eq!(code(&o), 2, "{o:?}");
    let r = json(&o);
    assert_eq!(r["error"]["kind"], "dns");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("SERVFAIL"),
        "{r}"
    );

    // Nothing listens: refused, not a DNS answer.
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().to_string()
    };
    let o = run(&[
        "check", "dns", "db.test", "--server", &dead, "--output", "json",
    ])
    .await;
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["error"]["kind"], "refused");
}

#[tokio::test]
async fn dns_falls_back_to_tcp_on_truncation_and_can_use_tcp_only() {
    let zone = zone();
    let o = dns(&zone, &["big.test", "--type", "TXT"]).await;
    assert_eq!(code(&o), 0, "{o:?}");
    let r = json(&o);
    assert_eq!(r["dns"]["truncated"], true, "{r}");
    assert_eq!(r["dns"]["transport"], "tcp");
    assert_eq!(r["dns"]["answers"].as_array().unwrap().len(), 4);

    let o = dns(&zone, &["db.test", "--tcp"]).await;
    assert_eq!(code(&o), 0);
    let r = json(&o);
    assert_eq!(r["dns"]["transport"], "tcp");
    assert!(r["dns"].get("truncated").is_none());

    // The URL form, in a targets file, mixed with gRPC targets.
    let grpc = GrpcHealthServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.txt");
    std::fs::write(
        &file,
        format!(
            "dns://{zone}/db.test?type=A\ndns://{zone}/t.test?type=TXT&transport=tcp\n\
             grpc://{grpc}\ndns://{zone}/gone.test\n",
            zone = zone.addr(),
            grpc = grpc.addr()
        ),
    )
    .unwrap();
    let o = run(&[
        "check",
        "--targets",
        file.to_str().unwrap(),
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code(&o), 2, "{o:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let up: Vec<bool> = lines.iter().map(|l| l["up"].as_bool().unwrap()).collect();
    assert_eq!(up, [true, true, true, false], "{lines:?}");
    assert_eq!(lines[2]["kind"], "grpc");
}

async fn grpc(args: &[&str]) -> Output {
    let mut all = vec!["check", "grpc"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json", "--timeout", "5s"]);
    run(&all).await
}

#[tokio::test]
async fn grpc_health_follows_the_serving_status() {
    let server = GrpcHealthServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.addr().to_string();
    let o = grpc(&[&addr]).await;
    assert_eq!(code(&o), 0, "{o:?}");
    let r = json(&o);
    assert_eq!(r["kind"], "grpc");
    assert_eq!(r["grpc"]["status"], "SERVING");

    server.set("", false);
    let o = grpc(&[&addr]).await;
    assert_eq!(code(&o), 2);
    let r = json(&o);
    assert_eq!(r["error"]["kind"], "health");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("is NOT_SERVING"),
        "{r}"
    );

    // A service the server does not know.
    let o = grpc(&[&format!("grpc://{addr}/shop.Orders")]).await;
    assert_eq!(code(&o), 2);
    let r = json(&o);
    assert_eq!(r["error"]["kind"], "health");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SERVICE_UNKNOWN"),
        "{r}"
    );
    server.set("shop.Orders", true);
    let o = grpc(&[&addr, "--service", "shop.Orders"]).await;
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["grpc"]["service"], "shop.Orders");

    // Nothing listens on the port.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    drop(tcp);
    let o = grpc(&[&tcp_addr]).await;
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["error"]["kind"], "refused");
}

#[tokio::test]
async fn grpc_over_tls_verifies_the_certificate() {
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let server = GrpcHealthServer::start_tls("127.0.0.1:0".parse().unwrap(), &id).unwrap();
    let url = format!("grpcs://{}", server.addr());
    let ca_file = ca.pem_path().display().to_string();
    let o = grpc(&[&url, "--ca", &ca_file]).await;
    assert_eq!(code(&o), 0, "{o:?}");
    let r = json(&o);
    assert!(r["tls"]["cert_days_left"].as_i64().unwrap() >= 29, "{r}");
    // Without the CA, the certificate is not trusted.
    let o = grpc(&[&url]).await;
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["error"]["kind"], "tls");
    // `--insecure` skips verification.
    let o = grpc(&[&url, "--insecure"]).await;
    assert_eq!(code(&o), 0, "{o:?}");
}

#[tokio::test]
async fn bad_dns_and_grpc_input_is_exit_3_with_a_named_problem() {
    let cases: [(&[&str], &str); 7] = [
        (&["check", "dns", "db.test"], "no server: give --server"),
        (
            &[
                "check",
                "dns",
                "db.test",
                "--server",
                "127.0.0.1",
                "--type",
                "BOGUS",
            ],
            "unknown DNS record type `BOGUS`",
        ),
        (
            &["check", "dns", "a..b", "--server", "127.0.0.1"],
            "invalid DNS query `a..b`",
        ),
        (
            &["check", "dns", "x.test", "--server", "127.0.0.1:0"],
            "port 0 out of range",
        ),
        (
            &[
                "check",
                "dns",
                "x.test",
                "--server",
                "127.0.0.1",
                "--expect-rcode",
                "NOPE",
            ],
            "unknown DNS response code `NOPE`",
        ),
        (&["check", "grpc", "localhost"], "missing port"),
        (
            &["check", "grpc", "grpc://localhost:1/a%b"],
            "invalid gRPC service name `a%b`",
        ),
    ];
    for (args, expected) in cases {
        let o = run(args).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(code(&o), 3, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
