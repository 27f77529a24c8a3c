//! The agent: one heartbeat session to the first reachable hub, this node's health as STATUS,
//! failover to the next hub when the session dies (backoff with jitter), optionally back to
//! the first hub once it answers again, and GOODBYE on shutdown.
//!
//! Agents connect out, so they work from behind NAT and firewalls; the heartbeats keep those
//! mappings open.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use linkpulse_net::{Connection, ConnectionConfig, local_incarnation};
use linkpulse_probe::{ProbeOptions, Prober, Target};
use linkpulse_proto::{
    DetectorPolicy, ErrorCode, Event, GoodbyeReason, Health, Incarnation, SessionConfig, Status,
};
use rand::Rng;

use crate::auth::AgentAuth;
use crate::tls::{AgentTls, TlsError};

/// Where the agent learns its own health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HealthSource {
    /// Always `ok`.
    #[default]
    None,
    /// An HTTP GET: a 2xx/3xx answer is `ok`, anything else `degraded`.
    Url(String),
    /// A shell command (`sh -c`): exit 0 is `ok`, anything else `degraded`.
    Command(String),
}

/// Agent settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Hub addresses (`HOST:PORT`) in order of preference.
    pub hubs: Vec<String>,
    /// This node's name.
    pub name: String,
    /// Labels sent in HELLO.
    pub labels: Vec<(String, String)>,
    /// Address advertised to the hub (the hub probes it when the agent dies).
    pub advertise: Option<String>,
    /// Shared secret or this agent's token; `None`: no authentication.
    pub secret: Option<Vec<u8>>,
    /// Where health comes from.
    pub health: HealthSource,
    /// Return to the first hub when it answers again.
    pub prefer_first: bool,
    /// Heartbeat interval requested (the hub decides). Default 100 ms.
    pub interval: Duration,
    /// Silence after which the agent gives up on a hub, in granted intervals. Default 5.
    pub dead_after_intervals: u32,
    /// How often health is checked. Default 1 s.
    pub health_interval: Duration,
    /// TCP connect budget per hub. Default 1 s.
    pub connect_timeout: Duration,
    /// Longest pause between two rounds of failed connects. Default 5 s.
    pub max_backoff: Duration,
    /// TLS to the hubs; `None`: plain TCP.
    pub tls: Option<AgentTls>,
    /// The agent stops with [`AgentError::Refused`] after this many handshakes in a row
    /// (across all hubs, with no session in between) that a hub refused for the secret
    /// (ERROR `auth_failed`): a wrong secret does not get right by retrying. Default 3;
    /// 0 retries for ever.
    pub max_auth_failures: u32,
}

impl AgentConfig {
    /// Defaults for agent `name` and `hubs`.
    pub fn new(name: impl Into<String>, hubs: Vec<String>) -> Self {
        AgentConfig {
            hubs,
            name: name.into(),
            labels: Vec::new(),
            advertise: None,
            secret: None,
            health: HealthSource::None,
            prefer_first: false,
            interval: Duration::from_millis(100),
            dead_after_intervals: 5,
            health_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            tls: None,
            max_auth_failures: 3,
        }
    }
}

/// What the agent reports while it runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// A session to `hub` is up.
    Connected {
        /// The hub address as configured.
        hub: String,
        /// The hub's node name.
        hub_name: String,
    },
    /// Connecting to `hub` failed.
    ConnectFailed {
        /// The hub address.
        hub: String,
        /// Why.
        error: String,
    },
    /// The session to `hub` ended.
    Disconnected {
        /// The hub address.
        hub: String,
        /// The cause (`timeout`, `goodbye`, …).
        cause: String,
    },
    /// The health this agent reports changed.
    Health {
        /// `ok`, `degraded` or `draining`.
        health: &'static str,
        /// Detail text.
        detail: String,
    },
    /// The agent said GOODBYE and stopped.
    Stopped,
}

/// Why the agent cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No hub address was given.
    #[error("no hub address given")]
    NoHubs,
    /// The TLS settings are unusable.
    #[error("agent TLS: {0}")]
    Tls(#[from] TlsError),
    /// The session settings are invalid (e.g. a name or label too long).
    #[error("invalid agent settings: {0}")]
    Config(#[from] linkpulse_proto::ConfigError),
    /// The hubs refused this agent's secret [`AgentConfig::max_auth_failures`] times in a row.
    #[error(
        "the hub refused this agent's secret {attempts} times in a row (last: {hub}, {detail}); \
         check --secret-file or LINKPULSE_SECRET against the hub's secret"
    )]
    Refused {
        /// The hub that refused last.
        hub: String,
        /// Refusals in a row.
        attempts: u32,
        /// What the hub said.
        detail: String,
    },
}

/// Why a connection to a hub did not become a session.
enum ConnectError {
    /// The hub refused the handshake for the secret (ERROR `auth_failed`); the text is the
    /// hub's.
    Refused(String),
    /// Anything else (unreachable, TLS, timeout…): worth retrying.
    Failed(String),
}

impl ConnectError {
    fn into_text(self) -> String {
        match self {
            ConnectError::Refused(t) | ConnectError::Failed(t) => t,
        }
    }
}

enum SessionEnd {
    Shutdown,
    Dead(String),
    FailBack(Connection),
}

struct Agent {
    config: AgentConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    incarnation: Incarnation,
    prober: Prober,
    last_health: Option<Status>,
}

/// Runs the agent until `shutdown` completes, reporting through `on_event`.
pub async fn run(
    config: AgentConfig,
    mut on_event: impl FnMut(AgentEvent) + Send,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    if config.hubs.is_empty() {
        return Err(AgentError::NoHubs);
    }
    let tls = match &config.tls {
        Some(t) => Some(tokio_rustls::TlsConnector::from(crate::tls::client_config(
            t,
        )?)),
        None => None,
    };
    let mut agent = Agent {
        tls,
        incarnation: local_incarnation(),
        prober: Prober::new(),
        last_health: None,
        config,
    };
    // Fail early on bad names or labels.
    agent.session_config().validate(false)?;
    tokio::pin!(shutdown);
    let n = agent.config.hubs.len();
    let mut idx = 0usize;
    let mut failures = 0usize;
    // Handshakes refused for the secret since the last session.
    let mut refusals = 0u32;
    let mut backoff = Duration::from_millis(100);
    let mut pending: Option<Connection> = None;
    loop {
        let conn = match pending.take() {
            Some(c) => c,
            None => {
                let hub = agent.config.hubs[idx].clone();
                let attempt = tokio::select! {
                    () = &mut shutdown => {
                        on_event(AgentEvent::Stopped);
                        return Ok(());
                    }
                    r = agent.establish(&hub) => r,
                };
                match attempt {
                    Ok(c) => c,
                    Err(error) => {
                        if let ConnectError::Refused(detail) = &error {
                            refusals += 1;
                            let max = agent.config.max_auth_failures;
                            if max > 0 && refusals >= max {
                                return Err(AgentError::Refused {
                                    hub,
                                    attempts: refusals,
                                    detail: detail.clone(),
                                });
                            }
                        }
                        let error = error.into_text();
                        on_event(AgentEvent::ConnectFailed { hub, error });
                        idx = (idx + 1) % n;
                        failures += 1;
                        if failures.is_multiple_of(n) {
                            let pause = jitter(backoff);
                            backoff = (backoff * 2).min(agent.config.max_backoff);
                            tokio::select! {
                                () = &mut shutdown => {
                                    on_event(AgentEvent::Stopped);
                                    return Ok(());
                                }
                                () = tokio::time::sleep(pause) => {}
                            }
                        }
                        continue;
                    }
                }
            }
        };
        failures = 0;
        refusals = 0;
        backoff = Duration::from_millis(100);
        let hub = agent.config.hubs[idx].clone();
        on_event(AgentEvent::Connected {
            hub: hub.clone(),
            hub_name: String::new(),
        });
        match agent.session(conn, idx, &mut on_event, &mut shutdown).await {
            SessionEnd::Shutdown => {
                on_event(AgentEvent::Stopped);
                return Ok(());
            }
            SessionEnd::Dead(cause) => {
                on_event(AgentEvent::Disconnected { hub, cause });
                idx = (idx + 1) % n;
                // A short random pause so agents that lost the same hub do not all
                // reconnect in the same instant.
                let pause = jitter(Duration::from_millis(50));
                tokio::select! {
                    () = &mut shutdown => {
                        on_event(AgentEvent::Stopped);
                        return Ok(());
                    }
                    () = tokio::time::sleep(pause) => {}
                }
            }
            SessionEnd::FailBack(conn) => {
                on_event(AgentEvent::Disconnected {
                    hub,
                    cause: "returning to the first hub".to_owned(),
                });
                idx = 0;
                pending = Some(conn);
            }
        }
    }
}

/// `d` times a random factor in [0.5, 1.5).
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.5..1.5))
}

impl Agent {
    fn session_config(&self) -> SessionConfig {
        let c = &self.config;
        let mut s = SessionConfig::new(c.name.clone(), self.incarnation);
        s.labels = c.labels.clone();
        s.advertise = c.advertise.clone();
        s.interval = c.interval;
        s.detector = DetectorPolicy::FixedIntervals {
            dead_after_intervals: c.dead_after_intervals.max(2),
        };
        s.handshake_timeout = Duration::from_secs(2);
        s.authenticator = c
            .secret
            .as_ref()
            .map(|k| Arc::new(AgentAuth::new(k.clone())) as Arc<_>);
        s
    }

    /// Connects to `hub` and waits for the handshake.
    async fn establish(&self, hub: &str) -> Result<Connection, ConnectError> {
        let conn = self.connect(hub).await.map_err(ConnectError::Failed)?;
        handshake(conn).await
    }

    /// Connects to `hub` (TCP, then TLS when configured); the handshake is still to come.
    async fn connect(&self, hub: &str) -> Result<Connection, String> {
        let addr: SocketAddr = match hub.parse() {
            Ok(a) => a,
            Err(_) => tokio::net::lookup_host(hub)
                .await
                .map_err(|e| format!("cannot resolve {hub}: {e}"))?
                .next()
                .ok_or_else(|| format!("{hub} has no address"))?,
        };
        let mut cc = ConnectionConfig::new(self.session_config());
        cc.connect_timeout = self.config.connect_timeout;
        cc.linger = Duration::from_millis(300);
        match &self.tls {
            None => Connection::connect(addr, cc)
                .await
                .map_err(|e| e.to_string()),
            Some(connector) => {
                let explicit = self
                    .config
                    .tls
                    .as_ref()
                    .and_then(|t| t.server_name.as_deref());
                let name = crate::tls::server_name(hub, explicit).map_err(|e| e.to_string())?;
                let budget = self.config.connect_timeout;
                let tcp = tokio::time::timeout(budget, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| format!("cannot connect to {addr}: no answer within {budget:?}"))?
                    .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                let tls =
                    tokio::time::timeout(Duration::from_secs(2), connector.connect(name, tcp))
                        .await
                        .map_err(|_| "TLS handshake timed out".to_owned())?
                        .map_err(|e| format!("TLS handshake failed: {e}"))?;
                Connection::from_stream(tls, linkpulse_proto::Role::Client, cc)
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn check_health(&self) -> Status {
        let (health, detail) = match &self.config.health {
            HealthSource::None => (Health::Ok, String::new()),
            HealthSource::Url(url) => match Target::http_from_url(url) {
                Ok(target) => {
                    let r = self.prober.probe(&target, &ProbeOptions::default()).await;
                    match r.error {
                        None if r.up => (Health::Ok, String::new()),
                        Some(e) => (Health::Degraded, e.message),
                        None => (Health::Degraded, "health check failed".to_owned()),
                    }
                }
                Err(e) => (Health::Degraded, format!("bad health URL: {e}")),
            },
            HealthSource::Command(cmd) => run_health_command(cmd).await,
        };
        Status {
            health,
            detail: linkpulse_proto::truncate_utf8(&detail, linkpulse_proto::MAX_TEXT).to_owned(),
            gauges: Vec::new(),
        }
    }

    async fn report_health(
        &mut self,
        conn: &Connection,
        on_event: &mut (impl FnMut(AgentEvent) + Send),
        force: bool,
    ) {
        let status = self.check_health().await;
        let changed = self.last_health.as_ref() != Some(&status);
        if changed {
            on_event(AgentEvent::Health {
                health: status.health.as_str(),
                detail: status.detail.clone(),
            });
        }
        if changed || force {
            let _ = conn.send_status(status.clone()).await;
        }
        self.last_health = Some(status);
    }

    async fn session(
        &mut self,
        mut conn: Connection,
        idx: usize,
        on_event: &mut (impl FnMut(AgentEvent) + Send),
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> SessionEnd {
        self.report_health(&conn, on_event, true).await;
        let mut health_tick = tokio::time::interval(self.config.health_interval);
        health_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health_tick.tick().await;
        let fail_back = self.config.prefer_first && idx != 0;
        let mut fail_back_tick = tokio::time::interval(Duration::from_secs(1));
        fail_back_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        fail_back_tick.tick().await;
        loop {
            tokio::select! {
                ev = conn.next_event() => match ev {
                    Some(Event::Dead { cause, .. }) => return SessionEnd::Dead(cause.to_string()),
                    None => return SessionEnd::Dead("local".to_owned()),
                    Some(_) => {}
                },
                _ = health_tick.tick() => self.report_health(&conn, on_event, false).await,
                _ = fail_back_tick.tick(), if fail_back => {
                    let first = self.config.hubs[0].clone();
                    if let Ok(new) = self.establish(&first).await {
                        conn.close(GoodbyeReason::Other, "returning to the first hub");
                        conn.finished().await;
                        self.report_health(&new, on_event, true).await;
                        return SessionEnd::FailBack(new);
                    }
                }
                () = shutdown.as_mut() => {
                    conn.close(GoodbyeReason::Shutdown, "agent stopping");
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.finished()).await;
                    return SessionEnd::Shutdown;
                }
            }
        }
    }
}

/// Waits for the handshake on a fresh connection to a hub: the session, or why there is none.
async fn handshake(mut conn: Connection) -> Result<Connection, ConnectError> {
    loop {
        match conn.next_event().await {
            Some(Event::Up { .. }) => return Ok(conn),
            Some(Event::Dead { cause, .. }) => {
                let text = format!("handshake failed: {cause}");
                return Err(match cause.peer_error() {
                    Some(ErrorCode::AuthFailed) => ConnectError::Refused(text),
                    _ => ConnectError::Failed(text),
                });
            }
            Some(_) => {}
            None => {
                return Err(ConnectError::Failed(
                    "connection closed during the handshake".to_owned(),
                ));
            }
        }
    }
}

/// Runs `sh -c cmd` with a 5 s budget: exit 0 is `ok`.
async fn run_health_command(cmd: &str) -> (Health, String) {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => return (Health::Degraded, format!("cannot run health command: {e}")),
    };
    match tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => (Health::Ok, String::new()),
        Ok(Ok(out)) => {
            let text = String::from_utf8_lossy(if out.stderr.is_empty() {
                &out.stdout
            } else {
                &out.stderr
            })
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
            let code = out
                .status
                .code()
                .map_or("a signal".to_owned(), |c| c.to_string());
            (
                Health::Degraded,
                format!("health command exited with {code}: {text}"),
            )
        }
        Ok(Err(e)) => (Health::Degraded, format!("health command failed: {e}")),
        Err(_) => (
            Health::Degraded,
            "health command timed out after 5s".to_owned(),
        ),
    }
}
