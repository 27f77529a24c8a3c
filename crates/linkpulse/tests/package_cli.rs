//! What the Debian package takes from the binary, checked on the real binary: `--version`
//! names the commit and build date, `completions SHELL` and `man` generate from the clap
//! definitions, `serve` and `config check` default to `/etc/linkpulse/linkpulse.yaml`, and
//! the packaged default config is valid. (`scripts/package-smoke` builds and installs the
//! package itself.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use linkpulse_testsupport::bin::{Finished, LinkpulseProcess};
use regex::Regex;

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");
const DEFAULT_CONFIG: &str = "/etc/linkpulse/linkpulse.yaml";

fn run(args: &[&str]) -> Finished {
    LinkpulseProcess::run(BIN, args, None, Duration::from_secs(30)).unwrap()
}

fn stdout(out: &Finished) -> String {
    out.stdout.join("\n")
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn version_names_commit_and_build_date() {
    let out = run(&["--version"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let version = stdout(&out);
    let shape =
        Regex::new(r"^linkpulse \d+\.\d+\.\d+ \(([0-9a-f]{7,}) (\d{4}-\d{2}-\d{2})\)$").unwrap();
    let caps = shape.captures(&version).unwrap_or_else(|| {
        panic!("expected `linkpulse X.Y.Z (COMMIT YYYY-MM-DD)`, got {version:?}")
    });
    // Built from a git checkout (as here and in CI): the commit is the checkout's HEAD.
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(crate_dir())
        .output()
        .unwrap();
    assert!(head.status.success(), "the tests run in a git checkout");
    assert_eq!(&caps[1], String::from_utf8_lossy(&head.stdout).trim());
    // Subcommands print the same version.
    let sub = run(&["serve", "--version"]);
    assert_eq!(
        stdout(&sub),
        version.replacen("linkpulse", "linkpulse-serve", 1)
    );
}

#[test]
fn completions_for_bash_zsh_and_fish_know_the_subcommands_and_flags() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.code(), Some(0), "{}", bash.stderr);
    let bash = stdout(&bash);
    assert!(bash.contains("complete -F _linkpulse"), "{bash}");
    for word in ["serve", "--blackbox-config", "diagnose", "--targets"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }

    let zsh = stdout(&run(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef linkpulse"), "{zsh}");
    assert!(zsh.contains("--blackbox-config"));

    let fish = stdout(&run(&["completions", "fish"]));
    assert!(fish.contains("complete -c linkpulse"), "{fish}");
    assert!(fish.contains("blackbox-config"));

    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.code(), Some(3), "an unknown shell is bad input");
    assert!(bad.stderr.contains("tcsh"), "{}", bad.stderr);
}

#[test]
fn man_prints_the_page_and_writes_one_per_subcommand() {
    let out = run(&["man"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let page = stdout(&out);
    let version = stdout(&run(&["--version"]));
    let version = version.trim_start_matches("linkpulse ");
    assert!(
        page.lines()
            .any(|l| l.starts_with(".TH linkpulse 1") && l.contains(version)),
        "no `.TH linkpulse 1` title with {version}:\n{page}"
    );
    assert!(page.contains(r"linkpulse\-serve(1)"), "{page}");
    assert!(
        !page.contains(r"linkpulse\-man"),
        "the hidden `man` is listed"
    );

    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = run(&["man", "--dir", dir_arg]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    for (file, title) in [
        ("linkpulse.1", ".TH linkpulse 1"),
        ("linkpulse-serve.1", ".TH linkpulse-serve 1"),
        ("linkpulse-config-check.1", ".TH linkpulse-config-check 1"),
        ("linkpulse-check-http.1", ".TH linkpulse-check-http 1"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(title), "{file} lacks {title}");
    }
    assert!(!dir.path().join("linkpulse-completions.1").exists());
}

#[test]
fn generator_commands_stay_out_of_help() {
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("serve"), "{help}");
    assert!(!help.contains("completions"), "{help}");
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("man ")),
        "{help}"
    );
}

#[test]
fn serve_and_config_check_default_to_the_packaged_config_path() {
    // `config check` with no file reads the default path: "PATH: ok …" where the package is
    // installed, "PATH: cannot read the file …" where it is not.
    let out = run(&["config", "check"]);
    let said = format!("{}\n{}", stdout(&out), out.stderr);
    assert!(
        said.contains(&format!("{DEFAULT_CONFIG}: ")),
        "config check without a file does not read {DEFAULT_CONFIG}: {said}"
    );
    if !Path::new(DEFAULT_CONFIG).exists() {
        assert_eq!(out.code(), Some(1), "{said}");
    }
    // `serve` is not started here (with the package installed it would start a daemon on
    // its port); its help names the default.
    let help = stdout(&run(&["serve", "--help"]));
    assert!(
        help.contains(&format!("[default: {DEFAULT_CONFIG}]")),
        "{help}"
    );
    // Naming the file still works both ways.
    let example = crate_dir().join("../../examples/linkpulse.yaml");
    let example = example.to_str().unwrap();
    assert_eq!(run(&["config", "check", example]).code(), Some(0));
}

#[test]
fn packaged_default_config_is_valid_and_keeps_history_in_the_state_directory() {
    let config = crate_dir().join("debian/linkpulse.yaml");
    let out = run(&["config", "check", config.to_str().unwrap()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "database: /var/lib/linkpulse/linkpulse.db"),
        "the packaged config must keep the database in the unit's StateDirectory"
    );
    let unit = std::fs::read_to_string(crate_dir().join("debian/linkpulse.service")).unwrap();
    assert!(unit.lines().any(|l| l == "StateDirectory=linkpulse"));
}
