//! Masking secrets in URLs before they are shown, stored, sent or logged.
//!
//! The password of a URL's user-info (`http://admin:PW@host/` shows as `http://admin:***@host/`),
//! a user name given alone (`http://TOKEN@host/` shows as `http://***@host/`: without a
//! password the name is the credential) and the values of secret query parameters
//! (`?token=…`, [`DEFAULT_SECRET_PARAMS`] plus the names a [`Redactor`] is given) are replaced
//! by [`MASK`]; everything else stays as written, so a masked URL still says which host, port
//! and path is probed. The prober itself always uses the real URL: only what leaves it (its
//! [`ProbeResult`], error texts) is masked.
//!
//! Written here rather than with the `url` crate's parser: a parser normalises what it prints
//! (adds `/`, lower-cases the host, re-encodes) and refuses what it cannot parse, while the
//! masker must keep the text as written, mask URLs that do not parse, and find URLs inside free
//! text (error messages such as `error sending request for url (http://…)`).
//!
//! ```
//! use linkpulse_probe::redact::Redactor;
//! let r = Redactor::new(["session"]);
//! assert_eq!(
//!     r.url("http://admin:pw@h:8/x?session=1&a=2"),
//!     "http://admin:***@h:8/x?session=***&a=2"
//! );
//! ```

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use crate::ProbeResult;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Query parameters whose values are masked by default (names compared case-insensitively,
/// after percent-decoding).
pub const DEFAULT_SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "key",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "signature",
    "sig",
];

/// Masks user-info (passwords; a user name given alone) and secret query parameters (see the module docs). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    /// Lower-case names of the secret query parameters.
    params: Arc<[Box<str>]>,
}

/// The default redactor, built once: every check without secret parameters of its own shares
/// its list (a daemon with 20,000 checks held 20,000 copies of it, 3.6 MB).
static DEFAULT: LazyLock<Redactor> = LazyLock::new(|| Redactor {
    params: DEFAULT_SECRET_PARAMS.iter().map(|p| (*p).into()).collect(),
});

impl Default for Redactor {
    /// The default secret parameters only.
    fn default() -> Redactor {
        DEFAULT.clone()
    }
}

impl Redactor {
    /// [`DEFAULT_SECRET_PARAMS`] plus `extra` (e.g. the config's `secret_query_params`).
    pub fn new<I, S>(extra: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut params: Vec<Box<str>> = DEFAULT_SECRET_PARAMS.iter().map(|p| (*p).into()).collect();
        for p in extra {
            let p = p.as_ref().trim().to_ascii_lowercase();
            if !p.is_empty() && !params.iter().any(|q| **q == *p) {
                params.push(p.into());
            }
        }
        if params.len() == DEFAULT_SECRET_PARAMS.len() {
            return Redactor::default();
        }
        Redactor {
            params: params.into(),
        }
    }

    /// The secret parameter names, lower case.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| &**p)
    }

    /// `name` (as written in a query, maybe percent-encoded) is a secret parameter.
    fn is_secret(&self, name: &str) -> bool {
        let decoded: Cow<'_, str> = url::form_urlencoded::parse(name.as_bytes())
            .next()
            .map_or(Cow::Borrowed(name), |(k, _)| k);
        self.params.iter().any(|p| p.eq_ignore_ascii_case(&decoded))
    }

    /// `url` with its user-info and secret parameter values masked.
    pub fn url<'a>(&self, url: &'a str) -> Cow<'a, str> {
        self.text(url)
    }

    /// `text` with every URL in it (`scheme://…` up to white space, a quote, `<`, `>` or `)`)
    /// masked; borrowed when nothing needed masking.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains("://") {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while let Some(i) = rest.find("://") {
            let after = &rest[i + 3..];
            let end = after
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | '\\')
                })
                .unwrap_or(after.len());
            let body = &after[..end];
            out.push_str(&rest[..i + 3]);
            match self.mask_body(body) {
                Some(masked) => {
                    out.push_str(&masked);
                    changed = true;
                }
                None => out.push_str(body),
            }
            rest = &after[end..];
        }
        if !changed {
            return Cow::Borrowed(text);
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Masks `s` in place.
    pub fn mask_in_place(&self, s: &mut String) {
        if let Cow::Owned(masked) = self.text(s) {
            *s = masked;
        }
    }

    /// Masks every URL a probe result shows: its target, the final URL of an HTTP probe and the
    /// error and warning texts.
    pub fn result(&self, r: &mut ProbeResult) {
        self.mask_in_place(&mut r.target);
        if let Some(h) = &mut r.http {
            self.mask_in_place(&mut h.final_url);
        }
        if let Some(e) = &mut r.error {
            self.mask_in_place(&mut e.message);
        }
        if let Some(w) = &mut r.warning {
            self.mask_in_place(w);
        }
    }

    /// `body` is what follows `scheme://` (authority, path, query, fragment); `None` when it
    /// holds no secret.
    fn mask_body(&self, body: &str) -> Option<String> {
        let authority_end = body.find(['/', '?', '#']).unwrap_or(body.len());
        let authority = &body[..authority_end];
        let mut out = String::with_capacity(body.len());
        let mut changed = false;
        // `user:password@`: the password goes, the user name stays (it says who logs in).
        // `user@` alone: the name is the secret (`https://TOKEN@host/`), so it goes.
        match authority.rfind('@').filter(|&at| at > 0) {
            Some(at) => {
                if let Some(colon) = authority[..at].find(':') {
                    out.push_str(&authority[..=colon]);
                }
                out.push_str(MASK);
                out.push_str(&authority[at..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        let rest = &body[authority_end..];
        let (before_fragment, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
        match before_fragment.split_once('?') {
            Some((path, query)) => {
                out.push_str(path);
                out.push('?');
                for (n, pair) in query.split('&').enumerate() {
                    if n > 0 {
                        out.push('&');
                    }
                    match pair.split_once('=') {
                        Some((name, value)) if !value.is_empty() && self.is_secret(name) => {
                            out.push_str(name);
                            out.push('=');
                            out.push_str(MASK);
                            changed = true;
                        }
                        _ => out.push_str(pair),
                    }
                }
            }
            None => out.push_str(before_fragment),
        }
        out.push_str(fragment);
        changed.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactors_without_extra_parameters_share_the_default_list() {
        let a = Redactor::default();
        let b = Redactor::new(["Token", " "]);
        assert!(Arc::ptr_eq(&a.params, &b.params));
        assert_eq!(a, Redactor::new(std::iter::empty::<&str>()));
        let c = Redactor::new(["session"]);
        assert_ne!(a, c);
        assert_eq!(c.params().count(), DEFAULT_SECRET_PARAMS.len() + 1);
        assert_eq!(b.url("http://h/?token=1&a=2"), "http://h/?token=***&a=2");
    }

    #[test]
    fn user_info_and_secret_parameters_are_masked() {
        let r = Redactor::new(["session"]);
        assert_eq!(
            r.url("http://admin:PW@127.0.0.1:8080/x?a=1&Token=abc&session=s1#top"),
            "http://admin:***@127.0.0.1:8080/x?a=1&Token=***&session=***#top"
        );
        assert_eq!(
            r.url("https://u:@h/?%74oken=abc"),
            "https://u:***@h/?%74oken=***"
        );
    }

    #[test]
    fn a_user_name_without_a_password_is_masked_whole() {
        let r = Redactor::default();
        assert_eq!(r.url("http://admin@h:8/x"), "http://***@h:8/x");
        assert_eq!(
            r.text("GET (https://ghp_T0KEN@h/) failed, postgres://user@db/name"),
            "GET (https://***@h/) failed, postgres://***@db/name"
        );
        assert_eq!(r.url("http://@h/"), "http://@h/");
    }

    #[test]
    fn text_without_secrets_is_borrowed_and_unchanged() {
        let r = Redactor::default();
        for s in [
            "connection refused",
            "http://127.0.0.1:8/a@b?x=1",
            "https://h/?token=",
            "tcp://h:22",
        ] {
            assert!(matches!(r.text(s), Cow::Borrowed(t) if t == s), "{s}");
        }
    }

    #[test]
    fn urls_inside_messages_are_masked_and_the_rest_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.text("error sending request for url (http://a:b@h:1/hook?key=K): refused"),
            "error sending request for url (http://a:***@h:1/hook?key=***): refused"
        );
        assert_eq!(
            r.text("\"https://x:y@h/\" then http://h/?password=p q"),
            "\"https://x:***@h/\" then http://h/?password=*** q"
        );
    }
}
