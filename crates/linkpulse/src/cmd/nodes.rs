//! `linkpulse nodes` (not built yet).

use std::process::ExitCode;

/// Arguments of `linkpulse nodes`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `linkpulse nodes`.
pub(crate) async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse nodes` is not implemented yet")
}
