//! `linkpulse diagnose` end to end with the real binary.

#[path = "../../linkpulse-probe/tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

async fn run(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .output()
        .await
        .expect("run linkpulse")
}

#[tokio::test]
async fn verdicts_and_exit_codes() {
    let closed = support::closed_port();
    let o = run(&["diagnose", &format!("tcp://{closed}")]).await;
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("process_down: "), "{out}");
    assert!(
        out.contains("  tcp     DOWN  refused: connection refused by"),
        "{out}"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap().to_string();
    let o = run(&["diagnose", &up, "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "ok");
    assert!(v["summary"].as_str().unwrap().starts_with("ok: "));

    let server = support::http_server(None).await;
    let o = run(&[
        "diagnose",
        &format!("http://{}/status/500", server.addr),
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "app_error");
    assert_eq!(v["layers"]["target"]["error"]["kind"], "http_status");

    let o = run(&["diagnose", "tcp://host:0"]).await;
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("invalid target `tcp://host:0`: port 0 out of range")
    );
}
