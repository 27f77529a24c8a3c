//! The data checks' modules: `postgres:`, `mysql:` and `redis:` (a database asked in its own
//! protocol). `mysql:` takes the keys of `postgres:` (no `tls_config`: plain connections only).
//!
//! ```yaml
//! - name: orders-db
//!   postgres:
//!     url: postgres://monitor@db.internal:5432/orders
//!     password_file: secrets/pg-monitor   # or password_env: PG_MONITOR_PASSWORD
//!     query: SELECT 1 FROM orders LIMIT 1 # default SELECT 1
//!     require_primary: true               # a standby or read-only server is down
//! - name: cache
//!   redis: { url: "rediss://cache.internal:6380", password_env: REDIS_PASSWORD }
//! ```
//!
//! The password is read when the config is loaded (a missing file or variable is an error
//! with its line) and is never shown: the target is the URL with any password masked.

use std::fmt;
use std::path::Path;

use linkpulse_probe::{DataKind, DataTarget};
use serde::Deserialize;

use super::collect::Errors;
use super::dialogue::{RawTlsConfig, TlsSettings, tls_settings};
use super::spanned::S;

/// A validated data check.
#[derive(Clone, PartialEq)]
pub struct DataSpec {
    /// The protocol.
    pub kind: DataKind,
    /// The URL as written (it may hold a password: show [`DataSpec::target`]).
    pub url: String,
    /// The password read from `password_file` or `password_env`.
    pub password: Option<String>,
    /// PostgreSQL: the query instead of `SELECT 1`.
    pub query: Option<String>,
    /// PostgreSQL: a standby or a read-only server is down (`read_only`).
    pub require_primary: bool,
    /// TLS settings (`rediss://`, `sslmode=require`).
    pub tls: TlsSettings,
}

impl DataSpec {
    /// The URL with any password masked, as shown, stored and sent.
    pub fn target(&self) -> String {
        linkpulse_probe::redact::Redactor::default()
            .url(&self.url)
            .into_owned()
    }

    /// The probe library's options.
    pub fn options(&self) -> linkpulse_probe::DataOptions {
        linkpulse_probe::DataOptions {
            password: self.password.clone(),
            query: self.query.clone(),
            require_primary: self.require_primary,
            tls: self.tls.options(),
        }
    }
}

impl fmt::Debug for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSpec")
            .field("kind", &self.kind)
            .field("url", &self.target())
            .field(
                "password",
                &self
                    .password
                    .as_ref()
                    .map(|_| linkpulse_probe::redact::MASK),
            )
            .field("query", &self.query)
            .field("require_primary", &self.require_primary)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `postgres:` (and `mysql:`) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPostgres {
    url: S<String>,
    password_file: Option<S<String>>,
    password_env: Option<S<String>>,
    query: Option<S<String>>,
    require_primary: Option<bool>,
    tls_config: Option<S<RawTlsConfig>>,
}

/// `redis:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedis {
    url: S<String>,
    password_file: Option<S<String>>,
    password_env: Option<S<String>>,
    require_primary: Option<bool>,
    tls_config: Option<S<RawTlsConfig>>,
}

/// Validates `postgres:` at `path` (`checks[0].postgres`).
pub(crate) fn postgres(
    e: &mut Errors<'_>,
    raw: &RawPostgres,
    path: &str,
    base: &Path,
) -> Option<DataSpec> {
    postgres_like(e, DataKind::Postgres, raw, path, base)
}

/// `postgres:` and `mysql:`: URL, password, query, require_primary.
fn postgres_like(
    e: &mut Errors<'_>,
    kind: DataKind,
    raw: &RawPostgres,
    path: &str,
    base: &Path,
) -> Option<DataSpec> {
    let query = match &raw.query {
        Some(q) if q.value.trim().is_empty() => {
            e.at(q, format!("{path}.query"), "empty query");
            None
        }
        Some(q) => Some(Some(q.value.clone())),
        None => Some(None),
    };
    let common = common(
        e,
        kind,
        Common {
            url: &raw.url,
            password_file: raw.password_file.as_ref(),
            password_env: raw.password_env.as_ref(),
            tls_config: raw.tls_config.as_ref(),
        },
        path,
        base,
    );
    let (mut spec, query) = (common?, query?);
    spec.query = query;
    spec.require_primary = raw.require_primary.unwrap_or(false);
    Some(spec)
}

/// Validates `mysql:` at `path` (`checks[0].mysql`): the keys of `postgres:`, without TLS.
pub(crate) fn mysql(
    e: &mut Errors<'_>,
    raw: &RawPostgres,
    path: &str,
    base: &Path,
) -> Option<DataSpec> {
    if let Some(t) = &raw.tls_config {
        e.at(
            t,
            format!("{path}.tls_config"),
            "TLS is not implemented for mysql checks",
        );
        return None;
    }
    postgres_like(e, DataKind::Mysql, raw, path, base)
}

/// Validates `redis:` at `path` (`checks[0].redis`).
pub(crate) fn redis(
    e: &mut Errors<'_>,
    raw: &RawRedis,
    path: &str,
    base: &Path,
) -> Option<DataSpec> {
    let mut spec = common(
        e,
        DataKind::Redis,
        Common {
            url: &raw.url,
            password_file: raw.password_file.as_ref(),
            password_env: raw.password_env.as_ref(),
            tls_config: raw.tls_config.as_ref(),
        },
        path,
        base,
    )?;
    spec.require_primary = raw.require_primary.unwrap_or(false);
    Some(spec)
}

/// The keys both modules have.
struct Common<'a> {
    url: &'a S<String>,
    password_file: Option<&'a S<String>>,
    password_env: Option<&'a S<String>>,
    tls_config: Option<&'a S<RawTlsConfig>>,
}

fn common(
    e: &mut Errors<'_>,
    kind: DataKind,
    raw: Common<'_>,
    path: &str,
    base: &Path,
) -> Option<DataSpec> {
    let mut ok = true;
    let url = raw.url.value.trim().to_owned();
    let masked = linkpulse_probe::redact::Redactor::default()
        .url(&url)
        .into_owned();
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let scheme_fits = match kind {
        DataKind::Postgres => matches!(scheme.as_str(), "postgres" | "postgresql"),
        DataKind::Mysql => matches!(scheme.as_str(), "mysql" | "mariadb"),
        DataKind::Redis => matches!(scheme.as_str(), "redis" | "rediss"),
    };
    if !scheme_fits {
        // Not `postgres://USER@…`: config errors pass through the URL masker, which hides any
        // user name after `://`.
        let want = match kind {
            DataKind::Postgres => {
                "postgres://HOST[:PORT]/DB with the user before the host (USER@HOST)"
            }
            DataKind::Redis => "redis://HOST[:PORT] or rediss://HOST[:PORT]",
            DataKind::Mysql => "mysql://HOST[:PORT]/DB with the user before the host (USER@HOST)",
        };
        e.at(
            raw.url,
            format!("{path}.url"),
            format!("{masked:?}: expected {want}"),
        );
        ok = false;
    } else if let Err(err) = DataTarget::parse(&url) {
        e.at(raw.url, format!("{path}.url"), format!("{masked:?}: {err}"));
        ok = false;
    }
    let password = match (raw.password_file, raw.password_env) {
        (Some(f), Some(_)) => {
            e.at(
                f,
                format!("{path}.password_file"),
                "give password_file or password_env, not both",
            );
            None
        }
        (Some(f), None) => {
            let key = format!("{path}.password_file");
            match super::files::read_text(e, base, f, &key) {
                Some((file, text)) => match text.lines().next().filter(|l| !l.is_empty()) {
                    Some(line) => Some(Some(line.to_owned())),
                    None => {
                        e.at(
                            f,
                            key,
                            format!(
                                "{} is empty (its first line is the password)",
                                file.display()
                            ),
                        );
                        None
                    }
                },
                None => None,
            }
        }
        (None, Some(v)) => {
            let var = v.value.trim();
            match std::env::var(var) {
                Ok(p) if !p.is_empty() => Some(Some(p)),
                Ok(_) => {
                    e.at(
                        v,
                        format!("{path}.password_env"),
                        format!("the environment variable {var} is empty"),
                    );
                    None
                }
                Err(_) => {
                    e.at(
                        v,
                        format!("{path}.password_env"),
                        format!("the environment variable {var} is not set"),
                    );
                    None
                }
            }
        }
        (None, None) => Some(None),
    };
    let tls = tls_settings(e, raw.tls_config, &format!("{path}.tls_config"), base);
    let (password, tls) = (password?, tls?);
    ok.then_some(DataSpec {
        kind,
        url,
        password,
        query: None,
        require_primary: false,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use linkpulse_probe::DataKind;

    use crate::config::{CheckKind, CheckSpec, Config};

    fn parse(text: &str, base: &Path) -> Result<Config, Vec<String>> {
        Config::parse("t.yaml", text, base)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn data_checks_read_their_password_and_mask_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret-pg\nignored\n").unwrap();
        let c = parse(
            "checks:\n  - name: pg\n    postgres: { url: 'postgres://app@db.test/app', password_file: pw, query: 'SELECT 2', require_primary: true }\n  - name: cache\n    redis: { url: 'rediss://:inline-secret@cache.test:6380' }\n  - name: maria\n    mysql: { url: 'mysql://monitor@db.test/app', password_file: pw }\n",
            dir.path(),
        )
        .unwrap();
        let CheckSpec::Data(pg) = &c.checks[0].spec else {
            panic!("{:?}", c.checks[0].spec);
        };
        assert_eq!(pg.kind, DataKind::Postgres);
        assert_eq!(pg.password.as_deref(), Some("s3cret-pg"));
        assert_eq!(pg.query.as_deref(), Some("SELECT 2"));
        assert!(pg.require_primary);
        assert!(
            !format!("{c:?}").contains("s3cret-pg"),
            "Debug shows the password"
        );
        assert_eq!(c.checks[1].spec.kind(), CheckKind::Redis);
        assert_eq!(c.checks[1].spec.target(), "rediss://:***@cache.test:6380");
        assert!(!format!("{c:?}").contains("inline-secret"));
        assert_eq!(c.checks[2].spec.kind(), CheckKind::Mysql);
    }

    #[test]
    fn every_data_problem_names_its_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let e = parse(
            "checks:\n  - name: a\n    postgres: { url: 'redis://h', password_file: missing }\n  - name: b\n    redis: { url: 'redis://:pw@h/x', password_env: LINKPULSE_TEST_SURELY_UNSET_VAR }\n  - name: c\n    postgres: { url: 'postgres://u@h/d', password_file: empty, password_env: X, query: ' ' }\n  - name: d\n    mysql: { url: 'mysql://u@h/d', tls_config: { insecure_skip_verify: true } }\n",
            dir.path(),
        )
        .unwrap_err();
        let want = [
            "t.yaml:3: checks[0].postgres.url: \"redis://h\": expected postgres://HOST[:PORT]/DB with the user before the host (USER@HOST)",
            "t.yaml:3: checks[0].postgres.password_file: ",
            "t.yaml:5: checks[1].redis.url: \"redis://:***@h/x\": ",
            "t.yaml:5: checks[1].redis.password_env: the environment variable LINKPULSE_TEST_SURELY_UNSET_VAR is not set",
            "t.yaml:7: checks[2].postgres.query: empty query",
            "t.yaml:7: checks[2].postgres.password_file: give password_file or password_env, not both",
            "t.yaml:9: checks[3].mysql.tls_config: TLS is not implemented for mysql checks",
        ];
        for w in want {
            assert!(e.iter().any(|e| e.starts_with(w)), "{w}\n{e:#?}");
        }
        // Stage one stops at an unknown key (redis has no `query`).
        let e = parse(
            "checks:\n  - name: e\n    redis: { url: 'redis://h', query: 'x' }\n",
            dir.path(),
        )
        .unwrap_err();
        assert!(e[0].contains("unknown field `query`"), "{e:?}");
    }
}
