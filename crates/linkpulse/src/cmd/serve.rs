//! `linkpulse serve` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse serve`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse serve` is not implemented yet")
}
