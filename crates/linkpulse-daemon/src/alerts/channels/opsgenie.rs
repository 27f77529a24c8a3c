//! Opsgenie Alert API: `POST {url}/v2/alerts` creates an alert with `alias` =
//! `linkpulse/{check}` (Opsgenie de-duplicates on it) while a check is down or degraded;
//! `POST {url}/v2/alerts/{alias}/close?identifierType=alias` closes it when the check is up.
//! Authenticated with `Authorization: GenieKey …`.

use serde::Deserialize;

use super::config::{Ctx, S};
use super::http::{Request, join};
use super::secret::{Revealed, Secret};
use super::{Event, Severity};

/// Opsgenie's API (the EU instance is `https://api.eu.opsgenie.com`).
pub const DEFAULT_URL: &str = "https://api.opsgenie.com";

/// `opsgenie:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    api_key_file: Option<S<String>>,
    api_key_env: Option<S<String>>,
    url: Option<S<String>>,
    #[serde(default)]
    responders: Vec<String>,
    ca_file: Option<S<String>>,
}

/// An Opsgenie API integration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Opsgenie {
    /// The integration's API key.
    pub api_key: Secret,
    /// Base URL.
    pub url: String,
    /// Team names to notify (`responders` of type `team`).
    #[serde(default)]
    pub responders: Vec<String>,
    /// Extra CA certificates for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Opsgenie {
    pub(crate) fn validate(c: &mut Ctx<'_, '_>, raw: &Raw) -> Option<Opsgenie> {
        let key = c.secret(
            "api_key",
            None,
            raw.api_key_file.as_ref(),
            raw.api_key_env.as_ref(),
            true,
        );
        let url = c.url_or(raw.url.as_ref(), "url", DEFAULT_URL);
        let ca_file = c.ca_file(raw.ca_file.as_ref());
        Some(Opsgenie {
            api_key: key??,
            url: url?,
            responders: raw.responders.clone(),
            ca_file: ca_file?,
        })
    }

    /// Create or close the check's alert.
    pub(crate) fn request(&self, ev: &Event, r: &mut Revealed) -> Result<Request, String> {
        let auth = format!("GenieKey {}", r.reveal(&self.api_key)?);
        let alias = ev.dedup_key();
        if ev.resolves() {
            let mut url = url::Url::parse(&join(&self.url, "/v2/alerts"))
                .map_err(|e| format!("bad url: {e}"))?;
            url.path_segments_mut()
                .map_err(|()| "bad url".to_owned())?
                .push(&alias)
                .push("close");
            url.set_query(Some("identifierType=alias"));
            let body = serde_json::json!({
                "source": "linkpulse",
                "user": "linkpulse",
                "note": ev.summary(),
            });
            return Ok(Request::post_json(url.into(), &body).header("Authorization", auth));
        }
        let priority = match (ev.event.as_str(), ev.severity()) {
            ("test", _) | (_, Severity::Ok) => "P5",
            (_, Severity::Warning) => "P3",
            (_, Severity::Critical) => "P1",
        };
        let details: serde_json::Map<String, serde_json::Value> = ev
            .facts()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into()))
            .collect();
        let responders: Vec<serde_json::Value> = self
            .responders
            .iter()
            .map(|t| serde_json::json!({"name": t, "type": "team"}))
            .collect();
        let mut tags = vec!["linkpulse".to_owned(), ev.state.clone()];
        tags.extend(ev.labels.iter().map(|(k, v)| format!("{k}:{v}")));
        let body = serde_json::json!({
            "message": super::truncate(&ev.title(), 130),
            "alias": alias,
            "description": super::truncate(&ev.summary(), 15000),
            "responders": responders,
            "tags": tags,
            "details": details,
            "entity": ev.target,
            "source": "linkpulse",
            "priority": priority,
        });
        Ok(Request::post_json(join(&self.url, "/v2/alerts"), &body).header("Authorization", auth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::tests::down;

    #[test]
    fn creates_by_alias_and_closes_by_alias() {
        let og = Opsgenie {
            api_key: Secret::Value("K3Y".to_owned()),
            url: "https://og.test".to_owned(),
            responders: vec!["dba".to_owned()],
            ca_file: None,
        };
        let mut r = Revealed::default();
        let req = og.request(&down(), &mut r).unwrap();
        assert_eq!(req.url, "https://og.test/v2/alerts");
        assert!(
            req.headers
                .contains(&("Authorization".to_owned(), "GenieKey K3Y".to_owned()))
        );
        let b = req.json();
        assert_eq!(b["alias"], "linkpulse/db");
        assert_eq!(b["message"], "db is down");
        assert_eq!(b["priority"], "P1");
        assert_eq!(b["responders"][0]["name"], "dba");
        let mut up = down();
        up.state = "up".to_owned();
        let req = og.request(&up, &mut r).unwrap();
        assert_eq!(
            req.url,
            "https://og.test/v2/alerts/linkpulse%2Fdb/close?identifierType=alias"
        );
    }
}
