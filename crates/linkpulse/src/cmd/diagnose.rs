//! `linkpulse diagnose` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse diagnose`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse diagnose`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse diagnose` is not implemented yet")
}
