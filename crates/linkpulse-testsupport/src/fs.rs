//! File-system faults for storage tests: a small private tmpfs that can be filled up (disk
//! full) and the immutable attribute (`chattr +i`). Needs root; everything is undone on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a chosen size mounted on a private temporary directory; unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it: `2m`).
    pub fn mount(size: &str) -> io::Result<Tmpfs> {
        let dir = tempfile::tempdir()?;
        run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path()))?;
        let filler = dir.path().join("filler");
        Ok(Tmpfs { dir, filler })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system until a write fails with "no space left" (one filler file).
    pub fn fill(&self) -> io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)?;
        let block = vec![0u8; 4096];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(e),
            }
        }
        // Whatever a partial block left: byte by byte.
        while f.write_all(&[0]).is_ok() {}
        Ok(())
    }

    /// Frees the space [`Tmpfs::fill`] took.
    pub fn free(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.filler) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process still holding a file open (a daemon killed late) cannot block it.
        let _ = run(Command::new("umount").arg("-l").arg(self.dir.path()));
    }
}

/// Sets (`true`) or clears the immutable attribute of `path` (`chattr ±i`).
pub fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    run(Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path))
}

/// Clears the immutable attribute of the files it names on drop (`chattr -i`), so that a
/// failing test never leaves an undeletable file behind.
#[derive(Debug, Default)]
pub struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// Makes `path` immutable until this guard drops or [`Immutable::clear`].
    pub fn set(&mut self, path: &Path) -> io::Result<()> {
        set_immutable(path, true)?;
        self.0.push(path.to_owned());
        Ok(())
    }

    /// Makes every file writable again.
    pub fn clear(&mut self) -> io::Result<()> {
        for p in self.0.drain(..) {
            set_immutable(&p, false)?;
        }
        Ok(())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = self.clear();
    }
}

/// Sets the open-files limit (`RLIMIT_NOFILE`) of process `pid` (what `prlimit --pid PID
/// --nofile=SOFT:HARD` does).
pub fn set_open_files_limit(pid: u32, soft: u64, hard: u64) -> io::Result<()> {
    crate::sys::prlimit_nofile(pid, soft, hard)
}

/// Raises this process's own soft open-files limit to its hard limit (a test that holds many
/// connections).
pub fn raise_own_open_files_limit() -> io::Result<()> {
    crate::sys::raise_nofile()
}
