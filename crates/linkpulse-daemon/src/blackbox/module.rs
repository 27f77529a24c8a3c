//! The modules of a blackbox config after validation: what each prober runs with.

use std::time::Duration;

use linkpulse_probe::{DnsOptions, DnsType, GrpcOptions, HttpOptions, IpFamily};

/// One module of `modules:`.
#[derive(Debug, Clone)]
pub struct Module {
    /// The module's name (its key under `modules:`).
    pub name: String,
    /// `timeout:`; `None` when not set (the scrape timeout then decides).
    pub timeout: Option<Duration>,
    /// What to probe and how.
    pub prober: ModuleProber,
}

/// The prober of a module, with its settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModuleProber {
    /// `prober: http`.
    Http(Box<HttpModule>),
    /// `prober: tcp`.
    Tcp(TcpModule),
    /// `prober: icmp`.
    Icmp(IcmpModule),
    /// `prober: dns`.
    Dns(Box<DnsModule>),
    /// `prober: grpc`.
    Grpc(GrpcModule),
    /// A module linkpulse cannot serve: an unknown prober or a setting linkpulse does not
    /// implement. `/probe` answers it with HTTP 400 and this reason.
    Unsupported {
        /// The `prober:` as written.
        prober: String,
        /// What is not supported, naming the key path.
        reason: String,
    },
}

/// `preferred_ip_protocol` and `ip_protocol_fallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPreference {
    /// [`IpFamily::V4`] or [`IpFamily::V6`] (blackbox_exporter's default is IPv6).
    pub preferred: IpFamily,
    /// Use the other family when the name has no address of the preferred one.
    pub fallback: bool,
}

impl Default for IpPreference {
    fn default() -> Self {
        IpPreference {
            preferred: IpFamily::V6,
            fallback: true,
        }
    }
}

/// Settings of an HTTP module; the default is blackbox_exporter's (any 2xx, follow
/// redirects, IPv6 preferred with fallback).
#[derive(Debug, Clone, Default)]
pub struct HttpModule {
    /// Address family preference.
    pub ip: IpPreference,
    /// Method, expected statuses, headers, redirects and TLS, as the probe takes them.
    pub options: HttpOptions,
    /// `fail_if_body_matches_regexp`: the probe fails when any of these matches the body.
    pub fail_if_body_matches: Vec<regex::Regex>,
    /// `fail_if_body_not_matches_regexp`: the probe fails unless every one matches the body.
    pub fail_if_body_not_matches: Vec<regex::Regex>,
    /// `valid_http_versions` (`HTTP/1.1`, `HTTP/2.0`); empty means any.
    pub valid_http_versions: Vec<String>,
    /// `fail_if_ssl`.
    pub fail_if_ssl: bool,
    /// `fail_if_not_ssl`.
    pub fail_if_not_ssl: bool,
    /// `fail_if_header_matches`: the probe fails when a value of the header matches.
    pub fail_if_header_matches: Vec<HeaderRule>,
    /// `fail_if_header_not_matches`: the probe fails unless a value of the header matches.
    pub fail_if_header_not_matches: Vec<HeaderRule>,
}

/// Settings of a TCP module.
#[derive(Debug, Clone, Default)]
pub struct TcpModule {
    /// Address family preference.
    pub ip: IpPreference,
    /// `tls`, `tls_config` and `query_response`, as the probe takes them.
    pub options: linkpulse_probe::TcpOptions,
}

/// Settings of an ICMP module.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcmpModule {
    /// Address family preference.
    pub ip: IpPreference,
    /// `ttl`, `dont_fragment` and `payload_size`.
    pub tuning: linkpulse_probe::icmp::SocketTuning,
}

/// Settings of a DNS module.
#[derive(Debug, Clone)]
pub struct DnsModule {
    /// Address family preference (for the server's name).
    pub ip: IpPreference,
    /// `query_name`.
    pub name: String,
    /// `query_type` (blackbox_exporter's default is `ANY`).
    pub record_type: DnsType,
    /// `transport_protocol: tcp`.
    pub tcp: bool,
    /// Response codes, section rules and the RD bit, as the probe takes them.
    pub options: DnsOptions,
}

/// Settings of a gRPC module.
#[derive(Debug, Clone, Default)]
pub struct GrpcModule {
    /// Address family preference.
    pub ip: IpPreference,
    /// `service` (empty: the server as a whole).
    pub service: String,
    /// `tls: true`.
    pub tls: bool,
    /// CA file and verification, from `tls_config`.
    pub options: GrpcOptions,
}

/// A rule on one response header.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    /// The header's name (any case).
    pub header: http::HeaderName,
    /// The expression its values are matched with.
    pub regexp: regex::Regex,
    /// A missing header passes instead of failing.
    pub allow_missing: bool,
}
