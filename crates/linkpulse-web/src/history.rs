//! The `/api/v1/dashboard/*` endpoints: the history of [`HistorySource`] (implemented by the
//! daemon over its storage), served in compact form ([`crate::compact`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::compact::{self, Series, UptimeBucket};

pub use crate::source::{HistoryError, HistorySource, IncidentSpan, Sample, StateChange};

/// Most checks one `uptime` or `sparklines` request may name.
pub const MAX_CHECKS_PER_REQUEST: usize = 500;
/// Most attempts read for one series.
const SERIES_LIMIT: usize = 300_000;
/// Most attempts read for one sparkline.
const SPARK_LIMIT: usize = 20_000;
/// Longest range served.
const MAX_RANGE: Duration = Duration::from_secs(400 * 86_400);
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// An error answer: status and a JSON `{"error": …}` body.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> ApiError {
        match e {
            HistoryError::UnknownCheck(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            HistoryError::Backend(_) => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// Parses `range=` (`1h`, `24h`, `7d`, `30d`, `90d`, any humantime duration up to 400 days).
fn parse_range(text: Option<&str>, default: Duration) -> Result<i64, ApiError> {
    let d = match text {
        None | Some("") => default,
        Some(t) => humantime::parse_duration(t)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("range={t:?}: {e}")))?,
    };
    if d.is_zero() || d > MAX_RANGE {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "range must be between 1ms and 400d, got {}",
                humantime::format_duration(d)
            ),
        ));
    }
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Splits `checks=a,b,c` (at most [`MAX_CHECKS_PER_REQUEST`]).
fn parse_checks(text: Option<&str>) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = text
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() > MAX_CHECKS_PER_REQUEST {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "checks= names {} checks, at most {MAX_CHECKS_PER_REQUEST} allowed",
                names.len()
            ),
        ));
    }
    Ok(names)
}

fn source(web: &Web) -> Result<Arc<dyn HistorySource>, ApiError> {
    web.history.clone().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "this server keeps no history for charts".to_owned(),
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Query of `GET /api/v1/dashboard/series`.
#[derive(Debug, Deserialize)]
pub(crate) struct SeriesQuery {
    check: Option<String>,
    range: Option<String>,
    points: Option<usize>,
}

/// `GET /api/v1/dashboard/series?check=NAME&range=24h&points=300`: a [`Series`] ending now.
pub(crate) async fn series(
    State(web): State<Web>,
    Query(q): Query<SeriesQuery>,
) -> Result<Json<Series>, ApiError> {
    let src = source(&web)?;
    let Some(check) = q.check.filter(|c| !c.is_empty()) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "check= is required".to_owned(),
        ));
    };
    let range = parse_range(q.range.as_deref(), Duration::from_secs(86_400))?;
    let points = q.points.unwrap_or(300).clamp(1, 2_000);
    let s = blocking(move || {
        let to = src.now_ms();
        let from = to.saturating_sub(range);
        let samples = src.samples(&check, from, to, SERIES_LIMIT)?;
        Ok(compact::latency_series(&samples, from, to, points))
    })
    .await?;
    Ok(Json(s))
}

/// Query of `GET /api/v1/dashboard/uptime` and `/sparklines`.
#[derive(Debug, Deserialize)]
pub(crate) struct ManyQuery {
    checks: Option<String>,
    range: Option<String>,
    points: Option<usize>,
}

/// Answer of `GET /api/v1/dashboard/uptime`.
#[derive(Debug, Serialize)]
pub(crate) struct UptimeAnswer {
    from_ms: i64,
    to_ms: i64,
    bucket_ms: i64,
    checks: BTreeMap<String, Vec<UptimeBucket>>,
}

/// `GET /api/v1/dashboard/uptime?checks=a,b&range=90d`: one segment per day (ranges over 48 h)
/// or per hour, aligned to UTC, the last one holding now.
pub(crate) async fn uptime(
    State(web): State<Web>,
    Query(q): Query<ManyQuery>,
) -> Result<Json<UptimeAnswer>, ApiError> {
    let src = source(&web)?;
    let names = parse_checks(q.checks.as_deref())?;
    let range = parse_range(q.range.as_deref(), Duration::from_secs(90 * 86_400))?;
    let bucket = if range > 2 * DAY_MS { DAY_MS } else { HOUR_MS };
    let n = usize::try_from((range + bucket - 1) / bucket)
        .unwrap_or(1)
        .max(1);
    let a = blocking(move || {
        let now = src.now_ms();
        let to = (now / bucket + 1) * bucket;
        let from = to - bucket * i64::try_from(n).unwrap_or(1);
        let mut checks = BTreeMap::new();
        for name in names {
            let changes = match src.state_changes(&name, from) {
                Err(HistoryError::UnknownCheck(_)) => continue,
                r => r?,
            };
            let incidents = src.incidents(&name, from, 10_000)?;
            let b = compact::uptime_buckets(&changes, &incidents, from, to, now, n);
            checks.insert(name, b);
        }
        Ok(UptimeAnswer {
            from_ms: from,
            to_ms: to,
            bucket_ms: bucket,
            checks,
        })
    })
    .await?;
    Ok(Json(a))
}

/// Answer of `GET /api/v1/dashboard/sparklines`.
#[derive(Debug, Serialize)]
pub(crate) struct SparkAnswer {
    from_ms: i64,
    to_ms: i64,
    bucket_ms: i64,
    /// Mean latency per bucket, `null` where none was measured.
    checks: BTreeMap<String, Vec<Option<f64>>>,
}

/// `GET /api/v1/dashboard/sparklines?checks=a,b&range=24h&points=48`: mean latency per bucket.
pub(crate) async fn sparklines(
    State(web): State<Web>,
    Query(q): Query<ManyQuery>,
) -> Result<Json<SparkAnswer>, ApiError> {
    let src = source(&web)?;
    let names = parse_checks(q.checks.as_deref())?;
    let range = parse_range(q.range.as_deref(), Duration::from_secs(86_400))?;
    let points = q.points.unwrap_or(48).clamp(1, 500);
    let a = blocking(move || {
        let to = src.now_ms();
        let from = to.saturating_sub(range);
        let mut checks = BTreeMap::new();
        let mut bucket_ms = 0;
        for name in names {
            let samples = match src.samples(&name, from, to, SPARK_LIMIT) {
                Err(HistoryError::UnknownCheck(_)) => continue,
                r => r?,
            };
            let s = compact::latency_series(&samples, from, to, points);
            bucket_ms = s.bucket_ms;
            checks.insert(name, s.avg);
        }
        Ok(SparkAnswer {
            from_ms: from,
            to_ms: to,
            bucket_ms,
            checks,
        })
    })
    .await?;
    Ok(Json(a))
}
