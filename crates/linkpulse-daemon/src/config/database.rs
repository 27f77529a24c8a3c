//! `database:`: the SQLite file or the PostgreSQL URL (with its password file), and what cluster mode needs of it.

use std::path::{Path, PathBuf};

use super::collect::Errors;
use super::files;
use super::raw::RawConfig;

use crate::storage::Backend;
use crate::storage::postgres::PgTarget;

/// `database` (a SQLite path or a PostgreSQL URL) and `database_password_file` (read now,
/// relative to `base`): the setting as written and the backend it names.
pub(super) fn database(
    e: &mut Errors<'_>,
    raw: &RawConfig,
    base: &Path,
) -> Option<(PathBuf, Backend)> {
    let text = raw
        .database
        .as_ref()
        .map_or("linkpulse.db", |d| d.value.trim());
    let password = raw
        .database_password_file
        .as_ref()
        .filter(|_| PgTarget::is_url(text));
    let password = password.and_then(|f| {
        let (path, t) = files::read_text(e, base, f, "database_password_file")?;
        if t.trim_end_matches(['\r', '\n']).is_empty() {
            e.at(
                f,
                "database_password_file",
                format!("{} is empty", path.display()),
            );
            return None;
        }
        Some(t.trim_end_matches(['\r', '\n']).to_owned())
    });
    match &raw.database {
        Some(d) if text.is_empty() => {
            e.at(d, "database", "the database path is empty");
            return None;
        }
        Some(d) if PgTarget::is_url(text) => {
            return match PgTarget::parse_url(text) {
                Ok(mut target) => {
                    target.password = password;
                    // A CA file is relative to the config's directory, and loaded now.
                    if let Some(ca) = &mut target.sslrootcert {
                        *ca = base.join(&*ca);
                        if let Err(err) = linkpulse_probe::load_ca_file(ca) {
                            e.at(d, "database", format!("sslrootcert: {err}"));
                            return None;
                        }
                    }
                    if raw.database_password_file.is_some() && target.password.is_none() {
                        return None;
                    }
                    Some((PathBuf::from(text), Backend::Postgres(target)))
                }
                Err(why) => {
                    e.at(
                        d,
                        "database",
                        format!(
                            "invalid PostgreSQL URL {:?}: {why}",
                            linkpulse_probe::redact::Redactor::default().url(text)
                        ),
                    );
                    None
                }
            };
        }
        _ => {}
    }
    if let Some(f) = &raw.database_password_file {
        e.at(
            f,
            "database_password_file",
            format!("only a PostgreSQL database takes a password (database is {text:?})"),
        );
        return None;
    }
    Some((PathBuf::from(text), Backend::Sqlite(PathBuf::from(text))))
}
