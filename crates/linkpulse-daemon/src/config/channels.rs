//! The channel sections of an `alerts:` item (`alertmanager:`, `email:`, `pagerduty:`, …): which
//! one is written, and its validation by the channel's own `validate` in
//! [`crate::alerts::channels`].

use std::path::Path;

use super::collect::Errors;
use super::raw::RawAlert;
use crate::alerts::channels::config::Ctx;
use crate::alerts::channels::{
    Channel, alertmanager, discord, email, gotify, mattermost, ntfy, opsgenie, pagerduty, teams,
    telegram, template,
};

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
    e: &mut Errors<'_>,
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

#[cfg(test)]
mod tests {
    use crate::alerts::channels::Channel;
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
        assert_eq!(kinds, crate::alerts::channels::CHANNEL_KEYS);
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
