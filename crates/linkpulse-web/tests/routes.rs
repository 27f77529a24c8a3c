//! The dashboard routes over a real socket: pages, assets (types, cache headers, 304), the
//! event stream and the compact chart endpoints.

use std::sync::Arc;
use std::time::Duration;

use linkpulse_web::{
    Event, EventBus, HistoryError, HistorySource, IncidentSpan, Sample, StateChange, StateEvent,
    StatusGroup, StatusPage, Web,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const DAY: i64 = 86_400_000;
/// A fixed "now": 2026-01-10 12:00 UTC.
const NOW: i64 = 1_768_046_400_000;

struct Fixed;

impl HistorySource for Fixed {
    fn samples(
        &self,
        check: &str,
        from: i64,
        to: i64,
        _: usize,
    ) -> Result<Vec<Sample>, HistoryError> {
        if check != "db" {
            return Err(HistoryError::UnknownCheck(check.to_owned()));
        }
        Ok((0..100)
            .map(|i| Sample {
                at_ms: from + (to - from) / 100 * i,
                up: i != 50,
                latency_ms: Some(10.0),
            })
            .collect())
    }
    fn state_changes(&self, check: &str, _: i64) -> Result<Vec<StateChange>, HistoryError> {
        if check != "db" {
            return Err(HistoryError::UnknownCheck(check.to_owned()));
        }
        // Up for ever, down for the last 6 hours of today.
        Ok(vec![
            StateChange {
                at_ms: 0,
                state: "up".into(),
            },
            StateChange {
                at_ms: NOW - 6 * 3_600_000,
                state: "down".into(),
            },
        ])
    }
    fn incidents(&self, _: &str, _: i64, _: usize) -> Result<Vec<IncidentSpan>, HistoryError> {
        Ok(vec![IncidentSpan {
            started_ms: NOW - 6 * 3_600_000,
            ended_ms: None,
            cause: Some("refused".into()),
            diagnosis: Some("process_down".into()),
        }])
    }
    fn now_ms(&self) -> i64 {
        NOW
    }
}

async fn start(web: Web) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = linkpulse_web::routes(web);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn web(bus: &EventBus) -> Web {
    Web::new(bus.clone())
        .with_history(Arc::new(Fixed))
        .with_status_page(Some(StatusPage {
            title: "Acme".into(),
            description: None,
            groups: vec![StatusGroup {
                name: "API".into(),
                checks: vec!["db".into()],
            }],
        }))
}

/// One HTTP/1.1 request (testsupport's raw client, off this test's runtime, which serves
/// the routes); `extra` holds header lines. Returns (status, lowercase headers, body).
async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    let (path, extra) = (path.to_owned(), extra.to_owned());
    let r = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = extra
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        linkpulse_testsupport::http::request(addr, "GET", &path, &headers, "")
    })
    .await
    .expect("the request task")
    .expect("an HTTP answer");
    let head: String = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n").to_lowercase())
        .collect();
    (r.status, head, r.body)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[tokio::test]
async fn pages_and_assets() {
    let bus = EventBus::new(16);
    let addr = start(web(&bus)).await;
    for page in ["/", "/checks/db", "/nodes", "/status"] {
        let (status, head, body) = get(addr, page, "").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            header(&head, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&head, "cache-control"), Some("no-cache"));
        assert!(body.contains("/assets/v-"), "{page} links versioned assets");
    }
    let v = linkpulse_web::assets::version();
    let (status, head, body) = get(addr, &format!("/assets/{v}/app.js"), "").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&head, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(body.contains("CheckStore"));
    let (_, head, _) = get(addr, &format!("/assets/{v}/style.css"), "").await;
    assert_eq!(
        header(&head, "content-type"),
        Some("text/css; charset=utf-8")
    );

    // Unversioned: revalidated with the ETag.
    let (status, head, _) = get(addr, "/assets/vendor/uplot/uPlot.esm.js", "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    let etag = header(&head, "etag").unwrap().to_owned();
    let (status, _, body) = get(
        addr,
        "/assets/vendor/uplot/uPlot.esm.js",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(status, 304);
    assert!(body.is_empty());

    let (status, _, _) = get(addr, "/assets/../Cargo.toml", "").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(addr, "/assets/nope.js", "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn uptime_buckets_per_day_and_hour() {
    let addr = start(web(&EventBus::new(16))).await;
    let (status, _, body) = get(
        addr,
        "/api/v1/dashboard/uptime?range=90d&checks=db,ghost",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["bucket_ms"], DAY);
    assert!(
        v["checks"].get("ghost").is_none(),
        "unknown checks are left out"
    );
    let days = v["checks"]["db"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    // Today (UTC) so far: up 00:00–06:00, down 06:00–12:00 (now).
    let today = &days[89];
    assert_eq!(today["uptime"], 0.5);
    assert_eq!(today["incidents"], 1);
    assert_eq!(days[88]["uptime"], 1.0);
    assert_eq!(days[88]["incidents"], 0);

    let (_, _, body) = get(addr, "/api/v1/dashboard/uptime?range=24h&checks=db", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["bucket_ms"], 3_600_000);
    let hours = v["checks"]["db"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    // The last bucket starts at now (12:00): nothing known yet. The six before it are down.
    assert!(hours[23]["uptime"].is_null());
    assert_eq!(hours[22]["uptime"], 0.0);
    assert_eq!(hours[17]["uptime"], 0.0);
    assert_eq!(hours[16]["uptime"], 1.0);
}

#[tokio::test]
async fn series_and_sparklines() {
    let addr = start(web(&EventBus::new(16))).await;
    let (status, _, body) = get(
        addr,
        "/api/v1/dashboard/series?check=db&range=1h&points=10",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["t"].as_array().unwrap().len(), 10);
    assert_eq!(
        v["count"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        100
    );
    assert_eq!(
        v["fail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        1
    );
    assert_eq!(v["avg"][0], 10.0);

    let (status, _, body) = get(addr, "/api/v1/dashboard/series?check=ghost", "").await;
    assert_eq!(status, 404);
    assert!(body.contains("ghost"), "{body}");
    let (status, _, body) = get(addr, "/api/v1/dashboard/series?check=db&range=soon", "").await;
    assert_eq!(status, 400);
    assert!(body.contains("range=\\\"soon\\\""), "{body}");
    let (status, _, _) = get(addr, "/api/v1/dashboard/series?check=db&range=999d", "").await;
    assert_eq!(status, 400);
    let many = vec!["x"; 501].join(",");
    let (status, _, body) = get(addr, &format!("/api/v1/dashboard/uptime?checks={many}"), "").await;
    assert_eq!(status, 400);
    assert!(body.contains("501"), "{body}");

    let (status, _, body) = get(addr, "/api/v1/dashboard/sparklines?checks=db&points=4", "").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["checks"]["db"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn status_page_config_and_absence() {
    let addr = start(web(&EventBus::new(16))).await;
    let (status, _, body) = get(addr, "/api/v1/dashboard/status-page", "").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["title"], "Acme");
    assert_eq!(v["groups"][0]["checks"][0], "db");

    let bare = start(Web::new(EventBus::new(16))).await;
    let (status, _, _) = get(bare, "/api/v1/dashboard/status-page", "").await;
    assert_eq!(status, 404);
    let (status, _, body) = get(bare, "/api/v1/dashboard/series?check=db", "").await;
    assert_eq!(status, 404);
    assert!(body.contains("no history"), "{body}");
}

#[tokio::test]
async fn events_stream_published_state_changes() {
    let bus = EventBus::new(16);
    let addr = start(web(&bus)).await;
    // Publish until the subscriber is attached and the event arrives.
    let (mut r, seen) = follow_sse(addr, "/api/v1/events", "event: state", || {
        if bus.subscribers() > 0 {
            bus.publish(state_change("db", "refused"));
        }
    })
    .await;
    assert!(
        seen.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{seen}"
    );
    assert!(seen.contains("event: hello"), "{seen}");
    assert!(seen.contains("retry: 2000"), "{seen}");
    let mut data = String::new();
    r.read_line(&mut data).await.unwrap();
    assert!(data.starts_with("data: {\"check\":\"db\""), "{data}");
    assert!(data.contains("\"to\":\"down\""), "{data}");
}

#[tokio::test]
async fn closing_the_bus_ends_open_streams() {
    let bus = EventBus::new(16);
    let addr = start(web(&bus)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    let mut seen = String::new();
    while !seen.contains("event: hello") {
        let mut line = String::new();
        assert!(r.read_line(&mut line).await.unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    bus.close();
    // The chunked body ends (the connection itself may stay open for keep-alive).
    let mut rest = String::new();
    let end = async {
        while !rest.ends_with("0\r\n\r\n") {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            rest.push_str(&line);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), end)
        .await
        .expect("stream still open after close");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
}

/// A state change of `check` to `down` with the error text `cause`.
fn state_change(check: &str, cause: &str) -> Event {
    Event::State(StateEvent {
        check: check.into(),
        at_ms: NOW,
        from: "up".into(),
        to: "down".into(),
        cause: Some(cause.into()),
        diagnosis: None,
    })
}

/// Opens the SSE stream at `path` and reads it, calling `publish` between reads, until the text
/// read contains `until` (10 s at most); returns the reader and everything read.
async fn follow_sse(
    addr: std::net::SocketAddr,
    path: &str,
    until: &str,
    publish: impl Fn(),
) -> (BufReader<TcpStream>, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut r = BufReader::new(s);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(until) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {until:?} on {path}; got {seen:?}"
        );
        publish();
        let mut line = String::new();
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), r.read_line(&mut line)).await
        {
            assert!(n > 0, "stream closed; got {seen:?}");
            seen.push_str(&line);
        }
    }
    (r, seen)
}

#[tokio::test]
async fn public_status_serves_listed_checks_only() {
    let bus = EventBus::new(64);
    let web = Web::new(bus.clone())
        .with_history(Arc::new(Fixed))
        .with_status_page(Some(StatusPage {
            title: "Acme".into(),
            description: Some("Public".into()),
            groups: vec![StatusGroup {
                name: "Data".into(),
                checks: vec!["db".into(), "ghost".into()],
            }],
        }));
    let addr = start(web.clone()).await;

    let (status, _, body) = get(addr, "/api/v1/status", "").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["title"], "Acme");
    assert_eq!(v["overall"], "down", "the worst listed state: {v}");
    let comps = v["groups"][0]["components"].as_array().unwrap();
    let names: Vec<&str> = comps.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["db", "ghost"]);
    assert_eq!(comps[0]["state"], "down");
    assert_eq!(comps[0]["since_ms"], NOW - 6 * 3_600_000);
    assert_eq!(comps[0]["buckets"].as_array().unwrap().len(), 90);
    let up = comps[0]["uptime"].as_f64().unwrap();
    assert!(up > 0.9 && up < 1.0, "6 h down in 90 days: {up}");
    assert_eq!(
        comps[1]["state"], "unknown",
        "a listed check with no history"
    );
    assert!(comps[1]["uptime"].is_null());
    let inc = v["incidents"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{v}");
    assert_eq!(inc[0]["check"], "db");
    assert_eq!(inc[0]["diagnosis"], "process_down");
    assert!(
        !body.contains("refused"),
        "error texts are not published: {body}"
    );

    // The event stream carries listed checks only, without their error texts.
    let (_, seen) = follow_sse(addr, "/api/v1/status/events", "\"check\":\"db\"", || {
        if bus.subscribers() > 0 {
            bus.publish(state_change("secret", "connect to 10.1.2.3:5432 refused"));
            bus.publish(state_change("db", "connect to 10.1.2.3:5432 refused"));
        }
    })
    .await;
    assert!(seen.contains("event: hello"), "{seen}");
    assert!(seen.contains("event: state"), "{seen}");
    assert!(!seen.contains("secret"), "an unlisted check leaked: {seen}");
    assert!(!seen.contains("10.1.2.3"), "an error text leaked: {seen}");

    // A reload replaces the page for every clone of the handle.
    web.set_status_page(None);
    let (status, _, _) = get(addr, "/api/v1/status", "").await;
    assert_eq!(status, 404);
    let (status, _, _) = get(addr, "/api/v1/dashboard/status-page", "").await;
    assert_eq!(status, 404);
}
