//! The daemon's YAML configuration, parsed in two stages.
//!
//! 0. [`env`]: `${NAME}` and `${NAME:-default}` in values are replaced by environment
//!    variables (`$${` is a literal `${`); a missing variable is a problem with file, line and
//!    key path, reported with those of stage two.
//! 1. [`raw`]: syntax only — YAML into serde structs, unknown fields rejected; the first
//!    syntax error stops here with its line and key path.
//! 2. [`validate`]: every value checked and converted into the types of [`model`], which cannot
//!    hold bad values; *all* problems are collected, each with file, line and key path:
//!    `examples/x.yaml:12: checks[3].interval: invalid duration "5x"`.
//!
//! The full reference is `docs/config.md`.

pub mod auth;
mod env;
mod error;
mod model;
mod raw;
pub mod tls;
mod validate;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use model::{
    AlertConfig, AlertTarget, CheckConfig, CheckKind, CheckSpec, Concurrency, Config, HttpSpec,
    HubConfig, HubDetector, MetricsConfig, Retention,
};

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let (file, text, base) = read_config_file(path, "the file")?;
        Config::parse(&file, &text, base)
    }

    /// Parses and validates config `text`; `file` names it in errors and `base` is the
    /// directory that relative `api_token_file` paths are read from. `${NAME}` in values is
    /// read from the process environment.
    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Config, ConfigErrors> {
        Config::parse_with_env(file, text, base, &|name| std::env::var(name).ok())
    }

    /// [`Config::parse`] with the environment variables read through `lookup`.
    pub fn parse_with_env(
        file: &str,
        text: &str,
        base: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let (text, env_errors) = env::expand(file, text, lookup);
        let result = parse_raw(file, &text)
            .map_err(|e| ConfigErrors(vec![e]))
            .and_then(|raw| validate::validate(file, raw, base));
        match result {
            Ok(config) if env_errors.is_empty() => Ok(config),
            Ok(_) => Err(ConfigErrors(env_errors)),
            Err(ConfigErrors(others)) => Err(with_env_errors(env_errors, others)),
        }
    }
}

/// The problems of the environment and of the values, in file order; a value whose variable
/// is missing is not reported a second time for what the missing part made of it.
fn with_env_errors(env_errors: Vec<ConfigError>, mut others: Vec<ConfigError>) -> ConfigErrors {
    others.retain(|o| {
        !env_errors
            .iter()
            .any(|e| e.line == o.line && e.path == o.path)
    });
    let mut all = env_errors;
    all.append(&mut others);
    all.sort_by_key(|e| e.line);
    ConfigErrors(all)
}

/// Reads a config file for [`Config::load`] and the blackbox loader: its name for error
/// messages, its text, and the directory relative paths in it are taken from. `what` names the
/// file in the error when it cannot be read.
pub(crate) fn read_config_file<'p>(
    path: &'p Path,
    what: &str,
) -> Result<(String, String, &'p Path), ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            path: String::new(),
            message: format!("cannot read {what}: {e}"),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok((file, text, base))
}

/// Stage one: YAML syntax into [`raw::RawConfig`].
fn parse_raw(file: &str, text: &str) -> Result<raw::RawConfig, ConfigError> {
    parse_yaml(file, text, "at least `checks:` is expected")
}

/// YAML syntax into a raw serde type `T`, with the line and key path of the first error. Shared
/// by the linkpulse config and the blackbox_exporter config; `expected` says what an empty file
/// lacks.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError {
            file: file.to_owned(),
            line: 1,
            path: String::new(),
            message: format!("the file is empty; {expected}"),
        });
    }
    let mut path = String::new();
    let options = serde_saphyr::options! { with_snippet: false };
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        let mut message = e.to_string();
        // The location is reported separately; drop the parser's own " at line X, column Y".
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        ConfigError {
            file: file.to_owned(),
            line,
            path: clean_path(&path),
            message,
        }
    })
}

/// Removes the `Spanned` wrapper's `.value` segments and the root marker from a serde path.
fn clean_path(path: &str) -> String {
    let p = path.replace(".value", "");
    if p == "." { String::new() } else { p }
}

#[cfg(test)]
mod tests;
