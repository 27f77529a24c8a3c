//! Mattermost: an incoming webhook (`POST` to its URL) with `text`, optionally `channel`
//! and `username` (when the server lets webhooks override them).

use serde::Deserialize;

use super::Event;
use super::config::{Ctx, S};
use super::http::Request;
use super::secret::{Revealed, Secret};

/// `mattermost:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: Option<S<String>>,
    url_file: Option<S<String>>,
    url_env: Option<S<String>>,
    channel: Option<String>,
    username: Option<String>,
    ca_file: Option<S<String>>,
}

/// A Mattermost incoming webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mattermost {
    /// The webhook URL (its key is a secret).
    pub url: Secret,
    /// Channel to post in instead of the webhook's own.
    #[serde(default)]
    pub channel: Option<String>,
    /// Name to post under.
    #[serde(default)]
    pub username: Option<String>,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Mattermost {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Mattermost> {
        let url = c.webhook_url(
            raw.url.as_ref(),
            raw.url_file.as_ref(),
            raw.url_env.as_ref(),
        );
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Mattermost {
            url: url?,
            channel: raw.channel.clone(),
            username: raw.username.clone(),
            ca_file: ca_file?,
        })
    }

    /// The post.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let url = r.reveal(&self.url)?;
        let mut body = serde_json::json!({ "text": ev.summary() });
        if let Some(c) = &self.channel {
            body["channel"] = c.clone().into();
        }
        if let Some(u) = &self.username {
            body["username"] = u.clone().into();
        }
        Ok(Request::post_json(url, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn text_and_channel() {
        let m = Mattermost {
            url: Secret::Value("https://mm.test/hooks/xyz".to_owned()),
            channel: Some("ops".to_owned()),
            username: None,
            ca_file: None,
        };
        let b = m.request(&down(), &mut Revealed::default()).unwrap().json();
        assert_eq!(b["channel"], "ops");
        assert!(b.get("username").is_none());
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .starts_with("[linkpulse] db is down")
        );
    }
}
