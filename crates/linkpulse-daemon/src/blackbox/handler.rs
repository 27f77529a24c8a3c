//! `GET /probe?target=…&module=…[&debug=true]`, answered as blackbox_exporter answers it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Blackbox;
use super::exposition::CONTENT_TYPE;
use super::module::ModuleProber;

/// The header Prometheus sends with every scrape.
pub const SCRAPE_TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// The module blackbox_exporter uses when the request names none.
pub const DEFAULT_MODULE: &str = "http_2xx";

/// Why a `/probe` request cannot be answered with metrics; the `Display` text is the body,
/// in blackbox_exporter's words where it has some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeRequestError {
    /// No module of that name in the blackbox config (HTTP 400).
    #[error("Unknown module {0:?}")]
    UnknownModule(String),
    /// The module exists but linkpulse cannot run it (HTTP 400).
    #[error("Module {module:?} is not supported by linkpulse: {reason}")]
    UnsupportedModule {
        /// The module name.
        module: String,
        /// What is not supported.
        reason: String,
    },
    /// `target` is missing or empty (HTTP 400).
    #[error("Target parameter is missing")]
    MissingTarget,
    /// The scrape-timeout header is not a number (HTTP 500, as blackbox_exporter answers).
    #[error("Failed to parse timeout from Prometheus header: {0}")]
    BadTimeoutHeader(String),
}

impl ProbeRequestError {
    /// The HTTP status blackbox_exporter answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            ProbeRequestError::BadTimeoutHeader(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ProbeRequestError {
    fn into_response(self) -> Response {
        let status = self.status();
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// The probe timeout as blackbox_exporter computes it: the scrape timeout from the header
/// (120 s without one) minus `offset`, or the module's timeout when that is shorter (or when
/// the scrape timeout is shorter than the offset); at most [`MAX_TIMEOUT`].
pub fn effective_timeout(
    module_timeout: Option<Duration>,
    scrape_timeout: Option<f64>,
    offset: Duration,
) -> Duration {
    let scrape = match scrape_timeout {
        Some(s) if s.is_finite() && s != 0.0 => s,
        _ => 120.0,
    };
    let max = scrape - offset.as_secs_f64();
    let module = module_timeout.map_or(0.0, |d| d.as_secs_f64());
    let secs = if (module < max && module > 0.0) || max < 0.0 {
        module
    } else {
        max
    };
    Duration::try_from_secs_f64(secs.max(0.0))
        .unwrap_or(MAX_TIMEOUT)
        .min(MAX_TIMEOUT)
}

/// No probe runs longer than this, whatever the config and the header say.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Parses the scrape-timeout header, if present.
pub fn scrape_timeout(headers: &HeaderMap) -> Result<Option<f64>, ProbeRequestError> {
    let Some(value) = headers.get(SCRAPE_TIMEOUT_HEADER) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ProbeRequestError::BadTimeoutHeader("not text".to_owned()))?;
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(ProbeRequestError::BadTimeoutHeader(format!(
            "invalid number {text:?}"
        ))),
    }
}

/// The `/probe` handler.
pub async fn probe(
    State(bb): State<Arc<Blackbox>>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match answer(&bb, &params, &headers).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "blackbox /probe request refused");
            e.into_response()
        }
    }
}

async fn answer(
    bb: &Blackbox,
    params: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ProbeRequestError> {
    let config = bb.config();
    let name = params
        .get("module")
        .filter(|m| !m.is_empty())
        .map_or(DEFAULT_MODULE, String::as_str);
    let module = config
        .modules
        .get(name)
        .ok_or_else(|| ProbeRequestError::UnknownModule(name.to_owned()))?;
    let scrape = scrape_timeout(headers)?;
    let timeout = effective_timeout(module.timeout, scrape, bb.timeout_offset());
    let target = params
        .get("target")
        .filter(|t| !t.is_empty())
        .ok_or(ProbeRequestError::MissingTarget)?;
    if let ModuleProber::Unsupported { reason, .. } = &module.prober {
        return Err(ProbeRequestError::UnsupportedModule {
            module: name.to_owned(),
            reason: reason.clone(),
        });
    }
    let outcome = super::run::probe(bb.prober(), module, target, timeout).await;
    let debug = params.get("debug").is_some_and(|d| d == "true");
    if debug {
        let body = format!(
            "Logs for the probe:\n{}\n\n\n\nMetrics that would have been returned:\n{}\n\n\n\nModule configuration:\n{module:#?}\n",
            outcome.log.join("\n"),
            outcome.metrics.render(),
        );
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response());
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        outcome.metrics.render(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn timeout_is_blackbox_exporters() {
        let offset = secs(0.5);
        // Module timeout shorter than the scrape timeout minus the offset: the module's.
        assert_eq!(
            effective_timeout(Some(secs(5.0)), Some(10.0), offset),
            secs(5.0)
        );
        // Scrape timeout minus the offset shorter: that.
        assert_eq!(
            effective_timeout(Some(secs(5.0)), Some(3.0), offset),
            secs(2.5)
        );
        // No module timeout: scrape timeout minus offset; no header: 120 s minus offset.
        assert_eq!(effective_timeout(None, Some(10.0), offset), secs(9.5));
        assert_eq!(effective_timeout(None, None, offset), secs(119.5));
        assert_eq!(effective_timeout(Some(secs(5.0)), None, offset), secs(5.0));
        // Scrape timeout below the offset: the module's timeout.
        assert_eq!(
            effective_timeout(Some(secs(1.0)), Some(0.2), offset),
            secs(1.0)
        );
        assert_eq!(effective_timeout(None, Some(0.2), offset), Duration::ZERO);
        // Absurd values are capped rather than overflowing a deadline.
        assert_eq!(
            effective_timeout(Some(Duration::from_secs(u64::MAX)), Some(1e300), offset),
            MAX_TIMEOUT
        );
        assert_eq!(effective_timeout(None, Some(1e300), offset), MAX_TIMEOUT);
    }

    #[test]
    fn bad_timeout_header_is_named() {
        let mut h = HeaderMap::new();
        h.insert(SCRAPE_TIMEOUT_HEADER, "abc".parse().unwrap());
        let e = scrape_timeout(&h).unwrap_err();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.to_string().contains("\"abc\""), "{e}");
        h.insert(SCRAPE_TIMEOUT_HEADER, "4.5".parse().unwrap());
        assert_eq!(scrape_timeout(&h).unwrap(), Some(4.5));
    }
}
