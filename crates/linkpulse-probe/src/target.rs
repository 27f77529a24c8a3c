//! What to probe: [`Target`] and [`Host`], built from their parts (a bare `HOST:PORT`, a host,
//! an HTTP URL). The URL forms users write (`tcp://host:port`, `http://…`, `icmp://host`,
//! `dns://server[:port]/name?type=A`, `grpc://host:port[/service]`, …) are parsed and written
//! back in `target_url.rs`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// A host to probe: an IP literal or a DNS name that is resolved at probe time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 literal; no DNS lookup is made.
    Ip(IpAddr),
    /// A DNS name, resolved (with its own time budget) at every probe.
    Name(String),
}

/// One thing to probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A TCP connect to `host:port`.
    Tcp {
        /// Host to connect to.
        host: Host,
        /// Port, 1–65535.
        port: u16,
    },
    /// An HTTP(S) request to `url`.
    Http {
        /// An `http` or `https` URL with a host.
        url: url::Url,
    },
    /// ICMP echo requests to `host`.
    Icmp {
        /// Host to ping.
        host: Host,
    },
    /// A DNS query of `name` for `record_type` to the server `server:port`.
    Dns {
        /// The DNS server.
        server: Host,
        /// Its port (53 unless given).
        port: u16,
        /// The name asked for.
        name: String,
        /// The record type asked for.
        record_type: crate::DnsType,
        /// Over TCP only (otherwise UDP, and TCP when the answer is truncated).
        tcp: bool,
    },
    /// A gRPC health check (`grpc.health.v1.Health/Check`) of `service` at `host:port`.
    Grpc {
        /// Host of the server.
        host: Host,
        /// Its port.
        port: u16,
        /// The service asked about; empty for the server as a whole.
        service: String,
        /// Over TLS (`grpcs://`).
        tls: bool,
    },
    /// A database asked in its own protocol (`postgres://…`, `redis://…`, `rediss://…`).
    Data(crate::DataTarget),
}

/// Why a target (or a host) could not be parsed. The `Display` text names what is wrong and,
/// where it helps, what was expected; callers prefix it with the input itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The input is empty.
    #[error("empty target")]
    Empty,
    /// No `scheme://` in front of the target.
    #[error(
        "no scheme: expected tcp://HOST:PORT, http://…, https://…, icmp://HOST, \
         dns://SERVER/NAME or grpc://HOST:PORT"
    )]
    MissingScheme,
    /// The scheme is not one of the schemes below.
    #[error(
        "unknown scheme `{scheme}`: expected tcp, http, https, icmp, dns, grpc, grpcs, postgres, redis, rediss or mysql"
    )]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The host part is empty.
    #[error("empty host")]
    EmptyHost,
    /// The host contains characters no host name may contain.
    #[error("invalid host `{host}`: {reason}")]
    InvalidHost {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TCP target without a port.
    #[error("missing port: expected HOST:PORT")]
    MissingPort,
    /// The port is not a number.
    #[error("invalid port `{port}`: not a number")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// The port is 0 or above 65535.
    #[error("port {port} out of range 1-65535")]
    PortOutOfRange {
        /// The port as written.
        port: String,
    },
    /// A `tcp://` or `icmp://` target with a path, query or user part.
    #[error("unexpected `{extra}` after the host")]
    Trailing {
        /// The unexpected part.
        extra: String,
    },
    /// An ICMP target with a port.
    #[error("ICMP targets have no port")]
    IcmpPort,
    /// The HTTP URL does not parse.
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        /// What the URL parser said.
        reason: String,
    },
    /// A gRPC service name with a character such names cannot hold.
    #[error("invalid gRPC service name `{service}`: character {character:?} is not allowed")]
    InvalidService {
        /// The service as written.
        service: String,
        /// The first character that is not allowed.
        character: char,
    },
    /// A `dns://` target that is not `dns://SERVER[:PORT]/NAME[?type=T][&transport=tcp]`.
    #[error("invalid DNS target: {reason}")]
    InvalidDns {
        /// What is wrong.
        reason: String,
    },
}

impl Target {
    /// Parses a bare `HOST:PORT` (`127.0.0.1:22`, `[::1]:80`, `db.example:5432`) as a TCP target.
    pub fn tcp_from_host_port(s: &str) -> Result<Target, TargetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let (host, port) = split_host_port(s)?;
        let Some(port) = port else {
            return Err(TargetError::MissingPort);
        };
        Ok(Target::Tcp { host, port })
    }

    /// Parses an `http://` or `https://` URL as an HTTP target.
    pub fn http_from_url(s: &str) -> Result<Target, TargetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        if !s.contains("://") {
            return Err(TargetError::MissingScheme);
        }
        parse_http(s)
    }

    /// Parses a bare host (`127.0.0.1`, `::1`, `[::1]`, `example.org`) as an ICMP target.
    pub fn icmp_from_host(s: &str) -> Result<Target, TargetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TargetError::EmptyHost);
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Target::Icmp { host: Host::Ip(ip) });
        }
        let (host, port) = split_host_port(s)?;
        if port.is_some() {
            return Err(TargetError::IcmpPort);
        }
        Ok(Target::Icmp { host })
    }

    /// The kind of probe this target gets.
    pub fn kind(&self) -> crate::ProbeKind {
        match self {
            Target::Tcp { .. } => crate::ProbeKind::Tcp,
            Target::Http { .. } => crate::ProbeKind::Http,
            Target::Icmp { .. } => crate::ProbeKind::Icmp,
            Target::Dns { .. } => crate::ProbeKind::Dns,
            Target::Grpc { .. } => crate::ProbeKind::Grpc,
            Target::Data(d) => match d.kind {
                crate::DataKind::Postgres => crate::ProbeKind::Postgres,
                crate::DataKind::Redis => crate::ProbeKind::Redis,
                crate::DataKind::Mysql => crate::ProbeKind::Mysql,
            },
        }
    }

    /// The host this target points at (for HTTP, the URL's host).
    pub fn host(&self) -> Option<Host> {
        match self {
            Target::Tcp { host, .. } | Target::Icmp { host } | Target::Grpc { host, .. } => {
                Some(host.clone())
            }
            Target::Dns { server, .. } => Some(server.clone()),
            Target::Http { url } => match url.host()? {
                url::Host::Domain(d) => Some(Host::Name(d.to_owned())),
                url::Host::Ipv4(ip) => Some(Host::Ip(IpAddr::V4(ip))),
                url::Host::Ipv6(ip) => Some(Host::Ip(IpAddr::V6(ip))),
            },
            Target::Data(d) => Some(d.host()),
        }
    }

    /// The TCP port this target uses, if any (HTTP: the URL's port or the scheme default).
    pub fn port(&self) -> Option<u16> {
        match self {
            Target::Tcp { port, .. } | Target::Dns { port, .. } | Target::Grpc { port, .. } => {
                Some(*port)
            }
            Target::Http { url } => url.port_or_known_default(),
            Target::Icmp { .. } => None,
            Target::Data(d) => Some(d.port()),
        }
    }
}

impl Host {
    /// The host with IPv6 literals in brackets, as it appears before `:port`.
    pub fn bracketed(&self) -> String {
        match self {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl FromStr for Host {
    type Err = TargetError;

    /// Parses an IP literal (IPv6 with or without brackets) or a DNS name.
    fn from_str(s: &str) -> Result<Host, TargetError> {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| TargetError::InvalidHost {
                    host: s.to_owned(),
                    reason: "not an IPv6 address".to_owned(),
                });
        }
        parse_name(s)
    }
}

/// Splits `host[:port]`, with IPv6 literals in brackets.
pub(crate) fn split_host_port(s: &str) -> Result<(Host, Option<u16>), TargetError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Err(TargetError::InvalidHost {
                host: s.to_owned(),
                reason: "missing `]` after an IPv6 address".to_owned(),
            });
        };
        let ip = inner
            .parse::<Ipv6Addr>()
            .map_err(|_| TargetError::InvalidHost {
                host: format!("[{inner}]"),
                reason: "not an IPv6 address".to_owned(),
            })?;
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => {
                    return Err(TargetError::InvalidHost {
                        host: s.to_owned(),
                        reason: format!("unexpected `{p}` after `]`"),
                    });
                }
            },
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                // Several colons without brackets: an IPv6 address needs brackets before a port.
                return Err(TargetError::InvalidHost {
                    host: s.to_owned(),
                    reason: "an IPv6 address with a port must be written [ADDR]:PORT".to_owned(),
                });
            }
            Some((h, p)) => (parse_host_part(h)?, Some(p)),
            None => (parse_host_part(s)?, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

fn parse_host_part(h: &str) -> Result<Host, TargetError> {
    if h.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    parse_name(h)
}

/// Validates a DNS name: letters, digits, `-`, `_` and dots, labels of 1–63 bytes.
fn parse_name(s: &str) -> Result<Host, TargetError> {
    if s.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    let invalid = |reason: &str| TargetError::InvalidHost {
        host: s.to_owned(),
        reason: reason.to_owned(),
    };
    if s.len() > 253 {
        return Err(invalid("longer than 253 characters"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(&format!(
            "character {c:?} is not allowed in a host name"
        )));
    }
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if trimmed.split('.').any(|label| label.is_empty()) {
        return Err(invalid("empty label"));
    }
    if trimmed.split('.').any(|label| label.len() > 63) {
        return Err(invalid("a label is longer than 63 characters"));
    }
    Ok(Host::Name(s.to_owned()))
}

fn parse_port(p: &str) -> Result<u16, TargetError> {
    if p.is_empty() {
        return Err(TargetError::MissingPort);
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::InvalidPort { port: p.to_owned() });
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => {
            u16::try_from(n).map_err(|_| TargetError::PortOutOfRange { port: p.to_owned() })
        }
        _ => Err(TargetError::PortOutOfRange { port: p.to_owned() }),
    }
}

fn parse_http(s: &str) -> Result<Target, TargetError> {
    // Check the authority ourselves first so that an empty host or a bad port gets the same
    // words as for TCP targets, rather than the URL parser's terser ones.
    if let Some((scheme, rest)) = s.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(TargetError::UnknownScheme { scheme });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        if authority.is_empty() || authority.starts_with(':') {
            return Err(TargetError::EmptyHost);
        }
        let (_, port) = split_host_port(authority)?;
        let _ = port;
    }
    let url = url::Url::parse(s).map_err(|e| TargetError::InvalidUrl {
        reason: e.to_string(),
    })?;
    match url.host() {
        None => Err(TargetError::EmptyHost),
        Some(url::Host::Domain("")) => Err(TargetError::EmptyHost),
        Some(_) => Ok(Target::Http { url }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The error message of a target that must not parse.
    pub(crate) fn err(s: &str) -> String {
        match s.parse::<Target>() {
            Ok(t) => panic!("{s} parsed as {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_form() {
        let t: Target = "tcp://127.0.0.1:22".parse().unwrap();
        assert_eq!(
            t,
            Target::Tcp {
                host: Host::Ip("127.0.0.1".parse().unwrap()),
                port: 22
            }
        );
        let t: Target = "tcp://[::1]:80".parse().unwrap();
        assert_eq!(t.to_string(), "tcp://[::1]:80");
        let t: Target = "icmp://::1".parse().unwrap();
        assert_eq!(t.to_string(), "icmp://[::1]");
        let t: Target = "icmp://[::1]".parse().unwrap();
        assert_eq!(t.host(), Some(Host::Ip("::1".parse().unwrap())));
        let t: Target = "https://example.org:8443/x?y".parse().unwrap();
        assert_eq!(t.port(), Some(8443));
        let t: Target = "tcp://db.example:5432".parse().unwrap();
        assert_eq!(t.host(), Some(Host::Name("db.example".into())));
        assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
    }

    #[test]
    fn rejects_bad_targets_with_a_reason() {
        assert_eq!(err("tcp://host"), "missing port: expected HOST:PORT");
        assert_eq!(err("tcp://host:"), "missing port: expected HOST:PORT");
        assert_eq!(err("tcp://host:0"), "port 0 out of range 1-65535");
        assert_eq!(err("tcp://host:65536"), "port 65536 out of range 1-65535");
        assert_eq!(
            err("tcp://host:99999999999999"),
            "port 99999999999999 out of range 1-65535"
        );
        assert_eq!(err("tcp://host:http"), "invalid port `http`: not a number");
        assert_eq!(err("tcp://:80"), "empty host");
        assert_eq!(err("tcp://"), "empty host");
        assert_eq!(err("http://"), "empty host");
        assert_eq!(err("https://:443/"), "empty host");
        assert_eq!(err("icmp://"), "empty host");
        assert_eq!(
            err("ftp://x"),
            "unknown scheme `ftp`: expected tcp, http, https, icmp, dns, grpc, grpcs, postgres, redis, rediss or mysql"
        );
        assert!(err("example.org:80").starts_with("no scheme"));
        assert_eq!(err("icmp://h:80"), "ICMP targets have no port");
        assert!(err("tcp://h:80/path").contains("unexpected `/path`"));
        assert!(err("tcp://ex ample:80").contains("invalid host"));
        assert!(err("tcp://::1:80").contains("[ADDR]:PORT"));
        assert!(err("tcp://[::1:80").contains("missing `]`"));
        assert!(err("http://h:0/").contains("port 0 out of range"));
        assert_eq!(err(""), "empty target");
    }

    #[test]
    fn bare_forms() {
        assert_eq!(
            Target::tcp_from_host_port("[::1]:443").unwrap().to_string(),
            "tcp://[::1]:443"
        );
        assert_eq!(
            Target::tcp_from_host_port("localhost").unwrap_err(),
            TargetError::MissingPort
        );
        assert!(Target::icmp_from_host("::1").is_ok());
        assert!(Target::icmp_from_host("").is_err());
    }
}
