//! Checks of fields that several sections share (http checks, webhooks, alert channels, alert
//! routing, the hub): an HTTP URL, request headers, a CA file, a duration, a name. They import
//! nothing of the sections that use them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linkpulse_probe::defaults as probe_defaults;

use super::collect::Errors;
use super::files;
use super::spanned::S;

/// Checks an `http://` / `https://` URL with a host.
pub(crate) fn http_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("invalid URL {value:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "invalid URL {value:?}: the scheme must be http or https"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {value:?}: no host"));
    }
    Ok(())
}

/// Request headers (of an http check or a webhook): every name and value one that HTTP
/// accepts, each problem at the header's line; `false` when one is not.
pub(crate) fn headers(
    e: &mut Errors<'_>,
    headers: &BTreeMap<String, S<String>>,
    path: &str,
) -> bool {
    let mut ok = true;
    for (name, value) in headers {
        let key = format!("{path}.headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            e.at(
                value,
                key,
                format!(
                    "invalid header name {name:?} (letters, digits and !#$%&'*+-.^_`|~, no spaces)"
                ),
            );
            ok = false;
        } else if http::HeaderValue::from_str(&value.value).is_err() {
            e.at(
                value,
                key,
                format!("invalid value for header {name:?} (no control characters or newlines)"),
            );
            ok = false;
        }
    }
    ok
}

/// Headers without their places in the file.
pub(crate) fn plain_headers(headers: &BTreeMap<String, S<String>>) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}

/// A `ca_file`: resolved from the config's directory and read now (a PEM file with at least
/// one certificate), so a missing or bad file is a config error with its line rather than a
/// check that goes down at run time.
pub(crate) fn ca_file(
    e: &mut Errors<'_>,
    ca: &S<String>,
    key: &str,
    base: &Path,
) -> Option<PathBuf> {
    let path = files::resolve(base, &ca.value);
    match linkpulse_probe::load_ca_file(&path) {
        Ok(_) => Some(path),
        Err(m) => {
            e.at(ca, key, m.to_string());
            None
        }
    }
}

/// Parses a duration such as `500ms`, `10s`, `1h30m`.
pub(super) fn duration(e: &mut Errors<'_>, s: &S<String>, path: &str) -> Option<Duration> {
    match humantime::parse_duration(s.value.trim()) {
        Ok(d) => Some(d),
        Err(_) => {
            e.at(
                s,
                path,
                format!(
                    "invalid duration {:?} (use a number with a unit: 500ms, 10s, 5m, 1h, 7d)",
                    s.value
                ),
            );
            None
        }
    }
}

/// A duration within the limits `check` (one of `linkpulse_probe::defaults`), which the CLI
/// applies to its flags too: the same values pass, with the same words when they do not.
pub(super) fn duration_checked(
    e: &mut Errors<'_>,
    s: &S<String>,
    path: &str,
    check: fn(Duration) -> Result<Duration, probe_defaults::LimitError>,
) -> Option<Duration> {
    let d = duration(e, s, path)?;
    match check(d) {
        Ok(d) => Some(d),
        Err(err) => {
            e.at(s, path, err.to_string());
            None
        }
    }
}

/// A duration that must be at least `min`.
pub(super) fn duration_min(
    e: &mut Errors<'_>,
    s: &S<String>,
    path: &str,
    min: Duration,
) -> Option<Duration> {
    let d = duration(e, s, path)?;
    if d < min {
        e.at(
            s,
            path,
            format!(
                "{:?} is too short (at least {})",
                s.value,
                humantime::format_duration(min)
            ),
        );
        return None;
    }
    Some(d)
}

/// Names of checks, alerts and push tokens: safe in URLs, labels and file names.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}
