//! The nodes page in a real browser: runs `crates/linkpulse-web/tests/browser/nodes.mjs`
//! (node + playwright-core driving Debian's `/usr/bin/chromium`) against this package's real
//! `linkpulse` binary. The script starts `linkpulse serve` with a `hub:` section and two
//! `linkpulse agent` processes on loopback itself, then kills one (SIGKILL) and stops the other
//! (SIGTERM) while the page is open; see its header for what it asserts. Screenshots land in
//! `target/screenshots/`.
//!
//! Needs `node`, `chromium` and `npm ci` in the browser folder: `scripts/install-test-deps`
//! installs all three.

#[test]
fn nodes_page_follows_the_real_hub_in_chromium() {
    linkpulse_testsupport::browser::run_script("nodes.mjs", env!("CARGO_BIN_EXE_linkpulse"));
}
