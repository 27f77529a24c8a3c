//! The HTTP request a channel makes (built without I/O by each channel from an [`Event`]) and
//! the one place that sends it, through the daemon's shared [`HttpClient`].
//!
//! [`Event`]: super::Event

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use linkpulse_probe::client::{ClientError, HttpClient};

/// Timeout of one delivery attempt over HTTP.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP request of a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `POST`, `PUT`, …
    pub method: http::Method,
    /// The full URL (it may hold a secret: shown only masked).
    pub url: String,
    /// Extra headers (some hold secrets, e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// `POST url` with `json` as the body.
    pub fn post_json(url: String, json: &serde_json::Value) -> Request {
        Request {
            method: http::Method::POST,
            url,
            headers: Vec::new(),
            content_type: "application/json".to_owned(),
            body: serde_json::to_vec(json).unwrap_or_default(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The body as JSON (tests).
    #[cfg(test)]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Why a delivery failed, and when the receiver said to come back.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What went wrong (the provider's answer when there is one). May still hold a secret:
    /// the caller masks it.
    pub message: String,
    /// The receiver's `Retry-After` (a 429 or 503), honoured before the next attempt.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure without a wait asked for.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let retry_after = match &e {
            ClientError::Status {
                retry_after: Some(wait),
                ..
            } => Some(*wait),
            // Telegram and Discord say it in the body too (`parameters.retry_after`,
            // `retry_after`, in seconds).
            ClientError::Status {
                status: 429, body, ..
            } => body_retry_after(body),
            _ => None,
        };
        Failure {
            message: e.to_string(),
            retry_after,
        }
    }
}

/// `retry_after` (seconds) in a JSON error body, at the top or under `parameters`.
fn body_retry_after(body: &str) -> Option<Duration> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let secs = v
        .get("retry_after")
        .or_else(|| v.get("parameters").and_then(|p| p.get("retry_after")))
        .and_then(serde_json::Value::as_f64)?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The HTTP clients of the alert channels, one per CA file (and one without), so that each
/// keeps its pool of connections across deliveries.
#[derive(Debug, Default)]
pub struct Clients(HashMap<Option<PathBuf>, HttpClient>);

impl Clients {
    /// The client trusting the system roots plus `ca_file`, with the delivery timeout.
    pub fn get(&mut self, ca_file: Option<&Path>) -> &HttpClient {
        self.0
            .entry(ca_file.map(Path::to_path_buf))
            .or_insert_with(|| HttpClient::with_ca_file(ca_file).timeout(HTTP_TIMEOUT))
    }

    /// Sends `request`; returns the body of the 2xx answer.
    pub async fn send(
        &mut self,
        ca_file: Option<&Path>,
        request: Request,
    ) -> Result<Bytes, Failure> {
        Ok(self
            .get(ca_file)
            .send_body(
                request.method,
                &request.url,
                &request.headers,
                &request.content_type,
                Bytes::from(request.body),
            )
            .await?)
    }
}

/// `base` (a provider's base URL, with or without a trailing `/`) joined with `path`.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
