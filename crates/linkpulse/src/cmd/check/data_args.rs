//! Flags of the database checks (`check postgres`, `check redis`, and such targets in a
//! targets file): where the password comes from, the query, `--require-primary`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use linkpulse_probe::{DataOptions, ProbeOptions, TlsOptions};

/// The password, query and role flags of database targets.
#[derive(Debug, clap::Args)]
pub(crate) struct DataArgs {
    /// Read the database password from FILE (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    password_file: Option<PathBuf>,
    /// Read the database password from the environment variable VAR.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// PostgreSQL, MySQL: run SQL instead of `SELECT 1`.
    #[arg(long, value_name = "SQL")]
    query: Option<String>,
    /// A standby in recovery, a server with read-only transactions, a read-only MySQL
    /// replica (`@@global.read_only`) or a Redis replica (`ROLE`) is down (`read_only`).
    #[arg(long)]
    require_primary: bool,
}

/// TLS flags of a single database target (`rediss://`, `sslmode=require`).
#[derive(Debug, clap::Args)]
pub(crate) struct DataTlsArgs {
    /// PEM file of CA certificates to trust in addition to the system ones.
    #[arg(long = "ca", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates.
    #[arg(long)]
    insecure: bool,
}

impl DataArgs {
    /// `opts` with the password, query and role of these flags, and `tls`.
    pub(crate) fn apply(
        &self,
        mut opts: ProbeOptions,
        tls: TlsOptions,
    ) -> anyhow::Result<ProbeOptions> {
        let password = match (&self.password_file, &self.password_env) {
            (Some(path), _) => Some(read_password_file(path)?),
            (None, Some(var)) => Some(read_password_env(var)?),
            (None, None) => None,
        };
        opts.data = DataOptions {
            password,
            query: self.query.clone(),
            require_primary: self.require_primary,
            tls,
        };
        Ok(opts)
    }
}

impl DataTlsArgs {
    /// The TLS settings of these flags; checks the CA file so a bad one is exit 3.
    pub(crate) fn options(&self) -> anyhow::Result<TlsOptions> {
        if let Some(path) = &self.ca_file {
            linkpulse_probe::load_ca_file(path).context("invalid --ca")?;
        }
        Ok(TlsOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            server_name: None,
        })
    }
}

/// The first line of `path`, which must not be empty.
fn read_password_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("invalid --password-file: cannot read {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!(
            "invalid --password-file: {} is empty (its first line is the password)",
            path.display()
        );
    }
    Ok(line)
}

/// The value of the environment variable `var`, which must be set and not empty.
fn read_password_env(var: &str) -> anyhow::Result<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => bail!("invalid --password-env: the environment variable {var} is empty"),
        Err(_) => bail!("invalid --password-env: the environment variable {var} is not set"),
    }
}
