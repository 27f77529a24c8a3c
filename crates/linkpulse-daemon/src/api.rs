//! The HTTP API: checks, history, incidents, push, reload, health and metrics.
//!
//! [`router`] returns an axum `Router`; the daemon merges more routers into it (the probe
//! endpoint, and later the hub's node registry and the dashboard).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::availability::{self, Availability};
use crate::config::Config;
use crate::engine::{CheckView, EngineHandle, PushEvent, Views};
use crate::metrics::Metrics;
use crate::storage::{Millis, Storage, TransitionRecord, now_ms};

const DAY_MS: Millis = 86_400_000;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Views of every check.
    pub views: Views,
    /// History.
    pub storage: Arc<dyn Storage>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The engine.
    pub engine: EngineHandle,
    /// Bearer token for endpoints that change things (replaced on reload).
    pub api_token: Arc<RwLock<Option<String>>>,
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// The dashboard, whose status page a reload replaces.
    pub web: linkpulse_web::Web,
    /// The settings read only at start, to tell a reload that changes them.
    pub start_only: StartOnly,
    /// The rate limit of pushes per token.
    pub push_limit: Arc<std::sync::Mutex<crate::push::limit::PushLimiter>>,
    /// The key generated push tokens are derived from (read from the database at start).
    pub push_key: String,
    /// Push token by check name (configured or generated), shown only to writers.
    pub push_tokens: Arc<RwLock<HashMap<String, String>>>,
    /// Cluster mode: passes a push for a check this member does not run to its owner.
    pub push_relay: Option<crate::cluster::PushRelay>,
    /// The `auth:` rules in force (replaced on reload).
    pub access: crate::access::AccessSlot,
    /// Cluster mode: the members as this member last read them; `None` outside cluster mode.
    pub cluster: Option<crate::cluster::ClusterView>,
    /// Cluster mode: the latest result of each vantage of each multi-vantage check.
    pub vantages: Option<crate::cluster::VantageViews>,
    /// The `maintenance:` windows in force (replaced on reload).
    pub windows: crate::maintenance::Windows,
    /// The alert targets in force, `(name, kind)` (replaced on reload).
    pub channels: crate::alerts::Channels,
}

/// The push token of every push check of `config`, by check name.
pub fn push_tokens(config: &Config, key: &str) -> HashMap<String, String> {
    let mut checks = config.checks.clone();
    crate::push::token::resolve(&mut checks, key);
    checks
        .into_iter()
        .filter_map(|c| match c.spec {
            crate::config::CheckSpec::Push { token, .. } => Some((c.name, token)),
            _ => None,
        })
        .collect()
}

/// Settings the daemon reads only at start: a reload that changes them applies everything
/// else and lists these under `needs_restart` (and in a warning), never silently ignores them.
#[derive(Debug, Clone, PartialEq)]
pub struct StartOnly {
    listen: std::net::SocketAddr,
    database: PathBuf,
    retention: crate::config::Retention,
    hub: Option<crate::config::HubConfig>,
    tls: Option<crate::config::tls::ListenTls>,
}

impl StartOnly {
    /// The start-only settings of `config`.
    pub fn of(config: &Config) -> StartOnly {
        StartOnly {
            listen: config.listen,
            database: config.database.clone(),
            retention: config.retention,
            hub: config.hub.clone(),
            tls: config.tls.clone(),
        }
    }

    /// The keys whose values differ in `other`.
    pub fn changed(&self, other: &StartOnly) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.listen != other.listen {
            keys.push("listen");
        }
        if self.database != other.database {
            keys.push("database");
        }
        if self.retention != other.retention {
            keys.push("retention");
        }
        if self.hub != other.hub {
            keys.push("hub");
        }
        if self.tls != other.tls {
            keys.push("tls");
        }
        keys
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config_path", &self.config_path)
            .finish()
    }
}

/// An error answer: status plus `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(status, message.into())
    }

    /// A 500 answer.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        internal(e)
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// What went wrong, in words (the `error` of the answer).
    pub fn message(&self) -> &str {
        &self.1
    }
}

/// The message alone: the status is for HTTP clients, a log line needs the words.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Runs a blocking storage read off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::storage::StorageError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(internal)?
        .map_err(internal)
}

/// All routes of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/checks", get(list_checks))
        .route("/api/v1/checks/{name}", get(one_check))
        .route("/api/v1/checks/{name}/history", get(history))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/push/{token}", get(push_ok).post(push_ok))
        .route("/api/v1/push/{token}/fail", get(push_fail).post(push_fail))
        .route(
            "/api/v1/push/{token}/start",
            get(push_start).post(push_start),
        )
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/cluster", get(cluster))
        .with_state(state)
}

/// `ready` (200), or 503 with one line per reason the monitor itself is at fault: a probe
/// failed for a local reason lately, or the database refuses writes.
async fn readyz(State(s): State<AppState>) -> Response {
    let storage = s.storage.health();
    let reasons = s
        .metrics
        .health
        .reasons(std::time::Instant::now(), &storage);
    if reasons.is_empty() {
        return "ready\n".into_response();
    }
    let mut body = String::from("not ready\n");
    for r in reasons {
        body.push_str(&r);
        body.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// Cluster mode: this member, the database's reachability and every member with its lease
/// and share; 404 when the daemon is not in cluster mode, 503 before its first renewal.
async fn cluster(State(s): State<AppState>) -> Response {
    let Some(view) = &s.cluster else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "this daemon is not in cluster mode (no `cluster:` in its config)" })),
        )
            .into_response();
    };
    match view.get() {
        Some(status) => Json(status).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "this member has not reached the database yet" })),
        )
            .into_response(),
    }
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), the classic text format
/// otherwise ([`crate::metrics::Format`]).
async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = crate::metrics::Format::from_accept(accept);
    s.metrics.sync_storage(&s.storage.health());
    (
        [(header::CONTENT_TYPE, format.content_type())],
        s.metrics.encode_as(format),
    )
        .into_response()
}

/// Every view, sorted by check name.
fn views(s: &AppState) -> Vec<CheckView> {
    let mut list: Vec<CheckView> = s
        .views
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect();
    list.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    list
}

fn group(ts: Vec<TransitionRecord>) -> HashMap<String, Vec<TransitionRecord>> {
    let mut by: HashMap<String, Vec<TransitionRecord>> = HashMap::new();
    for t in ts {
        by.entry(t.check.clone()).or_default().push(t);
    }
    by
}

fn uptimes(ts: &[TransitionRecord], now: Millis) -> Value {
    let u = |days: i64| availability::compute(ts, now - days * DAY_MS, now).uptime;
    json!({ "24h": u(1), "7d": u(7), "30d": u(30) })
}

/// A list item: the view, `uptime` per window and the 30-day incident figures.
fn item(v: &CheckView, ts: &[TransitionRecord], now: Millis) -> Value {
    let mut out = serde_json::to_value(v).unwrap_or_default();
    let month = availability::compute(ts, now - 30 * DAY_MS, now);
    if let Some(o) = out.as_object_mut() {
        o.insert("uptime".to_owned(), uptimes(ts, now));
        o.insert(
            "incidents_30d".to_owned(),
            json!({ "count": month.incidents, "mttr_ms": month.mttr_ms, "mtbf_ms": month.mtbf_ms }),
        );
    }
    out
}

/// How long the check list waits for the availability figures before answering without them.
const LIST_READ_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Every check with its availability figures. The states are the engine's, not the
/// database's: while the database cannot be read (a PostgreSQL outage) the list is still
/// answered, with `uptime` and `incidents_30d` null — also when the database does not answer
/// within [`LIST_READ_WAIT`] (its host cut off: a read waits for TCP timeouts).
async fn list_checks(State(s): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let now = now_ms();
    let st = s.storage.clone();
    let read = blocking(move || st.transitions(None, now - 30 * DAY_MS));
    let ts = match tokio::time::timeout(LIST_READ_WAIT, read).await {
        Ok(Ok(ts)) => Some(group(ts)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e.1, "check list without availability: history unreadable");
            None
        }
        Err(_) => {
            tracing::debug!("check list without availability: the database does not answer");
            None
        }
    };
    let holds = match &ts {
        Some(_) => holds(&s, now - 30 * DAY_MS).await.ok(),
        None => None,
    };
    let empty = Vec::new();
    Ok(Json(
        views(&s)
            .iter()
            .map(|v| match &ts {
                Some(ts) => {
                    let ts = ts.get(&v.name).unwrap_or(&empty);
                    let mut out = item(v, ts, now);
                    if let Some(holds) = &holds {
                        holds.annotate_item(&mut out, v, ts, now);
                    }
                    out
                }
                None => {
                    let mut out = serde_json::to_value(v).unwrap_or_default();
                    if let Some(o) = out.as_object_mut() {
                        o.insert("uptime".to_owned(), Value::Null);
                        o.insert("incidents_30d".to_owned(), Value::Null);
                    }
                    out
                }
            })
            .collect(),
    ))
}

/// `?from_ms=&to_ms=&limit=` of history and availability queries.
#[derive(Debug, Deserialize)]
struct Range {
    from_ms: Option<Millis>,
    to_ms: Option<Millis>,
    limit: Option<usize>,
    check: Option<String>,
}

fn find(s: &AppState, name: &str) -> Result<CheckView, ApiError> {
    s.views
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no check named {name:?}")))
}

async fn one_check(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(r): Query<Range>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let v = find(&s, &name)?;
    let now = now_ms();
    let from = r
        .from_ms
        .unwrap_or(now - 30 * DAY_MS)
        .min(now - 30 * DAY_MS);
    let (st, n) = (s.storage.clone(), name.clone());
    let ts = blocking(move || st.transitions(Some(&n), from)).await?;
    let (st, n) = (s.storage.clone(), name.clone());
    let incidents = blocking(move || st.incidents(Some(&n), now - 30 * DAY_MS, 20)).await?;
    let a = |days: i64| availability::compute(&ts, now - days * DAY_MS, now);
    let mut availability = json!({ "24h": a(1), "7d": a(7), "30d": a(30) });
    if r.from_ms.is_some() || r.to_ms.is_some() {
        let custom: Availability = availability::compute(
            &ts,
            r.from_ms.unwrap_or(now - DAY_MS),
            r.to_ms.unwrap_or(now),
        );
        availability["custom"] = serde_json::to_value(custom).unwrap_or_default();
    }
    let mut out = item(&v, &ts, now);
    let holds = holds(&s, from.min(now - 30 * DAY_MS)).await?;
    holds.annotate_item(&mut out, &v, &ts, now);
    holds.annotate_availability(&mut availability, &v, &ts);
    out["availability"] = availability;
    out["incidents"] = serde_json::to_value(incidents).unwrap_or_default();
    // A multi-vantage check: the latest result of each vantage (and which fail or are left out).
    if let Some(view) = s.vantages.as_ref().and_then(|v| v.get(&name)) {
        out["vantages"] = serde_json::to_value(view).unwrap_or_default();
    }
    // The push URL is a credential: only for a caller who may change things.
    if authorize(&s, &headers).is_ok()
        && let Some(token) = s
            .push_tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
    {
        out["push_url"] = json!(format!("/api/v1/push/{token}"));
    }
    Ok(Json(out))
}

async fn history(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(r): Query<Range>,
) -> Result<Json<Value>, ApiError> {
    find(&s, &name)?;
    let now = now_ms();
    let (from, to) = (r.from_ms.unwrap_or(0), r.to_ms.unwrap_or(now + 1));
    let limit = r.limit.unwrap_or(100).clamp(1, 10_000);
    let (st, n) = (s.storage.clone(), name.clone());
    let results = blocking(move || st.history(&n, from, to, limit)).await?;
    let (st, n) = (s.storage.clone(), name.clone());
    let hourly = blocking(move || st.hourly(&n, from, to)).await?;
    let (st, n) = (s.storage.clone(), name.clone());
    let transitions = blocking(move || st.transitions(Some(&n), from)).await?;
    Ok(Json(json!({
        "check": name,
        "results": results,
        "hourly": hourly,
        "transitions": transitions.into_iter().filter(|t| t.at_ms >= from).collect::<Vec<_>>(),
    })))
}

async fn incidents(
    State(s): State<AppState>,
    Query(r): Query<Range>,
) -> Result<Json<Value>, ApiError> {
    let from = r.from_ms.unwrap_or(0);
    let limit = r.limit.unwrap_or(100).clamp(1, 10_000);
    let st = s.storage.clone();
    let check = r.check.clone();
    let list = blocking(move || st.incidents(check.as_deref(), from, limit)).await?;
    Ok(Json(serde_json::to_value(list).map_err(internal)?))
}

async fn push(s: &AppState, token: &str, event: PushEvent) -> Result<Response, ApiError> {
    let limited = s
        .push_limit
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .blocked(token, std::time::Instant::now());
    if let Some(wait) = limited {
        let secs = wait.as_secs().max(1).to_string();
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs)],
            Json(json!({ "error": "too many pushes for this token; slow down" })),
        )
            .into_response());
    }
    let take = || {
        s.push_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(token, std::time::Instant::now());
    };
    if s.engine.push(token, event).await {
        take();
        Ok(Json(json!({ "ok": true })).into_response())
    } else if let Some(relay) = &s.push_relay
        && let Some(check) = push_check_of(&s.push_tokens, token)
    {
        // Cluster mode: another member runs this check.
        match relay.relay(&check, event).await {
            Ok(()) => {
                take();
                Ok(Json(json!({ "ok": true })).into_response())
            }
            Err(e) => Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "another cluster member runs this check and the push cannot reach it: \
                     database unreachable: {e}"
                ),
            )),
        }
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            "no push check has this token".to_owned(),
        ))
    }
}

/// The push check whose token is `token`, among the configuration's.
fn push_check_of(tokens: &RwLock<HashMap<String, String>>, token: &str) -> Option<String> {
    tokens
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(_, t)| t.as_str() == token)
        .map(|(name, _)| name.clone())
}

async fn push_ok(State(s): State<AppState>, Path(t): Path<String>) -> Result<Response, ApiError> {
    push(&s, &t, PushEvent::Success).await
}

async fn push_fail(State(s): State<AppState>, Path(t): Path<String>) -> Result<Response, ApiError> {
    push(&s, &t, PushEvent::Fail).await
}

async fn push_start(
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    push(&s, &t, PushEvent::Start).await
}

/// Checks `Authorization: Bearer TOKEN` against the configured `api_token`, or for the
/// `write` role of `auth:`.
pub fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let access = s
        .access
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(access) = access {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if access.role(given) == Some(crate::config::auth::Role::Write) {
            return Ok(());
        }
    }
    let guard = s.api_token.read().unwrap_or_else(PoisonError::into_inner);
    let Some(expected) = guard.as_deref() else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "this endpoint needs api_token (or api_token_file) in the config".to_owned(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .unwrap_or("");
    // Constant-time comparison: do not leak the token length-prefix by timing.
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".to_owned(),
        ))
    }
}

/// Re-reads the config file and applies it; shared by `POST /api/v1/reload` and SIGHUP. Logs
/// the outcome: the summary at `info`, or each problem at `warn` (the running configuration
/// stays).
pub async fn reload_from_file(s: &AppState) -> Result<Value, ApiError> {
    let result = reload_and_apply(s).await;
    if let Err(e) = &result {
        for line in e.message().lines() {
            tracing::warn!("configuration not reloaded, the running one stays: {line}");
        }
    }
    result
}

async fn reload_and_apply(s: &AppState) -> Result<Value, ApiError> {
    let path = s.config_path.clone();
    let config = tokio::task::spawn_blocking(move || Config::load(&path))
        .await
        .map_err(internal)?
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let token = config.api_token.clone();
    let page = config.status_page.clone();
    let pushes = push_tokens(&config, &s.push_key);
    let access = config
        .auth
        .as_ref()
        .map(|a| Arc::new(crate::access::Access::new(a)));
    let needs_restart = s.start_only.changed(&StartOnly::of(&config));
    for a in &config.alerts {
        s.metrics
            .alert_target(&a.name, crate::alerts::target_kind(&a.target));
    }
    let windows = config.maintenance.clone();
    let channels = crate::alerts::channels_of(&config);
    let summary = s
        .engine
        .reload(config)
        .await
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    *s.api_token.write().unwrap_or_else(PoisonError::into_inner) = token;
    *s.push_tokens
        .write()
        .unwrap_or_else(PoisonError::into_inner) = pushes;
    *s.access.write().unwrap_or_else(PoisonError::into_inner) = access;
    *s.windows.write().unwrap_or_else(PoisonError::into_inner) = windows;
    *s.channels.write().unwrap_or_else(PoisonError::into_inner) = channels;
    s.web.set_status_page(page);
    s.web
        .events()
        .publish(linkpulse_web::Event::Reload(linkpulse_web::ReloadEvent {
            at_ms: now_ms(),
        }));
    tracing::info!("configuration reloaded: {summary}");
    if !needs_restart.is_empty() {
        tracing::warn!(
            "{} changed but {} read only at start: restart the daemon to apply the change",
            needs_restart.join(", "),
            if needs_restart.len() == 1 {
                "is"
            } else {
                "are"
            }
        );
    }
    let mut answer = serde_json::to_value(summary).unwrap_or_default();
    if let Value::Object(m) = &mut answer {
        m.insert("needs_restart".to_owned(), json!(needs_restart));
    }
    Ok(answer)
}

async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers)?;
    reload_from_file(&s).await.map(Json)
}

/// The silences stored that ended after `from_ms` (the active ones and those since then).
pub(crate) async fn silences_since(
    s: &AppState,
    from_ms: Millis,
) -> Result<Vec<crate::routing::Silence>, ApiError> {
    let st = s.storage.clone();
    tokio::task::spawn_blocking(move || st.silences(from_ms))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// The windows in force and the silences that ended after `from_ms`.
async fn holds(s: &AppState, from_ms: Millis) -> Result<crate::maintenance::Holds, ApiError> {
    let windows = s
        .windows
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let silences = silences_since(s, from_ms).await?;
    Ok(crate::maintenance::Holds::new(windows, silences))
}
