//! The URL forms of targets, parsed ([`FromStr`]) and written back ([`fmt::Display`]): `tcp://`,
//! `icmp://`, `http(s)://`, the data stores' URLs, and the DNS and gRPC forms
//! `dns://SERVER[:PORT]/NAME?type=T[&transport=tcp]` and `grpc://HOST:PORT[/SERVICE]`
//! (`grpcs://` for TLS).

use std::fmt;
use std::str::FromStr;

use crate::target::split_host_port;
use crate::{DnsType, Target, TargetError};

/// The DNS port, when a `dns://` target names none.
pub(crate) const DNS_PORT: u16 = 53;

impl FromStr for Target {
    type Err = TargetError;

    /// Parses the URL form: `tcp://HOST:PORT`, `http://…`, `https://…`, `icmp://HOST`,
    /// `postgres://USER@HOST[:PORT]/DB`, `redis://HOST[:PORT]`, `rediss://HOST[:PORT]`.
    fn from_str(s: &str) -> Result<Target, TargetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(TargetError::MissingScheme);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "tcp" => {
                let rest = reject_trailing(rest)?;
                Target::tcp_from_host_port(rest).map_err(|e| match e {
                    TargetError::Empty => TargetError::EmptyHost,
                    other => other,
                })
            }
            "icmp" | "ping" => {
                let rest = reject_trailing(rest)?;
                Target::icmp_from_host(rest)
            }
            "http" | "https" => Target::http_from_url(s),
            "dns" => parse_dns(rest),
            "grpc" => parse_grpc(rest, false),
            "grpcs" => parse_grpc(rest, true),
            "postgres" | "postgresql" | "redis" | "rediss" | "mysql" | "mariadb" => {
                crate::DataTarget::parse(s).map(Target::Data)
            }
            "" => Err(TargetError::MissingScheme),
            _ => Err(TargetError::UnknownScheme {
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Target {
    /// The URL form, which [`FromStr`] parses back to the same target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "tcp://{}:{port}", host.bracketed()),
            Target::Http { url } => f.write_str(url.as_str()),
            Target::Icmp { host } => write!(f, "icmp://{}", host.bracketed()),
            Target::Dns { .. } | Target::Grpc { .. } => fmt(self, f),
            // The password, if the URL holds one, is masked.
            Target::Data(d) => d.fmt(f),
        }
    }
}

/// Rejects a path, query, fragment or user part after the authority of a tcp/icmp URL.
fn reject_trailing(rest: &str) -> Result<&str, TargetError> {
    if let Some(at) = rest.find(['/', '?', '#']) {
        let extra = &rest[at..];
        // A lone trailing slash is harmless.
        if extra == "/" {
            return Ok(&rest[..at]);
        }
        return Err(TargetError::Trailing {
            extra: extra.to_owned(),
        });
    }
    if let Some(at) = rest.find('@') {
        return Err(TargetError::Trailing {
            extra: rest[..=at].to_owned(),
        });
    }
    Ok(rest)
}

fn invalid_dns(reason: impl Into<String>) -> TargetError {
    TargetError::InvalidDns {
        reason: reason.into(),
    }
}

impl Target {
    /// A DNS target from its parts as the CLI takes them: the server as `ADDR[:PORT]` (port 53
    /// unless given), the name, the type and whether to use TCP only.
    pub fn dns_from_parts(
        server: &str,
        name: &str,
        record_type: DnsType,
        tcp: bool,
    ) -> Result<Target, TargetError> {
        let server = server.trim();
        if server.is_empty() {
            return Err(TargetError::EmptyHost);
        }
        let (server, port) = split_host_port(server)?;
        let name = name.trim();
        crate::dns::message::parse_name(name)
            .map_err(|e| invalid_dns(format!("invalid name `{name}`: {e}")))?;
        Ok(Target::Dns {
            server,
            port: port.unwrap_or(DNS_PORT),
            name: name.to_owned(),
            record_type,
            tcp,
        })
    }

    /// A gRPC target from `HOST:PORT` (IPv6 as `[ADDR]:PORT`), a service name (empty for the
    /// whole server) and whether to use TLS.
    pub fn grpc_from_host_port(s: &str, service: &str, tls: bool) -> Result<Target, TargetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        parse_grpc(&format!("{s}/{}", service.trim()), tls)
    }
}

/// Parses what follows `dns://`.
pub(crate) fn parse_dns(rest: &str) -> Result<Target, TargetError> {
    let (authority, after) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    if authority.contains('@') {
        return Err(TargetError::Trailing {
            extra: authority.to_owned(),
        });
    }
    let (server, port) = split_host_port(authority)?;
    let (name, query) = after.split_once('?').unwrap_or((after, ""));
    if let Some(at) = name.find('#') {
        return Err(TargetError::Trailing {
            extra: name[at..].to_owned(),
        });
    }
    if name.is_empty() {
        return Err(invalid_dns(
            "no name to ask for: expected dns://SERVER[:PORT]/NAME?type=A",
        ));
    }
    crate::dns::message::parse_name(name)
        .map_err(|e| invalid_dns(format!("invalid name `{name}`: {e}")))?;
    let mut record_type = DnsType::A;
    let mut tcp = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "type" => record_type = value.parse().map_err(|e| invalid_dns(format!("{e}")))?,
            "transport" => {
                tcp = match value.to_ascii_lowercase().as_str() {
                    "udp" => false,
                    "tcp" => true,
                    _ => {
                        return Err(invalid_dns(format!(
                            "transport `{value}`: expected udp or tcp"
                        )));
                    }
                }
            }
            _ => {
                return Err(invalid_dns(format!(
                    "unknown parameter `{key}`: expected type or transport"
                )));
            }
        }
    }
    Ok(Target::Dns {
        server,
        port: port.unwrap_or(DNS_PORT),
        name: name.to_owned(),
        record_type,
        tcp,
    })
}

/// Parses what follows `grpc://` (or `grpcs://` with `tls`).
pub(crate) fn parse_grpc(rest: &str, tls: bool) -> Result<Target, TargetError> {
    let (authority, service) = rest.split_once('/').unwrap_or((rest, ""));
    if let Some(at) = authority.find(['?', '#', '@']) {
        return Err(TargetError::Trailing {
            extra: authority[at..].to_owned(),
        });
    }
    if authority.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    let (host, port) = split_host_port(authority)?;
    let Some(port) = port else {
        return Err(TargetError::MissingPort);
    };
    let service = service.strip_suffix('/').unwrap_or(service);
    if let Some(c) = service
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TargetError::InvalidService {
            service: service.to_owned(),
            character: c,
        });
    }
    Ok(Target::Grpc {
        host,
        port,
        service: service.to_owned(),
        tls,
    })
}

/// The URL form of a DNS or gRPC target.
pub(crate) fn fmt(target: &Target, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match target {
        Target::Dns {
            server,
            port,
            name,
            record_type,
            tcp,
        } => {
            write!(f, "dns://{}", server.bracketed())?;
            if *port != DNS_PORT {
                write!(f, ":{port}")?;
            }
            write!(f, "/{name}?type={record_type}")?;
            if *tcp {
                f.write_str("&transport=tcp")?;
            }
            Ok(())
        }
        Target::Grpc {
            host,
            port,
            service,
            tls,
        } => {
            let scheme = if *tls { "grpcs" } else { "grpc" };
            write!(f, "{scheme}://{}:{port}", host.bracketed())?;
            if !service.is_empty() {
                write!(f, "/{service}")?;
            }
            Ok(())
        }
        other => fmt::Display::fmt(other, f),
    }
}

#[cfg(test)]
mod tests {
    use crate::target::tests::err;
    use crate::{DnsType, Host, Target};

    #[test]
    fn dns_urls_round_trip() {
        let t: Target = "dns://127.0.0.53:5353/db.test?type=mx&transport=tcp"
            .parse()
            .unwrap();
        assert_eq!(
            t,
            Target::Dns {
                server: Host::Ip("127.0.0.53".parse().unwrap()),
                port: 5353,
                name: "db.test".into(),
                record_type: DnsType::Mx,
                tcp: true
            }
        );
        assert_eq!(
            t.to_string(),
            "dns://127.0.0.53:5353/db.test?type=MX&transport=tcp"
        );
        let t: Target = "dns://[::1]/example.org".parse().unwrap();
        assert_eq!(t.to_string(), "dns://[::1]/example.org?type=A");
        assert_eq!(t.port(), Some(53));
        assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
    }

    #[test]
    fn grpc_urls_round_trip() {
        let t: Target = "grpcs://api.test:443/my.pkg.Orders".parse().unwrap();
        assert_eq!(
            t,
            Target::Grpc {
                host: Host::Name("api.test".into()),
                port: 443,
                service: "my.pkg.Orders".into(),
                tls: true
            }
        );
        assert_eq!(t.to_string(), "grpcs://api.test:443/my.pkg.Orders");
        let t: Target = "grpc://[::1]:50051/".parse().unwrap();
        assert_eq!(t.to_string(), "grpc://[::1]:50051");
        assert_eq!(t.kind(), crate::ProbeKind::Grpc);
    }

    #[test]
    fn bad_dns_and_grpc_urls_say_why() {
        assert!(err("dns://127.0.0.1").contains("no name to ask for"));
        assert!(err("dns:///x.test").contains("empty host"));
        assert!(
            err("dns://127.0.0.1/x.test?type=BOGUS").contains("unknown DNS record type `BOGUS`")
        );
        assert!(err("dns://127.0.0.1/x.test?transport=quic").contains("expected udp or tcp"));
        assert!(err("dns://127.0.0.1/x.test?qtype=A").contains("unknown parameter `qtype`"));
        assert!(err("dns://127.0.0.1:0/x.test").contains("out of range"));
        assert!(err("dns://127.0.0.1/a..b").contains("invalid name"));
        assert_eq!(err("grpc://host"), "missing port: expected HOST:PORT");
        assert_eq!(
            err("grpc://host:1/a b"),
            "invalid gRPC service name `a b`: character ' ' is not allowed"
        );
        assert!(err("grpc://host:1?x").contains("unexpected `?x`"));
    }

    #[test]
    fn cli_parts() {
        let t = Target::dns_from_parts("127.0.0.1:5353", "x.test", DnsType::Txt, false).unwrap();
        assert_eq!(t.to_string(), "dns://127.0.0.1:5353/x.test?type=TXT");
        assert!(Target::dns_from_parts("", "x.test", DnsType::A, false).is_err());
        assert!(Target::dns_from_parts("127.0.0.1", "", DnsType::A, false).is_err());
        let t = Target::grpc_from_host_port("[::1]:50051", "svc", true).unwrap();
        assert_eq!(t.to_string(), "grpcs://[::1]:50051/svc");
        assert!(Target::grpc_from_host_port("h", "", false).is_err());
    }
}
