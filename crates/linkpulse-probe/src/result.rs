//! What a probe found: [`ProbeResult`] and its parts. The JSON form of a `ProbeResult` is the
//! output contract of `linkpulse check --output json`.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// TCP connect.
    Tcp,
    /// HTTP(S) request.
    Http,
    /// ICMP echo.
    Icmp,
    /// A DNS query to a given server.
    Dns,
    /// A gRPC health check (`grpc.health.v1.Health/Check`).
    Grpc,
    /// PostgreSQL: connect, authenticate, query.
    Postgres,
    /// Redis: `AUTH`, `PING` → `PONG`.
    Redis,
    /// MySQL / MariaDB: handshake, authenticate, query.
    Mysql,
}

impl ProbeKind {
    /// The snake_case name used in JSON (`tcp`, `http`, `icmp`, `dns`, `grpc`, `postgres`,
    /// `redis`, `mysql`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Http => "http",
            ProbeKind::Icmp => "icmp",
            ProbeKind::Dns => "dns",
            ProbeKind::Grpc => "grpc",
            ProbeKind::Postgres => "postgres",
            ProbeKind::Redis => "redis",
            ProbeKind::Mysql => "mysql",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width and alignment flags apply.
        f.pad(self.as_str())
    }
}

/// Why a target is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The name did not resolve (or resolution timed out); for a DNS check, the server
    /// answered with an unexpected response code (the message names it: `NXDOMAIN`,
    /// `SERVFAIL`, …).
    Dns,
    /// The host answered with a TCP RST: it is up, nothing listens on the port.
    Refused,
    /// Nothing answered within the budget.
    Timeout,
    /// A router or the host said the destination is unreachable.
    Unreachable,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// The TLS handshake failed (expired, unknown issuer, name mismatch, alert…).
    Tls,
    /// The HTTP status is not one of the expected ones.
    HttpStatus,
    /// The body does not contain / match what was expected.
    BodyMismatch,
    /// The server refused the credentials (wrong password, unknown user, password missing).
    Auth,
    /// The server is up but not accepting connections yet (PostgreSQL `57P03`, Redis
    /// `LOADING`).
    Starting,
    /// The server answers read-only (a standby in recovery, or read-only transactions) where
    /// the check requires a primary.
    ReadOnly,
    /// The server rejected the query or the database (no such database, a failing query).
    Query,
    /// The monitor itself may not probe (e.g. no ICMP permission).
    Permission,
    /// The peer answered something that is not the expected protocol.
    Protocol,
    /// The answer did not meet a configured condition ([`crate::conditions`]); the message
    /// names the condition and the value seen.
    Condition,
    /// The monitor's own fault, not the target's: no file descriptors (`EMFILE`/`ENFILE`), no
    /// ephemeral port (`EADDRNOTAVAIL`), no memory or socket buffers (`ENOMEM`/`ENOBUFS`).
    /// Such a result says nothing about the target; the message starts with a
    /// [`LocalReason`]'s words.
    Local,
    /// The service answered its own health check with a status other than serving (gRPC
    /// `NOT_SERVING`, `UNKNOWN`, `SERVICE_UNKNOWN`; the message names it).
    Health,
}

impl ErrorKind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Reset => "reset",
            ErrorKind::Tls => "tls",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::BodyMismatch => "body_mismatch",
            ErrorKind::Auth => "auth",
            ErrorKind::Starting => "starting",
            ErrorKind::ReadOnly => "read_only",
            ErrorKind::Query => "query",
            ErrorKind::Permission => "permission",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Condition => "condition",
            ErrorKind::Local => "local",
            ErrorKind::Health => "health",
        }
    }
}

/// Why a probe failed for a reason of the monitor's own ([`ErrorKind::Local`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalReason {
    /// No file descriptor left (`EMFILE`, `ENFILE`).
    NoFileDescriptors,
    /// No ephemeral port or local address left (`EADDRNOTAVAIL`).
    NoEphemeralPorts,
    /// No memory or socket buffers (`ENOMEM`, `ENOBUFS`).
    NoMemory,
}

impl LocalReason {
    /// The reason of an OS error number, when it is one of the monitor's own.
    pub fn of_errno(code: i32) -> Option<LocalReason> {
        match code {
            libc::EMFILE | libc::ENFILE => Some(LocalReason::NoFileDescriptors),
            libc::EADDRNOTAVAIL => Some(LocalReason::NoEphemeralPorts),
            libc::ENOMEM | libc::ENOBUFS => Some(LocalReason::NoMemory),
            _ => None,
        }
    }

    /// The snake_case name (the `reason` label of `linkpulse_probe_local_errors_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            LocalReason::NoFileDescriptors => "no_file_descriptors",
            LocalReason::NoEphemeralPorts => "no_ephemeral_ports",
            LocalReason::NoMemory => "no_memory",
        }
    }

    /// The words a [`ErrorKind::Local`] message starts with.
    pub fn words(self) -> &'static str {
        match self {
            LocalReason::NoFileDescriptors => "the monitor has no file descriptor left",
            LocalReason::NoEphemeralPorts => "the monitor has no local port left",
            LocalReason::NoMemory => "the monitor has no memory or socket buffer left",
        }
    }

    /// The reason a [`ErrorKind::Local`] message names (by its first words).
    pub fn of_message(message: &str) -> Option<LocalReason> {
        [
            LocalReason::NoFileDescriptors,
            LocalReason::NoEphemeralPorts,
            LocalReason::NoMemory,
        ]
        .into_iter()
        .find(|r| message.starts_with(r.words()))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A classified failure, with a message that names the target and what was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// E.g. "connection refused by 127.0.0.1:5432".
    pub message: String,
}

impl ProbeError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProbeError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The outcome of one probe of one target. A failing target is a result with `up: false` and an
/// `error`; a warning (e.g. a certificate close to expiry) keeps `up: true` and sets `warning`.
///
/// The details of each kind are boxed: a result carries at most one or two of them, and the
/// daemon keeps every check's last result (inline, the six made a result 1,000 bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The target, as given.
    pub target: String,
    /// The probe kind.
    pub kind: ProbeKind,
    /// Whether the target is up.
    pub up: bool,
    /// A warning threshold that was crossed while the target is up.
    pub warning: Option<String>,
    /// Connect time (TCP), total time (HTTP) or mean RTT (ICMP), in milliseconds.
    pub latency_ms: Option<f64>,
    /// Why the target is down.
    pub error: Option<ProbeError>,
    /// The address that was probed (the last one tried).
    pub resolved: Option<IpAddr>,
    /// HTTP details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Box<HttpDetail>>,
    /// TLS details (HTTPS once the handshake completed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsDetail>>,
    /// ICMP details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<Box<IcmpDetail>>,
    /// DNS details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Box<crate::dns::DnsDetail>>,
    /// gRPC health details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Box<crate::grpc::GrpcDetail>>,
    /// Details of a TCP dialogue (send/expect, TLS on connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Box<TcpDetail>>,
}

impl ProbeResult {
    /// A result with nothing filled in yet: down, no error.
    pub fn empty(target: impl Into<String>, kind: ProbeKind) -> Self {
        ProbeResult {
            target: target.into(),
            kind,
            up: false,
            warning: None,
            latency_ms: None,
            error: None,
            resolved: None,
            http: None,
            tls: None,
            icmp: None,
            dns: None,
            grpc: None,
            tcp: None,
        }
    }

    /// Marks the result down with `kind` and `message`.
    pub fn fail(mut self, kind: ErrorKind, message: impl Into<String>) -> Self {
        self.up = false;
        self.error = Some(ProbeError::new(kind, message));
        self
    }
}

/// HTTP details of a probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HttpDetail {
    /// Status of the final response, if one arrived.
    pub status: Option<u16>,
    /// HTTP version of the final response (`HTTP/1.1`, `HTTP/2`).
    pub version: Option<String>,
    /// Length of the final response body in bytes.
    pub body_bytes: Option<u64>,
    /// The `Content-Length` header of the final response, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// The `Last-Modified` header of the final response, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Redirects followed.
    pub redirects: u32,
    /// The URL of the final request.
    pub final_url: String,
    /// Phase timings of the final request; `total_ms` spans every hop.
    pub phases: HttpPhases,
    /// Phase timings of the requests before the final one, summed (`None` without redirects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_phases: Option<HttpPhases>,
}

/// Phase timings of an HTTP request, in milliseconds; a phase not reached is `null`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HttpPhases {
    /// Name resolution (0 for an IP literal).
    pub dns_ms: Option<f64>,
    /// TCP connect.
    pub connect_ms: Option<f64>,
    /// TLS handshake (`null` for plain HTTP).
    pub tls_ms: Option<f64>,
    /// From sending the request to the response head.
    pub first_byte_ms: Option<f64>,
    /// Whole probe, every redirect hop included.
    pub total_ms: Option<f64>,
}

impl HttpPhases {
    /// Adds the phases of `other` to these (a phase reached by either is reached).
    pub fn add(&mut self, other: &HttpPhases) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        self.dns_ms = sum(self.dns_ms, other.dns_ms);
        self.connect_ms = sum(self.connect_ms, other.connect_ms);
        self.tls_ms = sum(self.tls_ms, other.tls_ms);
        self.first_byte_ms = sum(self.first_byte_ms, other.first_byte_ms);
        self.total_ms = sum(self.total_ms, other.total_ms);
    }
}

/// TLS details of an HTTPS probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsDetail {
    /// Negotiated protocol version (`TLSv1.3`).
    pub version: Option<String>,
    /// Negotiated ALPN protocol (`h2`, `http/1.1`).
    pub alpn: Option<String>,
    /// Whole days until the earliest `notAfter` in the presented chain (negative once expired).
    pub cert_days_left: Option<i64>,
    /// The earliest `notAfter` in the presented chain, in unix seconds.
    pub earliest_expiry: Option<i64>,
    /// Subject of the leaf certificate.
    pub subject: Option<String>,
    /// Issuer of the leaf certificate.
    pub issuer: Option<String>,
    /// SHA-256 fingerprint of the leaf certificate (DER), lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_sha256: Option<String>,
    /// DNS names in the leaf certificate's subjectAltName extension.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaf_dns_names: Vec<String>,
}

/// Details of a TCP dialogue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TcpDetail {
    /// Steps in the script.
    pub steps: usize,
    /// Steps completed.
    pub steps_done: usize,
    /// The connection closed before an `expect` matched (blackbox's
    /// `probe_failed_due_to_regex`).
    pub failed_due_to_regex: bool,
    /// `labels` of the matched steps, expanded (blackbox's `probe_expect_info`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, String)>,
}

/// ICMP details of a probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IcmpDetail {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// Loss in percent.
    pub loss: f64,
    /// Smallest RTT.
    pub rtt_min_ms: Option<f64>,
    /// Mean RTT.
    pub rtt_avg_ms: Option<f64>,
    /// Largest RTT.
    pub rtt_max_ms: Option<f64>,
    /// Mean deviation of the RTT.
    pub rtt_mdev_ms: Option<f64>,
    /// Destination-unreachable replies.
    pub unreachable: Vec<UnreachableDetail>,
    /// Hop limit (IPv4 TTL) of the last echo reply, when the socket reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_hop_limit: Option<u8>,
}

/// One ICMP destination-unreachable reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreachableDetail {
    /// Who sent it.
    pub from: IpAddr,
    /// ICMP code.
    pub code: u8,
    /// What the code means.
    pub meaning: String,
}
