//! Data checks: a database asked in its own protocol (`postgres://`, `redis://`, `rediss://`,
//! `mysql://`).
//!
//! A refused port, a wrong password ([`ErrorKind::Auth`]), a server that is starting up
//! ([`ErrorKind::Starting`]), a read-only replica where a primary is required
//! ([`ErrorKind::ReadOnly`]) and a failing query ([`ErrorKind::Query`]) are different
//! outcomes. Passwords come from [`DataOptions::password`](crate::DataOptions) (a file or the
//! environment) or the URL, and never appear in a result: the target is shown with its
//! password masked.

mod mysql;
mod postgres;
mod redis;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::net::{connect_any, resolve};
use crate::tls::TlsConfigs;
use crate::{ErrorKind, Host, ProbeError, ProbeOptions, ProbeResult, TargetError};

/// Which database protocol a [`DataTarget`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// Redis (`redis://`, or `rediss://` for TLS).
    Redis,
    /// MySQL or MariaDB (`mysql://`).
    Mysql,
}

impl DataKind {
    /// The port used when the URL has none.
    pub fn default_port(self) -> u16 {
        match self {
            DataKind::Postgres => 5432,
            DataKind::Redis => 6379,
            DataKind::Mysql => 3306,
        }
    }
}

/// A database to check: its kind and URL (`postgres://user@host:port/db`,
/// `redis://host:port`, `rediss://host:port`, `mysql://user@host:port/db`). `Debug` and
/// `Display` mask a password in the URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DataTarget {
    /// The protocol.
    pub kind: DataKind,
    /// The URL as given (it may hold a password: show it through [`fmt::Display`]).
    pub url: url::Url,
}

impl DataTarget {
    /// Parses a `postgres://`, `postgresql://`, `redis://`, `rediss://` or `mysql://` URL.
    pub fn parse(s: &str) -> Result<DataTarget, TargetError> {
        let (scheme, _) = s.split_once("://").ok_or(TargetError::MissingScheme)?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => DataKind::Postgres,
            "redis" | "rediss" => DataKind::Redis,
            "mysql" | "mariadb" => DataKind::Mysql,
            _ => {
                return Err(TargetError::UnknownScheme {
                    scheme: scheme.to_owned(),
                });
            }
        };
        let url = url::Url::parse(s).map_err(|e| TargetError::InvalidUrl {
            reason: e.to_string(),
        })?;
        match url.host_str() {
            None | Some("") => return Err(TargetError::EmptyHost),
            Some(_) => {}
        }
        if url.port() == Some(0) {
            return Err(TargetError::PortOutOfRange {
                port: "0".to_owned(),
            });
        }
        if let Some(fragment) = url.fragment() {
            return Err(TargetError::Trailing {
                extra: format!("#{fragment}"),
            });
        }
        match kind {
            DataKind::Postgres => postgres::check_url(&url)?,
            DataKind::Redis => redis::check_url(&url)?,
            DataKind::Mysql => mysql::check_url(&url)?,
        }
        Ok(DataTarget { kind, url })
    }

    /// The host of the URL.
    pub fn host(&self) -> Host {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => Host::Name(d.to_owned()),
            None => Host::Name(String::new()),
        }
    }

    /// The port of the URL or the protocol's default.
    pub fn port(&self) -> u16 {
        self.url.port().unwrap_or(self.kind.default_port())
    }

    /// Whether the connection is TLS from the start (`rediss://`).
    fn tls_on_connect(&self) -> bool {
        self.url.scheme().eq_ignore_ascii_case("rediss")
    }

    /// The password written in the URL, percent-decoded.
    fn url_password(&self) -> Option<String> {
        let p = self.url.password()?;
        Some(
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned(),
        )
    }

    /// The user written in the URL, percent-decoded; `None` when empty.
    fn url_user(&self) -> Option<String> {
        let u = self.url.username();
        (!u.is_empty()).then(|| {
            percent_encoding::percent_decode_str(u)
                .decode_utf8_lossy()
                .into_owned()
        })
    }
}

impl fmt::Display for DataTarget {
    /// The URL with its password masked (`postgres://app:***@db:5432/app`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.url.as_str();
        f.write_str(&crate::redact::Redactor::default().url(text))
    }
}

impl fmt::Debug for DataTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTarget")
            .field("kind", &self.kind)
            .field("url", &self.to_string())
            .finish()
    }
}

/// Probes a database in its own protocol.
pub(crate) async fn probe(
    configs: &'static TlsConfigs,
    target: &DataTarget,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    match target.kind {
        DataKind::Postgres => postgres::probe(configs, target, label, opts).await,
        DataKind::Redis => redis::probe(configs, target, label, opts).await,
        DataKind::Mysql => mysql::probe(target, label, opts).await,
    }
}

/// A connection to the target's host and port, with the deadline of the rest of the probe.
pub(crate) struct Connected {
    stream: TcpStream,
    addr: SocketAddr,
    host: Host,
    deadline: Instant,
}

/// Resolves and connects; on failure, `result` holds the error.
async fn connect(
    target: &DataTarget,
    opts: &ProbeOptions,
    result: &mut ProbeResult,
) -> Option<Connected> {
    let host = target.host();
    let ips = match resolve(&host, opts.family, opts.dns_timeout).await {
        Ok(ips) => ips,
        Err(e) => {
            result.error = Some(e);
            return None;
        }
    };
    let deadline = Instant::now() + opts.timeout;
    match connect_any(&ips, target.port(), deadline, opts.timeout).await {
        Ok((stream, addr, _)) => {
            let _ = stream.set_nodelay(true);
            result.resolved = Some(addr.ip());
            Some(Connected {
                stream,
                addr,
                host,
                deadline,
            })
        }
        Err((e, ip)) => {
            result.resolved = ip;
            result.error = Some(e);
            None
        }
    }
}

/// An error of kind `kind` whose message names the protocol and address.
fn error(kind: ErrorKind, what: &str, addr: SocketAddr, message: impl fmt::Display) -> ProbeError {
    ProbeError::new(kind, format!("{what} {addr}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let t = DataTarget::parse("postgres://app:s3cret@db.test:6543/app").unwrap();
        assert_eq!(t.to_string(), "postgres://app:***@db.test:6543/app");
        assert!(!format!("{t:?}").contains("s3cret"));
        assert_eq!(t.url_password().as_deref(), Some("s3cret"));
        assert_eq!(t.port(), 6543);
        let t = DataTarget::parse("mysql://u@db.test/x").unwrap();
        assert_eq!((t.kind, t.port()), (DataKind::Mysql, 3306));
        assert!(DataTarget::parse("redis://").is_err());
        assert!(DataTarget::parse("redis://h:0").is_err());
        assert!(DataTarget::parse("redis://h#frag").is_err());
    }
}
