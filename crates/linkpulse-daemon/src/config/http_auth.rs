//! The answer-side keys of an `http:` check: `conditions`, `body`, `body_size_limit`,
//! `basic_auth` (`username`, `password` or `password_file`) and `bearer_token_file`.
//!
//! Conditions are parsed and type-checked here, at load: a bad one is an error at its own
//! line, with the condition and a caret under the bad token. Credentials become one
//! `Authorization` value, a [`Secret`] that never shows in `Debug` output.

use std::path::Path;

use base64::Engine as _;

use super::collect::Errors;
use super::files;
use super::raw::{RawBasicAuth, RawHttp};
use super::spanned::S;

/// A secret value (an `Authorization` header): compared and cloned like a string, shown as
/// `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(linkpulse_probe::redact::MASK)
    }
}

/// What the answer-side keys of one http check validated into.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AnswerKeys {
    pub(crate) conditions: Vec<String>,
    pub(crate) body: Option<String>,
    pub(crate) body_size_limit: Option<u64>,
    pub(crate) authorization: Option<Secret>,
}

/// Validates `conditions`, `body`, `body_size_limit`, `basic_auth` and `bearer_token_file`;
/// `None` when one of them is wrong (each problem reported at its line).
pub(crate) fn answer_keys(
    e: &mut Errors<'_>,
    h: &RawHttp,
    path: &str,
    base: &Path,
) -> Option<AnswerKeys> {
    let mut ok = true;
    let mut keys = AnswerKeys {
        body: h.body.as_ref().map(|b| b.value.clone()),
        ..AnswerKeys::default()
    };
    for (i, c) in h.conditions.iter().enumerate() {
        match linkpulse_probe::conditions::Condition::parse(&c.value) {
            Ok(cond) => keys.conditions.push(cond.to_string()),
            Err(err) => {
                e.at(c, format!("{path}.conditions[{i}]"), err.to_string());
                ok = false;
            }
        }
    }
    if let Some(limit) = &h.body_size_limit {
        if limit.value == 0 {
            e.at(
                limit,
                format!("{path}.body_size_limit"),
                "must be above 0 bytes",
            );
            ok = false;
        }
        keys.body_size_limit = Some(limit.value);
    }
    match (&h.basic_auth, &h.bearer_token_file) {
        (Some(_), Some(t)) => {
            e.at(
                t,
                format!("{path}.bearer_token_file"),
                "give basic_auth or bearer_token_file, not both",
            );
            ok = false;
        }
        (Some(b), None) => match basic(e, &b.value, &format!("{path}.basic_auth"), base) {
            Some(v) => keys.authorization = Some(Secret(v)),
            None => ok = false,
        },
        (None, Some(t)) => {
            let key = format!("{path}.bearer_token_file");
            match secret_file(e, base, t, &key) {
                Some(token) => keys.authorization = Some(Secret(format!("Bearer {token}"))),
                None => ok = false,
            }
        }
        (None, None) => {}
    }
    if let Some(a) = &keys.authorization
        && http::HeaderValue::from_str(a.expose()).is_err()
    {
        let at = h
            .bearer_token_file
            .as_ref()
            .map_or(h.url.referenced.line(), |t| t.referenced.line());
        e.push(
            at,
            format!("{path}.authorization"),
            "the credentials hold characters a header cannot carry (a newline inside?)",
        );
        ok = false;
    }
    ok.then_some(keys)
}

/// `Basic base64(username:password)`.
fn basic(e: &mut Errors<'_>, b: &RawBasicAuth, path: &str, base: &Path) -> Option<String> {
    let password = match (&b.password, &b.password_file) {
        (Some(_), Some(f)) => {
            e.at(
                f,
                format!("{path}.password_file"),
                "give password or password_file, not both",
            );
            return None;
        }
        (Some(p), None) => p.value.clone(),
        (None, Some(f)) => secret_file(e, base, f, &format!("{path}.password_file"))?,
        (None, None) => String::new(),
    };
    let pair = format!("{}:{password}", b.username.value);
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// A secret read from a file: its text without the final line break; empty is an error.
fn secret_file(e: &mut Errors<'_>, base: &Path, f: &S<String>, key: &str) -> Option<String> {
    let (path, text) = files::read_text(e, base, f, key)?;
    let value = text.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        e.at(f, key, format!("{} is empty", path.display()));
        return None;
    }
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{CheckSpec, Config};

    fn load(dir: &Path, http: &str) -> Result<Config, Vec<String>> {
        let text =
            format!("checks:\n  - name: a\n    http:\n      url: http://127.0.0.1:1/\n{http}");
        Config::parse("t.yaml", &text, dir)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn credentials_from_files_become_one_masked_header() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "p4ss\n").unwrap();
        std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        let spec = |c: &Config| match &c.checks[0].spec {
            CheckSpec::Http(h) => h.clone(),
            other => panic!("{other:?}"),
        };
        let c = load(
            dir.path(),
            "      basic_auth: { username: u, password_file: pw }\n",
        )
        .unwrap();
        let h = spec(&c);
        assert_eq!(h.authorization.as_ref().unwrap().expose(), "Basic dTpwNHNz");
        assert!(!format!("{h:?}").contains("dTpwNHNz"));
        let c = load(
            dir.path(),
            "      bearer_token_file: token\n      body: hi\n      body_size_limit: 100\n",
        )
        .unwrap();
        let h = spec(&c);
        assert_eq!(h.authorization.as_ref().unwrap().expose(), "Bearer t0ken");
        assert_eq!(
            (h.body.as_deref(), h.body_size_limit),
            (Some("hi"), Some(100))
        );
    }

    #[test]
    fn bad_credentials_and_limits_name_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let e = load(
            dir.path(),
            "      basic_auth: { username: u, password: x, password_file: empty }\n      body_size_limit: 0\n",
        )
        .unwrap_err();
        assert!(e.iter().any(|m| m.starts_with("t.yaml:5: checks[0].http.basic_auth.password_file: give password or password_file, not both")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("t.yaml:6: checks[0].http.body_size_limit: must be above 0")), "{e:?}");
        let e = load(dir.path(), "      bearer_token_file: empty\n").unwrap_err();
        assert!(
            e[0].starts_with("t.yaml:5: checks[0].http.bearer_token_file: ")
                && e[0].ends_with("is empty"),
            "{e:?}"
        );
        let e = load(dir.path(), "      bearer_token_file: missing\n").unwrap_err();
        assert!(
            e[0].contains("checks[0].http.bearer_token_file") && e[0].contains("missing"),
            "{e:?}"
        );
        let e = load(
            dir.path(),
            "      basic_auth: { username: u }\n      bearer_token_file: empty\n",
        )
        .unwrap_err();
        assert!(
            e.iter()
                .any(|m| m.contains("give basic_auth or bearer_token_file, not both")),
            "{e:?}"
        );
    }
}
