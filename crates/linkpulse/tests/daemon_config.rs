//! `linkpulse config check` against the real binary: valid files exit 0, bad ones exit
//! non-zero naming file, line and key path.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::eventually;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("linkpulse.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(path: &Path) -> (i32, String) {
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

/// How long a refusal may take: a FIFO or `/dev/zero` must never hang the binary.
const REFUSE_WITHIN: Duration = Duration::from_secs(60);

/// `linkpulse config check FILE`, run in `cwd`, to its end.
fn config_check_in(path: &Path, cwd: &Path) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(["config", "check"]).arg(path).current_dir(cwd);
    LinkpulseProcess::spawn(command)
        .unwrap()
        .wait_exit(REFUSE_WITHIN)
        .unwrap()
}

/// `linkpulse serve --config FILE` that must refuse the file: its exit code and error lines.
fn serve_refusal(path: &Path) -> (Option<i32>, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(["serve", "--config"]).arg(path);
    let out = LinkpulseProcess::spawn(command)
        .unwrap()
        .wait_exit(REFUSE_WITHIN)
        .unwrap();
    (out.code(), out.stderr.lines().map(str::to_owned).collect())
}

/// Issue 16 defect 6: `config check` used to accept what `serve` refused. Both now run the
/// one validation: the same configs are refused by both, with the same lines.
#[test]
fn config_check_and_serve_refuse_the_same_configs_with_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let db = db.display();
    let mut many = format!("database: {db}\ndefaults: {{ rise: 0 }}\nchecks:\n");
    for i in 0..10 {
        many.push_str(&format!(
            "  - name: c{i}\n    tcp: {{ address: '127.0.0.1:{}' }}\n",
            i + 1
        ));
    }
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "hub secret file missing (relative: from the config's directory)",
            format!(
                "database: {db}\nhub:\n  listen: 127.0.0.1:0\n  secret_file: hub.secret\nchecks: []\n"
            ),
            vec![":4: hub.secret_file: cannot read "],
        ),
        (
            "http check ca_file missing",
            format!(
                "database: {db}\nchecks:\n  - name: web\n    http:\n      url: https://127.0.0.1:9/\n      ca_file: missing-ca.pem\n"
            ),
            vec![":6: checks[0].http.ca_file: cannot read CA file "],
        ),
        (
            "webhook header name with a space",
            format!(
                "database: {db}\nchecks: []\nalerts:\n  - webhook:\n      url: http://127.0.0.1:9/hook\n      headers:\n        'X Token': abc\n"
            ),
            vec![":7: alerts[0].webhook.headers.X Token: invalid header name \"X Token\""],
        ),
        (
            "a tcp address the probe refuses, among other errors",
            format!(
                "database: {db}\nlisten: nowhere\nchecks:\n  - name: a\n    tcp: {{ address: '::1:80' }}\n    interval: 5x\n"
            ),
            vec![
                ":2: listen: invalid address \"nowhere\"",
                ":5: checks[0].tcp.address: invalid host `::1:80`",
                ":6: checks[0].interval: invalid duration \"5x\"",
            ],
        ),
        (
            "one bad default inherited by ten checks",
            many,
            vec![
                ":2: defaults.rise: 0 is out of range (1 to 1000) (a value of `defaults:`, inherited by checks[0] and 9 other checks)",
            ],
        ),
    ];
    for (what, text, want) in cases {
        let path = write(&dir, &text);
        let p = path.display().to_string();
        let checked = config_check_in(&path, Path::new("/"));
        assert_eq!(checked.code(), Some(1), "{what}: config check must refuse");
        let lines: Vec<String> = checked.stderr.lines().map(str::to_owned).collect();
        let (summary, errors) = lines.split_last().expect("some output");
        assert_eq!(
            summary,
            &format!("{p}: {} error(s)", want.len()),
            "{what}: {lines:#?}"
        );
        assert_eq!(
            errors.len(),
            want.len(),
            "{what}: each error once: {lines:#?}"
        );
        for (line, want) in errors.iter().zip(&want) {
            assert!(
                line.starts_with(&format!("{p}{want}")),
                "{what}: {line:?} vs {want:?}"
            );
        }
        let (code, served) = serve_refusal(&path);
        assert_eq!(code, Some(1), "{what}: serve must refuse: {served:#?}");
        assert_eq!(served, errors, "{what}: serve says what config check says");
    }
}

/// `hub.secret_file` is read from the config's directory, as every other `*_file`: `serve`
/// started elsewhere (systemd starts it in `/`) finds it, and `config check` reads it.
#[test]
fn a_relative_secret_file_is_found_from_any_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hub.secret"), "0123456789abcdef\n").unwrap();
    let db = dir.path().join("h.db");
    let path = write(
        &dir,
        &format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nhub:\n  listen: 127.0.0.1:0\n  secret_file: hub.secret\nchecks: []\n",
            db.display()
        ),
    );
    let checked = config_check_in(&path, Path::new("/"));
    assert_eq!(checked.code(), Some(0), "{}", checked.stderr);
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir("/");
    let daemon = Daemon::spawn(command).unwrap();
    assert!(
        eventually(Duration::from_secs(30), || daemon
            .log()
            .contains("linkpulse hub listening on agents=")),
        "{}",
        daemon.log()
    );
    daemon.terminate();
}

/// Issue 16 defect 7: a config or token file that is `/dev/zero` or a FIFO is refused at
/// once by name, by `config check` and `serve` — never read until memory runs out, never
/// waited on.
#[test]
fn dev_zero_and_a_fifo_are_refused_by_name_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // As the config file.
    for (file, what) in [
        (Path::new("/dev/zero"), "a character device"),
        (fifo.as_path(), "a FIFO"),
    ] {
        let want = format!(
            "{}: cannot read the file: it is {what}, not a regular file",
            file.display()
        );
        let started = Instant::now();
        let checked = config_check_in(file, dir.path());
        assert_eq!(checked.code(), Some(1));
        assert_eq!(checked.stderr.lines().next(), Some(want.as_str()));
        let (code, served) = serve_refusal(file);
        assert_eq!(code, Some(1));
        assert_eq!(served, [want]);
        assert!(started.elapsed() < REFUSE_WITHIN);
    }
    // As a token file and as the hub's secret file.
    let db = dir.path().join("h.db");
    for (key_text, line, key, file, what) in [
        (
            "api_token_file: /dev/zero",
            2,
            "api_token_file",
            "/dev/zero".to_owned(),
            "a character device",
        ),
        (
            "hub: { listen: '127.0.0.1:0', secret_file: config.fifo }",
            2,
            "hub.secret_file",
            fifo.display().to_string(),
            "a FIFO",
        ),
    ] {
        let path = write(
            &dir,
            &format!("database: {}\n{key_text}\nchecks: []\n", db.display()),
        );
        let want = format!(
            "{}:{line}: {key}: cannot read {file}: it is {what}, not a regular file",
            path.display()
        );
        let checked = config_check_in(&path, dir.path());
        assert_eq!(checked.code(), Some(1));
        assert_eq!(checked.stderr.lines().next(), Some(want.as_str()));
        let (code, served) = serve_refusal(&path);
        assert_eq!(code, Some(1));
        assert_eq!(served, [want]);
    }
}

/// Issue 16 defect 7: 100,000 tcp checks with an interval and two labels each (cluster mode
/// needs 60,000+ in one file) are loaded by `config check` and started by `serve`. They used
/// to be refused at `checks[16665]` with `budget breached: Nodes { nodes: 250001 }`.
/// In a debug build this takes about 10 s of CPU for each command.
#[test]
fn a_hundred_thousand_checks_are_loaded_by_config_check_and_serve() {
    const CHECKS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "listen: 127.0.0.1:0\ndatabase: {}\nchecks:\n",
        dir.path().join("h.db").display()
    );
    for i in 0..CHECKS {
        // Port 1 on loopback: nothing listens there, and first runs spread over the hour.
        text.push_str(&format!(
            "  - name: c{i}\n    tcp: {{ address: '127.0.0.1:1' }}\n    interval: 1h\n    labels: {{ zone: z{}, team: t{} }}\n",
            i % 7,
            i % 3
        ));
    }
    let path = write(&dir, &text);
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(["config", "check"]).arg(&path);
    let checked = LinkpulseProcess::spawn(command)
        .unwrap()
        .wait_exit(Duration::from_secs(180))
        .unwrap();
    assert_eq!(checked.code(), Some(0), "{}", checked.stderr);
    assert_eq!(
        checked.stdout,
        [format!(
            "{}: ok ({CHECKS} checks, 0 alert targets)",
            path.display()
        )]
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_linkpulse"));
    command.args(["serve", "--config"]).arg(&path);
    let mut serve = LinkpulseProcess::spawn(command).unwrap();
    let want = format!("checks={CHECKS}");
    let started = eventually(Duration::from_secs(180), || serve.stderr().contains(&want));
    assert!(started, "{}", serve.stderr());
    serve.interrupt().unwrap();
    let done = serve.wait_exit(Duration::from_secs(60)).unwrap();
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
}
