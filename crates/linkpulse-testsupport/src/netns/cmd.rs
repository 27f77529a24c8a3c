//! Running `ip`, `sysctl` and friends, turning a failure into a [`NetnsError`] that shows the
//! command line.

use std::process::{Command, Output};

/// Why a namespace fixture could not be set up or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The full command line, as typed in a shell.
        command: String,
        /// The exit status, e.g. `exit status: 2`.
        status: String,
        /// What the command printed on stderr (trimmed).
        stderr: String,
    },
    /// A command could not be started at all (e.g. `ip` is not installed).
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The full command line.
        command: String,
        /// The error from `exec`.
        #[source]
        source: std::io::Error,
    },
    /// `setns(2)` into the namespace failed (not root? namespace deleted?).
    #[error("cannot enter network namespace {namespace}: {source}")]
    Enter {
        /// The namespace name.
        namespace: String,
        /// The error from `setns`.
        #[source]
        source: std::io::Error,
    },
    /// A helper thread or its tokio runtime could not be created.
    #[error("cannot start a thread or runtime for namespace {namespace}: {source}")]
    Runtime {
        /// The namespace name.
        namespace: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A filter between an IPv4 and an IPv6 address (no packet goes from one to the other).
    #[error("cannot filter between {src} and {dst}: one is IPv4, the other IPv6")]
    MixedFamilies {
        /// The source address given.
        src: std::net::IpAddr,
        /// The destination address given.
        dst: std::net::IpAddr,
    },
    /// The topology has no room for another host.
    #[error("a topology holds at most {max} hosts")]
    TooManyHosts {
        /// The limit.
        max: usize,
    },
}

/// Shell-like rendering of a command line for error messages.
pub(crate) fn render(args: &[&str]) -> String {
    args.join(" ")
}

/// Runs `args[0]` with the rest as arguments; `Ok(stdout)` when it exits 0.
pub(crate) fn run(args: &[&str]) -> Result<String, NetnsError> {
    let output = output(args)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(NetnsError::Command {
            command: render(args),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Runs a command and returns its output whatever the exit status.
pub(crate) fn output(args: &[&str]) -> Result<Output, NetnsError> {
    let Some((program, rest)) = args.split_first() else {
        return Err(NetnsError::Spawn {
            command: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    Command::new(program)
        .args(rest)
        .output()
        .map_err(|source| NetnsError::Spawn {
            command: render(args),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_names_itself_and_its_stderr() {
        let err = run(&["ip", "link", "show", "dev", "lp-no-such-if"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`ip link show dev lp-no-such-if`"), "{text}");
        assert!(text.contains("exit status"), "{text}");
        assert!(text.contains("lp-no-such-if"), "{text}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(&["lp-no-such-program", "x"]).unwrap_err();
        assert!(matches!(err, NetnsError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("lp-no-such-program x"));
    }
}
