//! Build metadata for `linkpulse --version` (and the daemon's build info):
//!
//! - `LINKPULSE_COMMIT`: `git rev-parse --short HEAD`, or `unknown` outside a git checkout
//!   (a source tarball); a `LINKPULSE_COMMIT` set in the build environment wins.
//! - `LINKPULSE_BUILD_DATE`: the UTC date of the build, `YYYY-MM-DD`; `SOURCE_DATE_EPOCH`
//!   (reproducible builds) wins.
//!
//! The script reruns only when HEAD moves (the files `.git/HEAD` and the branch ref it points
//! at, or `packed-refs`), not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LINKPULSE_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = match std::env::var("LINKPULSE_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => {
            watch_head();
            git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=LINKPULSE_COMMIT={commit}");
    println!("cargo:rustc-env=LINKPULSE_BUILD_DATE={}", build_date());
}

/// Runs git in the crate's directory; `None` when git is missing or this is not a checkout.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Asks cargo to rerun this script when HEAD moves: HEAD itself (a checkout of another
/// branch), the ref it names (a commit) and `packed-refs` (a ref that `git gc` packed).
/// Only existing files are named: cargo treats a missing one as always changed.
fn watch_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    // In a worktree, HEAD lives in its own git dir and the refs in the common one.
    let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map_or_else(|| git_dir.clone(), PathBuf::from);
    let head = git_dir.join("HEAD");
    watch(&head);
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.trim().strip_prefix("ref: ")
    {
        watch(&git_dir.join(reference));
        watch(&common.join(reference));
    }
    watch(&common.join("packed-refs"));
}

fn watch(path: &Path) {
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Today's UTC date, or the date of `SOURCE_DATE_EPOCH` when it is set.
fn build_date() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let date = now.date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
