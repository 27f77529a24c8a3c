//! Assembles the daemon: storage, engine, alert delivery and the HTTP router.
//!
//! ```no_run
//! # async fn demo(path: std::path::PathBuf) -> Result<(), Box<dyn std::error::Error>> {
//! use linkpulse_daemon::{config::Config, daemon::Daemon};
//! let config = Config::load(&path)?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! let daemon = Daemon::start(path, config).await?;
//! let router = daemon.router(); // merge more routes here (hub, dashboard)
//! daemon.serve(listener, router, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::{Config, Retention};
use crate::engine::{Engine, EngineParts};
use crate::metrics::Metrics;
use crate::probe::PrepareError;
use crate::storage::{OpenStorage, Storage, StorageError, now_ms};

/// Why the daemon cannot start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The database cannot be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A check cannot be turned into a probe.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The hub for agent sessions cannot start.
    #[error(transparent)]
    Hub(#[from] linkpulse_hub::HubError),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// The engine's thread or runtime cannot be started.
    #[error("cannot start the check engine: {0}")]
    Engine(#[source] std::io::Error),
}

/// A running daemon (engine and alert delivery started; HTTP served by [`Daemon::serve`]).
#[derive(Debug)]
pub struct Daemon {
    state: AppState,
    /// The open backend (SQLite or PostgreSQL), closed after the last write.
    backend: OpenStorage,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The dashboard (live events, chart data, status page).
    web: linkpulse_web::Web,
    /// The hub and its bound address, when `hub:` is configured.
    hub: Option<(linkpulse_hub::Hub, std::net::SocketAddr)>,
    /// HTTPS on `listen`, when `tls:` is configured.
    tls: Option<crate::config::tls::ListenTls>,
    /// Cluster mode's coordinator thread, when `cluster:` is configured.
    cluster: Option<crate::cluster::ClusterHandle>,
    /// Cluster mode with `hub:`: the thread sharing the hub's nodes with the other members.
    hub_share: Option<crate::cluster::hub_share::HubShareHandle>,
}

/// Once a minute after start and then hourly: fold raw results older than `retention.raw`
/// into hourly rows and delete history older than `retention.hourly`.
async fn retention(storage: Arc<dyn Storage>, keep: Retention, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(3600);
        let s = storage.clone();
        let now = now_ms();
        let raw = now.saturating_sub(i64::try_from(keep.raw.as_millis()).unwrap_or(i64::MAX));
        let hourly = now.saturating_sub(i64::try_from(keep.hourly.as_millis()).unwrap_or(i64::MAX));
        match tokio::task::spawn_blocking(move || s.prune(raw, hourly)).await {
            Ok(Ok(())) => tracing::debug!("retention pass done"),
            Ok(Err(e)) => tracing::warn!(error = %e, "retention pass failed"),
            Err(_) => {}
        }
    }
}

/// Runs the engine on its own thread, on a single-threaded runtime with its own epoll and
/// timers: every run of the schedule (the probe futures are polled by the engine task) and
/// every result is handled there, so a run never hands work to another thread. On the shared
/// multi-threaded runtime, waking and parking workers for each probe cost more CPU than a TCP
/// probe itself (see bench/daemon-scale.md). The returned task ends when the engine stopped.
fn spawn_engine(
    engine: Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>, DaemonError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Engine)?;
    let (done, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("linkpulse-engine".to_owned())
        .spawn(move || {
            runtime.block_on(engine.run(shutdown));
            // Ends what the engine spawned (diagnoses in flight) before saying it stopped.
            drop(runtime);
            let _ = done.send(());
        })
        .map_err(DaemonError::Engine)?;
    Ok(tokio::spawn(async move {
        let _ = stopped.await;
    }))
}

/// Resolves when `rx` turns true.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

impl Daemon {
    /// Opens the database, resumes every check's state and starts the engine and the alert
    /// delivery. `config_path` is re-read on reload.
    pub async fn start(config_path: PathBuf, config: Config) -> Result<Daemon, DaemonError> {
        let which = config.backend.clone();
        let backend = tokio::task::spawn_blocking(move || crate::storage::open(&which))
            .await
            .map_err(|e| DaemonError::Http(std::io::Error::other(e)))??;
        let storage: Arc<dyn Storage> = backend.storage();
        let resume = {
            let s = storage.clone();
            tokio::task::spawn_blocking(move || s.resume())
                .await
                .map_err(|e| DaemonError::Http(std::io::Error::other(e)))??
        };
        let push_key = {
            let s = storage.clone();
            tokio::task::spawn_blocking(move || {
                s.secret(crate::push::token::KEY_NAME, &crate::push::token::new_key())
            })
            .await
            .map_err(|e| DaemonError::Http(std::io::Error::other(e)))??
        };
        let metrics = Arc::new(Metrics::new());
        for a in &config.alerts {
            metrics.alert_target(&a.name, crate::alerts::target_kind(&a.target));
        }
        let views = Arc::new(RwLock::new(Default::default()));
        let notify = Arc::new(Notify::new());
        let events = linkpulse_web::EventBus::new(4096);
        let windows: crate::maintenance::Windows =
            Arc::new(RwLock::new(config.maintenance.clone()));
        let web = crate::dashboard::web(
            &config,
            storage.clone(),
            views.clone(),
            windows.clone(),
            events.clone(),
        );
        let parts = EngineParts {
            storage: storage.clone(),
            metrics: metrics.clone(),
            views: views.clone(),
            alert_notify: notify.clone(),
            push_key: push_key.clone(),
        };
        let (engine, handle) = Engine::new(&config, parts, resume)?;
        let silences = {
            let s = storage.clone();
            tokio::task::spawn_blocking(move || s.silences(now_ms()))
                .await
                .map_err(|e| DaemonError::Http(std::io::Error::other(e)))??
        };
        let mut engine = engine.with_events(events).with_silences(silences);
        let cluster_view = crate::cluster::ClusterView::default();
        let vantage_views = crate::cluster::VantageViews::default();
        let push_tokens = Arc::new(RwLock::new(api::push_tokens(&config, &push_key)));
        let mut push_relay = None;
        let cluster = match (&config.cluster, &config.backend, &backend) {
            (Some(c), crate::storage::Backend::Postgres(target), OpenStorage::Postgres(pg)) => {
                pg.claim_alerts_for(crate::cluster::ALERT_CLAIM);
                let driver = crate::cluster::start(
                    c.clone(),
                    c.address
                        .clone()
                        .unwrap_or_else(|| config.listen.to_string()),
                    crate::storage::with_env_password(target),
                    config
                        .checks
                        .iter()
                        .map(crate::cluster::ClusterCheck::of)
                        .collect(),
                    storage.clone(),
                    handle.clone(),
                    cluster_view.clone(),
                    vantage_views.clone(),
                    metrics.health.clone(),
                )
                .map_err(DaemonError::Engine)?;
                engine = engine.with_cluster(driver.notifier());
                push_relay = Some(
                    crate::cluster::push_relay::start(
                        crate::storage::with_env_password(target),
                        handle.clone(),
                        views.clone(),
                        push_tokens.clone(),
                        tokio::runtime::Handle::current(),
                    )
                    .map_err(DaemonError::Engine)?,
                );
                Some(driver)
            }
            _ => None,
        };
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![
            spawn_engine(engine, stopped(rx.clone()))?,
            tokio::spawn(crate::alerts::run(
                storage.clone(),
                metrics.clone(),
                notify,
                stopped(rx.clone()),
            )),
            tokio::spawn(retention(
                storage.clone(),
                config.retention,
                stopped(rx.clone()),
            )),
        ];
        let mut hub_share = None;
        let hub = match &config.hub {
            Some(h) => {
                let (hub, addr, task) = crate::hub::start(h, stopped(rx.clone())).await?;
                tasks.push(task);
                // Cluster mode: every member's nodes in this hub's view; one owner per node check.
                let owners = match (&config.cluster, &config.backend) {
                    (Some(c), crate::storage::Backend::Postgres(target)) => {
                        hub_share = Some(
                            crate::cluster::hub_share::start(
                                hub.clone(),
                                c.node.clone(),
                                crate::storage::with_env_password(target),
                                cluster_view.clone(),
                                hub.config().rejoin_grace(),
                                metrics.health.clone(),
                            )
                            .map_err(DaemonError::Engine)?,
                        );
                        Some(crate::hub::NodeOwners {
                            me: c.node.clone(),
                            cluster: cluster_view.clone(),
                            storage: storage.clone(),
                        })
                    }
                    _ => None,
                };
                // Nodes are checks too: each node's changes feed its `node:NAME` check.
                tasks.push(tokio::spawn(crate::hub::feed(
                    hub.clone(),
                    handle.clone(),
                    owners,
                    stopped(rx),
                )));
                Some((hub, addr))
            }
            None => None,
        };
        let state = AppState {
            views,
            storage,
            metrics,
            engine: handle,
            api_token: Arc::new(RwLock::new(config.api_token.clone())),
            config_path,
            web: web.clone(),
            start_only: api::StartOnly::of(&config),
            push_limit: Default::default(),
            push_tokens,
            push_relay,
            windows,
            channels: Arc::new(RwLock::new(crate::alerts::channels_of(&config))),
            access: Arc::new(RwLock::new(
                config
                    .auth
                    .as_ref()
                    .map(|a| Arc::new(crate::access::Access::new(a))),
            )),
            push_key,
            cluster: config.cluster.as_ref().map(|_| cluster_view),
            vantages: config.cluster.as_ref().map(|_| vantage_views),
        };
        Ok(Daemon {
            state,
            backend,
            stop,
            tasks,
            web,
            hub,
            tls: config.tls.clone(),
            cluster,
            hub_share,
        })
    }

    /// The address the hub accepts agents on, when `hub:` is configured.
    pub fn hub_addr(&self) -> Option<std::net::SocketAddr> {
        self.hub.as_ref().map(|(_, a)| *a)
    }

    /// The shared state of the HTTP handlers (for extra routes).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The daemon's routes; merge more into it before [`Daemon::serve`].
    pub fn router(&self) -> Router {
        let router = api::router(self.state.clone())
            .merge(crate::silences::routes(self.state.clone()))
            .merge(linkpulse_web::routes(self.web.clone()));
        match &self.hub {
            Some((hub, _)) => router.merge(linkpulse_hub::routes(hub.clone())),
            None => router,
        }
    }

    /// Re-reads the config file and applies it (what SIGHUP does).
    pub async fn reload(&self) -> Result<serde_json::Value, String> {
        api::reload_from_file(&self.state)
            .await
            .map_err(|e| e.to_string())
    }

    /// Serves `router` on `listener` until `shutdown` resolves, then stops the engine and the
    /// alert delivery and commits every queued write.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DaemonError> {
        // Open dashboard event streams never end by themselves: close them on shutdown.
        let bus = self.web.events().clone();
        let shutdown = async move {
            shutdown.await;
            bus.close();
        };
        if let (Some(c), Ok(addr)) = (&self.cluster, listener.local_addr()) {
            c.set_address(addr.to_string());
        }
        // `auth:` applies to every route, merged ones (/probe, the hub's) included.
        let router = router.layer(axum::middleware::from_fn_with_state(
            self.state.access.clone(),
            crate::access::guard,
        ));
        let tls = match &self.tls {
            Some(tls) => Some(
                crate::https::ReloadingCert::new(tls.cert_file.clone(), tls.key_file.clone())
                    .and_then(crate::https::acceptor)
                    .map_err(|e| DaemonError::Http(std::io::Error::other(e)))?,
            ),
            None => None,
        };
        // Header-read and idle timeouts, a connection cap from the open-files limit; HTTPS
        // inside the same loop.
        let health = self.state.metrics.health.clone();
        let result = crate::server::serve(listener, router, tls, health, shutdown).await;
        if let Some(h) = self.hub_share {
            // Stop publishing before the hub closes its sessions: the others see this
            // member's agents in transit (then moved), not dead.
            let _ = tokio::task::spawn_blocking(move || h.stop()).await;
        }
        if let Some(c) = self.cluster {
            // Leave first: the other members take this one's checks at their next renewal.
            let _ = tokio::task::spawn_blocking(move || c.stop()).await;
        }
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let backend = self.backend.clone();
        let _ = tokio::task::spawn_blocking(move || backend.close()).await;
        result.map_err(DaemonError::Http)
    }
}
