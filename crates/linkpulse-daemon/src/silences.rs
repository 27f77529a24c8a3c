//! Silences through the API: `POST /api/v1/silences` (write role), `GET /api/v1/silences`,
//! `DELETE /api/v1/silences/{id}` (expires it now), and `GET /api/v1/maintenance` (the
//! configured windows, with the occurrence open now or the next one). Silences are stored in
//! the database (committed before the answer), so they survive a restart; the engine's router
//! is given the new list after every change.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use linkpulse_checks::routing::Matcher;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState, authorize, silences_since};
use crate::routing::Silence;
use crate::storage::{Millis, now_ms};

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

/// Stores `silence`, then gives the engine the new list.
async fn save(s: &AppState, silence: Silence) -> Result<(), ApiError> {
    let st = s.storage.clone();
    tokio::task::spawn_blocking(move || st.put_silence(&silence))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let list = silences_since(s, now_ms()).await?;
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
    let list = silences_since(&s, now).await?;
    Ok(Json(list.iter().map(|x| shown(x, now)).collect()))
}

async fn expire(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&s, &headers)?;
    let now = now_ms();
    let Some(mut silence) = silences_since(&s, now)
        .await?
        .into_iter()
        .find(|x| x.id == id)
    else {
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
