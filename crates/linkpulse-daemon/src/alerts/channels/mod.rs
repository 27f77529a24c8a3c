//! The alert channels beyond the plain webhook, Slack and command targets: Prometheus
//! Alertmanager, email, PagerDuty, Opsgenie, Microsoft Teams, Discord, Telegram, Mattermost,
//! ntfy, Gotify and a templated webhook — one file each, holding the channel's config as
//! written (`Raw`), its validation, and what it sends for an [`Event`].
//!
//! Sending is sans-IO up to the last step: each HTTP channel turns an event into a
//! [`http::Request`] (tested without a network); [`Channel::deliver`] sends it through the
//! daemon's one HTTP client. Every channel is delivered by the durable outbox
//! (`super::run`): retries with backoff, the provider's `Retry-After` honoured, at least once
//! across restarts. Secrets ([`Secret`]) are stored as where to read them; their values are
//! read at each delivery and masked out of every error text.

pub mod alertmanager;
pub(crate) mod config;
pub mod discord;
pub mod email;
mod event;
pub mod gotify;
pub mod http;
pub mod mattermost;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
mod secret;
pub mod teams;
pub mod telegram;
pub mod template;

use std::path::Path;

pub use event::{Event, Severity, rfc3339};
pub use secret::{Revealed, Secret};

use self::http::{Clients, Failure};

/// One channel of an alert target (the `AlertTarget::Channel` variant).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Prometheus Alertmanager (API v2).
    Alertmanager(alertmanager::Alertmanager),
    /// Email over SMTP.
    Email(email::Email),
    /// PagerDuty Events API v2.
    Pagerduty(pagerduty::PagerDuty),
    /// Opsgenie Alert API.
    Opsgenie(opsgenie::Opsgenie),
    /// Microsoft Teams webhook.
    Teams(teams::Teams),
    /// Discord webhook.
    Discord(discord::Discord),
    /// Telegram bot.
    Telegram(telegram::Telegram),
    /// Mattermost incoming webhook.
    Mattermost(mattermost::Mattermost),
    /// ntfy topic.
    Ntfy(ntfy::Ntfy),
    /// Gotify application.
    Gotify(gotify::Gotify),
    /// Templated webhook.
    WebhookTemplate(template::Template),
}

/// Names of the channel keys, for the "exactly one of" message.
pub const CHANNEL_KEYS: [&str; 11] = [
    "alertmanager",
    "email",
    "pagerduty",
    "opsgenie",
    "teams",
    "discord",
    "telegram",
    "mattermost",
    "ntfy",
    "gotify",
    "webhook_template",
];

impl Channel {
    /// The channel's kind as written in the config (`pagerduty`, …): a label of the
    /// delivery metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Alertmanager(_) => "alertmanager",
            Channel::Email(_) => "email",
            Channel::Pagerduty(_) => "pagerduty",
            Channel::Opsgenie(_) => "opsgenie",
            Channel::Teams(_) => "teams",
            Channel::Discord(_) => "discord",
            Channel::Telegram(_) => "telegram",
            Channel::Mattermost(_) => "mattermost",
            Channel::Ntfy(_) => "ntfy",
            Channel::Gotify(_) => "gotify",
            Channel::WebhookTemplate(_) => "webhook_template",
        }
    }

    /// The `repeat` of a target of this channel when none is written: Alertmanager needs
    /// its firing alerts posted again ([`alertmanager::DEFAULT_REPEAT`]).
    pub fn default_repeat(&self) -> Option<std::time::Duration> {
        match self {
            Channel::Alertmanager(_) => Some(alertmanager::DEFAULT_REPEAT),
            _ => None,
        }
    }

    /// The longest `repeat` this channel works with.
    pub fn max_repeat(&self) -> Option<std::time::Duration> {
        match self {
            Channel::Alertmanager(_) => Some(alertmanager::MAX_REPEAT),
            _ => None,
        }
    }

    /// Why a `repeat` longer than `max` does not work with this channel.
    pub fn repeat_too_long(&self, max: std::time::Duration) -> String {
        format!(
            "Alertmanager resolves an alert not posted again within its resolve_timeout \
             ({} by default): repeat must be at most that",
            humantime::format_duration(max)
        )
    }

    fn ca_file(&self) -> Option<&Path> {
        match self {
            Channel::Alertmanager(c) => c.ca_file.as_deref(),
            Channel::Email(c) => c.ca_file.as_deref(),
            Channel::Pagerduty(c) => c.ca_file.as_deref(),
            Channel::Opsgenie(c) => c.ca_file.as_deref(),
            Channel::Teams(c) => c.ca_file.as_deref(),
            Channel::Discord(c) => c.ca_file.as_deref(),
            Channel::Telegram(c) => c.ca_file.as_deref(),
            Channel::Mattermost(c) => c.ca_file.as_deref(),
            Channel::Ntfy(c) => c.ca_file.as_deref(),
            Channel::Gotify(c) => c.ca_file.as_deref(),
            Channel::WebhookTemplate(c) => c.ca_file.as_deref(),
        }
    }

    /// The HTTP request of an HTTP channel (`None` for email).
    pub(crate) fn request(
        &self,
        ev: &Event,
        r: &mut Revealed,
    ) -> Option<Result<http::Request, String>> {
        Some(match self {
            Channel::Alertmanager(c) => Ok(c.request(ev)),
            Channel::Email(_) => return None,
            Channel::Pagerduty(c) => c.request(ev, r),
            Channel::Opsgenie(c) => c.request(ev, r),
            Channel::Teams(c) => c.request(ev, r),
            Channel::Discord(c) => c.request(ev, r),
            Channel::Telegram(c) => c.request(ev, r),
            Channel::Mattermost(c) => c.request(ev, r),
            Channel::Ntfy(c) => c.request(ev, r),
            Channel::Gotify(c) => c.request(ev, r),
            Channel::WebhookTemplate(c) => c.request(ev, r),
        })
    }

    /// Delivers `ev` once; returns the receiver's answer. Every text returned (answer or
    /// failure) has the channel's secrets masked.
    pub async fn deliver(&self, ev: &Event, clients: &mut Clients) -> Result<String, Failure> {
        let mut r = Revealed::default();
        let result = match self {
            Channel::Email(mail) => mail.send(ev, &mut r).await,
            _ => match self.request(ev, &mut r) {
                None => Err(Failure::new("no request")),
                Some(Err(m)) => Err(Failure::new(m)),
                Some(Ok(request)) => clients
                    .send(self.ca_file(), request)
                    .await
                    .map(|body| answer(&body)),
            },
        };
        let masked = |t: &str| {
            linkpulse_probe::redact::Redactor::default()
                .text(&r.mask(t))
                .into_owned()
        };
        match result {
            Ok(a) => Ok(masked(&a)),
            Err(f) => Err(Failure {
                message: masked(&f.message),
                retry_after: f.retry_after,
            }),
        }
    }
}

/// A receiver's 2xx body as a short text (`(empty)` when it had none).
fn answer(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).trim().to_owned();
    if text.is_empty() {
        "(empty)".to_owned()
    } else {
        truncate(&text, 512)
    }
}

/// `text` cut to at most `max` characters (with `…` when cut).
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A colour per severity (Discord embeds).
pub(crate) fn color(s: Severity) -> u32 {
    match s {
        Severity::Critical => 0x00D9_3F0B,
        Severity::Warning => 0x00FB_CA04,
        Severity::Ok => 0x0028_A745,
    }
}

/// [`color`] as `RRGGBB` (Teams MessageCard).
pub(crate) fn color_hex(s: Severity) -> String {
    format!("{:06X}", color(s))
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use super::event::tests::down;

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(super::truncate("abc", 3), "abc");
        assert_eq!(super::truncate("äbcd", 3), "äb…");
    }
}
