//! Discord: an execute-webhook request (`POST` to the webhook URL) with `content` (the
//! one-line summary) and one embed with the facts; mentions are disabled.

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::Request;
use super::secret::{Revealed, Secret};
use super::{Event, truncate};

/// `discord:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: Option<S<String>>,
    url_file: Option<S<String>>,
    url_env: Option<S<String>>,
    username: Option<String>,
    ca_file: Option<S<String>>,
}

/// A Discord webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Discord {
    /// The webhook URL (its last part is the webhook's token: a secret).
    pub url: Secret,
    /// The name the messages are posted under (`linkpulse`).
    pub username: String,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Discord {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Discord> {
        let url = c.webhook_url(
            raw.url.as_ref(),
            raw.url_file.as_ref(),
            raw.url_env.as_ref(),
        );
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Discord {
            url: url?,
            username: raw
                .username
                .clone()
                .unwrap_or_else(|| "linkpulse".to_owned()),
            ca_file: ca_file?,
        })
    }

    /// The message.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let url = r.reveal(&self.url)?;
        let fields: Vec<serde_json::Value> = ev
            .facts()
            .into_iter()
            .take(25)
            .map(|(k, v)| serde_json::json!({"name": k, "value": truncate(&v, 1024), "inline": true}))
            .collect();
        let body = serde_json::json!({
            "username": self.username,
            "content": truncate(&ev.summary(), 2000),
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": truncate(&ev.title(), 256),
                "color": super::color(ev.severity()),
                "timestamp": ev.at(),
                "fields": fields,
            }],
        });
        Ok(Request::post_json(url, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn content_and_one_embed() {
        let d = Discord {
            url: Secret::Value("https://discord.test/api/webhooks/1/T0K".to_owned()),
            username: "linkpulse".to_owned(),
            ca_file: None,
        };
        let b = d.request(&down(), &mut Revealed::default()).unwrap().json();
        assert!(
            b["content"]
                .as_str()
                .unwrap()
                .starts_with("[linkpulse] db is down")
        );
        assert_eq!(b["embeds"][0]["title"], "db is down");
        assert_eq!(b["embeds"][0]["color"], 0x00D9_3F0B);
        assert_eq!(b["allowed_mentions"]["parse"], serde_json::json!([]));
    }
}
