//! Stage two output: configuration types that cannot hold bad values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address of the HTTP server (API, metrics, probe, dashboard).
    pub listen: SocketAddr,
    /// The `database` setting as written: a SQLite file path or a PostgreSQL URL (what a
    /// reload compares).
    pub database: PathBuf,
    /// The backend `database` names, with the password from `database_password_file`.
    pub backend: crate::storage::Backend,
    /// Bearer token that endpoints which change things require; `None` disables them.
    pub api_token: Option<String>,
    /// Concurrency limits of the scheduler.
    pub concurrency: Concurrency,
    /// How long history is kept.
    pub retention: Retention,
    /// The checks, in file order; names are unique.
    pub checks: Vec<CheckConfig>,
    /// Alert targets, in file order.
    pub alerts: Vec<AlertConfig>,
    /// `maintenance:` windows, in file order.
    pub maintenance: Vec<linkpulse_checks::routing::MaintenanceWindow>,
    /// The hub for agent sessions, when configured.
    pub hub: Option<HubConfig>,
    /// The public status page of the dashboard, when configured.
    pub status_page: Option<linkpulse_web::StatusPage>,
    /// What `GET /metrics` exports beyond the fixed series.
    pub metrics: MetricsConfig,
    /// Masks URL user-info and secret query parameters (the defaults plus
    /// `secret_query_params`) wherever a URL is shown, stored, sent or logged.
    pub redact: linkpulse_probe::redact::Redactor,
    /// `auth:`: tokens and users with roles; `None` keeps every surface open.
    pub auth: Option<super::auth::AuthConfig>,
    /// `tls:`: HTTPS on `listen`; `None` serves plain HTTP.
    pub tls: Option<super::tls::ListenTls>,
    /// `cluster:`: this daemon shares the checks with the other members of the database;
    /// `None` runs every check itself.
    pub cluster: Option<super::cluster::ClusterConfig>,
}

/// `metrics:`: the check labels exported as Prometheus labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Keys of check `labels:` added, in this order, to every per-check series (after the
    /// fixed labels); each a valid Prometheus label name that no series already uses.
    pub labels: Vec<String>,
}

/// Global and per-kind limits on checks running at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// At most this many checks run at once.
    pub global: usize,
    /// At most this many HTTP checks run at once.
    pub http: usize,
    /// At most this many TCP checks run at once.
    pub tcp: usize,
    /// At most this many ICMP checks run at once.
    pub icmp: usize,
}

/// `global 64, http 32, tcp 32, icmp 16`.
impl fmt::Display for Concurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "global {}, http {}, tcp {}, icmp {}",
            self.global, self.http, self.tcp, self.icmp
        )
    }
}

/// How long raw results and hourly aggregates are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw results (every attempt) older than this are folded into hourly aggregates.
    pub raw: Duration,
    /// Hourly aggregates, transitions and closed incidents older than this are deleted.
    pub hourly: Duration,
}

/// One validated check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// Unique name: ASCII letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// What is checked.
    pub spec: CheckSpec,
    /// Normal interval between runs (for push checks: the period).
    pub interval: Duration,
    /// Timeout of one run; never larger than the interval.
    pub timeout: Duration,
    /// Consecutive successes needed to go up.
    pub rise: u32,
    /// Consecutive failures needed to go down.
    pub fall: u32,
    /// Interval while the state is changing (after a first failure or first success).
    pub fastinter: Duration,
    /// Interval while down and stable.
    pub downinter: Duration,
    /// Successful runs slower than this make the check `degraded`.
    pub degraded_latency: Option<Duration>,
    /// Certificates expiring in fewer days make the check `degraded`.
    pub cert_warn_days: u32,
    /// ICMP loss ratio (0–1) above which the check is `degraded`.
    pub loss_threshold: f64,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Cluster mode: the vantages it runs from and the quorum that makes it down; `None`: one
    /// member runs it.
    pub vantage: Option<super::vantage::VantageConfig>,
}

/// The kinds of check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// HTTP(S) request.
    Http,
    /// TCP connect.
    Tcp,
    /// ICMP echo.
    Icmp,
    /// Push (dead man's switch).
    Push,
    /// A hub node (an agent session), created at runtime when the node first joins.
    Node,
    /// DNS query.
    Dns,
    /// gRPC health check.
    Grpc,
    /// PostgreSQL in its own protocol.
    Postgres,
    /// Redis in its own protocol.
    Redis,
    /// MySQL / MariaDB in its own protocol.
    Mysql,
}

impl CheckKind {
    /// The lowercase name used in the config, API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Icmp => "icmp",
            CheckKind::Push => "push",
            CheckKind::Node => "node",
            CheckKind::Dns => "dns",
            CheckKind::Grpc => "grpc",
            CheckKind::Postgres => "postgres",
            CheckKind::Redis => "redis",
            CheckKind::Mysql => "mysql",
        }
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check does.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckSpec {
    /// An HTTP(S) request (boxed: it is by far the largest variant).
    Http(Box<HttpSpec>),
    /// A TCP connect to `host:port`, with TLS and a send/expect dialogue when configured.
    Tcp {
        /// `host:port` (host may be a name, an IPv4 address or a bracketed IPv6 address).
        address: String,
        /// `query_response`, `tls`, `tls_config`; `None` for a plain connect.
        dialogue: Option<Box<super::dialogue::TcpDialogue>>,
    },
    /// A database asked in its own protocol (`postgres:`, `redis:`).
    Data(Box<super::data::DataSpec>),
    /// ICMP echo requests.
    Icmp {
        /// Host name or address.
        host: String,
        /// Echo requests per run.
        count: u32,
        /// Gap between echo requests.
        interval: Duration,
    },
    /// A push check: something else reports to `/api/v1/push/{token}`.
    Push {
        /// Token in the push URL: as configured, or generated ([`crate::push::token`]).
        token: String,
        /// No token was configured: `token` is derived from the check's name with the key in
        /// the database when the engine takes the check (empty until then).
        generated: bool,
        /// Expected time between successes.
        period: Duration,
        /// Extra time allowed after the period.
        grace: Duration,
    },
    /// A hub node: its state follows the agent's session (never in the config file).
    Node {
        /// The node's name in the hub.
        node: String,
    },
    /// A DNS query.
    Dns(super::DnsSpec),
    /// A gRPC health check.
    Grpc(super::GrpcSpec),
}

impl CheckSpec {
    /// The kind of this check.
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckSpec::Http(_) => CheckKind::Http,
            CheckSpec::Tcp { .. } => CheckKind::Tcp,
            CheckSpec::Icmp { .. } => CheckKind::Icmp,
            CheckSpec::Push { .. } => CheckKind::Push,
            CheckSpec::Node { .. } => CheckKind::Node,
            CheckSpec::Dns(_) => CheckKind::Dns,
            CheckSpec::Grpc(_) => CheckKind::Grpc,
            CheckSpec::Data(d) => match d.kind {
                linkpulse_probe::DataKind::Postgres => CheckKind::Postgres,
                linkpulse_probe::DataKind::Redis => CheckKind::Redis,
                linkpulse_probe::DataKind::Mysql => CheckKind::Mysql,
            },
        }
    }

    /// The probe target as shown, stored and sent: `tcp://h:p`, `http(s)://…` (user-info and
    /// secret query parameters masked; the probe uses [`HttpSpec::url`]), `icmp://h`,
    /// `dns://server/name?type=T`, `grpc://h:p/service`,
    /// `push://***` (the token is a secret) or `node://NAME`.
    pub fn target(&self) -> String {
        match self {
            CheckSpec::Http(h) => h.redact.url(&h.url).into_owned(),
            CheckSpec::Tcp { address, .. } => format!("tcp://{address}"),
            CheckSpec::Data(d) => d.target(),
            CheckSpec::Icmp { host, .. } => {
                if host.contains(':') {
                    format!("icmp://[{host}]")
                } else {
                    format!("icmp://{host}")
                }
            }
            CheckSpec::Push { .. } => format!("push://{}", linkpulse_probe::redact::MASK),
            CheckSpec::Node { node } => format!("node://{node}"),
            CheckSpec::Dns(d) => d.target.to_string(),
            CheckSpec::Grpc(g) => g.target.to_string(),
        }
    }
}

/// A validated HTTP check.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Request method (upper case).
    pub method: String,
    /// Accepted status codes as inclusive ranges; empty means the probe default
    /// ([`linkpulse_probe::defaults::EXPECT_STATUS`], every 2xx).
    pub expect_status: Vec<(u16, u16)>,
    /// The body must contain this text.
    pub body_contains: Option<String>,
    /// The body must match this regular expression (already checked to compile).
    pub body_regex: Option<String>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Extra CA bundle (PEM).
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Masks [`HttpSpec::url`] wherever it is shown (the config's `secret_query_params`).
    pub redact: linkpulse_probe::redact::Redactor,
    /// Conditions on the answer, as written (each already checked to parse).
    pub conditions: Vec<String>,
    /// Request body.
    pub body: Option<String>,
    /// Read at most this many body bytes; a longer body fails the check.
    pub body_size_limit: Option<u64>,
    /// The `Authorization` value from `basic_auth` or `bearer_token_file`.
    pub authorization: Option<super::Secret>,
}

impl HttpSpec {
    /// The accepted status codes as text, e.g. `200-299,301`, the form `StatusSet` parses.
    pub fn expect_status_text(&self) -> String {
        if self.expect_status.is_empty() {
            return linkpulse_probe::defaults::EXPECT_STATUS.to_owned();
        }
        self.expect_status
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One alert target with its repeat interval.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Name of the target (given, or `alert-N`).
    pub name: String,
    /// While a check stays down, repeat the alert this often; `None` = never.
    pub repeat: Option<Duration>,
    /// `match:` and grouping (the default takes every alert at once, one by one).
    pub route: linkpulse_checks::routing::Route,
    /// Where alerts go.
    pub target: AlertTarget,
}

/// Where an alert is delivered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertTarget {
    /// POST of the event JSON.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
        /// Extra request headers.
        headers: BTreeMap<String, String>,
        /// PEM file of CA certificates trusted for an `https://` URL, on top of the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<PathBuf>,
    },
    /// POST of a Slack-compatible `{"text": …}` message.
    Slack {
        /// Incoming-webhook URL.
        url: String,
        /// PEM file of CA certificates trusted for an `https://` URL, on top of the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<PathBuf>,
    },
    /// Runs a program with the event JSON on stdin.
    Command {
        /// Program path.
        program: String,
        /// Arguments.
        args: Vec<String>,
        /// Kill the program after this long (milliseconds).
        timeout_ms: u64,
    },
    /// One of the channels of [`crate::alerts::channels`] (Alertmanager, email, PagerDuty…).
    Channel(crate::alerts::channels::Channel),
}

/// Hub settings (agent sessions): the hub crate's own type, validated against the hub's own
/// limits ([`linkpulse_hub::HubConfig::problems`]) when the config is loaded.
pub use linkpulse_hub::{HubConfig, HubDetector};
