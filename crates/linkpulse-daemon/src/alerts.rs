//! Alert delivery from the durable outbox: webhook JSON, Slack-compatible, or a command.
//!
//! The engine only queues alerts (in the database, with an idempotency key). This task polls
//! the outbox, delivers what is due, and marks each item delivered or schedules a retry with
//! exponential backoff (1 s doubling up to 5 min). Items left undelivered when the daemon
//! stops are picked up after the next start: delivery is at least once.
//!
//! Order: the outbox hands out an alert only when no earlier alert of the same check to the
//! same target is undelivered ([`Storage::due_alerts`]). A later event is *held* behind an
//! earlier one in backoff rather than superseding it: the receiver gets every event, in the
//! order they happened, so its last notification always matches the current state.
//!
//! When the database refuses writes (disk full), the loop keeps reading and delivering; the
//! marks it could not commit yet are remembered here, so an alert is not sent twice meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use linkpulse_probe::client::HttpClient;
use linkpulse_probe::redact::Redactor;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::config::AlertTarget;
use crate::metrics::Metrics;
use crate::storage::{OutboxItem, Storage, WriteOp, now_ms};

/// Longest wait between two delivery attempts of one alert.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Timeout of one delivery attempt over HTTP.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Delay before retry number `attempts` (1-based): 1 s, 2 s, 4 s … capped at 5 min.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// Delivers due alerts until `shutdown` resolves.
pub async fn run(
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    notify: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut clients = Clients::default();
    // Marks (delivered, or failed until `next_ms`) submitted but not known to be committed.
    let mut marks: HashMap<i64, Option<i64>> = HashMap::new();
    let mut unreadable = false;
    let mut writable = true;
    loop {
        let s = storage.clone();
        let due = tokio::task::spawn_blocking(move || {
            // Everything queued before this poll (new alerts, earlier marks) is committed first,
            // so an item is never delivered twice by this loop. When the database refuses
            // writes, read what it has anyway (the marks not committed are remembered).
            let committed = s.flush().is_ok();
            s.due_alerts(now_ms(), 100).map(|d| (committed, d))
        })
        .await;
        let due = match due {
            Ok(Ok((committed, d))) => {
                writable = committed;
                if committed {
                    marks.clear();
                }
                if std::mem::take(&mut unreadable) {
                    tracing::info!("the alert outbox can be read again");
                }
                let now = now_ms();
                d.into_iter()
                    .filter(|i| match marks.get(&i.id) {
                        None => true,
                        Some(None) => false,
                        Some(Some(next)) => *next <= now,
                    })
                    .collect()
            }
            Ok(Err(e)) => {
                if !std::mem::replace(&mut unreadable, true) {
                    tracing::warn!(error = %e, "cannot read the alert outbox; trying again every second");
                }
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let busy = !due.is_empty();
        for item in due {
            let result = tokio::select! {
                () = &mut shutdown => return,
                r = deliver(&item, &mut clients) => r,
            };
            match result {
                Ok(()) => {
                    let what = slack_text(&item.payload);
                    let what = what.strip_prefix("[linkpulse] ").unwrap_or(&what);
                    tracing::info!(key = %item.key, "alert delivered: {what}");
                    metrics.alerts_delivered.inc();
                    marks.insert(item.id, None);
                    storage.submit(WriteOp::AlertDelivered {
                        id: item.id,
                        at_ms: now_ms(),
                    });
                }
                Err(error) => {
                    metrics.alerts_failed.inc();
                    let attempts = item.attempts.saturating_add(1);
                    let wait = i64::try_from(backoff(attempts).as_millis()).unwrap_or(i64::MAX);
                    tracing::warn!(key = %item.key, attempts, error = %error, "alert delivery failed; will retry");
                    let next_ms = now_ms().saturating_add(wait);
                    marks.insert(item.id, Some(next_ms));
                    storage.submit(WriteOp::AlertFailed {
                        id: item.id,
                        attempts,
                        next_ms,
                        error,
                    });
                }
            }
        }
        // Busy: poll again at once, unless the database refuses writes (its marks wait in
        // memory): then at the usual pace.
        if busy && writable {
            continue;
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = notify.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One delivery attempt.
async fn deliver(item: &OutboxItem, clients: &mut Clients) -> Result<(), String> {
    let target: AlertTarget =
        serde_json::from_value(item.target.clone()).map_err(|e| format!("bad target: {e}"))?;
    match target {
        AlertTarget::Webhook {
            url,
            headers,
            ca_file,
        } => {
            let mut h: Vec<(String, String)> = headers.into_iter().collect();
            h.push(("Idempotency-Key".to_owned(), item.key.clone()));
            clients
                .get(ca_file.as_deref())
                .post_json(&url, &h, &item.payload)
                .await
                .map(drop)
                .map_err(|e| masked(&e))
        }
        AlertTarget::Slack { url, ca_file } => {
            let text = slack_text(&item.payload);
            let body = serde_json::json!({ "text": text });
            clients
                .get(ca_file.as_deref())
                .post_json(
                    &url,
                    &[("Idempotency-Key".to_owned(), item.key.clone())],
                    &body,
                )
                .await
                .map(drop)
                .map_err(|e| masked(&e))
        }
        AlertTarget::Command {
            program,
            args,
            timeout_ms,
        } => {
            run_command(
                &program,
                &args,
                &item.payload.to_string(),
                &item.key,
                timeout_ms,
            )
            .await
        }
    }
}

/// A delivery error as logged and stored: the client's words name the URL, whose user-info
/// and token parameters ([`Redactor`]'s defaults) never leave.
fn masked(e: &impl std::fmt::Display) -> String {
    Redactor::default().text(&e.to_string()).into_owned()
}

/// A one-line human message for chat.
pub fn slack_text(p: &serde_json::Value) -> String {
    let s = |k: &str| {
        p.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if let Some(text) = crate::routing::group_text(p) {
        return text;
    }
    let mut text = format!(
        "[linkpulse] {} is {} ({})",
        s("check"),
        s("state"),
        s("target")
    );
    if let Some(c) = p.get("cause").and_then(serde_json::Value::as_str) {
        text.push_str(&format!(": {c}"));
    }
    if let Some(d) = p.get("diagnosis").and_then(serde_json::Value::as_str) {
        text.push_str(&format!(" — diagnosis: {d}"));
    }
    text
}

async fn run_command(
    program: &str,
    args: &[String],
    payload: &str,
    key: &str,
    timeout_ms: u64,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("LINKPULSE_IDEMPOTENCY_KEY", key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload.as_bytes()).await;
    }
    match tokio::time::timeout(Duration::from_millis(timeout_ms), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{program} exited with {status}")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => Err(format!("{program} did not finish within {timeout_ms} ms")),
    }
}

/// The HTTP clients of the webhook and Slack targets, one per CA file (and one without), so
/// that each keeps its pool of connections across deliveries.
#[derive(Debug, Default)]
struct Clients(HashMap<Option<PathBuf>, HttpClient>);

impl Clients {
    /// The client trusting the system roots plus `ca_file`, with the delivery timeout.
    fn get(&mut self, ca_file: Option<&Path>) -> &HttpClient {
        self.0
            .entry(ca_file.map(Path::to_path_buf))
            .or_insert_with(|| HttpClient::with_ca_file(ca_file).timeout(HTTP_TIMEOUT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(100), MAX_BACKOFF);
    }

    #[test]
    fn slack_text_names_check_state_and_diagnosis() {
        let p = serde_json::json!({"check": "db", "state": "down", "target": "tcp://h:5432",
            "cause": "refused: connection refused", "diagnosis": "process_down"});
        assert_eq!(
            slack_text(&p),
            "[linkpulse] db is down (tcp://h:5432): refused: connection refused — diagnosis: process_down"
        );
    }
}
