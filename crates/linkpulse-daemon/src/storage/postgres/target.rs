//! Where the PostgreSQL database is: `postgres://user@host:port/dbname`, parsed without any
//! syscall, and the password kept out of `Debug` output and error messages.

use std::fmt;
use std::time::Duration;

/// The default PostgreSQL port.
const DEFAULT_PORT: u16 = 5432;

/// How long connecting may take before the daemon gives up (an unreachable server).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL server and database, parsed from a `postgres://` or `postgresql://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// Host name or IP address of the server.
    pub host: String,
    /// TCP port (5432 unless the URL names one).
    pub port: u16,
    /// The role to log in as.
    pub user: String,
    /// The database name.
    pub dbname: String,
    /// The password, when one is needed (from `database_password_file` or `PGPASSWORD`);
    /// never printed.
    pub password: Option<String>,
    /// `?sslmode=`: plain TCP, or TLS with or without verifying the server.
    pub sslmode: SslMode,
    /// `?sslrootcert=`: the CA file (PEM) that `verify-full` trusts besides the system roots.
    pub sslrootcert: Option<std::path::PathBuf>,
}

/// How the connection to the server is protected (libpq's `sslmode`, the values that need no
/// fallback to plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP (`disable`, the default): a server on the same host or a trusted network.
    #[default]
    Disable,
    /// TLS, any certificate (`require`): encrypted, but not proof of the server's identity.
    Require,
    /// TLS, the certificate verified against the system roots and `sslrootcert`, and the host
    /// name checked (`verify-full`).
    VerifyFull,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PgTarget {
    /// Whether `text` is meant as a PostgreSQL URL (rather than a SQLite file path).
    pub fn is_url(text: &str) -> bool {
        let t = text.trim_start();
        t.starts_with("postgres://") || t.starts_with("postgresql://")
    }

    /// Parses `postgres://user@host[:port]/dbname` (or `postgresql://`). The error names what
    /// is wrong; a password in the URL is refused so that it never sits in a config file.
    pub fn parse_url(text: &str) -> Result<PgTarget, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "unsupported scheme {:?} (expected postgres:// or postgresql://)",
                url.scheme()
            ));
        }
        if url.password().is_some() {
            return Err(
                "the URL holds a password; put it in database_password_file \
                        or the PGPASSWORD environment variable instead"
                    .to_owned(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err("the URL names no host".to_owned()),
        };
        if host.is_empty() {
            return Err("the URL names no host".to_owned());
        }
        let user = decode(url.username())?;
        if user.is_empty() {
            return Err(
                "the URL names no user (postgres://host/dbname with USER@ before the host)"
                    .to_owned(),
            );
        }
        let dbname = decode(url.path().trim_start_matches('/'))?;
        if dbname.is_empty() {
            return Err("the URL names no database (postgres://user@host/DBNAME)".to_owned());
        }
        if dbname.contains('/') {
            return Err(format!("{dbname:?} is not a database name"));
        }
        let (mut sslmode, mut sslrootcert) = (SslMode::Disable, None);
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    sslmode = match value.as_ref() {
                        "disable" => SslMode::Disable,
                        "require" => SslMode::Require,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "unsupported sslmode {other:?} (disable, require or verify-full)"
                            ));
                        }
                    }
                }
                "sslrootcert" => sslrootcert = Some(std::path::PathBuf::from(value.as_ref())),
                _ => return Err(format!("unsupported URL parameter {key:?}")),
            }
        }
        if sslrootcert.is_some() && sslmode != SslMode::VerifyFull {
            return Err("sslrootcert needs sslmode=verify-full".to_owned());
        }
        if url.fragment().is_some() {
            return Err("the URL has a #fragment".to_owned());
        }
        Ok(PgTarget {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            user,
            dbname,
            password: None,
            sslmode,
            sslrootcert,
        })
    }

    /// `user@host:port`, for messages (never the password).
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
        }
    }

    /// The URL without a password, for messages.
    pub fn display_url(&self) -> String {
        format!("postgres://{}/{}", self.server(), self.dbname)
    }

    /// Connects as [`PgTarget::client_config`] says, over TLS when `sslmode` asks for it (the
    /// rustls configuration from `linkpulse_probe::tls`, the one place that builds them).
    pub(crate) fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        use linkpulse_probe::tls::{Alpn, TlsConfigs};
        let insecure = match self.sslmode {
            SslMode::Disable => return self.client_config().connect(postgres::NoTls),
            SslMode::Require => true,
            SslMode::VerifyFull => false,
        };
        let tls = match TlsConfigs::shared().get(self.sslrootcert.as_deref(), insecure, Alpn::None)
        {
            Ok(config) => Some((*config).clone()),
            Err(e) => {
                // Checked when the config was loaded; if the CA file went away since, the
                // connection fails ("TLS required") rather than fall back to plain text.
                tracing::warn!(error = %e, "PostgreSQL TLS: no usable CA");
                None
            }
        };
        let mut c = self.client_config();
        c.ssl_mode(postgres::config::SslMode::Require);
        match tls {
            Some(config) => c.connect(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
            None => c.connect(postgres::NoTls),
        }
    }

    /// The client configuration: connect timeout, TCP keepalives, application name.
    pub(crate) fn client_config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("linkpulse")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            // A server that stops answering (host down, path cut) fails a statement after
            // this, instead of leaving the writer or the cluster's lease renewal hanging for
            // the kernel's ~15 minutes of retransmissions.
            .tcp_user_timeout(Duration::from_secs(10));
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }
}

/// Percent-decodes a user or database name of the URL.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_server_and_database() {
        let t = PgTarget::parse_url("postgres://lp@db.example:6543/history").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str(), t.dbname.as_str()),
            ("db.example", 6543, "lp", "history")
        );
        assert_eq!(t.display_url(), "postgres://lp@db.example:6543/history");
        let t = PgTarget::parse_url("postgresql://lp@127.0.0.1/h").unwrap();
        assert_eq!(t.port, 5432);
        let t = PgTarget::parse_url("postgres://l%40p@[::1]:5/h%2Bx").unwrap();
        assert_eq!((t.user.as_str(), t.dbname.as_str()), ("l@p", "h+x"));
        assert_eq!(t.server(), "l@p@[::1]:5");
    }

    #[test]
    fn bad_urls_name_the_problem() {
        for (url, want) in [
            ("postgres://lp@host:5432/", "no database"),
            ("postgres://lp@host:5432", "no database"),
            ("postgres://host:5432/db", "no user"),
            ("postgres://lp:secret@host/db", "holds a password"),
            ("postgres://lp@host:99999/db", "invalid URL"),
            (
                "postgres://lp@host/db?sslmode=allow",
                "unsupported sslmode \"allow\"",
            ),
            (
                "postgres://lp@host/db?application_name=x",
                "\"application_name\"",
            ),
            ("postgres://lp@/db", "invalid URL"),
        ] {
            let err = PgTarget::parse_url(url).unwrap_err();
            assert!(err.contains(want), "{url}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn the_password_is_never_printed() {
        let mut t = PgTarget::parse_url("postgres://lp@h/d").unwrap();
        t.password = Some("hunter2".into());
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(!t.display_url().contains("hunter2"));
    }
}
