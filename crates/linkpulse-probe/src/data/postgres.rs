//! The PostgreSQL check with tokio-postgres: connect, authenticate, run `SELECT 1` (or the
//! given query) and, when a primary is required, ask `pg_is_in_recovery()` and
//! `transaction_read_only`.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{Config, SimpleQueryMessage};

use crate::net::{classify_io, human, ms, os_reason};
use crate::tls::{Alpn, TlsConfigs};
use crate::{ErrorKind, ProbeError, ProbeKind, ProbeOptions, ProbeResult, TargetError};

use super::{DataTarget, connect, error};

/// The query run when none is given.
pub(super) const DEFAULT_QUERY: &str = "SELECT 1";

/// The user when the URL names none.
pub(super) const DEFAULT_USER: &str = "postgres";

/// `sslmode` of the URL: plain or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Require,
}

/// Rejects query parameters other than `sslmode=disable|require`.
pub(super) fn check_url(url: &url::Url) -> Result<(), TargetError> {
    ssl_mode(url).map(|_| ())
}

fn ssl_mode(url: &url::Url) -> Result<SslMode, TargetError> {
    let mut mode = SslMode::Disable;
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("sslmode", "disable") => mode = SslMode::Disable,
            ("sslmode", "require") => mode = SslMode::Require,
            ("sslmode", other) => {
                return Err(TargetError::InvalidUrl {
                    reason: format!("sslmode `{other}`: expected disable or require"),
                });
            }
            (other, _) => {
                return Err(TargetError::InvalidUrl {
                    reason: format!("unknown parameter `{other}`: only sslmode is supported"),
                });
            }
        }
    }
    Ok(mode)
}

/// Probes a PostgreSQL server.
pub(super) async fn probe(
    configs: &'static TlsConfigs,
    target: &DataTarget,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Postgres);
    let start = tokio::time::Instant::now();
    let mut config = Config::new();
    let user = target.url_user().unwrap_or_else(|| DEFAULT_USER.to_owned());
    let db = target.url.path().trim_start_matches('/');
    let db = percent_encoding::percent_decode_str(db).decode_utf8_lossy();
    config
        .user(&user)
        .dbname(if db.is_empty() { user.as_str() } else { &db })
        .application_name("linkpulse");
    if let Some(password) = opts.data.password.clone().or_else(|| target.url_password()) {
        config.password(password);
    }
    let mode = ssl_mode(&target.url).unwrap_or(SslMode::Disable);
    let Some(conn) = connect(target, opts, &mut result).await else {
        return result;
    };
    let addr = conn.addr;
    let query = opts.data.query.as_deref().unwrap_or(DEFAULT_QUERY);
    let require_primary = opts.data.require_primary;
    let work = async {
        match mode {
            SslMode::Disable => {
                session(
                    &config,
                    conn.stream,
                    tokio_postgres::NoTls,
                    query,
                    require_primary,
                )
                .await
            }
            SslMode::Require => {
                let tls = configs
                    .get(
                        opts.data.tls.ca_file.as_deref(),
                        opts.data.tls.insecure,
                        Alpn::None,
                    )
                    .map_err(|e| Failure::Probe(ProbeError::new(ErrorKind::Tls, e.to_string())))?;
                let mut make = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
                let name = opts
                    .data
                    .tls
                    .server_name
                    .clone()
                    .unwrap_or_else(|| conn.host.to_string());
                let connector = <tokio_postgres_rustls::MakeRustlsConnect as
                    tokio_postgres::tls::MakeTlsConnect<TcpStream>>::make_tls_connect(
                    &mut make, &name,
                )
                .map_err(|e| {
                    Failure::Probe(ProbeError::new(
                        ErrorKind::Tls,
                        format!("{name} is not a valid TLS server name: {e}"),
                    ))
                })?;
                session(&config, conn.stream, connector, query, require_primary).await
            }
        }
    };
    let outcome = match tokio::time::timeout_at(conn.deadline, work).await {
        Err(_) => Err(Failure::Probe(error(
            ErrorKind::Timeout,
            "postgres",
            addr,
            format!("no answer within {}", human(opts.timeout)),
        ))),
        Ok(o) => o,
    };
    result.latency_ms = Some(ms(start.elapsed()));
    match outcome {
        Ok(()) => result.up = true,
        Err(Failure::Probe(e)) => result.error = Some(e),
        Err(Failure::Pg(e)) => result.error = Some(classify(&e, addr, &user)),
        Err(Failure::ReadOnly(why)) => {
            result.error = Some(error(
                ErrorKind::ReadOnly,
                "postgres",
                addr,
                format!("{why}, and the check requires a primary (require_primary)"),
            ));
        }
    }
    result
}

/// Why a session failed.
enum Failure {
    /// Said by the server or the driver.
    Pg(tokio_postgres::Error),
    /// Read-only where a primary is required: why.
    ReadOnly(&'static str),
    /// Found by linkpulse itself.
    Probe(ProbeError),
}

/// Authenticates over `stream`, runs `query` and, with `require_primary`, the read-only test.
async fn session<T>(
    config: &Config,
    stream: TcpStream,
    tls: T,
    query: &str,
    require_primary: bool,
) -> Result<(), Failure>
where
    T: TlsConnect<TcpStream>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect_raw(stream, tls).await.map_err(Failure::Pg)?;
    let work = async {
        client.simple_query(query).await.map_err(Failure::Pg)?;
        if require_primary {
            let rows = client
                .simple_query(
                    "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')",
                )
                .await
                .map_err(Failure::Pg)?;
            for message in rows {
                if let SimpleQueryMessage::Row(row) = message {
                    if row.get(0) == Some("t") {
                        return Err(Failure::ReadOnly("the server is a standby in recovery"));
                    }
                    if row.get(1) == Some("on") {
                        return Err(Failure::ReadOnly("transactions are read-only"));
                    }
                }
            }
        }
        Ok(())
    };
    tokio::pin!(connection);
    tokio::select! {
        r = work => r,
        r = &mut connection => match r {
            Err(e) => Err(Failure::Pg(e)),
            Ok(()) => Err(Failure::Probe(ProbeError::new(
                ErrorKind::Reset,
                "the server closed the connection",
            ))),
        },
    }
}

/// Classifies an error of tokio-postgres; `user` is named in an authentication failure.
fn classify(e: &tokio_postgres::Error, addr: SocketAddr, user: &str) -> ProbeError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let kind = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            ErrorKind::Auth
        } else if *code == SqlState::CANNOT_CONNECT_NOW {
            ErrorKind::Starting
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            ErrorKind::Refused
        } else {
            ErrorKind::Query
        };
        let mut message = match kind {
            ErrorKind::Auth => format!("authentication of user {user:?} failed: {}", db.message()),
            _ => db.message().to_owned(),
        };
        if let Some(detail) = db.detail() {
            message.push_str(" — ");
            message.push_str(detail);
        }
        message.push_str(&format!(" (SQLSTATE {})", code.code()));
        return error(kind, "postgres", addr, message);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let kind = match classify_io(io) {
                ErrorKind::Protocol => ErrorKind::Tls,
                k => k,
            };
            return error(kind, "postgres", addr, os_reason(io));
        }
        source = s.source();
    }
    // The whole chain: tokio-postgres's `Display` names only the kind of a config error.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("password missing") {
        return error(
            ErrorKind::Auth,
            "postgres",
            addr,
            format!(
                "the server asks a password for user {user:?} and none was given \
                 (password_file, password_env)"
            ),
        );
    }
    if e.is_closed() {
        return error(
            ErrorKind::Reset,
            "postgres",
            addr,
            "the server closed the connection",
        );
    }
    if text.contains("TLS") || text.contains("tls") || text.contains("SSL") {
        return error(ErrorKind::Tls, "postgres", addr, text);
    }
    error(ErrorKind::Protocol, "postgres", addr, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sslmode_is_accepted_in_the_url() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(ssl_mode(&url("postgres://u@h/db")), Ok(SslMode::Disable));
        assert_eq!(
            ssl_mode(&url("postgres://u@h/db?sslmode=require")),
            Ok(SslMode::Require)
        );
        let e = check_url(&url("postgres://u@h/db?sslmode=verify-full")).unwrap_err();
        assert!(e.to_string().contains("sslmode `verify-full`"), "{e}");
        let e = check_url(&url("postgres://u@h/db?connect_timeout=3")).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown parameter `connect_timeout`"),
            "{e}"
        );
    }
}
