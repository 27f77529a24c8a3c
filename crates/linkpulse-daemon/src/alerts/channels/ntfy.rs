//! ntfy: `POST` of the message text to the topic URL, with `Title`, `Priority` and `Tags`
//! headers, and `Authorization: Bearer …` when a token is given.

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::Request;
use super::secret::{Revealed, Secret};
use super::{Event, Severity};

/// `ntfy:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: S<String>,
    token_file: Option<S<String>>,
    token_env: Option<S<String>>,
    priority: Option<S<u8>>,
    #[serde(default)]
    tags: Vec<String>,
    ca_file: Option<S<String>>,
}

/// An ntfy topic.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ntfy {
    /// Topic URL, e.g. `https://ntfy.sh/mytopic`.
    pub url: String,
    /// Access token, when the topic is protected.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Priority 1–5 of problem messages (default: 5 down, 4 degraded; 3 recovery).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Extra tags (emoji short codes or words).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Ntfy {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Ntfy> {
        let url = c.url(&raw.url, "url");
        let token = c.secret(
            "token",
            None,
            raw.token_file.as_ref(),
            raw.token_env.as_ref(),
            false,
        );
        let priority = c.priority(raw.priority.as_ref(), 1..=5);
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Ntfy {
            url: url?,
            token: token?,
            priority: priority?,
            tags: raw.tags.clone(),
            ca_file: ca_file?,
        })
    }

    /// The message.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let (priority, tag) = match ev.severity() {
            Severity::Critical => (self.priority.unwrap_or(5), "rotating_light"),
            Severity::Warning => (self.priority.unwrap_or(4), "warning"),
            Severity::Ok => (3, "white_check_mark"),
        };
        let mut tags = vec![tag.to_owned()];
        tags.extend(self.tags.iter().cloned());
        let mut body = ev.summary();
        if let Some(d) = &ev.diagnosis {
            body.push_str(&format!("\ndiagnosis: {d}"));
        }
        let mut req = Request {
            method: http::Method::POST,
            url: self.url.clone(),
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8".to_owned(),
            body: body.into_bytes(),
        }
        .header("Title", ev.title())
        .header("Priority", priority.to_string())
        .header("Tags", tags.join(","));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {}", r.reveal(t)?));
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn headers_carry_title_priority_and_tags() {
        let n = Ntfy {
            url: "https://ntfy.test/ops".to_owned(),
            token: Some(Secret::Value("tk_abc".to_owned())),
            priority: None,
            tags: vec!["db".to_owned()],
            ca_file: None,
        };
        let req = n.request(&down(), &mut Revealed::default()).unwrap();
        let h = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("Title").as_deref(), Some("db is down"));
        assert_eq!(h("Priority").as_deref(), Some("5"));
        assert_eq!(h("Tags").as_deref(), Some("rotating_light,db"));
        assert_eq!(h("Authorization").as_deref(), Some("Bearer tk_abc"));
        assert!(
            String::from_utf8(req.body)
                .unwrap()
                .starts_with("[linkpulse] db is down")
        );
    }
}
