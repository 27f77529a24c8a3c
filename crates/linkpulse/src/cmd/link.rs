//! `linkpulse link listen|connect` (not built yet).

use std::process::ExitCode;

/// The `link` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum LinkCommand {
    /// Accept heartbeat sessions on ADDR and report their events.
    Listen {},
    /// Open a heartbeat session to ADDR and report its events.
    Connect {},
}

/// Runs `linkpulse link …`.
pub(crate) async fn run(_command: LinkCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`linkpulse link` is not implemented yet")
}
