//! One named network namespace, owned: created on construction, its processes killed and the
//! namespace deleted on drop.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Output};

use super::cmd::{self, NetnsError};
use crate::sys;

/// A Linux network namespace created by this process (`ip netns add`).
///
/// Dropping it kills every process still running inside (`ip netns pids`) and deletes it
/// (`ip netns del`), also while a test unwinds from a panic.
#[derive(Debug)]
pub struct Namespace {
    /// The name under `/run/netns/`.
    name: String,
}

impl Namespace {
    /// Creates the namespace `name` with its loopback interface up.
    pub(crate) fn create(name: String) -> Result<Self, NetnsError> {
        cmd::run(&["ip", "netns", "add", &name])?;
        // From here on, drop cleans up even if the next step fails.
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        // Without this, a fresh link's link-local address stays tentative for a second or
        // two and IPv6 neighbour discovery (hence the first packets) fails meanwhile.
        // And keep IPv6 addresses while a link is down, as IPv4 does, so a "pulled cable"
        // (`Host::set_link`) can be plugged back in.
        ns.sysctl(&[
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.all.keep_addr_on_down", "1"),
            ("net.ipv6.conf.default.keep_addr_on_down", "1"),
        ])?;
        Ok(ns)
    }

    /// The namespace name, as used by `ip netns exec NAME …`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount path of the namespace (`/run/netns/NAME`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip -n NAME ARGS…` and returns its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String, NetnsError> {
        let mut full = vec!["ip", "-n", self.name.as_str()];
        full.extend_from_slice(args);
        cmd::run(&full)
    }

    /// Runs `args` inside the namespace (`ip netns exec NAME …`) and returns its stdout;
    /// a non-zero exit is an error that names the command and quotes its stderr.
    pub fn exec(&self, args: &[&str]) -> Result<String, NetnsError> {
        cmd::run(&self.exec_line(args))
    }

    /// Runs `args` inside the namespace and returns its output whatever its exit status
    /// (for commands expected to fail, such as a ping into a blackhole).
    pub fn output(&self, args: &[&str]) -> Result<Output, NetnsError> {
        cmd::output(&self.exec_line(args))
    }

    fn exec_line<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full = vec!["ip", "netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        full
    }

    /// A [`Command`] that runs `program` inside the namespace through `ip netns exec`; add
    /// arguments and stdio as usual.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Spawns `command` inside the namespace. The child enters the namespace between `fork`
    /// and `exec`, so stdio and environment set on `command` are kept. The process is killed
    /// when the namespace is dropped, if it still runs.
    pub fn spawn(&self, mut command: Command) -> Result<Child, NetnsError> {
        sys::spawn_in_netns(&mut command, &self.path()).map_err(|source| NetnsError::Spawn {
            command: format!("{command:?} (in netns {})", self.name),
            source,
        })
    }

    /// Sets `key=value` sysctls inside the namespace (`sysctl -qw`).
    pub fn sysctl(&self, settings: &[(&str, &str)]) -> Result<(), NetnsError> {
        let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["sysctl", "-qw"];
        args.extend(pairs.iter().map(String::as_str));
        self.exec(&args).map(drop)
    }

    /// Destroys every TCP connection in the namespace (`ss -K`), leaving listeners: what a
    /// peer sees when this host reboots. The kernel sends an RST for each destroyed
    /// connection that is still synchronised.
    pub fn kill_sockets(&self) -> Result<(), NetnsError> {
        self.exec(&["ss", "-K", "-t", "-n"]).map(drop)
    }

    /// Moves the calling thread into this namespace: sockets it creates afterwards live here.
    /// Prefer [`Namespace::run_in`] / [`Namespace::block_on`], which use a fresh thread.
    pub fn enter_this_thread(&self) -> Result<(), NetnsError> {
        sys::enter_netns(&self.path()).map_err(|source| NetnsError::Enter {
            namespace: self.name.clone(),
            source,
        })
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result.
    /// A panic in `f` is resumed on the caller's thread.
    pub fn run_in<T, F>(&self, f: F) -> Result<T, NetnsError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name(format!("netns-{}", self.name))
                .spawn_scoped(scope, || {
                    self.enter_this_thread()?;
                    Ok(f())
                })
                .map_err(|source| NetnsError::Runtime {
                    namespace: self.name.clone(),
                    source,
                })?;
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Runs the future made by `f` to completion on a new thread that has entered this
    /// namespace, with its own current-thread tokio runtime (time and I/O enabled).
    pub fn block_on<T, F, Fut>(&self, f: F) -> Result<T, NetnsError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = T>,
        T: Send,
    {
        self.run_in(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| NetnsError::Runtime {
                    namespace: self.name.clone(),
                    source,
                })?;
            Ok(runtime.block_on(f()))
        })?
    }

    /// The ids of the processes whose network namespace is this one.
    pub fn pids(&self) -> Vec<u32> {
        cmd::run(&["ip", "netns", "pids", &self.name])
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let me = std::process::id();
        let pids: Vec<String> = self
            .pids()
            .into_iter()
            .filter(|&pid| pid != me)
            .map(|pid| pid.to_string())
            .collect();
        if !pids.is_empty() {
            let mut args = vec!["kill", "-KILL"];
            args.extend(pids.iter().map(String::as_str));
            // Best effort: a process may have exited in between.
            let _ = cmd::output(&args);
        }
        if let Err(err) = cmd::run(&["ip", "netns", "del", &self.name]) {
            eprintln!(
                "linkpulse-testsupport: cannot delete netns {}: {err}",
                self.name
            );
        }
    }
}
