//! Silences through the API: `POST /api/v1/silences` (write role), `GET /api/v1/silences`,
//! `DELETE /api/v1/silences/{id}` (expires it now), and `GET /api/v1/maintenance` (the
//! configured windows, with the occurrence open now or the next one). Silences are stored in
//! the database (committed before the answer), so they survive a restart; the engine's router
//! is given the new list after every change.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use linkpulse_checks::routing::{MaintenanceWindow, Matcher};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState, authorize};
use crate::routing::Silence;
use crate::storage::{Millis, now_ms};

/// The configured maintenance windows, replaced on reload.
pub type Windows = Arc<RwLock<Vec<MaintenanceWindow>>>;

/// The configured alert targets as `(name, kind)` (never their URLs or secrets), replaced on
/// reload.
pub type Channels = Arc<RwLock<Vec<(String, String)>>>;

/// The `(name, kind)` of every alert target of `config`; the kind is the target's key in the
/// config (`webhook`, `slack`, `command`, …).
pub fn channels_of(config: &crate::config::Config) -> Vec<(String, String)> {
    config
        .alerts
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                crate::alerts::target_kind(&a.target).to_owned(),
            )
        })
        .collect()
}

/// `GET /api/v1/alerts/channels`: every configured alert target (`name`, `kind`) with its
/// outbox figures (`pending`, `delivered`, `last_delivered_ms`) and what the delivery loop saw
/// since the start (`deliveries`, `failures`, `last_delivery_ms`, `last_answer`,
/// `last_failure_ms`, `last_error`: the last failure's text, masked, else the outbox's).
async fn channels(State(s): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let st = s.storage.clone();
    let status = tokio::task::spawn_blocking(move || st.outbox_status())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let list = s
        .channels
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let seen = s.metrics.alert_channels.snapshot();
    Ok(Json(
        list.into_iter()
            .map(|(name, kind)| {
                let o = status.iter().find(|o| o.alert == name);
                let m = seen.get(&name).cloned().unwrap_or_default();
                let last_error = m
                    .last_error
                    .clone()
                    .or_else(|| o.and_then(|o| o.last_error.clone()));
                json!({
                    "name": name,
                    "kind": kind,
                    "pending": o.map_or(0, |o| o.pending),
                    "delivered": o.map_or(0, |o| o.delivered),
                    "last_delivered_ms": o.and_then(|o| o.last_delivered_ms),
                    "deliveries": m.deliveries,
                    "failures": m.failures,
                    "last_delivery_ms": m.last_delivery_ms,
                    "last_answer": m.last_answer,
                    "last_failure_ms": m.last_failure_ms,
                    "last_error": last_error,
                })
            })
            .collect(),
    ))
}

/// The routes of this module.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/silences", get(list).post(create))
        .route("/api/v1/silences/{id}", delete(expire))
        .route("/api/v1/maintenance", get(windows))
        .route("/api/v1/alerts/channels", get(channels))
        .with_state(state)
}

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// One check by name.
    #[serde(default)]
    pub check: Option<String>,
    /// Checks by name.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Labels the checks must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Start (RFC 3339); default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End (RFC 3339); or `duration`.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// How long from the start (`2h`, `30m`); or `ends_at`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Why (required).
    #[serde(default)]
    pub comment: String,
    /// Who (default `api`).
    #[serde(default)]
    pub created_by: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn instant(field: &str, s: &str) -> Result<Millis, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad(format!(
                "{field}: invalid time {s:?} (use RFC 3339: 2026-12-24T22:00:00Z)"
            ))
        })
}

impl NewSilence {
    /// The silence this asks for, with `id`, made at `now`; or what is wrong with it.
    pub fn into_silence(self, id: String, now: Millis) -> Result<Silence, ApiError> {
        let mut checks = self.checks;
        checks.extend(self.check);
        let matcher = Matcher {
            checks,
            labels: self.labels,
        };
        if matcher.is_empty() {
            return Err(bad("a silence needs check, checks or labels"));
        }
        if self.comment.trim().is_empty() {
            return Err(bad("a silence needs a comment (why)"));
        }
        let starts_ms = match &self.starts_at {
            Some(s) => instant("starts_at", s)?,
            None => now,
        };
        let ends_ms = match (&self.ends_at, &self.duration) {
            (Some(e), None) => instant("ends_at", e)?,
            (None, Some(d)) => {
                let d = humantime::parse_duration(d.trim()).map_err(|_| {
                    bad(format!(
                        "duration: invalid duration {d:?} (use 30m, 2h, 1d)"
                    ))
                })?;
                starts_ms.saturating_add(Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX / 4))
            }
            _ => return Err(bad("a silence needs exactly one of ends_at or duration")),
        };
        if ends_ms <= starts_ms.max(now) {
            return Err(bad(
                "the silence would end before it starts (or in the past)",
            ));
        }
        Ok(Silence {
            id,
            matcher,
            starts_ms,
            ends_ms,
            comment: self.comment,
            created_by: self
                .created_by
                .filter(|c| !c.trim().is_empty())
                .unwrap_or_else(|| "api".to_owned()),
            created_ms: now,
        })
    }
}

/// A silence as the API shows it: its fields plus `active`.
fn shown(s: &Silence, now: Millis) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["active"] = json!(s.active(now));
    v
}

async fn stored(s: &AppState, now: Millis) -> Result<Vec<Silence>, ApiError> {
    let st = s.storage.clone();
    tokio::task::spawn_blocking(move || st.silences(now))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Stores `silence`, then gives the engine the new list.
async fn save(s: &AppState, silence: Silence) -> Result<(), ApiError> {
    let st = s.storage.clone();
    tokio::task::spawn_blocking(move || st.put_silence(&silence))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let list = stored(s, now_ms()).await?;
    s.engine.silences(list).await;
    Ok(())
}

async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewSilence>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(&s, &headers)?;
    let Json(body) = body.map_err(|e| bad(e.body_text()))?;
    let now = now_ms();
    let id = format!("{:016x}", rand::random::<u64>());
    let silence = body.into_silence(id, now)?;
    tracing::info!(id = %silence.id, by = %silence.created_by, comment = %silence.comment, "silence created");
    let answer = shown(&silence, now);
    save(&s, silence).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn list(State(s): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let now = now_ms();
    let list = stored(&s, now).await?;
    Ok(Json(list.iter().map(|x| shown(x, now)).collect()))
}

async fn expire(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers)?;
    let now = now_ms();
    let Some(mut silence) = stored(&s, now).await?.into_iter().find(|x| x.id == id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no active or pending silence with id {id:?}"),
        ));
    };
    silence.ends_ms = now;
    silence.starts_ms = silence.starts_ms.min(now);
    tracing::info!(id = %silence.id, "silence expired");
    let answer = shown(&silence, now);
    save(&s, silence).await?;
    Ok(Json(answer))
}

async fn windows(State(s): State<AppState>) -> Json<Vec<Value>> {
    let now = now_ms();
    let list = s
        .windows
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Json(
        list.iter()
            .map(|w| {
                let open = w.recurrence.active(now);
                let next = w.recurrence.next_change(now);
                json!({
                    "name": w.name,
                    "checks": w.matcher.checks,
                    "labels": w.matcher.labels,
                    "active": open.is_some(),
                    "starts_ms": open.map(|o| o.start_ms).or(next),
                    "ends_ms": open.map(|o| o.end_ms),
                })
            })
            .collect(),
    )
}

/// The maintenance of every check over a period (the configured windows and the stored
/// silences), to report availability both with and without it.
#[derive(Debug, Default)]
pub struct Holds {
    windows: Vec<MaintenanceWindow>,
    silences: Vec<Silence>,
}

const DAY_MS: Millis = 86_400_000;

impl Holds {
    /// The holds of `windows` and `silences`.
    pub fn new(windows: Vec<MaintenanceWindow>, silences: Vec<Silence>) -> Holds {
        Holds { windows, silences }
    }

    /// The windows in force and the silences that ended after `from_ms`.
    pub async fn read(s: &AppState, from_ms: Millis) -> Result<Holds, ApiError> {
        let windows = s
            .windows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let silences = stored(s, from_ms).await?;
        Ok(Holds { windows, silences })
    }

    /// The maintenance spans of check `name` with `labels` within `[from, to)`.
    pub fn spans(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        from: Millis,
        to: Millis,
    ) -> Vec<(Millis, Millis)> {
        let silences = self
            .silences
            .iter()
            .filter(|x| x.matcher.matches(name, labels))
            .map(|x| (x.starts_ms, x.ends_ms));
        let windows = self
            .windows
            .iter()
            .filter(|w| w.matcher.matches(name, labels))
            .flat_map(|w| w.recurrence.spans(from, to))
            .map(|sp| (sp.start_ms, sp.end_ms));
        silences
            .chain(windows)
            .filter(|(a, b)| *a < to && *b > from)
            .collect()
    }

    /// Adds `uptime_excluding_maintenance` (24h, 7d, 30d) to a check's list item.
    pub fn annotate_item(
        &self,
        out: &mut Value,
        v: &crate::engine::CheckView,
        ts: &[crate::storage::TransitionRecord],
        now: Millis,
    ) {
        let u = |days: i64| {
            let from = now - days * DAY_MS;
            let spans = self.spans(&v.name, &v.labels, from, now);
            crate::availability::apart(ts, from, now, &spans).uptime
        };
        out["uptime_excluding_maintenance"] = json!({ "24h": u(1), "7d": u(7), "30d": u(30) });
    }

    /// Adds `excluding_maintenance` to every figure of a check's `availability` object.
    pub fn annotate_availability(
        &self,
        availability: &mut Value,
        v: &crate::engine::CheckView,
        ts: &[crate::storage::TransitionRecord],
    ) {
        let Some(figures) = availability.as_object_mut() else {
            return;
        };
        for f in figures.values_mut() {
            let (Some(from), Some(to)) = (f["from_ms"].as_i64(), f["to_ms"].as_i64()) else {
                continue;
            };
            let spans = self.spans(&v.name, &v.labels, from, to);
            let apart = crate::availability::apart(ts, from, to, &spans);
            f["excluding_maintenance"] = serde_json::to_value(apart).unwrap_or_default();
        }
    }
}
