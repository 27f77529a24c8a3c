//! The daemon's YAML configuration, parsed in two stages.
//!
//! 0. [`env`]: `${NAME}` and `${NAME:-default}` in values are replaced by environment
//!    variables (`$${` is a literal `${`); a missing variable is a problem with file, line and
//!    key path, reported with those of stage two.
//! 1. `raw`: syntax only — YAML into serde structs, unknown fields rejected; the first
//!    syntax error stops here with its line and key path.
//! 2. `validate`: every value checked and converted into the types of `model`, which cannot
//!    hold bad values; *all* problems are collected, each with file, line and key path:
//!    `examples/x.yaml:12: checks[3].interval: invalid duration "5x"`.
//!
//! The full reference is `docs/config.md`.

mod alert;
pub mod auth;
mod channels;
pub mod cluster;
pub(crate) mod collect;
pub mod data;
mod database;
pub mod dialogue;
mod dns;
mod env;
mod error;
pub(crate) mod fields;
pub(crate) mod files;
mod grpc;
mod http_auth;
mod hub;
pub(crate) mod model;
pub(crate) mod raw;
mod routing;
pub(crate) mod spanned;
pub mod tls;
pub(crate) mod validate;
pub mod vantage;

use std::path::Path;

pub use dns::DnsSpec;
pub use error::{ConfigError, ConfigErrors};
pub use grpc::GrpcSpec;
pub use http_auth::Secret;
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

/// The largest config file read: 100,000 checks with labels take about 15 MB.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Reads a config file for [`Config::load`] and the blackbox loader: its name for error
/// messages, its text, and the directory relative paths in it are taken from. `what` names the
/// file in the error when it cannot be read.
pub(crate) fn read_config_file<'p>(
    path: &'p Path,
    what: &str,
) -> Result<(String, String, &'p Path), ConfigErrors> {
    let file = path.display().to_string();
    // A regular file of bounded size: a FIFO or /dev/zero is an error naming it, at once.
    let text =
        linkpulse_sys::file::read_regular_to_string(path, MAX_CONFIG_BYTES).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: 0,
                path: String::new(),
                message: format!("cannot read {what}: {}", e.kind.reason()),
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
    let options = serde_saphyr::options! { with_snippet: false, budget: Some(budget(text.len())) };
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        if let serde_saphyr::Error::Budget { breach, .. } = &e {
            return ConfigError {
                file: file.to_owned(),
                line,
                path: clean_path(&path),
                message: budget_words(breach),
            };
        }
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

/// The parser's budget for a text of `len` bytes: its defaults (which guard against alias
/// bombs and deep nesting), with the node, event and scalar-byte counts raised to what `len`
/// bytes can hold without aliases. Without aliases a node takes about a byte of text at
/// least (`a:` is two nodes in three bytes), so a file of any size that does not expand aliases stays within it: 100,000
/// checks with per-check keys load, a YAML bomb does not.
fn budget(len: usize) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(len);
    budget.max_events = budget.max_events.max(len.saturating_mul(2));
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(len);
    budget
}

/// A breached parser budget in words.
fn budget_words(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limit = |what: &str| {
        format!(
            "the YAML has too many {what} for its size (aliases `*name` expanding without bound?)"
        )
    };
    match breach {
        B::Depth { depth } => format!("the YAML is nested too deeply ({depth} levels)"),
        B::Documents { documents } => {
            format!("the file holds {documents} YAML documents; one is expected")
        }
        B::Aliases { .. } | B::AliasAnchorRatio { .. } => {
            "the YAML uses too many aliases (`*name`) for its anchors (`&name`): a guard \
             against alias bombs; write the values out"
                .to_owned()
        }
        B::Anchors { .. } => "the YAML defines too many anchors (`&name`)".to_owned(),
        B::Nodes { .. } => limit("values"),
        B::Events { .. } => limit("parser events"),
        B::ScalarBytes { .. } => limit("bytes of text"),
        other => format!("the YAML exceeds a parser limit ({other:?})"),
    }
}

/// Removes the `Spanned` wrapper's `.value` segments and the root marker from a serde path.
fn clean_path(path: &str) -> String {
    let p = path.replace(".value", "");
    if p == "." { String::new() } else { p }
}

#[cfg(test)]
mod tests;
