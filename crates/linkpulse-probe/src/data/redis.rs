//! The Redis check: `AUTH` when a password is given, `SELECT` for a database in the URL path,
//! then `PING` → `+PONG` and, when a primary is required, `ROLE` → `master`; run as a [`Script`] of RESP commands over the TCP dialogue runner
//! (TLS on connect for `rediss://`).

use crate::conversation::{Peer, talk};
use crate::dialogue::{DialogueFailure, Script, Step};
use crate::net::ms;
use crate::tls::TlsConfigs;
use crate::{ErrorKind, ProbeKind, ProbeOptions, ProbeResult, TargetError};

use super::{DataTarget, connect, error};

/// Rejects what a Redis URL cannot hold: a path other than a database number, a query.
pub(super) fn check_url(url: &url::Url) -> Result<(), TargetError> {
    database(url)?;
    if let Some(q) = url.query() {
        return Err(TargetError::Trailing {
            extra: format!("?{q}"),
        });
    }
    Ok(())
}

/// The database number of the URL path (`/2`), if any.
fn database(url: &url::Url) -> Result<Option<u32>, TargetError> {
    let path = url.path().trim_start_matches('/');
    if path.is_empty() {
        return Ok(None);
    }
    path.parse::<u32>()
        .map(Some)
        .map_err(|_| TargetError::Trailing {
            extra: format!("/{path} (a Redis database is a number)"),
        })
}

/// A command in RESP: an array of bulk strings.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The line of `ROLE`'s reply on a replica (or a sentinel): not a primary.
const NOT_PRIMARY: &str = "^(slave|replica|sentinel)$";

/// The script: `AUTH`, `SELECT`, `PING`, with `require_primary` `ROLE`; each reply checked
/// (an error reply ends it).
fn script(
    user: Option<&str>,
    password: Option<&str>,
    db: Option<u32>,
    require_primary: bool,
) -> Script {
    let mut steps = Vec::new();
    let reply = |pattern: &str| {
        Step::expect(pattern)
            .and_then(|s| s.fail_on("^-"))
            .unwrap_or_else(|_| Step::empty())
    };
    let mut next_send = None;
    if let Some(password) = password {
        next_send = Some(match user {
            Some(user) => resp(&["AUTH", user, password]),
            None => resp(&["AUTH", password]),
        });
    }
    let push = |send: Vec<u8>, expect: &str, steps: &mut Vec<Step>| {
        steps.push(Step::send_raw(send));
        steps.push(reply(expect));
    };
    if let Some(send) = next_send.take() {
        push(send, "^\\+OK", &mut steps);
    }
    if let Some(db) = db {
        push(resp(&["SELECT", &db.to_string()]), "^\\+OK", &mut steps);
    }
    push(resp(&["PING"]), "^\\+PONG", &mut steps);
    if require_primary {
        steps.push(Step::send_raw(resp(&["ROLE"])));
        steps.push(
            Step::expect("^master$")
                .and_then(|s| s.fail_on(&format!("^-|{NOT_PRIMARY}")))
                .unwrap_or_else(|_| Step::empty()),
        );
    }
    steps.push(Step::send_raw(resp(&["QUIT"])));
    Script::new(steps)
}

/// The kind of a Redis error reply (`-WRONGPASS …`, `-LOADING …`).
fn classify(line: &str) -> ErrorKind {
    let word = line.trim_start_matches('-');
    let upper = word.to_ascii_uppercase();
    if ["WRONGPASS", "NOAUTH", "NOPERM"]
        .iter()
        .any(|w| upper.starts_with(w))
        || upper.starts_with("ERR INVALID PASSWORD")
        || upper.starts_with("ERR AUTH")
        || upper.starts_with("ERR CLIENT SENT AUTH")
    {
        ErrorKind::Auth
    } else if upper.starts_with("LOADING") {
        ErrorKind::Starting
    } else {
        ErrorKind::Query
    }
}

/// Probes a Redis server.
pub(super) async fn probe(
    configs: &'static TlsConfigs,
    target: &DataTarget,
    label: String,
    opts: &ProbeOptions,
) -> ProbeResult {
    let mut result = ProbeResult::empty(label, ProbeKind::Redis);
    let start = tokio::time::Instant::now();
    let db = database(&target.url).ok().flatten();
    let password = opts.data.password.clone().or_else(|| target.url_password());
    let user = target.url_user();
    let script = script(
        user.as_deref(),
        password.as_deref(),
        db,
        opts.data.require_primary,
    );
    let Some(conn) = connect(target, opts, &mut result).await else {
        return result;
    };
    let peer = Peer {
        configs,
        host: &conn.host,
        addr: conn.addr,
        tls: &opts.data.tls,
        deadline: conn.deadline,
        budget: opts.timeout,
    };
    let talk = talk(&peer, conn.stream, target.tls_on_connect(), &script).await;
    result.latency_ms = Some(ms(start.elapsed()));
    result.tls = talk.tls.map(Box::new);
    result.error = match (talk.failure, talk.error) {
        (Some(DialogueFailure::Refused { line, .. }), _)
            if regex::Regex::new(NOT_PRIMARY).is_ok_and(|re| re.is_match(&line)) =>
        {
            Some(error(
                ErrorKind::ReadOnly,
                "redis",
                conn.addr,
                format!(
                    "the server is a {line} (ROLE), and the check requires a primary \
                     (require_primary)"
                ),
            ))
        }
        (Some(DialogueFailure::Refused { line, .. }), _) => {
            let kind = classify(&line);
            let what = match kind {
                ErrorKind::Auth => "authentication failed",
                ErrorKind::Starting => "the server is starting up",
                _ => "the server refused the command",
            };
            let line = line.trim_start_matches('-');
            Some(error(kind, "redis", conn.addr, format!("{what}: {line}")))
        }
        (Some(DialogueFailure::NoMatch { last_line, .. }), _) => Some(error(
            ErrorKind::Protocol,
            "redis",
            conn.addr,
            match last_line {
                Some(l) => format!("not a Redis reply: {l:?}"),
                None => "the connection closed without a reply".to_owned(),
            },
        )),
        (_, e) => e,
    };
    if result.error.is_none() {
        result.up = true;
        result.warning = crate::tls::expiry_warning(opts, result.tls.as_deref(), target.host());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(resp(&["PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            resp(&["AUTH", "p w"]),
            b"*2\r\n$4\r\nAUTH\r\n$3\r\np w\r\n".to_vec()
        );
    }

    #[test]
    fn error_replies_are_classified() {
        assert_eq!(
            classify("-WRONGPASS invalid username-password pair"),
            ErrorKind::Auth
        );
        assert_eq!(
            classify("-NOAUTH Authentication required."),
            ErrorKind::Auth
        );
        assert_eq!(
            classify("-ERR AUTH <password> called without any password configured"),
            ErrorKind::Auth
        );
        assert_eq!(
            classify("-LOADING Redis is loading the dataset in memory"),
            ErrorKind::Starting
        );
        assert_eq!(classify("-ERR DB index is out of range"), ErrorKind::Query);
    }

    #[test]
    fn urls_hold_only_a_database_number() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(database(&url("redis://h:1/3")), Ok(Some(3)));
        assert_eq!(database(&url("redis://h:1")), Ok(None));
        assert!(check_url(&url("redis://h:1/x")).is_err());
        assert!(check_url(&url("redis://h:1/?a=b")).is_err());
    }
}
