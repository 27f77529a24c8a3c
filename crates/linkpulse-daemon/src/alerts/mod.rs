//! Alert delivery from the durable outbox: webhook JSON, Slack-compatible, a command, or one
//! of the [`channels`] (Alertmanager, email, PagerDuty, Opsgenie, Teams, Discord, Telegram,
//! Mattermost, ntfy, Gotify, a templated webhook).
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
//! A receiver that answers with `Retry-After` (a 429) is not asked again before that time,
//! even when the backoff would be shorter. `linkpulse alert test` sends one event through a
//! target at once ([`send_now`]), outside the outbox.
//!
//! When the database refuses writes (disk full), the loop keeps reading and delivering; the
//! marks it could not commit yet are remembered here, so an alert is not sent twice meanwhile.

pub mod channels;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use linkpulse_probe::redact::Redactor;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use self::channels::http::{Clients, Failure};
use crate::config::AlertTarget;
use crate::metrics::Metrics;
use crate::storage::{OutboxItem, Storage, WriteOp, now_ms};

/// Longest wait between two delivery attempts of one alert.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Longest `Retry-After` honoured: a receiver asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
            let (name, kind) = target_of(&item);
            let result = tokio::select! {
                () = &mut shutdown => return,
                r = deliver(&item, &mut clients) => r,
            };
            match result {
                Ok(answer) => {
                    let what = slack_text(&item.payload);
                    let what = what.strip_prefix("[linkpulse] ").unwrap_or(&what);
                    tracing::info!(key = %item.key, alert = %name, channel = kind, "alert delivered: {what}");
                    metrics.alerts_delivered.inc();
                    metrics.alert_delivered(&name, kind, now_ms(), &answer);
                    marks.insert(item.id, None);
                    storage.submit(WriteOp::AlertDelivered {
                        id: item.id,
                        at_ms: now_ms(),
                    });
                }
                Err(Failure {
                    message: error,
                    retry_after,
                }) => {
                    metrics.alerts_failed.inc();
                    metrics.alert_failed(&name, kind, now_ms(), &error);
                    let attempts = item.attempts.saturating_add(1);
                    let wait = retry_wait(attempts, retry_after);
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    tracing::warn!(key = %item.key, alert = %name, channel = kind, attempts, error = %error,
                        retry_in = %humantime::format_duration(wait), "alert delivery failed; will retry");
                    let next_ms = now_ms().saturating_add(wait_ms);
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

/// The wait before the next attempt: the receiver's `Retry-After` when it gave one (1 s to
/// `MAX_RETRY_AFTER`), else the backoff.
pub fn retry_wait(attempts: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = backoff(attempts);
    match retry_after {
        // Even a receiver ready at once (`Retry-After: 0`) is not asked more than once a second.
        Some(asked) => asked.clamp(Duration::from_secs(1), MAX_RETRY_AFTER),
        None => backoff,
    }
}

/// The alert target's name and channel kind of an outbox item (for logs and metrics).
fn target_of(item: &OutboxItem) -> (String, &'static str) {
    let name = item
        .payload
        .get("alert")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = serde_json::from_value::<AlertTarget>(item.target.clone())
        .map_or("unknown", |t| target_kind(&t));
    (name, kind)
}

/// The configured alert targets as `(name, kind)` (never their URLs or secrets), replaced on
/// reload.
pub type Channels = Arc<RwLock<Vec<(String, String)>>>;

/// The `(name, kind)` of every alert target of `config`; the kind is the target's key in the
/// config (`webhook`, `slack`, `command`, …).
pub fn channels_of(config: &crate::config::Config) -> Vec<(String, String)> {
    config
        .alerts
        .iter()
        .map(|a| (a.name.clone(), target_kind(&a.target).to_owned()))
        .collect()
}

/// The channel kind of a target: `webhook`, `slack`, `command`, or a channel's.
pub fn target_kind(t: &AlertTarget) -> &'static str {
    match t {
        AlertTarget::Webhook { .. } => "webhook",
        AlertTarget::Slack { .. } => "slack",
        AlertTarget::Command { .. } => "command",
        AlertTarget::Channel(c) => c.kind(),
    }
}

/// One delivery attempt.
async fn deliver(item: &OutboxItem, clients: &mut Clients) -> Result<String, Failure> {
    let target: AlertTarget = serde_json::from_value(item.target.clone())
        .map_err(|e| Failure::new(format!("bad target: {e}")))?;
    send(&target, &item.payload, &item.key, clients).await
}

/// Sends `payload` (an alert event) to `target` once, with idempotency key `key`; returns
/// the receiver's answer. Errors are masked (no secret in them).
async fn send(
    target: &AlertTarget,
    payload: &serde_json::Value,
    key: &str,
    clients: &mut Clients,
) -> Result<String, Failure> {
    let masked_failure = |e: linkpulse_probe::client::ClientError| {
        let f = Failure::from(e);
        Failure {
            message: masked(&f.message),
            retry_after: f.retry_after,
        }
    };
    match target {
        AlertTarget::Webhook {
            url,
            headers,
            ca_file,
        } => {
            let mut h: Vec<(String, String)> = headers.clone().into_iter().collect();
            h.push(("Idempotency-Key".to_owned(), key.to_owned()));
            clients
                .get(ca_file.as_deref())
                .post_json(url, &h, payload)
                .await
                .map(|b| masked(&String::from_utf8_lossy(&b).trim()))
                .map_err(masked_failure)
        }
        AlertTarget::Slack { url, ca_file } => {
            let text = slack_text(payload);
            let body = serde_json::json!({ "text": text });
            clients
                .get(ca_file.as_deref())
                .post_json(
                    url,
                    &[("Idempotency-Key".to_owned(), key.to_owned())],
                    &body,
                )
                .await
                .map(|b| masked(&String::from_utf8_lossy(&b).trim()))
                .map_err(masked_failure)
        }
        AlertTarget::Command {
            program,
            args,
            timeout_ms,
        } => run_command(program, args, &payload.to_string(), key, *timeout_ms)
            .await
            .map(|()| format!("{program} exited with 0"))
            .map_err(Failure::new),
        AlertTarget::Channel(channel) => {
            let event = channels::Event::from_payload(payload).map_err(Failure::new)?;
            channel.deliver(&event, clients).await
        }
    }
}

/// `linkpulse alert test`: sends a test event through `alert` now (not through the outbox,
/// no retry); returns the receiver's answer, or why it failed (masked).
pub async fn send_now(alert: &crate::config::AlertConfig) -> Result<String, String> {
    let at = now_ms();
    let event = channels::Event::test(&alert.name, at);
    let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
    let mut clients = Clients::default();
    send(
        &alert.target,
        &payload,
        &event.idempotency_key,
        &mut clients,
    )
    .await
    .map_err(|f| match f.retry_after {
        Some(wait) => format!(
            "{} (retry after {})",
            f.message,
            humantime::format_duration(wait)
        ),
        None => f.message,
    })
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
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        assert_eq!(retry_wait(1, None), Duration::from_secs(1));
        assert_eq!(
            retry_wait(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        // A shorter Retry-After than the backoff: the receiver is ready sooner.
        assert_eq!(
            retry_wait(6, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_wait(1, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
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
