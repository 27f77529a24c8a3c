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

use self::config::Ctx;
use self::http::{Clients, Failure};
use crate::config::raw::RawAlert;

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

/// The line of each channel section written in an `alerts:` item.
pub(crate) fn lines(a: &RawAlert) -> Vec<u64> {
    [
        a.alertmanager.as_ref().map(|s| s.referenced.line()),
        a.email.as_ref().map(|s| s.referenced.line()),
        a.pagerduty.as_ref().map(|s| s.referenced.line()),
        a.opsgenie.as_ref().map(|s| s.referenced.line()),
        a.teams.as_ref().map(|s| s.referenced.line()),
        a.discord.as_ref().map(|s| s.referenced.line()),
        a.telegram.as_ref().map(|s| s.referenced.line()),
        a.mattermost.as_ref().map(|s| s.referenced.line()),
        a.ntfy.as_ref().map(|s| s.referenced.line()),
        a.gotify.as_ref().map(|s| s.referenced.line()),
        a.webhook_template.as_ref().map(|s| s.referenced.line()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Validates the one channel section of `a` (the caller checked there is exactly one):
/// `None` after reporting its problems (under `prefix`, e.g. `alerts[2]`).
pub(crate) fn validate(
    a: &RawAlert,
    e: &mut crate::config::collect::Errors<'_>,
    prefix: &str,
    base: &Path,
) -> Option<Channel> {
    macro_rules! section {
        ($field:ident, $name:literal, $variant:ident, $ty:ty) => {
            if let Some(s) = &a.$field {
                let mut c = Ctx {
                    e,
                    base,
                    prefix: format!("{prefix}.{}", $name),
                    line: s.referenced.line(),
                };
                return <$ty>::validate(&mut c, &s.value).map(Channel::$variant);
            }
        };
    }
    section!(
        alertmanager,
        "alertmanager",
        Alertmanager,
        alertmanager::Alertmanager
    );
    section!(email, "email", Email, email::Email);
    section!(pagerduty, "pagerduty", Pagerduty, pagerduty::PagerDuty);
    section!(opsgenie, "opsgenie", Opsgenie, opsgenie::Opsgenie);
    section!(teams, "teams", Teams, teams::Teams);
    section!(discord, "discord", Discord, discord::Discord);
    section!(telegram, "telegram", Telegram, telegram::Telegram);
    section!(mattermost, "mattermost", Mattermost, mattermost::Mattermost);
    section!(ntfy, "ntfy", Ntfy, ntfy::Ntfy);
    section!(gotify, "gotify", Gotify, gotify::Gotify);
    section!(
        webhook_template,
        "webhook_template",
        WebhookTemplate,
        template::Template
    );
    None
}

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

#[cfg(test)]
mod config_tests {
    use super::Channel;
    use crate::config::{AlertTarget, Config};

    fn parse(dir: &std::path::Path, alerts: &str) -> Result<Config, Vec<String>> {
        Config::parse(
            "t.yaml",
            &format!("checks:\n  - name: a\n    tcp: {{ address: 'h:1' }}\nalerts:\n{alerts}"),
            dir,
        )
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_channel_parses_and_alertmanager_reposts_every_minute() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "s3cret\n").unwrap();
        let c = parse(
            dir.path(),
            "  - alertmanager: { url: 'http://am:9093' }\n\
             \x20 - email: { host: smtp.example.org, from: 'lp@example.org', to: [a@example.org] }\n\
             \x20 - pagerduty: { routing_key_file: key }\n\
             \x20 - opsgenie: { api_key_file: key }\n\
             \x20 - teams: { url: 'https://example.org/wf' }\n\
             \x20 - discord: { url_file: key2 }\n",
        );
        // key2 does not exist: an error naming the key and the file, at its line.
        let e = c.unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.yaml:10: alerts[5].discord.url_file: cannot read "),
            "{e:?}"
        );
        assert!(e[0].contains("key2"), "{e:?}");
        std::fs::write(
            dir.path().join("key2"),
            "https://discord.example/api/webhooks/1/x\n",
        )
        .unwrap();
        let c = parse(
            dir.path(),
            "  - alertmanager: { url: 'http://am:9093' }\n\
             \x20 - email: { host: smtp.example.org, from: 'lp@example.org', to: [a@example.org] }\n\
             \x20 - pagerduty: { routing_key_file: key }\n\
             \x20 - opsgenie: { api_key_file: key }\n\
             \x20 - teams: { url: 'https://example.org/wf' }\n\
             \x20 - discord: { url_file: key2 }\n\
             \x20 - telegram: { bot_token_file: key, chat_id: '@ops' }\n\
             \x20 - mattermost: { url: 'https://mm.example.org/hooks/x' }\n\
             \x20 - ntfy: { url: 'https://ntfy.sh/t' }\n\
             \x20 - gotify: { url: 'https://g.example.org', token_file: key }\n\
             \x20 - webhook_template: { url: 'https://x.example.org', body: '{\"c\": {{check|json}}}' }\n",
        )
        .unwrap();
        let kinds: Vec<&str> = c
            .alerts
            .iter()
            .map(|a| crate::alerts::target_kind(&a.target))
            .collect();
        assert_eq!(kinds, super::CHANNEL_KEYS);
        assert_eq!(
            c.alerts[0].repeat,
            Some(super::alertmanager::DEFAULT_REPEAT)
        );
        assert_eq!(c.alerts[2].repeat, None);
        match &c.alerts[1].target {
            AlertTarget::Channel(Channel::Email(m)) => {
                assert_eq!((m.port, m.tls), (587, super::email::Security::Starttls));
            }
            other => panic!("{other:?}"),
        }
        // The outbox stores where a secret is, never its value.
        let stored = serde_json::to_string(&c.alerts[2].target).unwrap();
        assert!(!stored.contains("s3cret"), "{stored}");
    }

    #[test]
    fn bad_channel_settings_name_line_key_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse(
            dir.path(),
            "  - pagerduty: { url: 'https://pd.example.org' }\n\
             \x20 - telegram: { bot_token_env: LINKPULSE_TEST_SURELY_UNSET, chat_id: 'ops room' }\n\
             \x20 - name: am\n    repeat: 10m\n    alertmanager: { url: 'http://am:9093' }\n\
             \x20 - webhook_template: { url: 'https://x.example.org', body: '{{nope}}' }\n\
             \x20 - ntfy: { url: 'ftp://x', priority: 9 }\n\
             \x20 - email: { host: h, from: 'not an address', to: [], tls: ssl }\n\
             \x20 - discord: { url: 'https://d.example.org/x' }\n    gotify: { url: 'https://g.example.org', token_env: X }\n\
             \x20 - teams: { url: 'https://t.example.org', url_env: T }\n\
             \x20 - gotify: { url: 'https://g.example.org', token_env: PATH, priority: 11 }\n",
        )
        .unwrap_err();
        let has = |want: &str| {
            assert!(
                e.iter().any(|l| l.starts_with(want)),
                "no {want:?} in {e:#?}"
            );
        };
        has("t.yaml:5: alerts[0].pagerduty: routing_key_file or routing_key_env is required");
        has(
            "t.yaml:6: alerts[1].telegram.bot_token_env: the environment variable LINKPULSE_TEST_SURELY_UNSET is not set",
        );
        has("t.yaml:6: alerts[1].telegram.chat_id: invalid chat_id \"ops room\"");
        has("t.yaml:8: alerts[2].repeat: Alertmanager resolves an alert not posted again");
        has("t.yaml:10: alerts[3].webhook_template.body: unknown field \"nope\" in the template");
        has("t.yaml:11: alerts[4].ntfy.url: invalid URL \"ftp://x\"");
        has("t.yaml:11: alerts[4].ntfy.priority: invalid priority 9 (1 to 5)");
        has("t.yaml:12: alerts[5].email.tls: unknown tls \"ssl\" (starttls, tls or none)");
        has("t.yaml:12: alerts[5].email.from: invalid address \"not an address\"");
        has("t.yaml:12: alerts[5].email: to needs at least one address");
        has(
            "t.yaml:13: alerts[6]: an alert needs exactly one of webhook, slack, command, alertmanager",
        );
        has("t.yaml:15: alerts[7].teams: give only one of url, url_file or url_env");
        has("t.yaml:16: alerts[8].gotify.priority: invalid priority 11 (0 to 10)");
    }
}
