//! What every channel's validator shares: the collector of problems (each with its line and
//! key path), the config's directory, and the checks of URLs, CA files and secrets.

use std::path::{Path, PathBuf};

use super::Secret;
use crate::config::collect::Errors;
use crate::config::fields::{ca_file, http_url};
use crate::config::files;

pub(crate) use crate::config::spanned::S;

/// The validation of one channel section (`alerts[2].pagerduty`).
pub(crate) struct Ctx<'a, 'b> {
    /// Where problems go.
    pub(crate) e: &'a mut Errors<'b>,
    /// The config file's directory (relative `*_file` paths).
    pub(crate) base: &'a Path,
    /// Key path of the section, e.g. `alerts[2].pagerduty`.
    pub(crate) prefix: String,
    /// Line of the section (for a key that is missing).
    pub(crate) line: u64,
}

impl Ctx<'_, '_> {
    /// `prefix.name`.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// A problem of the section itself (a key missing, or two that exclude each other).
    pub(crate) fn problem(&mut self, message: impl Into<String>) {
        let (line, key) = (self.line, self.prefix.clone());
        self.e.push(line, key, message);
    }

    /// A problem at `s`, under `prefix.name`.
    pub(crate) fn at<T>(&mut self, s: &S<T>, name: &str, message: impl Into<String>) {
        let key = self.key(name);
        self.e.at(s, key, message);
    }

    /// An `http://` or `https://` URL.
    pub(crate) fn url(&mut self, s: &S<String>, name: &str) -> Option<String> {
        match http_url(s.value.trim()) {
            Ok(()) => Some(s.value.trim().to_owned()),
            Err(m) => {
                self.at(s, name, m);
                None
            }
        }
    }

    /// An optional base URL, `default` when not written.
    pub(crate) fn url_or(
        &mut self,
        s: Option<&S<String>>,
        name: &str,
        default: &str,
    ) -> Option<String> {
        match s {
            Some(s) => self.url(s, name),
            None => Some(default.to_owned()),
        }
    }

    /// An optional `priority` in `range` (the provider's scale).
    pub(crate) fn priority(
        &mut self,
        p: Option<&S<u8>>,
        range: std::ops::RangeInclusive<u8>,
    ) -> Option<Option<u8>> {
        match p {
            Some(p) if !range.contains(&p.value) => {
                let message = format!(
                    "invalid priority {} ({} to {})",
                    p.value,
                    range.start(),
                    range.end()
                );
                self.at(p, "priority", message);
                None
            }
            p => Some(p.map(|p| p.value)),
        }
    }

    /// A webhook's secret `url` (`url`, `url_file` or `url_env`).
    pub(crate) fn webhook_url(
        &mut self,
        url: Option<&S<String>>,
        file: Option<&S<String>>,
        env: Option<&S<String>>,
    ) -> Option<Secret> {
        self.secret_url("url", url, file, env)
    }

    /// `ca_file`, read now (a PEM file with at least one certificate).
    pub(crate) fn ca_file(&mut self, s: Option<&S<String>>) -> Option<Option<PathBuf>> {
        match s {
            None => Some(None),
            Some(s) => {
                let key = self.key("ca_file");
                ca_file(self.e, s, &key, self.base).map(Some)
            }
        }
    }

    /// A secret `name` given as exactly one of `name_file`, `name_env` (or `name` itself
    /// when `value` is passed: keys that may be written in the config, such as a URL).
    /// Read now, so a missing file or variable is a problem with its line; `Some(None)`
    /// when none is given and `required` is false.
    pub(crate) fn secret(
        &mut self,
        name: &str,
        value: Option<&S<String>>,
        file: Option<&S<String>>,
        env: Option<&S<String>>,
        required: bool,
    ) -> Option<Option<Secret>> {
        let given =
            usize::from(value.is_some()) + usize::from(file.is_some()) + usize::from(env.is_some());
        let choices = if value.is_some() || !required {
            format!("{name}, {name}_file or {name}_env")
        } else {
            format!("{name}_file or {name}_env")
        };
        if given > 1 {
            self.problem(format!("give only one of {choices}"));
            return None;
        }
        let (secret, at, key) = if let Some(v) = value {
            (Secret::Value(v.value.trim().to_owned()), v, name.to_owned())
        } else if let Some(f) = file {
            (
                Secret::File(files::resolve(self.base, &f.value)),
                f,
                format!("{name}_file"),
            )
        } else if let Some(n) = env {
            (
                Secret::Env(n.value.trim().to_owned()),
                n,
                format!("{name}_env"),
            )
        } else if required {
            self.problem(format!("{choices} is required"));
            return None;
        } else {
            return Some(None);
        };
        match secret.reveal() {
            Ok(_) => Some(Some(secret)),
            Err(m) => {
                self.at(at, &key, m);
                None
            }
        }
    }

    /// A secret URL (`name`, `name_file` or `name_env`, required), which must be an
    /// `http://` or `https://` URL; its value is never quoted in a problem.
    pub(crate) fn secret_url(
        &mut self,
        name: &str,
        value: Option<&S<String>>,
        file: Option<&S<String>>,
        env: Option<&S<String>>,
    ) -> Option<Secret> {
        let secret = self.secret(name, value, file, env, true)??;
        let url = secret.reveal().ok()?;
        if let Err(m) = http_url(&url) {
            // The words of `http_url` quote the URL: a token in it must not be shown.
            let why = m
                .rsplit_once(": ")
                .map_or("invalid URL", |(_, why)| why)
                .to_owned();
            self.problem(format!("{name}: not an http:// or https:// URL ({why})"));
            return None;
        }
        Some(secret)
    }
}
