//! The daemon's logs as an operator's journald or log file sees them: the real binary, a real
//! local TCP target and webhook, stderr in a file or a pipe (never a terminal).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use linkpulse_testsupport::bin::LinkpulseProcess;
use linkpulse_testsupport::eventually;
use linkpulse_testsupport::servers::{HttpResponse, HttpServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

/// A loopback address where nothing listens (bound, then closed): connections are refused.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A config with one TCP check `svc` against `target` that goes down on the first failure, and
/// a webhook alert to `hook`.
fn write_config(dir: &Path, target: SocketAddr, hook: &str) -> PathBuf {
    let path = dir.join("linkpulse.yaml");
    let text = format!(
        "listen: 127.0.0.1:0\ndatabase: {db}\nchecks:\n  - name: svc\n    tcp: {{ address: '{target}' }}\n    interval: 1s\n    timeout: 500ms\n    fall: 1\n    rise: 1\nalerts:\n  - webhook: {{ url: '{hook}' }}\n",
        db = dir.join("lp.db").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// `linkpulse serve` with `args`, colour-capable settings in the environment (a terminal type,
/// no NO_COLOR) so only the terminal test can keep colour out.
fn serve(config: &Path, args: &[&str], env: &[(&str, &str)]) -> LinkpulseProcess {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("LINKPULSE_LOG")
        .env_remove("LINKPULSE_LOG_FORMAT")
        .env("TERM", "xterm-256color")
        .envs(env.iter().copied());
    LinkpulseProcess::spawn(command).expect("spawn linkpulse serve")
}

fn wait_stderr(p: &LinkpulseProcess, what: &str, deadline: Duration) {
    assert!(
        eventually(deadline, || p.stderr().contains(what)),
        "no {what:?} on stderr: {}",
        p.stderr()
    );
}

#[test]
fn a_log_file_has_no_escape_sequences_and_shows_state_changes_and_alerts_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = HttpServer::start("127.0.0.1:0".parse().unwrap(), None, HttpResponse::new(200))
        .expect("webhook");
    let config = write_config(dir.path(), closed_port(), &hook.url("/hook"));
    let log = dir.path().join("linkpulse.log");
    // stderr straight into a file, as `StandardError=file:` or a shell redirection does.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "exec '{BIN}' serve --config '{}' 2>'{}'",
            config.display(),
            log.display()
        ))
        .env_remove("NO_COLOR")
        .env_remove("LINKPULSE_LOG")
        .env("TERM", "xterm-256color");
    let _daemon = LinkpulseProcess::spawn(command).expect("spawn");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let ok = eventually(Duration::from_secs(30), || {
        let text = read();
        text.contains("state change") && text.contains("alert delivered")
    });
    let text = read();
    assert!(ok, "no state change or alert at the default level: {text}");
    assert!(
        !text.contains('\x1b'),
        "escape sequences in the log file: {text:?}"
    );
    let change = text
        .lines()
        .find(|l| l.contains("state change"))
        .expect("state change line");
    assert!(
        change.contains("INFO") && change.contains("check=svc") && change.contains("to=down"),
        "{change}"
    );
    let alert = text
        .lines()
        .find(|l| l.contains("alert delivered"))
        .expect("alert line");
    assert!(alert.contains("svc is down"), "{alert}");
    // The stable line scripts read is written as it always was.
    assert!(
        text.lines()
            .any(|l| l.starts_with("linkpulse listening on http=")),
        "{text}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_and_say_everything_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = HttpServer::start("127.0.0.1:0".parse().unwrap(), None, HttpResponse::new(200))
        .expect("webhook");
    let config = write_config(dir.path(), closed_port(), &hook.url("/hook"));
    let daemon = serve(&config, &["--log-format", "json"], &[]);
    wait_stderr(&daemon, "alert delivered", Duration::from_secs(30));

    // A reload that works, then one that does not (SIGHUP both times).
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &daemon.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -HUP failed");
    };
    hup();
    wait_stderr(&daemon, "configuration reloaded", Duration::from_secs(10));
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(&config, text.replace("fall: 1", "fall: lots")).expect("break config");
    hup();
    wait_stderr(
        &daemon,
        "configuration not reloaded",
        Duration::from_secs(10),
    );

    let stderr = daemon.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let message = |v: &Value| v["message"].as_str().unwrap_or("").to_owned();
    let change = lines
        .iter()
        .find(|v| message(v) == "state change")
        .expect("a state change at the default level");
    assert_eq!(change["level"], "INFO", "{change}");
    assert_eq!(change["check"], "svc", "{change}");
    assert_eq!(change["to"], "down", "{change}");
    assert!(change["timestamp"].is_string(), "{change}");
    let listening = lines
        .iter()
        .find(|v| message(v).starts_with("linkpulse listening on http="))
        .expect("the listening line");
    assert_eq!(listening["level"], "INFO", "{listening}");
    let reloaded = lines
        .iter()
        .find(|v| message(v).starts_with("configuration reloaded"))
        .expect("reload line");
    assert_eq!(
        message(reloaded),
        "configuration reloaded: 1 check unchanged, 0 added, 0 changed, 0 removed"
    );
    let refused = lines
        .iter()
        .find(|v| message(v).starts_with("configuration not reloaded"))
        .expect("failed reload line");
    assert_eq!(refused["level"], "WARN", "{refused}");
    assert!(
        message(refused).contains("linkpulse.yaml:8: checks[0].fall:"),
        "{refused}"
    );
    // No Rust structure anywhere.
    for bad in ["ApiError(", "ReloadSummary {", "Concurrency {"] {
        assert!(!stderr.contains(bad), "{bad} in {stderr}");
    }
}

#[test]
fn log_level_flag_and_environment_choose_what_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The webhook refuses connections: delivery fails with a warning after the state change.
    // Each daemon gets a database of its own, so each sees the state change.
    let hook = format!("http://{}/hook", closed_port());
    let target = closed_port();
    let fresh = |name: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).expect("mkdir");
        write_config(&sub, target, &hook)
    };

    // --log-level warn: the warning, not the (info) state change that came before it.
    let config = fresh("flag");
    let quiet = serve(&config, &["--log-level", "warn"], &[]);
    wait_stderr(&quiet, "alert delivery failed", Duration::from_secs(30));
    assert!(
        !quiet.stderr().contains("state change"),
        "{}",
        quiet.stderr()
    );
    drop(quiet);

    // LINKPULSE_LOG still sets the level; the flag wins over it.
    let env_quiet = serve(&fresh("env"), &[], &[("LINKPULSE_LOG", "warn")]);
    wait_stderr(&env_quiet, "alert delivery failed", Duration::from_secs(30));
    assert!(
        !env_quiet.stderr().contains("state change"),
        "{}",
        env_quiet.stderr()
    );
    drop(env_quiet);
    let flag_wins = serve(
        &fresh("both"),
        &["--log-level", "info"],
        &[("LINKPULSE_LOG", "error")],
    );
    wait_stderr(&flag_wins, "state change", Duration::from_secs(30));
    drop(flag_wins);

    // A level that is not one is refused (exit 3), naming the choices.
    let out = LinkpulseProcess::run(
        BIN,
        &["--log-level", "loud", "config", "check", "x.yaml"],
        None,
        Duration::from_secs(30),
    )
    .expect("run");
    assert_eq!(out.code(), Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("\"loud\" is not a level"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_busy_port_is_reported_once_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr");
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nhub:\n  listen: {addr}\nchecks: []\n",
            dir.path().join("lp.db").display()
        ),
    )
    .expect("write config");
    let out = LinkpulseProcess::run(
        BIN,
        &["serve", "--config", config.to_str().unwrap()],
        None,
        Duration::from_secs(30),
    )
    .expect("run");
    assert_ne!(out.code(), Some(0), "{}", out.stderr);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("in use"))
        .unwrap_or_else(|| panic!("no address-in-use line: {}", out.stderr));
    assert!(line.contains(&addr.to_string()), "{line}");
    assert_eq!(line.matches("in use").count(), 1, "{line}");
    drop(busy);
}

#[test]
fn environment_variables_in_the_config_are_read_alike_by_config_check_and_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: ${{LP_TEST_LISTEN}}\napi_token: ${{LP_TEST_TOKEN:-default-token-1}}\nchecks:\n  - name: web\n    http: {{ url: 'http://${{LP_TEST_HOST}}/health' }}\n    interval: ${{LP_TEST_INTERVAL:-30s}}\ndatabase: {}\n",
            dir.path().join("lp.db").display()
        ),
    )
    .expect("write config");
    let path = config.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("LP_TEST_LISTEN")
            .env_remove("LP_TEST_HOST")
            .envs(env.iter().copied());
        LinkpulseProcess::spawn(command)
            .expect("spawn")
            .wait_exit(Duration::from_secs(30))
            .expect("exit")
    };

    // Set: valid, and the daemon listens where the variable says.
    let set = [
        ("LP_TEST_LISTEN", "127.0.0.1:0"),
        ("LP_TEST_HOST", "127.0.0.1:1"),
    ];
    let ok = run(&["config", "check", path], &set);
    assert_eq!(ok.code(), Some(0), "{}", ok.stderr);
    let mut command = Command::new(BIN);
    command.args(["serve", "--config", path]).envs(set);
    let daemon = LinkpulseProcess::spawn(command).expect("spawn");
    wait_stderr(
        &daemon,
        "linkpulse listening on http=127.0.0.1:",
        Duration::from_secs(30),
    );
    drop(daemon);

    // Unset: every missing variable named with file:line:key, the same by both commands.
    let check = run(&["config", "check", path], &[]);
    let served = run(&["serve", "--config", path], &[]);
    assert_eq!(check.code(), Some(1), "{}", check.stderr);
    assert_eq!(served.code(), Some(1), "{}", served.stderr);
    let problems = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains("environment variable"))
            .map(str::to_owned)
            .collect()
    };
    let expected = [
        format!("{path}:1: listen: environment variable LP_TEST_LISTEN is not set"),
        format!("{path}:5: checks[0].http.url: environment variable LP_TEST_HOST is not set"),
    ];
    let found = problems(&check.stderr);
    assert_eq!(found.len(), 2, "{}", check.stderr);
    for (line, want) in found.iter().zip(&expected) {
        assert!(line.starts_with(want.as_str()), "{line} / {want}");
    }
    assert_eq!(found, problems(&served.stderr), "{}", served.stderr);
}
