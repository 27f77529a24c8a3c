//! The dashboard in a real browser: runs `crates/linkpulse-web/tests/browser/dashboard.mjs`
//! (node + playwright-core driving Debian's `/usr/bin/chromium`) against this package's real
//! `linkpulse` binary. The script starts loopback servers and the daemon itself; see its header
//! for what it asserts. Screenshots land in `target/screenshots/`.
//!
//! Needs `node`, `chromium` and `npm ci` in the browser folder: `scripts/install-test-deps`
//! installs all three.

#[test]
fn dashboard_in_chromium() {
    linkpulse_testsupport::browser::run_script("dashboard.mjs", env!("CARGO_BIN_EXE_linkpulse"));
}

/// Silences on the dashboard: the "Silence…" button of a check (with the token), the
/// maintenance note, and the overview's panel with its "Expire" button
/// (`crates/linkpulse-web/tests/browser/silences.mjs`).
#[test]
fn silences_in_chromium() {
    linkpulse_testsupport::browser::run_script("silences.mjs", env!("CARGO_BIN_EXE_linkpulse"));
}
