//! A stand-alone demo of the dashboard with synthetic checks: no probes, no database.
//!
//! `cargo run -p linkpulse-web --example demo -- [CHECKS] [LISTEN]` (defaults: 200,
//! `127.0.0.1:0`). Prints `demo listening on http=ADDR`. Serves the same JSON API shapes as the
//! daemon (`/api/v1/checks`, `/api/v1/checks/{name}`, `…/history`, `/api/v1/incidents`) from
//! memory, flips a few checks every second and publishes the events — for front-end work,
//! screenshots and `bench/dashboard-render`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use linkpulse_web::{
    Event, EventBus, HistoryError, HistorySource, IncidentSpan, ResultEvent, Sample, StateChange,
    StateEvent, StatusGroup, StatusPage, Web,
};
use serde_json::{Value, json};

const MIN_MS: i64 = 60_000;

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(0)
}

/// Deterministic noise in [0, 1).
fn noise(a: u64, b: u64) -> f64 {
    let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Clone)]
struct Check {
    name: String,
    kind: &'static str,
    state: String,
    base: f64,
    idx: u64,
    labels: BTreeMap<String, String>,
    changes: Vec<(i64, String)>,
    incidents: Vec<(i64, Option<i64>, String, String)>,
}

#[derive(Clone)]
struct Demo {
    checks: Arc<Mutex<Vec<Check>>>,
    bus: EventBus,
}

fn result_json(c: &Check, up: bool, latency: f64) -> Value {
    let target = match c.kind {
        "http" => format!("https://{}.example.test/health", c.name),
        "tcp" => format!("tcp://10.0.{}.{}:5432", c.idx / 250, c.idx % 250),
        _ => format!("icmp://10.1.{}.{}", c.idx / 250, c.idx % 250),
    };
    let mut v = json!({
        "target": target, "kind": c.kind, "up": up, "warning": null,
        "latency_ms": if up { Some(latency) } else { None }, "resolved": "127.0.0.1",
        "error": if up { Value::Null } else { json!({"kind": "refused", "message": format!("connection refused by {target}")}) },
    });
    if c.kind == "http" && up {
        v["http"] = json!({"status": 200, "version": "HTTP/1.1", "body_bytes": 2, "redirects": 0, "final_url": v["target"],
            "phases": {"dns_ms": 0.4, "connect_ms": latency * 0.2, "tls_ms": latency * 0.35, "first_byte_ms": latency * 0.4, "total_ms": latency}});
        v["tls"] = json!({"version": "TLSv1.3", "alpn": "h2", "cert_days_left": 9 + (c.idx % 80) as i64,
            "earliest_expiry": now_ms() / 1000 + 86_400 * (9 + (c.idx % 80) as i64), "subject": format!("CN={}.example.test", c.name), "issuer": "CN=Demo CA"});
    }
    v
}

fn item(c: &Check) -> Value {
    let up = c.state != "down";
    let diagnosis =
        (c.state == "down").then_some("process_down: host answers ping, port 5432 refused");
    json!({"name": c.name, "kind": c.kind, "state": c.state, "labels": c.labels,
        "last": result_json(c, up, c.base), "uptime": {"24h": if up { 99.93 } else { 97.0 }, "7d": 99.91, "30d": 99.87},
        "diagnosis": diagnosis})
}

impl HistorySource for Demo {
    fn samples(
        &self,
        check: &str,
        from_ms: i64,
        to_ms: i64,
        _limit: usize,
    ) -> Result<Vec<Sample>, HistoryError> {
        let checks = self
            .checks
            .lock()
            .map_err(|e| HistoryError::Backend(e.to_string()))?;
        let c = checks
            .iter()
            .find(|c| c.name == check)
            .ok_or_else(|| HistoryError::UnknownCheck(check.to_owned()))?;
        let step = ((to_ms - from_ms) / 2_000).max(MIN_MS);
        let mut out = Vec::new();
        let mut t = from_ms - from_ms % step;
        while t < to_ms {
            let n = noise(c.idx, t as u64);
            let wave = (t as f64 / 3_600_000.0 * 0.7 + c.idx as f64).sin() * 0.25 + 1.0;
            out.push(Sample {
                at_ms: t,
                up: n > 0.002,
                latency_ms: Some(c.base * wave * (0.8 + n * 0.4)),
            });
            t += step;
        }
        Ok(out)
    }

    fn state_changes(&self, check: &str, from_ms: i64) -> Result<Vec<StateChange>, HistoryError> {
        let checks = self
            .checks
            .lock()
            .map_err(|e| HistoryError::Backend(e.to_string()))?;
        let c = checks
            .iter()
            .find(|c| c.name == check)
            .ok_or_else(|| HistoryError::UnknownCheck(check.to_owned()))?;
        let start = c
            .changes
            .iter()
            .rposition(|(t, _)| *t < from_ms)
            .unwrap_or(0);
        Ok(c.changes[start..]
            .iter()
            .map(|(t, s)| StateChange {
                at_ms: *t,
                state: s.clone(),
            })
            .collect())
    }

    fn incidents(
        &self,
        check: &str,
        from_ms: i64,
        _limit: usize,
    ) -> Result<Vec<IncidentSpan>, HistoryError> {
        let checks = self
            .checks
            .lock()
            .map_err(|e| HistoryError::Backend(e.to_string()))?;
        let c = checks
            .iter()
            .find(|c| c.name == check)
            .ok_or_else(|| HistoryError::UnknownCheck(check.to_owned()))?;
        Ok(c.incidents
            .iter()
            .filter(|i| i.1.is_none_or(|e| e >= from_ms))
            .map(|i| IncidentSpan {
                started_ms: i.0,
                ended_ms: i.1,
                cause: Some(i.2.clone()),
                diagnosis: Some(i.3.clone()),
            })
            .collect())
    }
}

async fn list(State(d): State<Demo>) -> Response {
    let checks = d
        .checks
        .lock()
        .map(|c| c.iter().map(item).collect::<Vec<_>>())
        .unwrap_or_default();
    Json(checks).into_response()
}

async fn one(State(d): State<Demo>, Path(name): Path<String>) -> Response {
    let found = d
        .checks
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|c| c.name == name).map(item));
    match found {
        Some(v) => Json(v).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such check"})),
        )
            .into_response(),
    }
}

async fn history(State(d): State<Demo>, Path(name): Path<String>) -> Response {
    let now = now_ms();
    let Ok(samples) = d.samples(&name, now - 50 * 30_000, now, 50) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such check"})),
        )
            .into_response();
    };
    let c = d
        .checks
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|c| c.name == name).cloned());
    let Some(c) = c else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let rows: Vec<Value> = samples
        .iter()
        .rev()
        .map(|s| {
            json!({"check": name, "at_ms": s.at_ms, "up": s.up,
        "latency_ms": s.latency_ms, "error_kind": if s.up { Value::Null } else { json!("refused") },
        "result": result_json(&c, s.up, s.latency_ms.unwrap_or(0.0))})
        })
        .collect();
    Json(rows).into_response()
}

/// Synthetic hub nodes in the shape of `GET /api/v1/nodes`.
fn nodes(n: u64) -> Value {
    let list: Vec<Value> = (0..12u64)
        .map(|i| {
            let state = match (i + n / 20) % 12 {
                3 => "dead",
                7 => "suspect",
                10 => "left",
                _ => "alive",
            };
            let dead = state == "dead" || state == "left";
            json!({
                "name": format!("worker-{i:02}"),
                "state": state,
                "cause": if state == "dead" { json!("timeout") } else if state == "left" { json!("goodbye") } else { Value::Null },
                "diagnosis": if state == "dead" { json!("host_unreachable") } else { Value::Null },
                "status": if dead { Value::Null } else { json!({"health": if i % 5 == 4 { "degraded" } else { "ok" }, "detail": if i % 5 == 4 { "disk 91% full" } else { "" }, "gauges": {"load": (noise(i, n) * 4.0 * 100.0).round() / 100.0}}) },
                "labels": {"zone": if i % 2 == 0 { "eu-west" } else { "eu-central" }, "pool": "batch"},
                "rtt_ms": if dead { Value::Null } else { json!(0.2 + noise(i, n + 1) * 3.0) },
                "since": "2026-11-21T06:00:00Z",
                "address": format!("10.2.0.{}:7000", 10 + i),
                "incarnation": format!("{:08x}/{:04x}", i * 7919, n % 65_536),
                "restart": if i == 2 { json!("process_restarted") } else { json!("same") },
                "session": i + 1,
            })
        })
        .collect();
    json!({"revision": n, "nodes": list})
}

async fn node_list() -> Response {
    Json(nodes(0)).into_response()
}

async fn node_watch() -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::Event as E;
    let s = futures_util::stream::unfold(0u64, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let ev = if n == 0 {
            E::default().event("snapshot").data(nodes(0).to_string())
        } else {
            let all = nodes(n * 5);
            let node = all["nodes"][usize::try_from(n % 12).unwrap_or(0)].clone();
            E::default()
                .event("status")
                .data(json!({"revision": n, "event": "status", "node": node}).to_string())
        };
        Some((Ok(ev), n + 1))
    });
    axum::response::sse::Sse::new(s)
}

async fn incidents(State(d): State<Demo>) -> Response {
    let mut out = Vec::new();
    if let Ok(checks) = d.checks.lock() {
        for c in checks.iter() {
            for (i, inc) in c.incidents.iter().enumerate() {
                out.push(json!({"id": i, "check": c.name, "started_ms": inc.0, "ended_ms": inc.1, "cause": inc.2,
                    "diagnosis": inc.3.split(':').next(), "diagnosis_detail": {"summary": inc.3.split_once(": ").map(|x| x.1)}}));
            }
        }
    }
    Json(out).into_response()
}

fn make(n: usize) -> Vec<Check> {
    let now = now_ms();
    let kinds = ["http", "tcp", "icmp"];
    let teams = ["payments", "search", "core", "edge"];
    (0..n)
        .map(|i| {
            let i64i = i as i64;
            let kind = kinds[i % 3];
            let state = if i % 97 == 5 {
                "down"
            } else if i % 53 == 7 {
                "degraded"
            } else {
                "up"
            };
            let mut changes = vec![(now - 100 * 86_400_000, "up".to_owned())];
            let mut incidents = Vec::new();
            for k in 0..3 {
                let start =
                    now - (5 + (i64i * 7 + k * 23) % 80) * 86_400_000 - (i64i % 24) * 3_600_000;
                let end = start + (5 + (i64i + k) % 90) * MIN_MS;
                changes.push((start, "down".to_owned()));
                changes.push((end, "up".to_owned()));
                incidents.push((
                    start,
                    Some(end),
                    "refused: connection refused".to_owned(),
                    "process_down: host answers ping, port refused".to_owned(),
                ));
            }
            changes.sort();
            if state != "up" {
                changes.push((now - 20 * MIN_MS, state.to_owned()));
                if state == "down" {
                    incidents.push((
                        now - 20 * MIN_MS,
                        None,
                        "refused: connection refused".to_owned(),
                        "process_down: host answers ping, port 5432 refused".to_owned(),
                    ));
                }
            }
            let mut labels = BTreeMap::new();
            labels.insert("team".to_owned(), teams[i % 4].to_owned());
            labels.insert(
                "env".to_owned(),
                if i % 5 == 0 { "staging" } else { "prod" }.to_owned(),
            );
            Check {
                name: format!("{}-{kind}-{i:04}", teams[i % 4]),
                kind,
                state: state.to_owned(),
                base: 2.0 + noise(i as u64, 1) * 120.0,
                idx: i as u64,
                labels,
                changes,
                incidents,
            }
        })
        .collect()
}

async fn tick(d: Demo) {
    let mut n: u64 = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        n += 1;
        let events = {
            let Ok(mut checks) = d.checks.lock() else {
                return;
            };
            let len = checks.len().max(1);
            let mut ev = Vec::new();
            for k in 0..8u64 {
                let i = ((noise(n, k) * len as f64) as usize).min(len - 1);
                let c = &mut checks[i];
                let flip = noise(n, k + 100) < 0.02;
                let now = now_ms();
                if flip {
                    let to = if c.state == "down" { "up" } else { "down" };
                    let from = std::mem::replace(&mut c.state, to.to_owned());
                    c.changes.push((now, to.to_owned()));
                    ev.push(Event::State(StateEvent {
                        check: c.name.clone(),
                        at_ms: now,
                        from,
                        to: to.to_owned(),
                        cause: Some("refused: connection refused".to_owned()),
                        diagnosis: Some("process_down".to_owned()),
                    }));
                }
                let up = c.state != "down";
                let lat = c.base * (0.8 + noise(n, k + 7) * 0.4);
                ev.push(Event::Result(ResultEvent {
                    check: c.name.clone(),
                    at_ms: now,
                    up,
                    latency_ms: up.then_some(lat),
                    state: c.state.clone(),
                    result: result_json(c, up, lat),
                }));
            }
            ev
        };
        for e in events {
            d.bus.publish(e);
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let bus = EventBus::new(4096);
    let demo = Demo {
        checks: Arc::new(Mutex::new(make(n))),
        bus: bus.clone(),
    };
    let names: Vec<String> = demo
        .checks
        .lock()
        .map(|c| c.iter().take(6).map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let page = StatusPage {
        title: "Demo status".to_owned(),
        description: Some("Synthetic checks from the linkpulse-web demo.".to_owned()),
        groups: vec![
            StatusGroup {
                name: "API".to_owned(),
                checks: names.iter().take(3).cloned().collect(),
            },
            StatusGroup {
                name: "Databases".to_owned(),
                checks: names.iter().skip(3).cloned().collect(),
            },
        ],
    };
    let web = Web::new(bus)
        .with_history(Arc::new(demo.clone()))
        .with_status_page(Some(page));
    let api = Router::new()
        .route("/api/v1/checks", get(list))
        .route("/api/v1/checks/{name}", get(one))
        .route("/api/v1/checks/{name}/history", get(history))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/nodes", get(node_list))
        .route("/api/v1/nodes/watch", get(node_watch))
        .with_state(demo.clone());
    let app = api.merge(linkpulse_web::routes(web));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("demo listening on http={}", listener.local_addr()?);
    tokio::spawn(tick(demo));
    axum::serve(listener, app).await
}
