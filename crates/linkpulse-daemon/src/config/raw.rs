//! Stage one: the syntax of the YAML file as plain serde structs.
//!
//! Nothing here is checked beyond YAML syntax, field names and scalar types: durations and
//! addresses are still strings. Every field that stage two may complain about is wrapped in
//! [`S`] so its line is known. Unknown fields are rejected (`deny_unknown_fields`).

use std::collections::BTreeMap;

use serde::Deserialize;

pub(crate) use super::spanned::S;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) listen: Option<S<String>>,
    pub(crate) database: Option<S<String>>,
    pub(crate) database_password_file: Option<S<String>>,
    pub(crate) api_token: Option<S<String>>,
    pub(crate) api_token_file: Option<S<String>>,
    pub(crate) defaults: Option<RawDefaults>,
    pub(crate) concurrency: Option<RawConcurrency>,
    pub(crate) retention: Option<RawRetention>,
    #[serde(default)]
    pub(crate) checks: Vec<RawCheck>,
    #[serde(default)]
    pub(crate) alerts: Vec<RawAlert>,
    pub(crate) hub: Option<RawHub>,
    pub(crate) status_page: Option<RawStatusPage>,
    pub(crate) metrics: Option<RawMetrics>,
    /// Extra query parameters whose values are masked wherever a URL is shown.
    #[serde(default)]
    pub(crate) secret_query_params: Vec<S<String>>,
    /// Access control of the daemon's HTTP surfaces.
    pub(crate) auth: Option<super::auth::RawAuth>,
    /// HTTPS on `listen`.
    pub(crate) tls: Option<super::tls::RawListenTls>,
    /// Cluster membership (PostgreSQL only).
    pub(crate) cluster: Option<S<super::cluster::RawCluster>>,
    /// Maintenance windows (`routing.rs`).
    #[serde(default)]
    pub(crate) maintenance: Vec<RawWindow>,
}

/// Check settings that `defaults:` may give and each check may override.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    pub(crate) interval: Option<S<String>>,
    pub(crate) timeout: Option<S<String>>,
    pub(crate) rise: Option<S<u32>>,
    pub(crate) fall: Option<S<u32>>,
    pub(crate) fastinter: Option<S<String>>,
    pub(crate) downinter: Option<S<String>>,
    pub(crate) degraded_latency: Option<S<String>>,
    pub(crate) cert_warn_days: Option<S<u32>>,
    pub(crate) loss_threshold: Option<S<f64>>,
}

/// `concurrency:` limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConcurrency {
    pub(crate) global: Option<S<u32>>,
    pub(crate) http: Option<S<u32>>,
    pub(crate) tcp: Option<S<u32>>,
    pub(crate) icmp: Option<S<u32>>,
}

/// `retention:` periods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub(crate) raw: Option<S<String>>,
    pub(crate) hourly: Option<S<String>>,
}

/// One item of `checks:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub(crate) name: S<String>,
    pub(crate) interval: Option<S<String>>,
    pub(crate) timeout: Option<S<String>>,
    pub(crate) rise: Option<S<u32>>,
    pub(crate) fall: Option<S<u32>>,
    pub(crate) fastinter: Option<S<String>>,
    pub(crate) downinter: Option<S<String>>,
    pub(crate) degraded_latency: Option<S<String>>,
    pub(crate) cert_warn_days: Option<S<u32>>,
    pub(crate) loss_threshold: Option<S<f64>>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) http: Option<S<RawHttp>>,
    pub(crate) tcp: Option<S<RawTcp>>,
    pub(crate) icmp: Option<S<RawIcmp>>,
    pub(crate) push: Option<S<RawPush>>,
    pub(crate) dns: Option<S<super::dns::RawDns>>,
    pub(crate) grpc: Option<S<super::grpc::RawGrpc>>,
    pub(crate) postgres: Option<S<super::data::RawPostgres>>,
    pub(crate) redis: Option<S<super::data::RawRedis>>,
    pub(crate) mysql: Option<S<super::data::RawPostgres>>,
    /// Cluster mode: run from several vantages, state by quorum.
    pub(crate) vantage: Option<S<super::vantage::RawVantage>>,
}

/// `http:` check module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) url: S<String>,
    pub(crate) method: Option<S<String>>,
    pub(crate) expect_status: Option<S<RawStatus>>,
    pub(crate) body_contains: Option<String>,
    pub(crate) body_regex: Option<S<String>>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, S<String>>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) ca_file: Option<S<String>>,
    pub(crate) insecure: Option<bool>,
    /// Conditions on the answer (`status == 200`, `body.status == "UP"`).
    #[serde(default)]
    pub(crate) conditions: Vec<S<String>>,
    /// Request body.
    pub(crate) body: Option<S<String>>,
    /// Read at most this many body bytes.
    pub(crate) body_size_limit: Option<S<u64>>,
    /// `basic_auth: { username, password | password_file }`.
    pub(crate) basic_auth: Option<S<RawBasicAuth>>,
    /// A file holding a bearer token (`Authorization: Bearer …`).
    pub(crate) bearer_token_file: Option<S<String>>,
}

/// `expect_status:` as a number, a list, or a text such as `200-299,301`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawStatus {
    /// `expect_status: 200`
    One(u32),
    /// `expect_status: [200, "300-399"]`
    Many(Vec<RawStatusItem>),
    /// `expect_status: "200-299,301"`
    Text(String),
}

/// One item of an `expect_status:` list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawStatusItem {
    /// A code.
    Code(u32),
    /// A code or range as text.
    Text(String),
}

/// `tcp:` check module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub(crate) address: S<String>,
    /// Send/expect/starttls steps (`config/dialogue.rs`).
    pub(crate) query_response: Option<S<Vec<super::dialogue::RawStep>>>,
    pub(crate) tls: Option<bool>,
    pub(crate) tls_config: Option<S<super::dialogue::RawTlsConfig>>,
}

/// `icmp:` check module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIcmp {
    pub(crate) host: S<String>,
    pub(crate) count: Option<S<u32>>,
    pub(crate) interval: Option<S<String>>,
}

/// `push:` check module (dead man's switch).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    pub(crate) period: S<String>,
    pub(crate) grace: Option<S<String>>,
    pub(crate) token: Option<S<String>>,
}

/// One item of `alerts:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlert {
    pub(crate) name: Option<S<String>>,
    pub(crate) repeat: Option<S<String>>,
    pub(crate) webhook: Option<S<RawWebhook>>,
    pub(crate) slack: Option<S<RawWebhook>>,
    pub(crate) command: Option<S<RawCommand>>,
    // The channels of `alerts::channels`, each validated there.
    pub(crate) alertmanager: Option<S<crate::alerts::channels::alertmanager::Raw>>,
    pub(crate) email: Option<S<crate::alerts::channels::email::Raw>>,
    pub(crate) pagerduty: Option<S<crate::alerts::channels::pagerduty::Raw>>,
    pub(crate) opsgenie: Option<S<crate::alerts::channels::opsgenie::Raw>>,
    pub(crate) teams: Option<S<crate::alerts::channels::teams::Raw>>,
    pub(crate) discord: Option<S<crate::alerts::channels::discord::Raw>>,
    pub(crate) telegram: Option<S<crate::alerts::channels::telegram::Raw>>,
    pub(crate) mattermost: Option<S<crate::alerts::channels::mattermost::Raw>>,
    pub(crate) ntfy: Option<S<crate::alerts::channels::ntfy::Raw>>,
    pub(crate) gotify: Option<S<crate::alerts::channels::gotify::Raw>>,
    pub(crate) webhook_template: Option<S<crate::alerts::channels::template::Raw>>,
    /// Routing and grouping (`routing.rs`).
    #[serde(rename = "match")]
    pub(crate) matches: Option<S<RawMatch>>,
    pub(crate) repeat_interval: Option<S<String>>,
    pub(crate) group_by: Option<S<Vec<String>>>,
    pub(crate) group_wait: Option<S<String>>,
    pub(crate) group_interval: Option<S<String>>,
}

/// `webhook:` / `slack:` alert target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub(crate) url: S<String>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, S<String>>,
    pub(crate) ca_file: Option<S<String>>,
}

/// `command:` alert target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub(crate) program: S<String>,
    #[serde(default)]
    pub(crate) args: Vec<String>,
    pub(crate) timeout: Option<S<String>>,
}

/// `hub:` (agent sessions; served by the hub module of issue 5).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHub {
    pub(crate) listen: S<String>,
    pub(crate) interval: Option<S<String>>,
    pub(crate) detector: Option<S<String>>,
    pub(crate) timeout: Option<S<String>>,
    pub(crate) phi_threshold: Option<S<f64>>,
    pub(crate) secret_file: Option<S<String>>,
    pub(crate) tls: Option<S<RawHubTls>>,
    pub(crate) forget_after: Option<S<String>>,
}

/// `hub.tls:` (TLS on the agent port).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHubTls {
    pub(crate) cert_file: S<String>,
    pub(crate) key_file: S<String>,
    pub(crate) client_ca_file: Option<S<String>>,
}

/// `status_page:` (the public page of the dashboard).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatusPage {
    pub(crate) title: S<String>,
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) groups: Vec<RawStatusGroup>,
}

/// One group of `status_page.groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatusGroup {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) checks: Vec<S<String>>,
}

/// `metrics:` (what `GET /metrics` exports).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    #[serde(default)]
    pub(crate) labels: Vec<S<String>>,
}

/// `basic_auth:` of an http check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub(crate) username: S<String>,
    pub(crate) password: Option<S<String>>,
    pub(crate) password_file: Option<S<String>>,
}

/// `alerts[].match`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) states: Vec<S<String>>,
    pub(crate) min_duration: Option<S<String>>,
}

/// One item of `maintenance:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub(crate) name: S<String>,
    #[serde(default)]
    pub(crate) checks: Vec<String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) start: Option<S<String>>,
    pub(crate) end: Option<S<String>>,
    pub(crate) cron: Option<S<String>>,
    pub(crate) weekly: Option<S<RawWeekly>>,
    pub(crate) duration: Option<S<String>>,
    pub(crate) time_zone: Option<S<String>>,
}

/// `maintenance[].weekly`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeekly {
    pub(crate) days: Vec<String>,
    pub(crate) at: String,
}
