//! The nodes page in a real browser: runs `crates/linkpulse-web/tests/browser/nodes.mjs`
//! (node + playwright-core driving Debian's `/usr/bin/chromium`) against this package's real
//! `linkpulse` binary. The script starts `linkpulse serve` with a `hub:` section and two
//! `linkpulse agent` processes on loopback itself, then kills one (SIGKILL) and stops the other
//! (SIGTERM) while the page is open; see its header for what it asserts. Screenshots land in
//! `target/screenshots/`.
//!
//! Needs `node`, `chromium` and `npm ci` in the browser folder: `scripts/install-test-deps`
//! installs all three.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[test]
fn nodes_page_follows_the_real_hub_in_chromium() {
    let root = workspace();
    let dir = root.join("crates/linkpulse-web/tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let missing: Vec<String> = [
        (
            Path::new(&chromium).exists(),
            format!("{chromium} (apt-get install chromium)"),
        ),
        (
            Command::new("node")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "node (apt-get install nodejs)".to_owned(),
        ),
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
        .arg("nodes.mjs")
        .current_dir(&dir)
        .env("LINKPULSE_BIN", env!("CARGO_BIN_EXE_linkpulse"))
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser test did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "browser test failed ({status}); its output is above, screenshots in {}",
        shots.display()
    );
}
