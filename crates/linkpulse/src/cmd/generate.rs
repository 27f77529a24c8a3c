//! `linkpulse completions SHELL` and `linkpulse man [--dir DIR]`: shell completions and man
//! pages, generated from the clap definitions so they never drift from the real flags. Both
//! subcommands are hidden; the package build (`scripts/build-deb`) runs them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::Shell;

/// Arguments of `linkpulse completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the completion script for `args.shell` to stdout.
pub(crate) fn completions(
    args: CompletionsArgs,
    mut cli: clap::Command,
) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    let name = cli.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cli, name, &mut out);
    write_stdout(&out)
}

/// Arguments of `linkpulse man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write `linkpulse.1` and one page per subcommand (`linkpulse-check.1`, …) into this
    /// directory instead of printing `linkpulse.1` to stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the man page `linkpulse.1` (roff), or writes every page into `args.dir`.
pub(crate) fn man(args: ManArgs, cli: clap::Command) -> anyhow::Result<ExitCode> {
    // `help` is a subcommand for the terminal only; the pages list the real ones.
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(cli, &dir)
            .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cli)
        .render(&mut out)
        .context("cannot render the man page")?;
    write_stdout(&out)
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) ends the command quietly.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}
