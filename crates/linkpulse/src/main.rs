//! The `linkpulse` binary: clap commands only. Each subcommand lives in `cmd/` and calls into
//! the library crates; no probing, protocol or storage logic lives here.

mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit code for "unknown" in the Nagios plugin convention: bad arguments or input.
pub(crate) const EXIT_UNKNOWN: u8 = 3;

/// `--version`: the crate version, the commit and the build date (set by build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("LINKPULSE_COMMIT"),
    " ",
    env!("LINKPULSE_BUILD_DATE"),
    ")"
);

/// linkpulse: is it alive, and if not, where is the fault?
#[derive(Debug, Parser)]
#[command(name = "linkpulse", version = VERSION, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: cmd::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One-shot probes: TCP connect, HTTP(S) GET, ICMP echo, or a file of targets.
    Check(cmd::check::Args),
    /// Layered diagnosis of one target: DNS → ICMP → TCP → HTTP, and where it broke.
    Diagnose(cmd::diagnose::Args),
    /// Watch a TCP link with heartbeats and report when and why it dies.
    #[command(subcommand)]
    Link(cmd::link::LinkCommand),
    /// Show kernel TCP keepalive settings and how long each takes to notice a dead peer.
    Keepalive(cmd::keepalive::Args),
    /// Run the daemon: scheduled checks, history, alerts, API, metrics, dashboard and hub.
    Serve(cmd::serve::Args),
    /// Configuration tools.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Alert tools: send a test notification through a channel.
    #[command(subcommand)]
    Alert(cmd::alert::AlertCommand),
    /// Print availability figures from a running daemon.
    Status(cmd::status::Args),
    /// Keep a heartbeat session to one or more hubs and report this node's health.
    Agent(cmd::agent::Args),
    /// List the nodes a hub knows, or follow their changes.
    Nodes(cmd::nodes::Args),
    /// Cluster mode: the members sharing the checks through PostgreSQL.
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCommand),
    /// Silence checks of a running daemon: add, list, expire.
    Silence(cmd::silence::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions(cmd::generate::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand into a directory.
    #[command(hide = true)]
    Man(cmd::generate::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors; every other parse failure is "unknown" (3),
            // which is what monitoring scripts expect from a plugin given bad arguments.
            let code = if err.use_stderr() { EXIT_UNKNOWN } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    // The daemon and the agent run for days: their state changes are worth a line at `info`.
    // One-shot commands print their results on stdout and log only warnings by default.
    let default_level = match cli.command {
        Command::Serve(_) | Command::Agent(_) => cmd::DefaultLevel::Info,
        _ => cmd::DefaultLevel::Warn,
    };
    cmd::init_tracing(&cli.log, default_level);
    // `check` is one short sweep driven by one task: a single-threaded runtime avoids waking
    // another thread for every result (see bench/README.md). Everything else, the daemon
    // above all, gets worker threads.
    let mut builder = match cli.command {
        Command::Check(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            cmd::say_error(&format!("linkpulse: cannot start the async runtime: {err}"));
            return ExitCode::from(EXIT_UNKNOWN);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Check(args) => cmd::check::run(args).await,
            Command::Diagnose(args) => cmd::diagnose::run(args).await,
            Command::Link(command) => cmd::link::run(command).await,
            Command::Keepalive(args) => cmd::keepalive::run(args).await,
            Command::Serve(args) => cmd::serve::run(args).await,
            Command::Config(command) => cmd::config::run(command).await,
            Command::Alert(command) => cmd::alert::run(command).await,
            Command::Status(args) => cmd::status::run(args).await,
            Command::Agent(args) => cmd::agent::run(args).await,
            Command::Nodes(args) => cmd::nodes::run(args).await,
            Command::Cluster(command) => cmd::cluster::run(command).await,
            Command::Silence(args) => cmd::silence::run(args).await,
            Command::Completions(args) => cmd::generate::completions(args, Cli::command()),
            Command::Man(args) => cmd::generate::man(args, Cli::command()),
        }
    });
    match result {
        Ok(code) => code,
        // The reader of our output went away (`| head`): nothing to say, nobody to say it to.
        Err(err) if cmd::output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            cmd::say_error(&format!("linkpulse: {}", cmd::error_chain(&err)));
            ExitCode::from(EXIT_UNKNOWN)
        }
    }
}
