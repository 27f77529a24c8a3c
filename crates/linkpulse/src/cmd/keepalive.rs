//! `linkpulse keepalive` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse keepalive`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse keepalive`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse keepalive` is not implemented yet")
}
