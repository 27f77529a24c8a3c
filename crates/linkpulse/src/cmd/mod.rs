//! One module per subcommand. Each exposes a clap `Args` (or subcommand enum) and an async
//! `run` returning the process exit code.

pub(crate) mod agent;
pub(crate) mod alert;
pub(crate) mod check;
pub(crate) mod cluster;
pub(crate) mod config;
pub(crate) mod diagnose;
pub(crate) mod generate;
pub(crate) mod keepalive;
pub(crate) mod link;
pub(crate) mod nodes;
pub(crate) mod output;
pub(crate) mod serve;
pub(crate) mod silence;
pub(crate) mod status;
pub(crate) mod token;

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The format of log lines on stderr (`--log-format`, `LINKPULSE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line per event for people: time, level, where, message and fields. Coloured only
    /// when stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `message`, the event's fields,
    /// `target`), for journald, Loki, Elasticsearch and the like.
    Json,
}

/// Logging flags, accepted by every subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// Which log lines to write to stderr: error, warn, info, debug or trace, or a filter
    /// such as `info,linkpulse_hub=debug`. Default: info for `serve` and `agent`, warn for
    /// the one-shot commands.
    #[arg(
        long,
        global = true,
        value_name = "LEVEL",
        env = "LINKPULSE_LOG",
        value_parser = parse_filter
    )]
    log_level: Option<String>,
    /// How log lines are written: `text` (for people) or `json` (one JSON object per line).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "LINKPULSE_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
}

/// Checks a `--log-level` value the way the logger will read it.
/// A bare word must be a level: the filter syntax would read `verbose` as a target name and
/// quietly log nothing.
fn parse_filter(s: &str) -> Result<String, String> {
    let hint =
        "use error, warn, info, debug, trace, off or a filter such as info,linkpulse_hub=debug";
    let checked = if s.contains(['=', ',', '[']) {
        EnvFilter::builder()
            .parse(s)
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        s.trim()
            .parse::<tracing_subscriber::filter::LevelFilter>()
            .map(drop)
            .map_err(|_| format!("{s:?} is not a level"))
    };
    checked
        .map(|()| s.to_owned())
        .map_err(|e| format!("{e} ({hint})"))
}

/// The level used when neither `--log-level` nor `LINKPULSE_LOG` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultLevel {
    /// Long-running commands (`serve`, `agent`): linkpulse's own `info` lines (state changes,
    /// alerts, reloads, sessions), other crates' warnings.
    Info,
    /// One-shot commands: warnings only, so their stdout and stderr stay clean.
    Warn,
}

impl DefaultLevel {
    fn filter(self) -> &'static str {
        match self {
            // A directive's target matches by prefix: `linkpulse` covers every linkpulse_* crate.
            DefaultLevel::Info => "warn,linkpulse=info",
            DefaultLevel::Warn => "warn",
        }
    }
}

/// The format chosen by [`init_tracing`], for the lines written by [`say`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets up logging to stderr from the global flags (or `LINKPULSE_LOG`/`LINKPULSE_LOG_FORMAT`),
/// so stdout stays machine-readable.
pub(crate) fn init_tracing(args: &LogArgs, default: DefaultLevel) {
    let _ = FORMAT.set(args.log_format);
    let filter = args.log_level.as_deref().unwrap_or(default.filter());
    let filter = EnvFilter::builder()
        .parse(filter)
        .unwrap_or_else(|_| EnvFilter::new(default.filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.with_ansi(colour_on_stderr()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Colour only for a person at a terminal: never in a file, a pipe or journald, and never
/// with `NO_COLOR` set to anything but the empty string (<https://no-color.org>).
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes a line that must reach the operator whatever the level filter: the stable lines
/// scripts read (`linkpulse listening on http=…`) and errors that end the command. In text
/// format the line is written as it is; with `--log-format json` it is one JSON object of the
/// same shape as the log lines, so the whole of stderr stays JSON lines.
pub(crate) fn say(level: tracing::Level, line: &str) {
    match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => eprintln!("{line}"),
        LogFormat::Json => {
            // Keys in the order and timestamp in the precision of the JSON log lines.
            let timestamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                ))
                .unwrap_or_default();
            let text = |s: &str| serde_json::Value::from(s).to_string();
            eprintln!(
                "{{\"timestamp\":{},\"level\":{},\"message\":{},\"target\":\"linkpulse\"}}",
                text(&timestamp),
                text(level.as_str()),
                text(line)
            );
        }
    }
}

/// [`say`] at `info`: one of the stable lines scripts and tests wait for.
pub(crate) fn say_info(line: &str) {
    say(tracing::Level::INFO, line);
}

/// [`say`] at `error`: a problem that ends the command.
pub(crate) fn say_error(line: &str) {
    say(tracing::Level::ERROR, line);
}

/// An error and its causes on one line, `outer: cause: root cause`, like anyhow's `{:#}` but
/// without repeating a cause whose text its parent's message already ends with (many errors,
/// `std::io::Error`'s wrappers among them, print their source in their own message too).
pub(crate) fn error_chain(err: &anyhow::Error) -> String {
    let mut chain = err.chain();
    let mut text = chain.next().map(ToString::to_string).unwrap_or_default();
    for cause in chain {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its source in its own message and also returns it as source.
    #[derive(Debug)]
    struct Bind(std::io::Error);

    impl std::fmt::Display for Bind {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot listen for agents on 127.0.0.1:1: {}", self.0)
        }
    }

    impl std::error::Error for Bind {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let err = anyhow::Error::new(Bind(io)).context("cannot start the daemon");
        let text = error_chain(&err);
        assert_eq!(text.matches("in use").count(), 1, "{text}");
        assert!(
            text.starts_with("cannot start the daemon: cannot listen for agents"),
            "{text}"
        );
    }

    #[test]
    fn causes_not_in_the_message_are_appended() {
        let err = anyhow::anyhow!("root").context("middle").context("top");
        assert_eq!(error_chain(&err), "top: middle: root");
    }

    #[test]
    fn a_bad_level_is_refused_with_a_hint() {
        assert!(parse_filter("info").is_ok());
        assert!(parse_filter("warn,linkpulse_hub=debug").is_ok());
        assert!(parse_filter("DEBUG").is_ok());
        let err = parse_filter("loud").unwrap_err();
        assert!(err.contains("\"loud\" is not a level"), "{err}");
        assert!(err.contains("use error, warn"), "{err}");
        assert!(parse_filter("info,linkpulse_hub=loudest").is_err());
    }
}
