//! `linkpulse agent` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse agent`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse agent` is not implemented yet")
}
