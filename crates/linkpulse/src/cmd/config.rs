//! `linkpulse config check FILE` (not built yet).

use std::process::ExitCode;

/// The `config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a config file without starting anything.
    Check {},
}

/// Runs `linkpulse config …`.
pub(crate) async fn run(_command: ConfigCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse config` is not implemented yet")
}
