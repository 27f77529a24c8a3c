//! Runs one of the dashboard's browser scripts (`crates/linkpulse-web/tests/browser/*.mjs`:
//! node + playwright-core driving Debian's `/usr/bin/chromium`) against the real `linkpulse`
//! binary, and fails the calling test when the script fails. Screenshots land in the
//! workspace's `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one script may run before it is killed.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(600);

/// The workspace root (this crate lives in `crates/linkpulse-testsupport`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `script` (a file name in the browser test folder) with `LINKPULSE_BIN=linkpulse_bin`.
///
/// Panics, naming what is missing, when chromium, node or the folder's `npm ci` are absent
/// (`scripts/install-test-deps` installs all three), when the script fails, or when it runs
/// longer than ten minutes.
pub fn run_script(script: &str, linkpulse_bin: &str) {
    run_script_with(script, linkpulse_bin, &[]);
}

/// [`run_script`] with extra environment variables for the script (e.g. the URL of a daemon
/// the Rust test started itself).
pub fn run_script_with(script: &str, linkpulse_bin: &str, env: &[(&str, &str)]) {
    let root = workspace();
    let dir = root.join("crates/linkpulse-web/tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let node_works = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<String> = [
        (
            Path::new(&chromium).exists(),
            format!("{chromium} (apt-get install chromium)"),
        ),
        (node_works, "node (apt-get install nodejs)".to_owned()),
        (
            dir.join("node_modules/playwright-core").is_dir(),
            format!("{}/node_modules (npm ci)", dir.display()),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    assert!(
        missing.is_empty(),
        "the browser test needs {}; run scripts/install-test-deps",
        missing.join(", ")
    );

    let shots = root.join("target/screenshots");
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("LINKPULSE_BIN", linkpulse_bin)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    // Polls for the exit (std has no wait with a timeout); the script's own output goes
    // straight to the test's stdout/stderr.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("cannot wait for node {script}: {e}"),
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser script {script} did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "browser script {script} failed ({status}); its output is above, screenshots in {}",
        shots.display()
    );
}
