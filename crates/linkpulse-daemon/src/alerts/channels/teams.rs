//! Microsoft Teams: a Workflows (Power Automate) webhook posted an Adaptive Card
//! (`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",…}]}`),
//! or a legacy Office 365 connector posted a `MessageCard` (`format: messagecard`).

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::Request;
use super::secret::{Revealed, Secret};
use super::{Event, Severity};

/// `teams:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    url: Option<S<String>>,
    url_file: Option<S<String>>,
    url_env: Option<S<String>>,
    format: Option<S<String>>,
    ca_file: Option<S<String>>,
}

/// The card format Teams expects from this webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Workflows webhook: an Adaptive Card in a message.
    Adaptive,
    /// Office 365 connector (retired by Microsoft, still accepted by some tenants).
    Messagecard,
}

/// A Teams webhook.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Teams {
    /// The webhook URL (it carries a signature: a secret).
    pub url: Secret,
    /// Adaptive Card or MessageCard.
    pub format: Format,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Teams {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Teams> {
        let url = c.webhook_url(
            raw.url.as_ref(),
            raw.url_file.as_ref(),
            raw.url_env.as_ref(),
        );
        let format = match raw.format.as_ref().map(|f| f.value.trim()) {
            None | Some("adaptive") => Some(Format::Adaptive),
            Some("messagecard") => Some(Format::Messagecard),
            Some(other) => {
                let message = format!("unknown format {other:?} (adaptive or messagecard)");
                if let Some(f) = &raw.format {
                    c.at(f, "format", message);
                }
                None
            }
        };
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Teams {
            url: url?,
            format: format?,
            ca_file: ca_file?,
        })
    }

    /// The card.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let url = r.reveal(&self.url)?;
        let body = match self.format {
            Format::Adaptive => {
                let facts: Vec<serde_json::Value> = ev
                    .facts()
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({"title": k, "value": v}))
                    .collect();
                let color = match ev.severity() {
                    Severity::Critical => "Attention",
                    Severity::Warning => "Warning",
                    Severity::Ok => "Good",
                };
                serde_json::json!({
                    "type": "message",
                    "attachments": [{
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "contentUrl": null,
                        "content": {
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard",
                            "version": "1.4",
                            "body": [
                                {"type": "TextBlock", "text": ev.title(), "weight": "Bolder",
                                 "size": "Medium", "color": color, "wrap": true},
                                {"type": "FactSet", "facts": facts},
                            ],
                        },
                    }],
                })
            }
            Format::Messagecard => {
                let facts: Vec<serde_json::Value> = ev
                    .facts()
                    .into_iter()
                    .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                    .collect();
                serde_json::json!({
                    "@type": "MessageCard",
                    "@context": "https://schema.org/extensions",
                    "summary": ev.summary(),
                    "themeColor": super::color_hex(ev.severity()),
                    "title": ev.title(),
                    "sections": [{"facts": facts}],
                })
            }
        };
        Ok(Request::post_json(url, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn adaptive_card_and_message_card() {
        let mut t = Teams {
            url: Secret::Value("https://teams.test/wf".to_owned()),
            format: Format::Adaptive,
            ca_file: None,
        };
        let mut r = Revealed::default();
        let b = t.request(&down(), &mut r).unwrap().json();
        assert_eq!(b["type"], "message");
        let a = &b["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["body"][0]["text"], "db is down");
        assert_eq!(a["content"]["body"][1]["facts"][0]["title"], "Check");
        t.format = Format::Messagecard;
        let b = t.request(&down(), &mut r).unwrap().json();
        assert_eq!(b["@type"], "MessageCard");
        assert_eq!(b["themeColor"], "D93F0B");
    }
}
