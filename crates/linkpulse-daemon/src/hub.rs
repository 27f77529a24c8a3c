//! The hub: agent sessions on `hub.listen`, served by `linkpulse_hub`, and its routes
//! (`/api/v1/nodes`, `/api/v1/nodes/watch`) merged into [`crate::daemon::Daemon::router`].
//!
//! Not done yet: feeding each node into the same state machine, history and alerts as probes.

use std::net::SocketAddr;

use linkpulse_hub::{Hub, HubDetector, HubError};
use tokio::task::JoinHandle;

pub use crate::config::HubConfig;
use crate::config::HubDetector as ConfigDetector;

/// The hub library's settings for the daemon's validated `hub:` section.
pub fn hub_config(c: &HubConfig) -> linkpulse_hub::HubConfig {
    let mut h = linkpulse_hub::HubConfig::new(c.listen);
    h.interval = c.interval;
    h.detector = match c.detector {
        ConfigDetector::Fixed => HubDetector::Fixed,
        ConfigDetector::Phi => HubDetector::Phi,
    };
    h.timeout = c.timeout;
    h.phi_threshold = c.phi_threshold;
    h.secret_file = c.secret_file.clone();
    h
}

/// Binds `hub.listen` and accepts agents until `shutdown`; returns the hub, the bound
/// address and the accept task.
pub async fn start(
    c: &HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Hub, SocketAddr, JoinHandle<()>), HubError> {
    let hub = Hub::new(hub_config(c))?;
    let listener = hub.bind().await?;
    let addr = listener.local_addr().map_err(|source| HubError::Bind {
        addr: c.listen,
        source,
    })?;
    let h = hub.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = h.run(listener, shutdown).await {
            tracing::warn!(error = %e, "hub stopped");
        }
    });
    Ok((hub, addr, task))
}
