//! `tls:` — HTTPS on `listen` (see [`crate::https`]).
//!
//! ```yaml
//! tls: { cert_file: /etc/linkpulse/cert.pem, key_file: /etc/linkpulse/key.pem }
//! ```
//!
//! Both files are PEM (the chain, leaf first; the private key), relative to the config file's
//! directory, and are loaded when the config is, so a bad pair is a config error with its line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::spanned::S;

/// A validated `tls:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenTls {
    /// The certificate chain (PEM), re-read when it changes.
    pub cert_file: PathBuf,
    /// The private key (PEM), re-read when it changes.
    pub key_file: PathBuf,
}

/// `tls:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListenTls {
    cert_file: S<String>,
    key_file: S<String>,
}

/// Validates `tls:`: both files resolved against `base` and loaded once.
pub(crate) fn validate(
    raw: &RawListenTls,
    base: &Path,
) -> Result<ListenTls, (u64, String, String)> {
    let tls = ListenTls {
        cert_file: base.join(raw.cert_file.value.trim()),
        key_file: base.join(raw.key_file.value.trim()),
    };
    match crate::https::load(&tls.cert_file, &tls.key_file) {
        Ok(_) => Ok(tls),
        Err(e) => {
            let (s, key) = if e.path == tls.cert_file {
                (&raw.cert_file, "tls.cert_file")
            } else {
                (&raw.key_file, "tls.key_file")
            };
            Err((s.referenced.line(), key.to_owned(), e.to_string()))
        }
    }
}
