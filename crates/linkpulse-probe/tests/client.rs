//! [`HttpClient`] against local servers: HTTPS with a private CA (and without, and insecure),
//! JSON in and out, chunked and streamed (Server-Sent Events) bodies, error statuses, and
//! errors that name the URL with its password masked.

mod support;

use std::time::Duration;

use linkpulse_probe::client::{ClientError, HttpClient};

/// An HTTPS fixture server and the PEM file of the CA that signed its certificate.
async fn https_server(dir: &std::path::Path) -> (support::Server, std::path::PathBuf) {
    let pki = support::Pki::new();
    let server = support::http_server(Some(pki.server_config(0, 30))).await;
    (server, pki.write_ca(dir))
}

#[tokio::test]
async fn https_trusts_the_extra_ca_file_or_everything_when_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ca) = https_server(dir.path()).await;
    let url = format!("https://127.0.0.1:{}/", server.addr.port());

    let body = HttpClient::with_ca_file(Some(&ca))
        .get_bytes(&url, "text/plain")
        .await
        .expect("trusted by the CA file");
    assert_eq!(&body[..], b"hello from linkpulse tests");
    // The name checked is the URL's host.
    let by_name = format!("https://localhost:{}/", server.addr.port());
    HttpClient::with_ca_file(Some(&ca))
        .get_bytes(&by_name, "text/plain")
        .await
        .expect("localhost is in the certificate");

    let err = HttpClient::new()
        .get_bytes(&url, "text/plain")
        .await
        .expect_err("the private CA is not a system root");
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{url}: cannot connect: ")) && text.contains("UnknownIssuer"),
        "{text}"
    );

    let body = HttpClient::insecure()
        .get_bytes(&url, "text/plain")
        .await
        .expect("insecure accepts any certificate");
    assert_eq!(&body[..], b"hello from linkpulse tests");
}

#[tokio::test]
async fn an_unreadable_ca_file_is_an_error_naming_url_and_file() {
    let url = format!("https://{}/", support::closed_port());
    let err = HttpClient::with_ca_file(Some(std::path::Path::new("/nonexistent/ca.pem")))
        .get_bytes(&url, "text/plain")
        .await
        .expect_err("no CA file");
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&url) && text.contains("/nonexistent/ca.pem"),
        "{text}"
    );
}

#[tokio::test]
async fn post_json_sends_body_and_headers_and_statuses_are_errors_with_their_body() {
    let server = support::http_server(None).await;
    let base = format!("http://{}", server.addr);
    let client = HttpClient::new();
    let echoed = client
        .post_json(
            &format!("{base}/headers"),
            &[("Idempotency-Key".to_owned(), "alert-1".to_owned())],
            &serde_json::json!({"check": "db"}),
        )
        .await
        .expect("2xx");
    let echoed = String::from_utf8_lossy(&echoed);
    assert!(echoed.contains("idempotency-key: alert-1"), "{echoed}");
    assert!(
        echoed.contains("content-type: application/json"),
        "{echoed}"
    );
    assert!(echoed.contains("content-length: 14"), "{echoed}");

    let err = client
        .get_json::<serde_json::Value>(&format!("{base}/status/503"))
        .await
        .expect_err("503");
    match &err {
        ClientError::Status { status, body, .. } => {
            assert_eq!((*status, body.as_str()), (503, "status page"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("{base}/status/503: HTTP 503: status page")
    );

    let err = client
        .get_json::<serde_json::Value>(&format!("{base}/"))
        .await
        .expect_err("not JSON");
    assert!(matches!(err, ClientError::Body { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{base}/: ")), "{err}");
}

#[tokio::test]
async fn chunked_json_and_a_server_sent_event_stream_are_read_whole() {
    let json = support::raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2,\r\n2\r\n3]\r\n0\r\n\r\n",
    )
    .await;
    let got: Vec<u32> = HttpClient::new()
        .get_json(&format!("http://{}/", json.addr))
        .await
        .expect("chunked JSON");
    assert_eq!(got, [1, 2, 3]);

    let events = support::raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
          16\r\nevent: snapshot\ndata: \r\n\
          4\r\n{}\n\n\r\n\
          c\r\n: keep-alive\r\n\
          0\r\n\r\n",
    )
    .await;
    let mut stream = HttpClient::new()
        .get_stream(
            &format!("http://{}/watch", events.addr),
            "text/event-stream",
        )
        .await
        .expect("stream");
    let mut all = Vec::new();
    while let Some(chunk) = stream.next_chunk().await {
        all.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(
        String::from_utf8_lossy(&all),
        "event: snapshot\ndata: {}\n\n: keep-alive"
    );
}

#[tokio::test]
async fn a_timeout_and_a_refused_connection_name_the_url_without_its_password() {
    let (_listener, silent) = support::silent_server().await;
    let client = HttpClient::new().timeout(Duration::from_millis(200));
    let url = format!("http://alert:s3cret@{silent}/hook");
    let err = client
        .post_json(&url, &[], &serde_json::json!({}))
        .await
        .expect_err("nobody answers");
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("http://alert:***@{silent}/hook: no answer within 200ms")
    );
    let err = client
        .get_stream(&url, "text/event-stream")
        .await
        .expect_err("no head either");
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");

    let closed = support::closed_port();
    let err = client
        .get_bytes(&format!("http://u:pw@{closed}/"), "text/plain")
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("http://u:***@{closed}/: ")) && !text.contains("pw"),
        "{text}"
    );
    assert!(
        text.contains("cannot connect") && text.contains("refused"),
        "{text}"
    );
}
