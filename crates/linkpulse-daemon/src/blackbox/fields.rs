//! What the validators of every prober share: the collector of problems, the checked-value
//! shape, the address family preference and the TLS settings.

use std::path::{Path, PathBuf};

use linkpulse_probe::{HttpOptions, IpFamily};

use super::module::IpPreference;
use super::raw::{Ignored, RawTls, S};
use crate::config::ConfigError;

/// Collects problems while validating.
pub(super) struct Errors<'a> {
    pub(super) file: &'a str,
    pub(super) list: Vec<ConfigError>,
}

impl Errors<'_> {
    /// How many problems so far.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// A problem at `line`.
    pub(super) fn push(&mut self, line: u64, path: &str, message: impl Into<String>) {
        self.list.push(ConfigError {
            file: self.file.to_owned(),
            line,
            path: path.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn at<T>(&mut self, s: &S<T>, path: &str, message: impl Into<String>) {
        self.list.push(ConfigError {
            file: self.file.to_owned(),
            line: s.referenced.line(),
            path: path.to_owned(),
            message: message.into(),
        });
    }
}

/// The first field of `fields` that is set, as an "unsupported" reason.
pub(super) fn first_unsupported(
    prefix: &str,
    fields: &[(&str, &Option<Ignored>)],
) -> Option<String> {
    fields.iter().find(|(_, v)| v.is_some()).map(|(name, _)| {
        format!("`{prefix}.{name}` is a blackbox_exporter setting linkpulse does not implement")
    })
}

pub(super) fn ip_preference(
    errors: &mut Errors<'_>,
    at: &str,
    preferred: Option<&S<String>>,
    fallback: Option<bool>,
) -> IpPreference {
    let mut ip = IpPreference::default();
    if let Some(p) = preferred {
        match p.value.as_str() {
            "ip4" => ip.preferred = IpFamily::V4,
            "ip6" => ip.preferred = IpFamily::V6,
            other => errors.at(
                p,
                &format!("{at}.preferred_ip_protocol"),
                format!("invalid value {other:?} (expected ip4 or ip6)"),
            ),
        }
    }
    if let Some(f) = fallback {
        ip.fallback = f;
    }
    ip
}

/// `Ok(Err(reason))` is a valid module linkpulse does not support; `None` is an invalid one.
pub(super) type Checked<T> = Option<Result<T, String>>;

/// Applies `tls_config:`; returns an "unsupported" reason for settings linkpulse lacks.
pub(super) fn tls_config(
    errors: &mut Errors<'_>,
    base: &Path,
    at: &str,
    tls: &S<RawTls>,
    options: &mut HttpOptions,
) -> Option<String> {
    let t = &tls.value;
    options.insecure = t.insecure_skip_verify.unwrap_or(false);
    if let Some(ca) = &t.ca_file {
        let path = PathBuf::from(&ca.value);
        let path = if path.is_relative() {
            base.join(path)
        } else {
            path
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => options.ca_file = Some(path),
            Ok(_) => errors.at(
                ca,
                &format!("{at}.ca_file"),
                format!("{} is not a file", path.display()),
            ),
            Err(e) => errors.at(
                ca,
                &format!("{at}.ca_file"),
                format!("cannot read {}: {e}", path.display()),
            ),
        }
    }
    first_unsupported(
        at,
        &[
            ("ca", &t.ca),
            ("cert", &t.cert),
            ("cert_file", &t.cert_file),
            ("key", &t.key),
            ("key_file", &t.key_file),
            ("server_name", &t.server_name),
            ("min_version", &t.min_version),
            ("max_version", &t.max_version),
        ],
    )
}
