//! A secret of a channel (routing key, API key, password, bot token, URL with a token): where
//! to read it, never its value, is what the outbox stores and what `Debug` shows.
//!
//! `*_file` names a file (read when the config is validated, and again at each delivery, so a
//! rotated key is picked up without a restart); `*_env` names an environment variable of the
//! daemon. A plain value (`url:`) is kept for keys that may be written in the config itself.

use std::path::PathBuf;

use linkpulse_sys::file::{SMALL_FILE_LIMIT, read_regular_to_string};

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// Written in the config (only keys that allow it, e.g. a webhook `url`).
    Value(String),
    /// The first line of this file (trailing newline removed).
    File(PathBuf),
    /// This environment variable of the daemon.
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(***)"),
            Secret::File(p) => write!(f, "Secret(file {})", p.display()),
            Secret::Env(n) => write!(f, "Secret(env {n})"),
        }
    }
}

impl Secret {
    /// The secret's value now; the error names the file or variable, never a value.
    pub fn reveal(&self) -> Result<String, String> {
        let value = match self {
            Secret::Value(v) => v.clone(),
            Secret::File(path) => read_regular_to_string(path, SMALL_FILE_LIMIT)
                .map_err(|e| e.to_string())?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            Secret::Env(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"))?,
        };
        if value.trim().is_empty() {
            return Err(match self {
                Secret::Value(_) => "the value is empty".to_owned(),
                Secret::File(p) => format!("{} is empty", p.display()),
                Secret::Env(n) => format!("the environment variable {n} is empty"),
            });
        }
        Ok(value)
    }
}

/// The secret values revealed for one delivery: every text that leaves it (an error stored
/// in the outbox, a log line, `alert test`'s answer) passes through [`Revealed::mask`].
#[derive(Debug, Default)]
pub struct Revealed(Vec<String>);

impl Revealed {
    /// Reveals `secret`, remembering its value to mask it later.
    pub fn reveal(&mut self, secret: &Secret) -> Result<String, String> {
        let value = secret.reveal()?;
        self.0.push(value.clone());
        Ok(value)
    }

    /// `text` with every revealed value (longest first) replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut values: Vec<&String> = self.0.iter().filter(|v| v.len() >= 4).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut text = text.to_owned();
        for v in values {
            text = text.replace(v.as_str(), "***");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value_and_mask_hides_revealed_ones() {
        let s = Secret::Value("https://hook/T0KEN-123".to_owned());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let mut r = Revealed::default();
        let url = r.reveal(&s).unwrap();
        assert_eq!(
            r.mask(&format!("{url}: HTTP 404")),
            "***: HTTP 404",
            "the whole URL is masked"
        );
    }

    #[test]
    fn a_file_secret_loses_its_newline_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "R0UT1NG\n").unwrap();
        assert_eq!(Secret::File(key.clone()).reveal().unwrap(), "R0UT1NG");
        std::fs::write(&key, "\n").unwrap();
        let err = Secret::File(key).reveal().unwrap_err();
        assert!(err.ends_with("is empty"), "{err}");
        let err = Secret::Env("LINKPULSE_TEST_NOT_SET_ANYWHERE".to_owned())
            .reveal()
            .unwrap_err();
        assert!(err.contains("LINKPULSE_TEST_NOT_SET_ANYWHERE"), "{err}");
    }
}
