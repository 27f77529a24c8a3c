//! `linkpulse agent`: keep a heartbeat session to one or more hubs and report this node's
//! health. The loop itself lives in `linkpulse_hub::agent`.
//!
//! Prints one line per session change on stdout; the first is the stable
//! `connected to hub ADDR` line scripts and tests wait for.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use linkpulse_hub::agent::{self, AgentConfig, AgentEvent, HealthSource};
use linkpulse_hub::auth::agent_secret;
use linkpulse_hub::tls::AgentTls;

use super::output::println;

/// Arguments of `linkpulse agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Hub addresses, HOST:PORT, comma-separated, in order of preference.
    #[arg(long, value_delimiter = ',', required = true)]
    hub: Vec<String>,
    /// This node's name (unique among the hub's agents).
    #[arg(long)]
    name: String,
    /// File holding the shared secret or this agent's token. The secret may instead come from
    /// the LINKPULSE_SECRET environment variable; it is never a flag, which other users can
    /// read.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// A label KEY=VALUE (repeatable).
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Address the hub should probe when this agent dies (HOST:PORT or HOST).
    #[arg(long)]
    advertise: Option<String>,
    /// Report health from this URL (2xx/3xx is ok).
    #[arg(long, conflicts_with = "health_cmd")]
    health_url: Option<String>,
    /// Report health from this shell command (exit 0 is ok).
    #[arg(long)]
    health_cmd: Option<String>,
    /// Return to the first hub as soon as it answers again.
    #[arg(long)]
    prefer_first: bool,
    /// Heartbeat interval to request (the hub decides).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Connect to the hubs over TLS, verifying them against the CA(s) in this PEM file.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Name to verify in the hub's certificate (default: the host of the hub address).
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// Client certificate chain (PEM), for hubs that require one.
    #[arg(long, requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Declare a hub dead after this many intervals of silence.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=1000))]
    dead_after: u32,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, found {s:?}")),
    }
}

/// Runs `linkpulse agent` until SIGTERM or SIGINT, then says GOODBYE; fails (exit 3) when the
/// hubs refuse the secret three times in a row.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let secret = match (&args.secret_file, std::env::var("LINKPULSE_SECRET")) {
        (Some(path), _) => {
            let text = linkpulse_sys::file::read_regular_to_string(
                path,
                linkpulse_sys::file::SMALL_FILE_LIMIT,
            )
            .context("--secret-file")?;
            Some(agent_secret(&text, &path.display().to_string())?)
        }
        (None, Ok(text)) => Some(agent_secret(&text, "LINKPULSE_SECRET")?),
        (None, Err(_)) => None,
    };
    let mut config = AgentConfig::new(args.name, args.hub);
    config.labels = args.labels;
    config.advertise = args.advertise;
    config.secret = secret;
    config.prefer_first = args.prefer_first;
    config.interval = args.interval;
    config.dead_after_intervals = args.dead_after;
    config.tls = args.tls_ca.map(|ca_file| AgentTls {
        ca_file,
        server_name: args.tls_server_name,
        client_cert: args.tls_cert.zip(args.tls_key),
    });
    config.health = match (args.health_url, args.health_cmd) {
        (Some(url), _) => HealthSource::Url(url),
        (None, Some(cmd)) => HealthSource::Command(cmd),
        (None, None) => HealthSource::None,
    };
    let print = |event: AgentEvent| match event {
        // A closed stdout (EPIPE) must not stop the agent: its lines are dropped.
        AgentEvent::Connected { hub, .. } => {
            let _ = println(format_args!("connected to hub {hub}"));
        }
        AgentEvent::Disconnected { hub, cause } => {
            let _ = println(format_args!("disconnected from hub {hub}: {cause}"));
        }
        AgentEvent::ConnectFailed { hub, error } => {
            tracing::warn!("cannot reach hub {hub}: {error}")
        }
        AgentEvent::Health { health, detail } => {
            let _ = println(format_args!("health {health} {detail}"));
        }
        AgentEvent::Stopped => {
            let _ = println("stopped");
        }
        _ => {}
    };
    agent::run(config, print, shutdown_signal())
        .await
        .context("agent")?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
