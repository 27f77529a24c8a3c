//! The bearer token that `status` and `nodes` send to a daemon with `auth:`: `--token-file
//! FILE`, else the `LINKPULSE_TOKEN` environment variable, else none; and the words for a
//! refusal (401, 403) that say how to fix it.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use linkpulse_probe::client::{BearerToken, ClientError};

/// The environment variable holding the token itself.
pub(crate) const TOKEN_ENV: &str = "LINKPULSE_TOKEN";

/// The token flag, shared by the commands that call the daemon's API.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    /// A file holding the bearer token to send (one of the daemon's `auth.tokens`; the read
    /// role is enough). Without it, the token in the `LINKPULSE_TOKEN` environment variable,
    /// if set.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

impl TokenArgs {
    /// The token to send: the file's (trimmed), else `LINKPULSE_TOKEN`'s, else none.
    pub(crate) fn token(&self) -> anyhow::Result<Option<BearerToken>> {
        match &self.token_file {
            Some(path) => from_file(path).map(Some),
            None => from_env(std::env::var(TOKEN_ENV).ok().as_deref()),
        }
    }
}

fn from_file(path: &Path) -> anyhow::Result<BearerToken> {
    let text =
        linkpulse_sys::file::read_regular_to_string(path, linkpulse_sys::file::SMALL_FILE_LIMIT)
            .map_err(|e| anyhow!("--token-file: {e}"))?;
    BearerToken::new(&text).map_err(|e| anyhow!("--token-file {}: {e}", path.display()))
}

fn from_env(value: Option<&str>) -> anyhow::Result<Option<BearerToken>> {
    match value {
        // Set but empty (`LINKPULSE_TOKEN= linkpulse status`): no token.
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => BearerToken::new(v)
            .map(Some)
            .map_err(|e| anyhow!("{TOKEN_ENV}: {e}")),
    }
}

/// `e` with what to do about a refusal: a 401 without a token asks for one, a 401 with one
/// says it was not accepted, a 403 that the token's role is too small.
pub(crate) fn explain(e: ClientError, sent_token: bool) -> anyhow::Error {
    let hint = match (&e, sent_token) {
        (ClientError::Status { status: 401, .. }, false) => {
            "the daemon wants a token (its config has `auth:`): pass --token-file FILE or set LINKPULSE_TOKEN"
        }
        (ClientError::Status { status: 401, .. }, true) => {
            "the daemon did not accept the token: check the file given with --token-file (or LINKPULSE_TOKEN) against its `auth.tokens`"
        }
        (ClientError::Status { status: 403, .. }, _) => {
            "the token's role is too small for this request"
        }
        _ => return e.into(),
    };
    anyhow::Error::new(e).context(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_trimmed_and_an_empty_environment_is_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "tok-123\n").unwrap();
        assert!(from_file(&file).is_ok());
        std::fs::write(&file, "\n").unwrap();
        let e = from_file(&file).unwrap_err().to_string();
        assert!(e.contains("--token-file") && e.contains("empty"), "{e}");
        let e = from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--token-file: cannot read"), "{e}");
        assert!(from_env(None).unwrap().is_none());
        assert!(from_env(Some(" ")).unwrap().is_none());
        assert!(from_env(Some("abc")).unwrap().is_some());
        let e = from_env(Some("a b")).unwrap_err().to_string();
        assert!(e.starts_with("LINKPULSE_TOKEN: "), "{e}");
    }
}
