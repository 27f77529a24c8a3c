//! A Prometheus blackbox_exporter-compatible `GET /probe?target=…&module=…`.
//!
//! With `linkpulse serve --blackbox-config blackbox.yml` the daemon reads the `http`, `tcp`,
//! `icmp`, `dns` and `grpc` modules of a blackbox_exporter config file (its own YAML format) and answers `/probe`
//! with blackbox_exporter's metric names, label sets, HELP texts and HTTP errors, so a
//! Prometheus scrape config written for blackbox_exporter works unchanged:
//!
//! - [`config`]: the file in two stages (syntax, then validation collecting every error with
//!   its file, line and key path); modules linkpulse cannot run (a setting it does not
//!   implement) are kept and answered with HTTP 400 naming the reason.
//! - `dns` and `grpc`: those probers' keys and `probe_dns_*` / `probe_grpc_*` metrics, each in
//!   a module of its own.
//! - [`run`]: one probe of one target, filling in `probe_success`, `probe_duration_seconds`,
//!   `probe_http_duration_seconds{phase}`, `probe_icmp_duration_seconds{phase}`, …
//! - [`exposition`]: the Prometheus text format.
//! - [`handler`]: the axum handler, the scrape-timeout header and `debug=true`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use linkpulse_daemon::blackbox::{Blackbox, routes};
//!
//! let path = std::path::Path::new("blackbox.yml");
//! let bb = Arc::new(Blackbox::load(path, linkpulse_probe::Prober::new())?);
//! let app: axum::Router = routes(bb);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

pub mod config;
mod dns;
pub mod exposition;
mod fields;
mod grpc;
pub mod handler;
pub mod http_keys;
pub mod module;
mod outcome;
mod raw;
pub mod run;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use linkpulse_probe::Prober;

pub use config::BlackboxConfig;
pub use handler::ProbeRequestError;
pub use module::{DnsModule, GrpcModule};
pub use module::{Module, ModuleProber};

use crate::config::ConfigErrors;

/// blackbox_exporter's default `--timeout-offset`: subtracted from the scrape timeout.
pub const DEFAULT_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The `/probe` service: the loaded modules, the prober, and where to reload them from.
#[derive(Debug)]
pub struct Blackbox {
    /// The file the modules came from; `None` for a config given in memory.
    path: Option<PathBuf>,
    /// The modules; replaced as a whole by [`Blackbox::reload`].
    config: RwLock<Arc<BlackboxConfig>>,
    /// Shared with the daemon's checks so TLS configurations and the ICMP engine are reused.
    prober: Prober,
    /// Subtracted from the scrape timeout.
    timeout_offset: Duration,
}

impl Blackbox {
    /// A service over an already parsed config.
    pub fn new(config: BlackboxConfig, prober: Prober) -> Self {
        Blackbox {
            path: None,
            config: RwLock::new(Arc::new(config)),
            prober,
            timeout_offset: DEFAULT_TIMEOUT_OFFSET,
        }
    }

    /// Loads the blackbox_exporter config at `path`. Every module linkpulse cannot run is
    /// logged as a warning.
    pub fn load(path: &Path, prober: Prober) -> Result<Self, ConfigErrors> {
        let config = BlackboxConfig::load(path)?;
        warn_unsupported(&config);
        let mut bb = Blackbox::new(config, prober);
        bb.path = Some(path.to_owned());
        Ok(bb)
    }

    /// Re-reads the file given to [`Blackbox::load`]. On error the modules in use stay.
    pub fn reload(&self) -> Result<(), ConfigErrors> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let config = BlackboxConfig::load(path)?;
        warn_unsupported(&config);
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// Sets the offset subtracted from the scrape timeout (blackbox_exporter's
    /// `--timeout-offset`, 0.5 s by default).
    pub fn with_timeout_offset(mut self, offset: Duration) -> Self {
        self.timeout_offset = offset;
        self
    }

    /// The modules in use.
    pub fn config(&self) -> Arc<BlackboxConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The prober the probes run on.
    pub fn prober(&self) -> &Prober {
        &self.prober
    }

    /// The offset subtracted from the scrape timeout.
    pub fn timeout_offset(&self) -> Duration {
        self.timeout_offset
    }
}

fn warn_unsupported(config: &BlackboxConfig) {
    for (module, reason) in config.unsupported() {
        tracing::warn!(
            module,
            reason,
            "blackbox module cannot be probed by linkpulse"
        );
    }
}

/// A router with `GET /probe`, to merge into the daemon's router (or serve on its own).
pub fn routes<S>(blackbox: Arc<Blackbox>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/probe", get(handler::probe))
        .with_state(blackbox)
}

#[cfg(test)]
mod tests;
