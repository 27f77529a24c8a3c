//! blackbox_exporter's request and answer keys of the `http` prober beyond the basics:
//! `basic_auth`, `bearer_token(_file)`, `authorization`, `body`, `body_file`, `compression`,
//! `proxy_url`,
//! `body_size_limit`, `fail_if_header_matches` and `fail_if_header_not_matches` — read from
//! the file (stage two) and, for the header rules, judged on the answer.
//!
//! Relative `*_file` paths are taken from the config file's directory, as `ca_file` is;
//! files are read when the config is loaded (and again on `SIGHUP`).

use std::path::Path;

use super::fields::Errors;
use super::module::{HeaderRule, HttpModule};
use super::raw::{RawHttp, RawSize, S};

use linkpulse_sys::file::{SMALL_FILE_LIMIT, read_regular, read_regular_to_string};

/// Reads the request and header-rule keys of `h` into `module`.
pub(super) fn apply(
    errors: &mut Errors<'_>,
    base: &Path,
    at: &str,
    h: &RawHttp,
    module: &mut HttpModule,
) {
    if let Some(value) = authorization(errors, base, at, h) {
        match http::HeaderValue::from_str(&value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                module
                    .options
                    .headers
                    .retain(|(n, _)| n != http::header::AUTHORIZATION);
                module
                    .options
                    .headers
                    .push((http::header::AUTHORIZATION, v));
            }
            Err(_) => {
                let line = [
                    h.basic_auth.as_ref().map(|s| s.referenced.line()),
                    h.authorization.as_ref().map(|s| s.referenced.line()),
                    h.bearer_token_file.as_ref().map(|s| s.referenced.line()),
                    h.bearer_token.as_ref().map(|s| s.referenced.line()),
                ]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or(0);
                errors.list.push(crate::config::ConfigError {
                    file: errors.file.to_owned(),
                    line,
                    path: at.to_owned(),
                    message:
                        "the credentials hold characters a header cannot carry (a line break?)"
                            .to_owned(),
                });
            }
        }
    }
    match (&h.body, &h.body_file) {
        (Some(_), Some(f)) => errors.at(
            f,
            &format!("{at}.body_file"),
            "give body or body_file, not both",
        ),
        (Some(b), None) => module.options.body = Some(b.value.clone().into()),
        (None, Some(f)) => {
            let path = base.join(&f.value);
            match read_regular(&path, SMALL_FILE_LIMIT) {
                Ok(bytes) => module.options.body = Some(bytes.into()),
                Err(e) => errors.at(f, &format!("{at}.body_file"), e.to_string()),
            }
        }
        (None, None) => {}
    }
    if let Some(c) = &h.compression
        && !c.value.is_empty()
    {
        match linkpulse_probe::Compression::from_name(&c.value) {
            Some(encoding) => module.options.compression = Some(encoding),
            None => errors.at(
                c,
                &format!("{at}.compression"),
                format!(
                    "invalid compression {:?} (expected gzip, deflate, br or identity)",
                    c.value
                ),
            ),
        }
    }
    if let Some(p) = &h.proxy_url
        && !p.value.is_empty()
    {
        match url::Url::parse(&p.value) {
            Ok(u) if u.scheme() == "http" && u.host().is_some() => module.options.proxy = Some(u),
            Ok(_) => errors.at(
                p,
                &format!("{at}.proxy_url"),
                format!(
                    "proxy_url {:?}: linkpulse speaks to http:// proxies only",
                    p.value
                ),
            ),
            Err(e) => errors.at(
                p,
                &format!("{at}.proxy_url"),
                format!("invalid proxy_url {:?}: {e}", p.value),
            ),
        }
    }
    if let Some(limit) = &h.body_size_limit {
        match size(&limit.value) {
            // blackbox_exporter: 0 means no limit.
            Ok(0) => {}
            Ok(n) => module.options.body_size_limit = Some(n),
            Err(why) => errors.at(limit, &format!("{at}.body_size_limit"), why),
        }
    }
    for (list, key, out) in [
        (
            &h.fail_if_header_matches,
            "fail_if_header_matches",
            &mut module.fail_if_header_matches,
        ),
        (
            &h.fail_if_header_not_matches,
            "fail_if_header_not_matches",
            &mut module.fail_if_header_not_matches,
        ),
    ] {
        for (i, rule) in list.iter().flatten().enumerate() {
            let path = format!("{at}.{key}[{i}]");
            let name = http::HeaderName::from_bytes(rule.header.value.as_bytes());
            let re = regex::Regex::new(&rule.regexp.value);
            match (name, re) {
                (Ok(header), Ok(regexp)) => out.push(HeaderRule {
                    header,
                    regexp,
                    allow_missing: rule.allow_missing,
                }),
                (Err(_), _) => errors.at(
                    &rule.header,
                    &format!("{path}.header"),
                    format!("invalid header name {:?}", rule.header.value),
                ),
                (_, Err(e)) => errors.at(
                    &rule.regexp,
                    &format!("{path}.regexp"),
                    format!("invalid regular expression {:?}: {e}", rule.regexp.value),
                ),
            }
        }
    }
}

/// The `Authorization` value of `basic_auth`, `bearer_token(_file)` or `authorization`.
fn authorization(errors: &mut Errors<'_>, base: &Path, at: &str, h: &RawHttp) -> Option<String> {
    let mut read = |f: &S<String>, key: &str| -> Option<String> {
        let path = base.join(&f.value);
        match read_regular_to_string(&path, SMALL_FILE_LIMIT) {
            Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => {
                errors.at(f, &format!("{at}.{key}"), e.to_string());
                None
            }
        }
    };
    if let Some(b) = &h.basic_auth {
        let b = &b.value;
        let user = match (&b.username, &b.username_file) {
            (_, Some(f)) => read(f, "basic_auth.username_file")?,
            (Some(u), None) => u.value.clone(),
            (None, None) => String::new(),
        };
        let password = match (&b.password, &b.password_file) {
            (_, Some(f)) => read(f, "basic_auth.password_file")?,
            (Some(p), None) => p.value.clone(),
            (None, None) => String::new(),
        };
        use base64::Engine as _;
        let pair = format!("{user}:{password}");
        return Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ));
    }
    if let Some(a) = &h.authorization {
        let a = &a.value;
        let kind = a
            .kind
            .as_ref()
            .map_or("Bearer", |k| k.value.as_str())
            .to_owned();
        let credentials = match (&a.credentials, &a.credentials_file) {
            (_, Some(f)) => read(f, "authorization.credentials_file")?,
            (Some(c), None) => c.value.clone(),
            (None, None) => String::new(),
        };
        return Some(format!("{kind} {credentials}"));
    }
    if let Some(f) = &h.bearer_token_file {
        return read(f, "bearer_token_file").map(|t| format!("Bearer {t}"));
    }
    h.bearer_token
        .as_ref()
        .map(|t| format!("Bearer {}", t.value))
}

/// `1024`, `512KiB`, `1MB` (base 2, as blackbox_exporter's `units.Base2Bytes`).
fn size(raw: &RawSize) -> Result<u64, String> {
    let text = match raw {
        RawSize::Bytes(n) => return Ok(*n),
        RawSize::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {text:?} (use e.g. 1048576, 512KiB or 1MB)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "KiB" | "K" => 1 << 10,
        "MB" | "MiB" | "M" => 1 << 20,
        "GB" | "GiB" | "G" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {text:?} (use e.g. 1048576, 512KiB or 1MB)"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Judges the header rules on the final response, as blackbox_exporter does: a missing header
/// fails unless `allow_missing`; `fail_if_header_matches` fails when any value matches,
/// `fail_if_header_not_matches` when none does. Returns what failed, for the log.
pub(super) fn header_failure(module: &HttpModule, headers: &http::HeaderMap) -> Option<String> {
    for (rules, must_not_match) in [
        (&module.fail_if_header_matches, true),
        (&module.fail_if_header_not_matches, false),
    ] {
        for rule in rules {
            let values: Vec<String> = headers
                .get_all(&rule.header)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if values.is_empty() {
                if rule.allow_missing {
                    continue;
                }
                return Some(format!(
                    "msg=\"Missing required header\" header={:?}",
                    rule.header.as_str()
                ));
            }
            let hit = values.iter().any(|v| rule.regexp.is_match(v));
            if must_not_match && hit {
                return Some(format!(
                    "msg=\"Header matched regular expression\" header={:?} regexp={:?}",
                    rule.header.as_str(),
                    rule.regexp.as_str()
                ));
            }
            if !must_not_match && !hit {
                return Some(format!(
                    "msg=\"Header did not match regular expression\" header={:?} regexp={:?}",
                    rule.header.as_str(),
                    rule.regexp.as_str()
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_name_file_line_and_key() {
        let text = "modules:\n  m:\n    prober: http\n    http:\n      compression: zstd\n      proxy_url: https://proxy:3128/\n      fail_if_header_matches:\n        - header: 'bad name'\n          regexp: x\n        - header: X-Ok\n          regexp: '('\n      body_size_limit: lots\n";
        let e =
            super::super::BlackboxConfig::parse("blackbox.yml", text, Path::new(".")).unwrap_err();
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(all.len(), 5, "{all:#?}");
        for want in [
            "blackbox.yml:5: modules.m.http.compression: invalid compression \"zstd\"",
            "blackbox.yml:6: modules.m.http.proxy_url: proxy_url \"https://proxy:3128/\": linkpulse speaks to http:// proxies only",
            "blackbox.yml:8: modules.m.http.fail_if_header_matches[0].header: invalid header name \"bad name\"",
            "blackbox.yml:11: modules.m.http.fail_if_header_matches[1].regexp: invalid regular expression \"(\"",
            "blackbox.yml:12: modules.m.http.body_size_limit: invalid size \"lots\"",
        ] {
            assert!(all.iter().any(|m| m.starts_with(want)), "{want}\n{all:#?}");
        }
    }

    #[test]
    fn sizes_are_base_two() {
        assert_eq!(size(&RawSize::Bytes(10)), Ok(10));
        assert_eq!(size(&RawSize::Text("1MB".into())), Ok(1 << 20));
        assert_eq!(size(&RawSize::Text("512KiB".into())), Ok(512 << 10));
        assert!(
            size(&RawSize::Text("lots".into()))
                .unwrap_err()
                .contains("\"lots\"")
        );
        assert!(size(&RawSize::Text("1XB".into())).is_err());
    }
}
