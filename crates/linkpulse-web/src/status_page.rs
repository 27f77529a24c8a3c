//! The public status page: which checks it lists, in which groups, under which title — and the
//! only data the page at `/status` reads.
//!
//! The daemon validates the `status_page:` section of its config into a [`StatusPage`] and hands
//! it to [`crate::Web::with_status_page`] (and, on reload, to [`crate::Web::set_status_page`]).
//! The public page must never show a check that is not listed, so it does not read the
//! dashboard's APIs (`/api/v1/checks`, `/api/v1/incidents`, `/api/v1/events` carry every check)
//! and filter them in the browser. It reads two endpoints that filter on the server:
//!
//! - `GET /api/v1/status`: title, groups with each listed component's state and 90-day uptime
//!   bar, the overall status and the listed checks' incident history ([`StatusSummary`]);
//! - `GET /api/v1/status/events`: Server-Sent Events of the listed checks' state changes only
//!   (`state` with `check`, `at_ms`, `to`) and `reload` when the configuration changed, so the
//!   page updates without a reload.
//!
//! Error texts (`cause`) are not published: they name internal addresses and ports. The
//! diagnosis verdict (`process_down`, `host_unreachable`, …) is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Web;
use crate::compact::{self, UptimeBucket};
use crate::events::{Event, filtered_stream, sse_response};
use crate::source::{HistoryError, HistorySource};

/// A validated status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusPage {
    /// Page title, e.g. "Acme status".
    pub title: String,
    /// Optional text under the title.
    pub description: Option<String>,
    /// Components, grouped, in display order.
    pub groups: Vec<StatusGroup>,
}

/// A group of components on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusGroup {
    /// Group heading, e.g. "API".
    pub name: String,
    /// Names of the checks shown, in display order.
    pub checks: Vec<String>,
}

impl StatusPage {
    /// Every listed check name, in display order.
    pub fn checks(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.checks.iter().map(String::as_str))
    }

    /// `name` is listed on the page.
    pub fn lists(&self, name: &str) -> bool {
        self.checks().any(|c| c == name)
    }
}

/// Answer of `GET /api/v1/status`: everything the public page shows, for listed checks only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusSummary {
    /// Page title.
    pub title: String,
    /// Text under the title.
    pub description: Option<String>,
    /// Worst known state of the listed checks (`down` > `degraded` > `up`); `unknown` only when
    /// none has a known state.
    pub overall: String,
    /// When this answer was made, milliseconds since the Unix epoch.
    pub generated_ms: i64,
    /// Width of one uptime bucket (one day).
    pub bucket_ms: i64,
    /// The groups, in display order.
    pub groups: Vec<StatusGroupSummary>,
    /// Incidents of the listed checks over the last 90 days, newest first, at most 50.
    pub incidents: Vec<PublicIncident>,
}

/// One group of [`StatusSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusGroupSummary {
    /// Group heading.
    pub name: String,
    /// Its components, in display order.
    pub components: Vec<Component>,
}

/// One listed check as the public sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Check name.
    pub name: String,
    /// `up`, `degraded`, `down` or `unknown`.
    pub state: String,
    /// When the current state was entered.
    pub since_ms: Option<i64>,
    /// Time-weighted uptime over the buckets with data, 0–1; `null` with no data.
    pub uptime: Option<f64>,
    /// One bucket per day for 90 days, the last one holding now.
    pub buckets: Vec<UptimeBucket>,
    /// Uptime over the same days with silences and maintenance windows left out, 0–1; omitted
    /// when none held the check in that time (status pages report both figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_excluding_maintenance: Option<f64>,
    /// Under a silence or maintenance window now (omitted when not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
}

/// An incident as the public page shows it: no error text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicIncident {
    /// The check it happened to.
    pub check: String,
    /// When it started.
    pub started_ms: i64,
    /// When it ended; `null` while ongoing.
    pub ended_ms: Option<i64>,
    /// The diagnosis verdict, when known.
    pub diagnosis: Option<String>,
}

const DAY_MS: i64 = 86_400_000;
const DAYS: usize = 90;
const MAX_INCIDENTS: usize = 50;

/// The worse of two known states for the overall status: down > degraded > up.
fn worse(a: &'static str, b: &'static str) -> &'static str {
    let rank = |s: &str| match s {
        "down" => 2,
        "degraded" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Builds the public summary of `page` from `src` (blocking: storage reads).
pub fn summarise(
    page: &StatusPage,
    src: &dyn HistorySource,
) -> Result<StatusSummary, HistoryError> {
    let now = src.now_ms();
    let to = (now / DAY_MS + 1) * DAY_MS;
    let from = to - DAY_MS * DAYS as i64;
    let mut overall: Option<&'static str> = None;
    let mut incidents = Vec::new();
    let mut groups = Vec::with_capacity(page.groups.len());
    for g in &page.groups {
        let mut components = Vec::with_capacity(g.checks.len());
        for name in &g.checks {
            // A listed check the daemon no longer has (or not yet): shown as unknown.
            let (changes, spans) = match src.state_changes(name, from) {
                Ok(changes) => (changes, src.incidents(name, from, 10_000)?),
                Err(HistoryError::UnknownCheck(_)) => (Vec::new(), Vec::new()),
                Err(e) => return Err(e),
            };
            let current = changes.iter().rev().find(|c| c.at_ms <= now);
            let state: &'static str = current.map_or("unknown", |c| match c.state.as_str() {
                "up" => "up",
                "down" => "down",
                "degraded" => "degraded",
                _ => "unknown",
            });
            // A component with no data yet (a push job before its first run) is shown as such
            // but does not turn the whole page "unknown".
            if state != "unknown" {
                overall = Some(overall.map_or(state, |o| worse(o, state)));
            }
            let buckets = compact::uptime_buckets(&changes, &spans, from, to, now, DAYS);
            let uptime = weighted_uptime(&buckets, now);
            incidents.extend(spans.into_iter().map(|s| PublicIncident {
                check: name.clone(),
                started_ms: s.started_ms,
                ended_ms: s.ended_ms,
                diagnosis: s.diagnosis,
            }));
            components.push(Component {
                name: name.clone(),
                state: state.to_owned(),
                since_ms: current.map(|c| c.at_ms),
                uptime,
                uptime_excluding_maintenance: src.uptime_excluding_maintenance(name, from, now),
                buckets,
                maintenance: src.maintenance(name),
            });
        }
        groups.push(StatusGroupSummary {
            name: g.name.clone(),
            components,
        });
    }
    incidents.sort_by_key(|i| std::cmp::Reverse(i.started_ms));
    incidents.truncate(MAX_INCIDENTS);
    Ok(StatusSummary {
        title: page.title.clone(),
        description: page.description.clone(),
        overall: overall.unwrap_or("unknown").to_owned(),
        generated_ms: now,
        bucket_ms: DAY_MS,
        groups,
        incidents,
    })
}

/// Uptime over the buckets with data, each weighted by the part of it that has passed.
fn weighted_uptime(buckets: &[UptimeBucket], now: i64) -> Option<f64> {
    let mut weight = 0.0;
    let mut sum = 0.0;
    for b in buckets {
        let Some(u) = b.uptime else { continue };
        let w = (now - b.start_ms).clamp(0, DAY_MS) as f64;
        weight += w;
        sum += u * w;
    }
    (weight > 0.0).then(|| sum / weight)
}

fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no status_page in the configuration" })),
    )
        .into_response()
}

/// `GET /api/v1/dashboard/status-page`: the configuration (title, groups, names).
pub(crate) async fn handler(State(web): State<Web>) -> Response {
    match web.status_page() {
        Some(p) => Json(p.as_ref().clone()).into_response(),
        None => not_configured(),
    }
}

/// How long a [`StatusSummary`] is served again while no state changed: a public page may be
/// read by many people at once, and each summary reads 90 days of history per listed check.
/// Uptime figures move slowly; a state change, diagnosis or reload makes it stale at once.
pub(crate) const SUMMARY_TTL: Duration = Duration::from_secs(10);

/// The last summary served and what it was computed from.
#[derive(Debug)]
struct CachedSummary {
    at: Instant,
    page: Arc<StatusPage>,
    generation: u64,
    summary: Arc<StatusSummary>,
}

/// One summary shared by every request until it is stale; requests that arrive while it is
/// being computed wait for it (one computation, not one per request).
#[derive(Debug, Default)]
pub(crate) struct SummaryCache(tokio::sync::Mutex<Option<CachedSummary>>);

impl SummaryCache {
    /// The cached summary for `page` at `generation`, or a new one from `src`.
    async fn get(
        &self,
        page: Arc<StatusPage>,
        generation: u64,
        src: Arc<dyn HistorySource>,
    ) -> Result<Arc<StatusSummary>, String> {
        let mut slot = self.0.lock().await;
        if let Some(c) = slot.as_ref()
            && Arc::ptr_eq(&c.page, &page)
            && c.generation == generation
            && c.at.elapsed() < SUMMARY_TTL
        {
            return Ok(Arc::clone(&c.summary));
        }
        let p = Arc::clone(&page);
        let summary = match tokio::task::spawn_blocking(move || summarise(&p, src.as_ref())).await {
            Ok(Ok(s)) => Arc::new(s),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        *slot = Some(CachedSummary {
            at: Instant::now(),
            page,
            generation,
            summary: Arc::clone(&summary),
        });
        Ok(summary)
    }
}

/// `GET /api/v1/status`: the [`StatusSummary`] (cached, see [`SUMMARY_TTL`]).
pub(crate) async fn summary(State(web): State<Web>) -> Response {
    let Some(page) = web.status_page() else {
        return not_configured();
    };
    let Some(src) = web.history.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "this server keeps no history" })),
        )
            .into_response();
    };
    // Read before computing: a change published meanwhile makes the result stale next time.
    let generation = web.bus.generation();
    match web.summaries.get(page, generation, src).await {
        Ok(s) => Json(s.as_ref()).into_response(),
        // The error names the database (server, role, file): logged, never published.
        Err(e) => {
            tracing::warn!(error = %e, "the public status summary cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": "the status is temporarily unavailable" })),
            )
                .into_response()
        }
    }
}

/// The public event for `ev`, if it concerns a check listed now (or the page itself).
fn public_event(web: &Web, ev: &Event) -> Option<SseEvent> {
    if let Event::Reload(r) = ev {
        let data = serde_json::json!({ "at_ms": r.at_ms });
        return Some(SseEvent::default().event("reload").data(data.to_string()));
    }
    let Event::State(s) = ev else { return None };
    let page = web.status_page()?;
    if !page.lists(&s.check) {
        return None;
    }
    let data = serde_json::json!({ "check": s.check, "at_ms": s.at_ms, "to": s.to });
    Some(SseEvent::default().event("state").data(data.to_string()))
}

/// `GET /api/v1/status/events`: `hello`, then `state` events of listed checks only, `reload`
/// when the configuration changed, and `resync` when the stream fell behind (for both, re-read
/// `/api/v1/status`).
pub(crate) async fn events(State(web): State<Web>) -> Response {
    let bus = web.bus.clone();
    sse_response(filtered_stream(&bus, move |ev| public_event(&web, ev)))
}

/// Shared, replaceable page (a reload may change or remove it).
pub(crate) type SharedPage = Arc<std::sync::RwLock<Option<Arc<StatusPage>>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{IncidentSpan, Sample, StateChange};

    /// `up` is up since the epoch; every other name is unknown to the daemon.
    struct OneUp;

    impl HistorySource for OneUp {
        fn samples(&self, _: &str, _: i64, _: i64, _: usize) -> Result<Vec<Sample>, HistoryError> {
            Ok(Vec::new())
        }
        fn state_changes(&self, check: &str, _: i64) -> Result<Vec<StateChange>, HistoryError> {
            match check {
                "up" => Ok(vec![StateChange {
                    at_ms: 0,
                    state: "up".into(),
                }]),
                _ => Err(HistoryError::UnknownCheck(check.to_owned())),
            }
        }
        fn incidents(&self, _: &str, _: i64, _: usize) -> Result<Vec<IncidentSpan>, HistoryError> {
            Ok(Vec::new())
        }
        fn now_ms(&self) -> i64 {
            1_768_046_400_000
        }
    }

    fn page(checks: &[&str]) -> StatusPage {
        StatusPage {
            title: "t".into(),
            description: None,
            groups: vec![StatusGroup {
                name: "g".into(),
                checks: checks.iter().map(|c| (*c).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn a_component_without_data_does_not_make_the_page_unknown() {
        let s = summarise(&page(&["up", "push-job-not-run-yet"]), &OneUp).unwrap();
        assert_eq!(s.overall, "up");
        assert_eq!(s.groups[0].components[1].state, "unknown");
        let s = summarise(&page(&["never-ran"]), &OneUp).unwrap();
        assert_eq!(s.overall, "unknown", "nothing is known at all");
    }

    /// [`OneUp`] counting how often the history is read.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl HistorySource for Counting {
        fn samples(&self, c: &str, f: i64, t: i64, n: usize) -> Result<Vec<Sample>, HistoryError> {
            OneUp.samples(c, f, t, n)
        }
        fn state_changes(&self, check: &str, from: i64) -> Result<Vec<StateChange>, HistoryError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            OneUp.state_changes(check, from)
        }
        fn incidents(&self, c: &str, f: i64, n: usize) -> Result<Vec<IncidentSpan>, HistoryError> {
            OneUp.incidents(c, f, n)
        }
        fn now_ms(&self) -> i64 {
            OneUp.now_ms()
        }
    }

    #[tokio::test]
    async fn the_summary_is_computed_once_until_a_state_changes_or_the_page_is_replaced() {
        let src = Arc::new(Counting::default());
        let reads = || src.0.load(std::sync::atomic::Ordering::Relaxed);
        let cache = SummaryCache::default();
        let page = Arc::new(page(&["up"]));
        let get = |page: &Arc<StatusPage>, generation| {
            cache.get(
                Arc::clone(page),
                generation,
                src.clone() as Arc<dyn HistorySource>,
            )
        };
        let first = get(&page, 0).await.unwrap();
        let once = reads();
        assert!(once > 0);
        let again = get(&page, 0).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "served from the cache");
        assert_eq!(reads(), once, "no second read of the history");
        // A state change (the bus's generation moved) makes it stale.
        get(&page, 1).await.unwrap();
        assert_eq!(reads(), 2 * once);
        // So does a reload that replaced the page, even with the same content.
        let replaced = Arc::new(page.as_ref().clone());
        get(&replaced, 1).await.unwrap();
        assert_eq!(reads(), 3 * once);
        assert_eq!(get(&replaced, 1).await.unwrap().overall, "up");
        assert_eq!(reads(), 3 * once);
    }

    #[test]
    fn state_changes_and_reloads_move_the_bus_generation_but_results_do_not() {
        let bus = crate::EventBus::new(16);
        assert_eq!(bus.generation(), 0);
        bus.publish(Event::Result(crate::ResultEvent {
            check: "up".into(),
            at_ms: 1,
            up: true,
            latency_ms: None,
            state: "up".into(),
            result: serde_json::Value::Null,
        }));
        assert_eq!(bus.generation(), 0, "a result alone changes no state");
        bus.publish(Event::State(crate::StateEvent {
            check: "up".into(),
            at_ms: 2,
            from: "unknown".into(),
            to: "up".into(),
            cause: None,
            diagnosis: None,
        }));
        assert_eq!(
            bus.generation(),
            1,
            "published with nobody listening, still counted"
        );
    }
}
