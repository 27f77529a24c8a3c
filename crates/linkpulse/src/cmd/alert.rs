//! `linkpulse alert test CHANNEL --config FILE`: sends a test notification through one alert
//! target of the config now and prints what the receiver answered.

use std::path::PathBuf;
use std::process::ExitCode;

use linkpulse_daemon::config::Config;

use super::config::DEFAULT_CONFIG;

/// Exit code of `alert test` when the receiver refused or could not be reached.
const EXIT_NOT_DELIVERED: u8 = 1;

/// The `alert` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AlertCommand {
    /// Send a test notification through an alert target now; exit 0 when it was delivered,
    /// 1 with the receiver's answer when not, 3 when the config or the name is wrong.
    Test {
        /// The alert target's `name` in the config (or `alert-N` for an unnamed one).
        channel: String,
        /// The YAML config file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Runs `linkpulse alert …`.
pub(crate) async fn run(command: AlertCommand) -> anyhow::Result<ExitCode> {
    let AlertCommand::Test { channel, config } = command;
    let cfg = match Config::load(&config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{}: {} error(s)", config.display(), errors.0.len());
            return Ok(ExitCode::from(crate::EXIT_UNKNOWN));
        }
    };
    let Some(alert) = cfg.alerts.iter().find(|a| a.name == channel) else {
        let names: Vec<&str> = cfg.alerts.iter().map(|a| a.name.as_str()).collect();
        eprintln!(
            "linkpulse: {}: no alert target named {channel:?} (the config has: {})",
            config.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        return Ok(ExitCode::from(crate::EXIT_UNKNOWN));
    };
    let kind = linkpulse_daemon::alerts::target_kind(&alert.target);
    match linkpulse_daemon::alerts::send_now(alert).await {
        Ok(answer) => {
            super::output::println(format_args!("{channel} ({kind}): delivered: {answer}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("linkpulse: {channel} ({kind}): not delivered: {error}");
            Ok(ExitCode::from(EXIT_NOT_DELIVERED))
        }
    }
}
