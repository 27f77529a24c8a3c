//! How to probe: [`ProbeOptions`] and the per-kind [`HttpOptions`] and [`IcmpOptions`].

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};

use crate::{StatusSet, defaults};

/// Options common to every probe kind, plus the per-kind ones. The defaults are those of
/// [`defaults`], shared by the CLI and the daemon.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Budget for the network part of a probe (connect, TLS, request, pings), not counting DNS.
    pub timeout: Duration,
    /// Budget for resolving a host name.
    pub dns_timeout: Duration,
    /// Which address families to use.
    pub family: IpFamily,
    /// HTTP-specific options.
    pub http: HttpOptions,
    /// ICMP-specific options.
    pub icmp: IcmpOptions,
    /// DNS-specific options.
    pub dns: crate::DnsOptions,
    /// gRPC-specific options.
    pub grpc: crate::GrpcOptions,
    /// TCP dialogue and TLS options (a plain connect by default).
    pub tcp: TcpOptions,
    /// Database check options (`postgres://`, `redis://`).
    pub data: DataOptions,
    /// Warn (the result stays up) when a TLS certificate expires in fewer days than this.
    pub cert_warn_days: Option<u32>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: defaults::TIMEOUT,
            dns_timeout: defaults::TIMEOUT,
            family: IpFamily::Any,
            http: HttpOptions::default(),
            icmp: IcmpOptions::default(),
            dns: crate::DnsOptions::default(),
            grpc: crate::GrpcOptions::default(),
            tcp: TcpOptions::default(),
            data: DataOptions::default(),
            cert_warn_days: None,
        }
    }
}

/// Address families a probe may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    /// IPv4 or IPv6, in the resolver's order.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl IpFamily {
    /// Whether `addr` is allowed.
    pub fn allows(self, addr: std::net::IpAddr) -> bool {
        match self {
            IpFamily::Any => true,
            IpFamily::V4 => addr.is_ipv4(),
            IpFamily::V6 => addr.is_ipv6(),
        }
    }
}

/// HTTP probe options.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Request method (GET or HEAD in practice).
    pub method: Method,
    /// Status codes that count as up.
    pub expect_status: StatusSet,
    /// The body must contain this text.
    pub body_contains: Option<String>,
    /// The body must match this regular expression.
    pub body_regex: Option<regex::Regex>,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Follow redirects (at most [`MAX_REDIRECTS`]).
    pub follow_redirects: bool,
    /// Extra PEM file of trusted CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server certificate.
    pub insecure: bool,
    /// Request body (sent with every request of the probe; dropped after a 303 to GET).
    pub body: Option<bytes::Bytes>,
    /// Conditions the final answer must meet ([`crate::conditions`]); the first one not met
    /// fails the probe with [`crate::ErrorKind::Condition`].
    pub conditions: Vec<crate::conditions::Condition>,
    /// Read at most this many body bytes: a longer body fails the probe (blackbox_exporter's
    /// `body_size_limit`). `None`: up to 16 MiB is read and 1 MiB kept for matching.
    pub body_size_limit: Option<u64>,
    /// Ask for this encoding and decode the body as it (blackbox_exporter's `compression`).
    pub compression: Option<crate::Compression>,
    /// Send every request through this `http://` proxy (HTTPS through a `CONNECT` tunnel).
    pub proxy: Option<url::Url>,
}

/// How many redirects an HTTP probe follows before it gives up.
pub const MAX_REDIRECTS: u32 = 10;

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            method: Method::GET,
            expect_status: StatusSet::default(),
            body_contains: None,
            body_regex: None,
            headers: Vec::new(),
            follow_redirects: defaults::FOLLOW_REDIRECTS,
            ca_file: None,
            insecure: false,
            body: None,
            conditions: Vec::new(),
            body_size_limit: None,
            compression: None,
            proxy: None,
        }
    }
}

/// ICMP probe options.
#[derive(Debug, Clone)]
pub struct IcmpOptions {
    /// Echo requests per probe.
    pub count: u32,
    /// Delay between echo requests.
    pub interval: Duration,
    /// Hop limit, don't-fragment and payload size of the requests.
    pub tuning: crate::icmp::SocketTuning,
}

impl Default for IcmpOptions {
    fn default() -> Self {
        IcmpOptions {
            count: defaults::ICMP_COUNT,
            interval: defaults::ICMP_INTERVAL,
            tuning: crate::icmp::SocketTuning::default(),
        }
    }
}

/// TLS client settings of a TCP or database probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra PEM file of trusted CA certificates (on top of the system's).
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server certificate.
    pub insecure: bool,
    /// The name the certificate must hold; the target's host by default.
    pub server_name: Option<String>,
}

/// TCP probe options: a plain connect by default; with `tls` or a `script`, a dialogue.
#[derive(Debug, Clone, Default)]
pub struct TcpOptions {
    /// TLS right after the connect (`tls: true`).
    pub tls: bool,
    /// Settings of that TLS and of any `starttls` step.
    pub tls_config: TlsOptions,
    /// The send/expect/starttls steps, in order.
    pub script: crate::dialogue::Script,
}

impl TcpOptions {
    /// Whether the probe is a plain connect (no TLS, no dialogue).
    pub fn is_connect_only(&self) -> bool {
        !self.tls && self.script.is_empty()
    }
}

/// Options of the database checks (`postgres://`, `redis://`).
#[derive(Clone, Default)]
pub struct DataOptions {
    /// The password (from a file or the environment); never printed. A password in the URL
    /// is used when this is `None`.
    pub password: Option<String>,
    /// PostgreSQL, MySQL: the query to run instead of `SELECT 1`.
    pub query: Option<String>,
    /// Fail with `read_only` on a PostgreSQL server in recovery (a standby) or whose
    /// transactions are read-only, a MySQL server with `@@global.read_only` set, a Redis
    /// replica.
    pub require_primary: bool,
    /// TLS settings of `rediss://` and of PostgreSQL's `sslmode=require`.
    pub tls: TlsOptions,
}

impl std::fmt::Debug for DataOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataOptions")
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::redact::MASK),
            )
            .field("query", &self.query)
            .field("require_primary", &self.require_primary)
            .field("tls", &self.tls)
            .finish()
    }
}
