//! `linkpulse status` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse status`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse status` is not implemented yet")
}
