//! One module per subcommand. Each exposes a clap `Args` (or subcommand enum) and an async
//! `run` returning the process exit code.

pub(crate) mod agent;
pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod diagnose;
pub(crate) mod generate;
pub(crate) mod keepalive;
pub(crate) mod link;
pub(crate) mod nodes;
pub(crate) mod serve;
pub(crate) mod status;

/// Logs go to stderr, filtered by `LINKPULSE_LOG` (default `warn`), so stdout stays machine-readable.
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINKPULSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
