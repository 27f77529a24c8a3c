//! The MySQL / MariaDB check with mysql_async: handshake and authentication, `SELECT 1` (or
//! the given query) and, when a primary is required, `@@global.read_only`.

use mysql_async::prelude::Queryable;

use crate::net::{classify_io, human, ms, os_reason, resolve};
use crate::{ErrorKind, ProbeError, ProbeKind, ProbeOptions, ProbeResult, TargetError};

use super::{DataTarget, error};

/// The user when the URL names none.
const DEFAULT_USER: &str = "root";

/// MySQL's `ER_ACCESS_DENIED_ERROR`, `ER_DBACCESS_DENIED_ERROR`,
/// `ER_ACCESS_DENIED_NO_PASSWORD_ERROR`: credentials refused.
const AUTH_CODES: [u16; 3] = [1045, 1044, 1698];

/// `ER_CON_COUNT_ERROR`, `ER_TOO_MANY_USER_CONNECTIONS`: no connection slot.
const FULL_CODES: [u16; 2] = [1040, 1203];

/// `ER_SERVER_SHUTDOWN`, and MariaDB's "server is starting / not yet ready" replies.
const STARTING_CODES: [u16; 2] = [1053, 1927];

/// Rejects what a MySQL URL cannot hold here: query parameters.
pub(super) fn check_url(url: &url::Url) -> Result<(), TargetError> {
    if let Some(q) = url.query() {
        return Err(TargetError::InvalidUrl {
            reason: format!("unexpected `?{q}`: a mysql:// URL takes no parameters"),
        });
    }
    Ok(())
}

/// Probes a MySQL or MariaDB server.
pub(super) async fn probe(target: &DataTarget, label: String, opts: &ProbeOptions) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Mysql);
    let start = tokio::time::Instant::now();
    let ips = match resolve(&target.host(), opts.family, opts.dns_timeout).await {
        Ok(ips) => ips,
        Err(e) => return result.fail(e.kind, e.message),
    };
    let Some(&ip) = ips.first() else {
        return result.fail(ErrorKind::Dns, "no address");
    };
    result.resolved = Some(ip);
    let addr = std::net::SocketAddr::new(ip, target.port());
    let user = target.url_user().unwrap_or_else(|| DEFAULT_USER.to_owned());
    let db = target.url.path().trim_start_matches('/');
    let db = percent_encoding::percent_decode_str(db)
        .decode_utf8_lossy()
        .into_owned();
    let password = opts.data.password.clone().or_else(|| target.url_password());
    let builder = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ip.to_string())
        .tcp_port(target.port())
        .prefer_socket(false)
        .user(Some(user.clone()))
        .pass(password)
        .db_name((!db.is_empty()).then_some(db));
    let query = opts.data.query.as_deref().unwrap_or("SELECT 1");
    let require_primary = opts.data.require_primary;
    let work = async {
        let mut conn = mysql_async::Conn::new(builder).await?;
        let _: Vec<mysql_async::Row> = conn.query(query).await?;
        let read_only = if require_primary {
            conn.query_first::<i64, _>("SELECT @@global.read_only")
                .await?
                .unwrap_or(0)
                != 0
        } else {
            false
        };
        let _ = conn.disconnect().await;
        Ok::<bool, mysql_async::Error>(read_only)
    };
    let outcome = tokio::time::timeout(opts.timeout, work).await;
    result.latency_ms = Some(ms(start.elapsed()));
    match outcome {
        Err(_) => {
            result.error = Some(error(
                ErrorKind::Timeout,
                "mysql",
                addr,
                format!("no answer within {}", human(opts.timeout)),
            ));
        }
        Ok(Ok(false)) => result.up = true,
        Ok(Ok(true)) => {
            result.error = Some(error(
                ErrorKind::ReadOnly,
                "mysql",
                addr,
                "the server is read-only (@@global.read_only, a replica), and the check \
                 requires a primary (require_primary)",
            ));
        }
        Ok(Err(e)) => result.error = Some(classify(&e, addr, &user)),
    }
    result
}

/// Classifies an error of mysql_async; `user` is named in an authentication failure.
fn classify(e: &mysql_async::Error, addr: std::net::SocketAddr, user: &str) -> ProbeError {
    match e {
        mysql_async::Error::Server(s) => {
            let kind = if AUTH_CODES.contains(&s.code) {
                ErrorKind::Auth
            } else if FULL_CODES.contains(&s.code) {
                ErrorKind::Refused
            } else if STARTING_CODES.contains(&s.code) {
                ErrorKind::Starting
            } else {
                ErrorKind::Query
            };
            let what = match kind {
                ErrorKind::Auth => format!("authentication of user {user:?} failed: "),
                _ => String::new(),
            };
            error(
                kind,
                "mysql",
                addr,
                format!(
                    "{what}{} (error {}, SQLSTATE {})",
                    s.message, s.code, s.state
                ),
            )
        }
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            let kind = match classify_io(io) {
                ErrorKind::Protocol => ErrorKind::Reset,
                k => k,
            };
            let message = match kind {
                ErrorKind::Refused => "connection refused".to_owned(),
                _ => os_reason(io),
            };
            error(kind, "mysql", addr, message)
        }
        other => error(ErrorKind::Protocol, "mysql", addr, other),
    }
}
