//! `linkpulse config check [FILE]`: validate a daemon config without starting anything.

use std::path::PathBuf;
use std::process::ExitCode;

use linkpulse_daemon::config::Config;

/// The config file `serve` and `config check` read when none is named: where the Debian
/// package installs it (docs/install.md).
pub(crate) const DEFAULT_CONFIG: &str = "/etc/linkpulse/linkpulse.yaml";

/// The `config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a config file without starting anything; prints every problem with its line.
    Check {
        /// The YAML config file.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
}

/// Runs `linkpulse config …`: exit 0 when valid, 1 with every error on stderr otherwise.
pub(crate) async fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check { file } => match Config::load(&file) {
            // The one validation `serve` runs too: every file read, every value checked.
            Ok(config) => {
                super::output::println(format_args!(
                    "{}: ok ({} checks, {} alert targets)",
                    file.display(),
                    config.checks.len(),
                    config.alerts.len()
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("{e}");
                }
                eprintln!("{}: {} error(s)", file.display(), errors.0.len());
                Ok(ExitCode::from(1))
            }
        },
    }
}
