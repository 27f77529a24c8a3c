//! The one place with `unsafe`: entering a network namespace with `setns(2)`.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Moves the *calling thread* into the network namespace bound at `path`
/// (for example `/run/netns/NAME`). Other threads of the process are not affected.
pub(crate) fn enter_netns(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: `file` is an open descriptor for the whole call; setns only reads it and changes
    // the network namespace of the calling thread, which touches no Rust-visible memory.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Spawns `command` so that the child enters the network namespace at `path` between `fork`
/// and `exec` (the parent is not affected).
pub(crate) fn spawn_in_netns(
    command: &mut std::process::Command,
    path: &Path,
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let file = File::open(path)?;
    let fd = file.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec; it only calls setns(2), which
    // is async-signal-safe, on `fd`, which stays open because `file` outlives `spawn()`.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    let child = command.spawn();
    drop(file);
    child
}

/// Sets `RLIMIT_NOFILE` of process `pid` to `soft`/`hard` (`prlimit(2)`).
pub(crate) fn prlimit_nofile(pid: u32, soft: u64, hard: u64) -> io::Result<()> {
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: `new` is a valid rlimit for the call; the old value is not asked for (null).
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit.
pub(crate) fn raise_nofile() -> io::Result<()> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `r`; setrlimit reads it.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    r.rlim_cur = r.rlim_max;
    // SAFETY: as above.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
