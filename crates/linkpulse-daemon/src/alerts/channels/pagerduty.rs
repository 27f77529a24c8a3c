//! PagerDuty Events API v2: `POST {url}/v2/enqueue` with a `trigger` while a check is down
//! or degraded and a `resolve` when it is up, both with `dedup_key` = `linkpulse/{check}`, so
//! every event of one problem lands on the same PagerDuty alert.

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::{Request, join};
use super::secret::{Revealed, Secret};
use super::{Event, Severity};

/// PagerDuty's events endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com";

/// `pagerduty:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    routing_key_file: Option<S<String>>,
    routing_key_env: Option<S<String>>,
    url: Option<S<String>>,
    ca_file: Option<S<String>>,
}

/// A PagerDuty service integration (Events API v2).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PagerDuty {
    /// The integration's routing key.
    pub routing_key: Secret,
    /// Base URL (`https://events.pagerduty.com`).
    pub url: String,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl PagerDuty {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<PagerDuty> {
        let key = c.secret(
            "routing_key",
            None,
            raw.routing_key_file.as_ref(),
            raw.routing_key_env.as_ref(),
            true,
        );
        let url = c.url_or(raw.url.as_ref(), "url", DEFAULT_URL);
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(PagerDuty {
            routing_key: key??,
            url: url?,
            ca_file: ca_file?,
        })
    }

    /// The event for PagerDuty.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let routing_key = r.reveal(&self.routing_key)?;
        let body = if ev.resolves() {
            serde_json::json!({
                "routing_key": routing_key,
                "event_action": "resolve",
                "dedup_key": ev.dedup_key(),
            })
        } else {
            let severity = match (ev.event.as_str(), ev.severity()) {
                ("test", _) | (_, Severity::Ok) => "info",
                (_, Severity::Warning) => "warning",
                (_, Severity::Critical) => "critical",
            };
            let mut details = serde_json::Map::new();
            for (name, value) in ev.facts() {
                details.insert(name.to_ascii_lowercase(), value.into());
            }
            serde_json::json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": ev.dedup_key(),
                "client": "linkpulse",
                "payload": {
                    "summary": super::truncate(&ev.summary(), 1024),
                    "source": ev.target,
                    "severity": severity,
                    "timestamp": ev.at(),
                    "component": ev.check,
                    "class": ev.kind,
                    "custom_details": details,
                },
            })
        };
        Ok(Request::post_json(join(&self.url, "/v2/enqueue"), &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn triggers_then_resolves_with_one_dedup_key() {
        let pd = PagerDuty {
            routing_key: Secret::Value("R0UTE".to_owned()),
            url: "https://pd.test/".to_owned(),
            ca_file: None,
        };
        let mut r = Revealed::default();
        let req = pd.request(&down(), &mut r).unwrap();
        assert_eq!(req.url, "https://pd.test/v2/enqueue");
        let b = req.json();
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["routing_key"], "R0UTE");
        assert_eq!(b["dedup_key"], "linkpulse/db");
        assert_eq!(b["payload"]["severity"], "critical");
        assert_eq!(b["payload"]["source"], "tcp://h:5432");
        assert_eq!(b["payload"]["timestamp"], "2025-12-05T07:00:00.123Z");
        let mut up = down();
        up.state = "up".to_owned();
        up.event = "up".to_owned();
        let b = pd.request(&up, &mut r).unwrap().json();
        assert_eq!(b["event_action"], "resolve");
        assert_eq!(b["dedup_key"], "linkpulse/db");
        assert!(b.get("payload").is_none());
    }
}
