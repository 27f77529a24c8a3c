//! HTTP probes against real local servers (plain HTTP/1.1).

mod support;

use std::time::{Duration, Instant};

use linkpulse_probe::{ErrorKind, HttpOptions, ProbeOptions, ProbeResult, Prober, Target};

fn url(addr: std::net::SocketAddr, path: &str) -> Target {
    format!("http://{addr}{path}").parse().unwrap()
}

async fn probe(target: &Target, http: HttpOptions) -> ProbeResult {
    let opts = ProbeOptions {
        http,
        ..ProbeOptions::default()
    };
    Prober::new().probe(target, &opts).await
}

fn kind(r: &ProbeResult) -> Option<ErrorKind> {
    r.error.as_ref().map(|e| e.kind)
}

#[tokio::test]
async fn ok_reports_status_phases_and_body_length() {
    let server = support::http_server(None).await;
    let r = probe(&url(server.addr, "/"), HttpOptions::default()).await;
    assert!(r.up, "{r:?}");
    let h = r.http.as_ref().unwrap();
    assert_eq!(h.status, Some(200));
    assert_eq!(h.version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        h.body_bytes,
        Some("hello from linkpulse tests".len() as u64)
    );
    assert!(h.phases.dns_ms.is_some_and(|d| d < 50.0));
    assert!(h.phases.connect_ms.is_some());
    assert!(h.phases.tls_ms.is_none());
    assert!(h.phases.first_byte_ms.is_some());
    assert_eq!(h.phases.total_ms, r.latency_ms);
    assert!(r.tls.is_none());
    let v = serde_json::to_value(&r).unwrap();
    for field in [
        "dns_ms",
        "connect_ms",
        "tls_ms",
        "first_byte_ms",
        "total_ms",
    ] {
        assert!(
            v["http"]["phases"].get(field).is_some(),
            "no {field} in {v}"
        );
    }
    assert_eq!(v["http"]["status"], 200);
}

#[tokio::test]
async fn server_error_is_http_status_with_the_expectation() {
    let server = support::http_server(None).await;
    let r = probe(&url(server.addr, "/status/500"), HttpOptions::default()).await;
    assert!(!r.up);
    assert_eq!(kind(&r), Some(ErrorKind::HttpStatus));
    let msg = &r.error.as_ref().unwrap().message;
    assert!(msg.starts_with("HTTP 500, expected 200-299"), "{msg}");
    assert!(msg.contains(&server.addr.to_string()), "{msg}");

    let expect = HttpOptions {
        expect_status: "500,503".parse().unwrap(),
        ..HttpOptions::default()
    };
    let r = probe(&url(server.addr, "/status/500"), expect).await;
    assert!(r.up, "{r:?}");
}

#[tokio::test]
async fn slow_server_times_out_within_the_budget() {
    let server = support::http_server(None).await;
    let opts = ProbeOptions {
        timeout: Duration::from_millis(300),
        ..ProbeOptions::default()
    };
    let start = Instant::now();
    let r = Prober::new().probe(&url(server.addr, "/slow"), &opts).await;
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(kind(&r), Some(ErrorKind::Timeout), "{r:?}");
    assert!(r.error.unwrap().message.contains("no response"));
    // Connect succeeded: that phase is timed, first byte is not.
    let h = r.http.unwrap();
    assert!(h.phases.connect_ms.is_some() && h.phases.first_byte_ms.is_none());
}

#[tokio::test]
async fn body_contains_and_regex() {
    let server = support::http_server(None).await;
    let target = url(server.addr, "/");
    let contains = |s: &str| HttpOptions {
        body_contains: Some(s.to_owned()),
        ..HttpOptions::default()
    };
    assert!(probe(&target, contains("linkpulse")).await.up);
    let r = probe(&target, contains("nowhere")).await;
    assert_eq!(kind(&r), Some(ErrorKind::BodyMismatch));
    assert!(
        r.error
            .unwrap()
            .message
            .contains("does not contain \"nowhere\"")
    );

    let regex = |s: &str| HttpOptions {
        body_regex: Some(regex::Regex::new(s).unwrap()),
        ..HttpOptions::default()
    };
    assert!(probe(&target, regex("^hello .* tests$")).await.up);
    let r = probe(&target, regex("^bye")).await;
    assert_eq!(kind(&r), Some(ErrorKind::BodyMismatch));
}

#[tokio::test]
async fn redirects_are_followed_counted_and_bounded() {
    let server = support::http_server(None).await;
    let r = probe(&url(server.addr, "/redirect/3"), HttpOptions::default()).await;
    assert!(r.up, "{r:?}");
    let h = r.http.as_ref().unwrap();
    assert_eq!(h.redirects, 3);
    assert!(h.final_url.ends_with("/redirect/0"), "{}", h.final_url);
    assert_eq!(h.status, Some(200));

    let no_follow = HttpOptions {
        follow_redirects: false,
        ..HttpOptions::default()
    };
    let r = probe(&url(server.addr, "/redirect/3"), no_follow).await;
    assert_eq!(kind(&r), Some(ErrorKind::HttpStatus));
    assert!(
        r.error
            .unwrap()
            .message
            .starts_with("HTTP 302, expected 200-299")
    );

    let r = probe(&url(server.addr, "/loop"), HttpOptions::default()).await;
    assert_eq!(kind(&r), Some(ErrorKind::Protocol));
    assert!(r.error.unwrap().message.contains("more than 10 redirects"));
    assert_eq!(r.http.unwrap().redirects, 10);
}

#[tokio::test]
async fn head_and_custom_headers() {
    let server = support::http_server(None).await;
    let opts = HttpOptions {
        headers: vec![(
            http::HeaderName::from_static("x-probe"),
            http::HeaderValue::from_static("yes"),
        )],
        body_contains: Some("x-probe: yes".to_owned()),
        ..HttpOptions::default()
    };
    let r = probe(&url(server.addr, "/headers"), opts).await;
    assert!(r.up, "{r:?}");

    let head = HttpOptions {
        method: http::Method::HEAD,
        ..HttpOptions::default()
    };
    let r = probe(&url(server.addr, "/"), head).await;
    assert!(r.up, "{r:?}");
    assert_eq!(r.http.unwrap().body_bytes, Some(0));
}

#[tokio::test]
async fn refused_garbage_and_reset_are_told_apart() {
    let closed = support::closed_port();
    let r = probe(&url(closed, "/"), HttpOptions::default()).await;
    assert_eq!(kind(&r), Some(ErrorKind::Refused));
    assert_eq!(
        r.error.unwrap().message,
        format!("connection refused by {closed}")
    );

    let garbage = support::raw_server(b"SSH-2.0-OpenSSH_9.6\r\n").await;
    let r = probe(&url(garbage.addr, "/"), HttpOptions::default()).await;
    assert_eq!(kind(&r), Some(ErrorKind::Protocol), "{r:?}");
    assert!(r.error.unwrap().message.contains("invalid HTTP response"));

    let reset = support::reset_server().await;
    let r = probe(&url(reset.addr, "/"), HttpOptions::default()).await;
    assert_eq!(kind(&r), Some(ErrorKind::Reset), "{r:?}");
}
