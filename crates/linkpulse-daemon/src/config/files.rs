//! Files named in the config (`*_file` keys): one rule for all of them.
//!
//! A relative path is taken from the directory of the config file — never from the working
//! directory, so `config check` run anywhere and `serve` started by systemd read the same
//! file. Every file is read while the config is validated (so a missing or bad file is an
//! error with its line, from `config check` and `serve` alike), and read only if it is a
//! regular file of bounded size (a FIFO or `/dev/zero` is an error naming it, at once).
//!
//! A new `*_file` key plugs in with [`resolve`] plus [`read_text`] (or the reader of its
//! format, given the resolved path), called from its validator.

use std::path::{Path, PathBuf};

use linkpulse_sys::file::{SMALL_FILE_LIMIT, read_regular_to_string};

use super::collect::Errors;
use super::spanned::S;

/// The path that `value` (as written in the config) names: relative to `base`, the config
/// file's directory.
pub(crate) fn resolve(base: &Path, value: &str) -> PathBuf {
    base.join(value.trim())
}

/// Reads the text file that `s` names (resolved with [`resolve`]); a problem is reported at
/// the line of `s` under `key`. Returns the resolved path and the text.
pub(crate) fn read_text(
    e: &mut Errors<'_>,
    base: &Path,
    s: &S<String>,
    key: &str,
) -> Option<(PathBuf, String)> {
    let path = resolve(base, &s.value);
    match read_regular_to_string(&path, SMALL_FILE_LIMIT) {
        Ok(text) => Some((path, text)),
        Err(err) => {
            e.at(s, key, err.to_string());
            None
        }
    }
}
