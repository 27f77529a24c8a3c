//! Gotify: `POST {url}/message` with the application token in `X-Gotify-Key` and
//! `{"title","message","priority"}`.

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::{Request, join};
use super::secret::{Revealed, Secret};
use super::{Event, Severity};

/// `gotify:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: S<String>,
    token_file: Option<S<String>>,
    token_env: Option<S<String>>,
    priority: Option<S<u8>>,
    ca_file: Option<S<String>>,
}

/// A Gotify application.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gotify {
    /// The server's base URL.
    pub url: String,
    /// The application token.
    pub token: Secret,
    /// Priority of problem messages (default 8 down, 5 degraded; 2 recovery).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Gotify {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Gotify> {
        let url = c.url(&raw.url, "url");
        let token = c.secret(
            "token",
            None,
            raw.token_file.as_ref(),
            raw.token_env.as_ref(),
            true,
        );
        let priority = c.priority(raw.priority.as_ref(), 0..=10);
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Gotify {
            url: url?,
            token: token??,
            priority: priority?,
            ca_file: ca_file?,
        })
    }

    /// The message.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let token = r.reveal(&self.token)?;
        let priority = match ev.severity() {
            Severity::Critical => self.priority.unwrap_or(8),
            Severity::Warning => self.priority.unwrap_or(5),
            Severity::Ok => 2,
        };
        let mut message = String::new();
        for (k, v) in ev.facts() {
            message.push_str(&format!("{k}: {v}\n"));
        }
        let body = serde_json::json!({
            "title": ev.title(),
            "message": message.trim_end(),
            "priority": priority,
            "extras": {"client::display": {"contentType": "text/plain"}},
        });
        Ok(Request::post_json(join(&self.url, "/message"), &body).header("X-Gotify-Key", token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn message_with_the_key_header() {
        let g = Gotify {
            url: "https://gotify.test/".to_owned(),
            token: Secret::Value("AppT0ken".to_owned()),
            priority: None,
            ca_file: None,
        };
        let req = g.request(&down(), &mut Revealed::default()).unwrap();
        assert_eq!(req.url, "https://gotify.test/message");
        assert!(
            req.headers
                .contains(&("X-Gotify-Key".to_owned(), "AppT0ken".to_owned()))
        );
        let b = req.json();
        assert_eq!(b["title"], "db is down");
        assert_eq!(b["priority"], 8);
    }
}
