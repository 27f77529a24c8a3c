//! `linkpulse serve [--config FILE]`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use linkpulse_daemon::blackbox::{self, Blackbox, BlackboxConfig};
use linkpulse_daemon::config::Config;
use linkpulse_daemon::daemon::Daemon;

/// Arguments of `linkpulse serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The YAML config file (see docs/config.md).
    #[arg(long, short = 'c', value_name = "FILE", default_value = super::config::DEFAULT_CONFIG)]
    config: PathBuf,
    /// A blackbox_exporter config whose http, tcp and icmp modules `GET /probe` serves
    /// (without it: `http_2xx`, `tcp_connect`, `icmp`).
    #[arg(long, value_name = "FILE")]
    blackbox_config: Option<PathBuf>,
}

/// Resolves on SIGTERM or SIGINT.
async fn terminate() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `linkpulse serve`: exit 0 after a graceful SIGTERM/SIGINT, 1 on a bad config.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // `linkpulse_build_info` names the commit this binary was built from, when its build knew it.
    if let Some(commit) = option_env!("LINKPULSE_COMMIT") {
        linkpulse_daemon::metrics::set_build_commit(commit);
    }
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                super::say_error(&e.to_string());
            }
            return Ok(ExitCode::from(1));
        }
    };
    let prober = linkpulse_probe::Prober::new();
    let blackbox = match &args.blackbox_config {
        Some(path) => match Blackbox::load(path, prober) {
            Ok(bb) => bb,
            Err(errors) => {
                for e in &errors.0 {
                    super::say_error(&e.to_string());
                }
                return Ok(ExitCode::from(1));
            }
        },
        None => Blackbox::new(BlackboxConfig::builtin(), prober),
    };
    let blackbox = Arc::new(blackbox);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("bound address")?;
    let checks = config.checks.len();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let daemon = Daemon::start(args.config.clone(), config).await?;
    // Loading and preparing a large config leaves its freed pages scattered through the heap:
    // hand them back so they do not stay in the resident set for the daemon's life.
    linkpulse_sys::memory::release_free();
    let router = daemon
        .router()
        .merge(blackbox::routes(Arc::clone(&blackbox)));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            let state = daemon.state().clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if let Err(errors) = blackbox.reload() {
                        for e in &errors.0 {
                            tracing::warn!(
                                "blackbox config not reloaded, the old modules stay: {e}"
                            );
                        }
                    }
                    // The reload logs its outcome (summary, or each problem) itself.
                    let _ = linkpulse_daemon::api::reload_from_file(&state).await;
                }
            });
        }
    }
    // One stable line that scripts and tests read for the bound address.
    super::say_info(&format!(
        "linkpulse listening on {scheme}={addr} checks={checks}"
    ));
    if let Some(hub) = daemon.hub_addr() {
        super::say_info(&format!("linkpulse hub listening on agents={hub}"));
    }
    daemon.serve(listener, router, terminate()).await?;
    super::say_info("linkpulse stopped");
    Ok(ExitCode::SUCCESS)
}
