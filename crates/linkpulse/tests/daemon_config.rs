//! `linkpulse config check` against the real binary: valid files exit 0, bad ones exit
//! non-zero naming file, line and key path.

use std::path::PathBuf;
use std::process::Command;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("linkpulse.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_example_is_valid() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/linkpulse.yaml");
    let (code, stderr) = check(&example);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn each_kind_of_error_names_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "bad YAML",
            "checks:\n  - name: a\n    tcp: { address: 'h:1'\n",
        ),
        (
            "unknown field",
            "checks:\n  - name: a\n    tcp: { address: 'h:1' }\n    colour: red\n",
        ),
        (
            "duplicate",
            "checks:\n  - name: a\n    tcp: { address: 'h:1' }\n  - name: a\n    tcp: { address: 'h:2' }\n",
        ),
        (
            "duration",
            "checks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 5x\n",
        ),
        (
            "unknown kind",
            "checks:\n  - name: a\n    smtp: { host: h }\n",
        ),
        (
            "webhook CA file missing",
            "checks: []\nalerts:\n  - webhook:\n      url: https://127.0.0.1:9/hook\n      ca_file: /nonexistent/ca.pem\n",
        ),
        (
            "hub TLS certificate missing",
            "hub:\n  listen: 127.0.0.1:0\n  tls:\n    cert_file: /nonexistent/hub.pem\n    key_file: /nonexistent/hub.key\nchecks: []\n",
        ),
    ];
    let expected = [
        ":3", // the unclosed flow mapping
        ":4: checks[0].colour: unknown field `colour`",
        ":4: checks[1].name: duplicate check name \"a\"",
        ":4: checks[0].interval: invalid duration \"5x\"",
        ":3: checks[0].smtp: unknown field `smtp`",
        ":5: alerts[0].webhook.ca_file: cannot read CA file /nonexistent/ca.pem: ",
        ":4: hub.tls: ",
    ];
    for ((what, text), want) in cases.iter().zip(expected) {
        let path = write(&dir, text);
        let (code, stderr) = check(&path);
        assert_ne!(code, 0, "{what}: must fail");
        let first = stderr.lines().next().unwrap_or_default();
        let prefix = format!("{}{want}", path.display());
        assert!(
            first.starts_with(&prefix),
            "{what}: {first:?} should start with {prefix:?}"
        );
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "listen: here\nchecks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 5x\n  - name: b\n    http: { url: 'ftp://x' }\n",
    );
    let (code, stderr) = check(&path);
    assert_ne!(code, 0);
    let p = path.display();
    assert!(
        stderr.contains(&format!("{p}:1: listen: invalid address \"here\"")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{p}:5: checks[0].interval: invalid duration \"5x\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{p}:7: checks[1].http.url: invalid URL \"ftp://x\""
        )),
        "{stderr}"
    );
}
