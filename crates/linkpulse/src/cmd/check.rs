//! `linkpulse check` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse check`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse check` is not implemented yet")
}
