use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse("t.yaml", text, Path::new("."))
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn full_example_parses_with_defaults_applied() {
    let c = parse(
        "listen: 127.0.0.1:0\ndatabase: x.db\ndefaults: { interval: 30s, timeout: 5s, rise: 2, fall: 3 }\nchecks:\n  - name: api\n    http: { url: 'https://127.0.0.1:8443/health', expect_status: [200, '300-302'], body_contains: ok }\n    interval: 10s\n  - name: pg\n    tcp: { address: '127.0.0.1:5432' }\n  - name: gw\n    icmp: { host: 127.0.0.1, count: 3 }\n  - name: nightly\n    push: { period: 24h, grace: 1h }\nalerts:\n  - webhook: { url: 'http://127.0.0.1:9000/hook' }\n    repeat: 1h\n",
    )
    .unwrap();
    assert_eq!(c.checks.len(), 4);
    assert_eq!(c.checks[0].interval, Duration::from_secs(10));
    assert_eq!(c.checks[1].interval, Duration::from_secs(30));
    assert_eq!(c.checks[1].fall, 3);
    match &c.checks[0].spec {
        CheckSpec::Http(h) => assert_eq!(h.expect_status_text(), "200,300-302"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.checks[2].spec.target(), "icmp://127.0.0.1");
    assert_eq!(c.checks[3].spec.kind(), CheckKind::Push);
    assert_eq!(c.alerts[0].repeat, Some(Duration::from_secs(3600)));
}

#[test]
fn invalid_duration_names_line_and_path() {
    let e = errors(
        "checks:\n  - name: a\n    tcp: { address: 'h:1' }\n  - name: b\n    tcp: { address: 'h:2' }\n    interval: 5x\n",
    );
    assert_eq!(e, vec![
        "t.yaml:6: checks[1].interval: invalid duration \"5x\" (use a number with a unit: 500ms, 10s, 5m, 1h, 7d)".to_owned()
    ]);
}

#[test]
fn every_validation_error_is_collected() {
    let e = errors(
        "listen: nowhere\nchecks:\n  - name: a\n    tcp: { address: 'nohost' }\n  - name: a\n    http: { url: 'ftp://x' }\n  - name: c\n    icmp: { host: 'bad host' }\n",
    );
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(
        e[0].starts_with("t.yaml:1: listen: invalid address \"nowhere\""),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("t.yaml:4: checks[0].tcp.address:"),
        "{}",
        e[1]
    );
    assert!(
        e.iter().any(|l| l.starts_with(
            "t.yaml:5: checks[1].name: duplicate check name \"a\" (first defined on line 3)"
        )),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|l| l.starts_with("t.yaml:6: checks[1].http.url:") && l.contains("scheme")),
        "{e:#?}"
    );
    assert_eq!(
        e[4],
        "t.yaml:8: checks[2].icmp.host: invalid host \"bad host\""
    );
}

#[test]
fn unknown_field_and_unknown_module_are_rejected_with_path() {
    let e = errors("checks:\n  - name: a\n    tcp: { address: 'h:1' }\n    bogus: 1\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("t.yaml:4: checks[0].bogus: unknown field `bogus`"),
        "{}",
        e[0]
    );
    let e = errors("checks:\n  - name: a\n    smtp: { host: x }\n");
    assert!(
        e[0].starts_with("t.yaml:3: checks[0].smtp: unknown field `smtp`"),
        "{}",
        e[0]
    );
    let e = errors("checks:\n  - name: a\n    dns: { host: x }\n");
    assert!(
        e[0].starts_with(
            "t.yaml:3: checks[0].dns.host: unknown field `host`, expected one of server, name"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn bad_yaml_is_a_syntax_error_with_line() {
    let e = errors("checks:\n  - name: a\n    tcp: { address: 'h:1'\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.yaml:"), "{}", e[0]);
    assert!(!e[0].starts_with("t.yaml: "), "a line is named: {}", e[0]);
}

#[test]
fn check_without_or_with_two_modules() {
    let e = errors(
        "checks:\n  - name: a\n  - name: b\n    tcp: { address: 'h:1' }\n    icmp: { host: h }\n",
    );
    assert!(
        e[0].contains("checks[0]: check \"a\" needs exactly one module"),
        "{}",
        e[0]
    );
    assert!(e[1].contains("found 2"), "{}", e[1]);
}

#[test]
fn ranges_and_timeouts() {
    let e = errors(
        "defaults: { rise: 0 }\nchecks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 1s\n    timeout: 2s\n",
    );
    assert!(
        e.iter()
            .any(|l| l.starts_with("t.yaml:1: defaults.rise: 0 is out of range")),
        "{e:#?}"
    );
    let e = errors(
        "checks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 1s\n    timeout: 2s\n",
    );
    assert!(
        e[0].starts_with("t.yaml:5: checks[0].timeout: timeout 2s is longer than the interval 1s"),
        "{e:#?}"
    );
}

#[test]
fn status_codes_and_regex_are_checked() {
    let e = errors(
        "checks:\n  - name: a\n    http: { url: 'http://h/', expect_status: '200-1000', body_regex: '(' }\n",
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].contains("checks[0].http.expect_status: invalid status code"),
        "{e:#?}"
    );
    assert!(
        e[1].contains("checks[0].http.body_regex: invalid regular expression"),
        "{e:#?}"
    );
}

#[test]
fn empty_file_and_missing_file() {
    assert!(errors("")[0].contains("empty"));
    let e = Config::load(Path::new("/nonexistent/linkpulse.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/linkpulse.yaml: cannot read the file")
    );
}

#[test]
fn hub_values_outside_the_hubs_limits_are_errors_with_their_lines() {
    let e = errors(
        "hub:\n  listen: '127.0.0.1:0'\n  interval: 60s\n  detector: phi\n  phi_threshold: 99\n",
    );
    // The unwritten timeout follows the interval: no error about a key not written.
    assert_eq!(
        e,
        [
            "t.yaml:3: hub.interval: 1m is outside the accepted range 20ms – 10s",
            "t.yaml:5: hub.phi_threshold: 99 is outside the accepted range 1 – 16",
        ]
    );
    let e = errors("hub: { listen: '127.0.0.1:0', interval: 1s, timeout: 1s }\n");
    assert_eq!(
        e,
        ["t.yaml:1: hub.timeout: 1s is outside the accepted range 2s – 10m"]
    );
    // A long interval without a timeout: the default timeout follows it, no error.
    let c = parse("hub: { listen: '127.0.0.1:0', interval: 10s }\nchecks: []\n").unwrap();
    let h = c.hub.unwrap();
    assert_eq!(h.timeout, Duration::from_secs(20));
    assert_eq!(h.forget_after, Duration::from_secs(72 * 3600));
    let c = parse("hub: { listen: '127.0.0.1:0', forget_after: 10m }\nchecks: []\n").unwrap();
    assert_eq!(c.hub.unwrap().forget_after, Duration::from_secs(600));
    let e = errors("hub: { listen: '127.0.0.1:0', forget_after: soon }\n");
    assert!(e[0].starts_with("t.yaml:1: hub.forget_after:"), "{e:#?}");
    assert!(e[0].contains("soon"), "{e:#?}");
    let e = errors("hub: { listen: '127.0.0.1:0', detector: magic }\n");
    assert!(
        e[0].starts_with("t.yaml:1: hub.detector: unknown detector"),
        "{e:#?}"
    );
}

#[test]
fn database_is_a_sqlite_path_or_a_postgres_url() {
    use crate::storage::Backend;
    let c = parse("database: /var/lib/linkpulse/h.db\n").unwrap();
    assert_eq!(c.backend, Backend::Sqlite("/var/lib/linkpulse/h.db".into()));
    let c = parse("database: postgres://lp@db.internal:6543/history\n").unwrap();
    match &c.backend {
        Backend::Postgres(t) => {
            assert_eq!(t.display_url(), "postgres://lp@db.internal:6543/history");
            assert_eq!(
                t.password, None,
                "PGPASSWORD is read when the daemon connects"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.database.to_str(),
        Some("postgres://lp@db.internal:6543/history")
    );
    let c = parse("database: postgresql://lp@127.0.0.1/h\n").unwrap();
    assert!(matches!(c.backend, Backend::Postgres(ref t) if t.port == 5432));
}

#[test]
fn the_database_password_comes_from_a_file_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pass"), "s3cret pass\n").unwrap();
    let text = "database: postgres://lp@127.0.0.1:5432/h\ndatabase_password_file: pg.pass\n";
    let c = Config::parse("t.yaml", text, dir.path()).unwrap();
    match &c.backend {
        crate::storage::Backend::Postgres(t) => {
            assert_eq!(t.password.as_deref(), Some("s3cret pass"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "never in Debug output"
    );
    let e = match Config::parse(
        "t.yaml",
        "database: postgres://lp@127.0.0.1/h\ndatabase_password_file: missing.pass\n",
        dir.path(),
    ) {
        Err(e) => e.to_string(),
        Ok(c) => panic!("{c:?}"),
    };
    assert!(
        e.starts_with("t.yaml:2: database_password_file: cannot read ")
            && e.contains("missing.pass"),
        "{e}"
    );
    let e = errors("database: h.db\ndatabase_password_file: pg.pass\n");
    assert_eq!(
        e,
        [
            "t.yaml:2: database_password_file: only a PostgreSQL database takes a password (database is \"h.db\")"
        ]
    );
}

#[test]
fn bad_database_urls_name_file_line_key_and_value() {
    for (url, why) in [
        ("postgres://lp@db:5432/", "the URL names no database"),
        ("postgres://db:5432/h", "the URL names no user"),
        (
            "postgres://lp@db:70000/h",
            "invalid URL: invalid port number",
        ),
        (
            "postgresql://lp@db/h?sslmode=prefer",
            "unsupported sslmode \"prefer\" (disable, require or verify-full)",
        ),
        (
            "postgresql://lp@db/h?sslrootcert=ca.pem",
            "sslrootcert needs sslmode=verify-full",
        ),
        (
            "postgresql://lp@db/h?connect_timeout=3",
            "unsupported URL parameter \"connect_timeout\"",
        ),
    ] {
        let e = errors(&format!("listen: 127.0.0.1:0\ndatabase: '{url}'\n"));
        // A user name alone is masked too (it may be the credential).
        let shown = linkpulse_probe::redact::Redactor::default().url(url);
        let want = format!("t.yaml:2: database: invalid PostgreSQL URL {shown:?}: {why}");
        assert!(e.len() == 1 && e[0].starts_with(&want), "{e:?}");
    }
    // A password in the URL is refused, and not repeated in the message.
    let e = errors("database: postgres://lp:hunter2@db/h\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("t.yaml:1: database: invalid PostgreSQL URL \"postgres://lp:***@db/h\""),
        "{e:?}"
    );
    assert!(e[0].contains("database_password_file"), "{e:?}");
    assert!(!e[0].contains("hunter2"), "{e:?}");
    let e = errors("database: postgres://lp:hunter2@db:70000/h\n");
    assert!(e[0].contains("\"postgres://lp:***@db:70000/h\""), "{e:?}");
    assert!(!e[0].contains("hunter2"), "{e:?}");
    assert!(!e[0].contains("hunter2"), "{e:?}");
}

#[test]
fn metrics_labels_are_listed_in_order() {
    let c = parse("metrics:\n  labels: [zone, team]\n").unwrap();
    assert_eq!(c.metrics.labels, vec!["zone".to_owned(), "team".to_owned()]);
    assert!(parse("{}\n").unwrap().metrics.labels.is_empty());
}

#[test]
fn bad_metrics_labels_name_line_and_key() {
    let e = errors(
        "metrics:\n  labels:\n    - team\n    - team-name\n    - __name\n    - kind\n    - team\n    - 2zone\n",
    );
    assert_eq!(
        e,
        vec![
            "t.yaml:4: metrics.labels[1]: \"team-name\" is not a Prometheus label name (a letter or `_`, then letters, digits or `_`)".to_owned(),
            "t.yaml:5: metrics.labels[2]: \"__name\" starts with `__`, which Prometheus reserves for itself".to_owned(),
            "t.yaml:6: metrics.labels[3]: \"kind\" is reserved (the series already use or Prometheus sets: check, kind, state, result, to, le, quantile, job, instance)".to_owned(),
            "t.yaml:7: metrics.labels[4]: label \"team\" is listed twice".to_owned(),
            "t.yaml:8: metrics.labels[5]: \"2zone\" is not a Prometheus label name (a letter or `_`, then letters, digits or `_`)".to_owned(),
        ]
    );
    let e = errors("metrics:\n  labels: [team]\n  colour: red\n");
    assert!(e[0].contains("colour"), "{e:?}");
}

fn parse_env(text: &str) -> Result<Config, ConfigErrors> {
    let env = |name: &str| match name {
        "API_HOST" => Some("127.0.0.1:8443".to_owned()),
        "RISE" => Some("4".to_owned()),
        _ => None,
    };
    Config::parse_with_env("t.yaml", text, Path::new("."), &env)
}

#[test]
fn environment_variables_are_expanded_in_values() {
    let c = parse_env(
        "checks:\n  - name: api\n    http: { url: 'https://${API_HOST}/health' }\n    rise: ${RISE}\n    timeout: ${TIMEOUT:-3s}\n",
    )
    .unwrap();
    match &c.checks[0].spec {
        CheckSpec::Http(h) => assert_eq!(h.url.as_str(), "https://127.0.0.1:8443/health"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.checks[0].rise, 4);
    assert_eq!(c.checks[0].timeout, Duration::from_secs(3));
}

#[test]
fn an_unset_variable_is_collected_with_the_other_errors() {
    let e = match parse_env(
        "listen: nowhere\nchecks:\n  - name: api\n    http: { url: 'https://${NO_SUCH_HOST}/health' }\n",
    ) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    // The URL left without its host is not reported a second time.
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("t.yaml:1: listen: invalid address"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with(
            "t.yaml:4: checks[0].http.url: environment variable NO_SUCH_HOST is not set"
        ),
        "{e:#?}"
    );
}

/// A check that says nothing but its target probes as `linkpulse check` does with no flags:
/// both take their defaults from `linkpulse_probe::defaults` (HTTP: every 2xx, redirects
/// followed — the daemon used to accept 200-399 without following, so a 302 to a login page
/// was up).
#[test]
fn defaults_are_the_clis() {
    use linkpulse_probe::{ProbeOptions, defaults};

    let c = parse(
        "checks:\n  - name: web\n    http: { url: 'http://127.0.0.1:1/' }\n  - name: gw\n    icmp: { host: 127.0.0.1 }\n  - name: pg\n    tcp: { address: '127.0.0.1:5432' }\n",
    )
    .unwrap();
    let cli = ProbeOptions::default();
    let web = crate::probe::prepare(&c.checks[0]).unwrap().unwrap();
    assert_eq!(web.options.http.method, cli.http.method);
    assert_eq!(web.options.http.expect_status, cli.http.expect_status);
    assert_eq!(web.options.http.expect_status.to_string(), "200-299");
    assert!(web.options.http.follow_redirects && cli.http.follow_redirects);
    assert_eq!(web.options.timeout, cli.timeout);
    let gw = crate::probe::prepare(&c.checks[1]).unwrap().unwrap();
    assert_eq!(gw.options.icmp.count, cli.icmp.count);
    assert_eq!(gw.options.icmp.interval, cli.icmp.interval);
    assert_eq!(c.checks[2].timeout, defaults::TIMEOUT);
}

/// Checks with the same settings apart from their target share one set of probe options (a
/// kilobyte each), and a check whose settings differ gets its own.
#[test]
fn checks_with_the_same_settings_share_their_probe_options() {
    use std::sync::Arc;

    let c = parse(
        "checks:
  - name: a
    tcp: { address: '127.0.0.1:1' }
  - name: b
    tcp: { address: '127.0.0.2:2' }
  - name: slow
    timeout: 9s
    tcp: { address: '127.0.0.3:3' }
  - name: w1
    http: { url: 'http://127.0.0.1:1/a' }
  - name: w2
    http: { url: 'http://127.0.0.1:1/b?token=x' }
  - name: w3
    http: { url: 'http://127.0.0.1:1/c', headers: { X-A: '1' } }
  - name: g1
    icmp: { host: 127.0.0.1 }
  - name: g2
    icmp: { host: 127.0.0.2 }
",
    )
    .unwrap();
    let mut preparer = crate::probe::Preparer::default();
    let p: Vec<_> = c
        .checks
        .iter()
        .map(|check| preparer.prepare(check).unwrap().unwrap())
        .collect();
    assert!(Arc::ptr_eq(&p[0].options, &p[1].options));
    assert!(!Arc::ptr_eq(&p[0].options, &p[2].options));
    assert_eq!(p[2].options.timeout, Duration::from_secs(9));
    assert!(Arc::ptr_eq(&p[3].options, &p[4].options));
    assert!(!Arc::ptr_eq(&p[3].options, &p[5].options));
    assert_eq!(p[5].options.http.headers.len(), 1);
    assert!(p[3].options.http.headers.is_empty());
    assert!(Arc::ptr_eq(&p[6].options, &p[7].options));
    // Each keeps its own target and masker.
    assert_eq!(p[4].target.to_string(), "http://127.0.0.1:1/b?token=x");
    assert_eq!(
        p[4].redact.url("http://127.0.0.1:1/b?token=x"),
        "http://127.0.0.1:1/b?token=***"
    );
}

/// Defaults never make an error about a key nobody wrote: an interval shorter than the
/// default timeout shortens the timeout instead.
#[test]
fn a_short_interval_shortens_the_default_timeout() {
    let c = parse("checks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 2s\n").unwrap();
    assert_eq!(c.checks[0].timeout, Duration::from_secs(2));
    // A timeout written in `defaults:` is the user's: the error names it there.
    let e = errors(
        "defaults: { timeout: 3s }\nchecks:\n  - name: a\n    tcp: { address: 'h:1' }\n    interval: 2s\n",
    );
    assert_eq!(
        e,
        vec!["t.yaml:1: defaults.timeout: timeout 3s is longer than the interval 2s (a value of `defaults:`, inherited by checks[0])".to_owned()]
    );
}

/// Issue 12: `defaults: { interval: 1s }` alone is valid — the timeout nobody wrote follows
/// the interval instead of making an error about `checks[0].timeout`.
#[test]
fn a_default_interval_shorter_than_the_default_timeout_is_valid() {
    let c = parse(
        "defaults: { interval: 1s }\nchecks:\n  - name: a\n    tcp: { address: 'h:1' }\n  - name: b\n    http: { url: 'http://h/' }\n",
    )
    .unwrap();
    for check in &c.checks {
        assert_eq!(check.interval, Duration::from_secs(1));
        assert_eq!(check.timeout, Duration::from_secs(1));
    }
}

/// A bad value in `defaults:` is one error at the default's line, saying that the checks
/// inherit it — not one per check.
#[test]
fn a_bad_default_is_one_error_naming_the_default() {
    let mut text = "defaults:\n  rise: 0\n  interval: 10ms\nchecks:\n".to_owned();
    for i in 0..10 {
        text.push_str(&format!(
            "  - name: c{i}\n    tcp: {{ address: 'h:{}' }}\n",
            i + 1
        ));
    }
    text.push_str("  - name: own\n    tcp: { address: 'h:99' }\n    rise: 2\n    interval: 1s\n");
    assert_eq!(
        errors(&text),
        [
            "t.yaml:2: defaults.rise: 0 is out of range (1 to 1000) (a value of `defaults:`, inherited by checks[0] and 9 other checks)",
            "t.yaml:3: defaults.interval: \"10ms\" is too short (at least 100ms) (a value of `defaults:`, inherited by checks[0] and 9 other checks)",
        ]
    );
}

/// Header names and values of http checks and webhooks are checked at load, each at the
/// header's line (a bad one used to make every webhook delivery fail forever).
#[test]
fn bad_header_names_are_errors_with_their_lines() {
    let e = errors(
        "checks:\n  - name: a\n    http:\n      url: 'http://h/'\n      headers:\n        X-Ok: fine\n        'bad name': x\nalerts:\n  - webhook:\n      url: 'http://127.0.0.1:9/hook'\n      headers:\n        'X:Colon': y\n        X-Value: \"a\\nb\"\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with(
            "t.yaml:7: checks[0].http.headers.bad name: invalid header name \"bad name\""
        ),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("t.yaml:12: alerts[0].webhook.headers.X:Colon: invalid header name"),
        "{e:#?}"
    );
    assert!(
        e[2].starts_with("t.yaml:13: alerts[0].webhook.headers.X-Value: invalid value for header"),
        "{e:#?}"
    );
}

/// An address the probe cannot use is reported with the other errors, with its line (it
/// used to come only from `config check`, after every other error was fixed, without one).
#[test]
fn a_tcp_address_the_probe_refuses_is_reported_with_the_others() {
    let e = errors(
        "listen: nowhere\nchecks:\n  - name: a\n    tcp: { address: '::1:80' }\n    interval: 5x\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("t.yaml:1: listen:"), "{e:#?}");
    assert!(
        e.iter()
            .any(|l| l.starts_with("t.yaml:4: checks[0].tcp.address: invalid host `::1:80`")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|l| l.starts_with("t.yaml:5: checks[0].interval:")),
        "{e:#?}"
    );
}

/// Every `*_file` is taken from the config file's directory and read at load.
#[test]
fn files_are_resolved_from_the_configs_directory_and_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hub.secret"), "0123456789abcdef\n").unwrap();
    let text = "hub: { listen: '127.0.0.1:0', secret_file: hub.secret }\n";
    let c = Config::parse("t.yaml", text, dir.path()).unwrap();
    assert_eq!(
        c.hub.unwrap().secret_file,
        Some(dir.path().join("hub.secret"))
    );
    // CA files too, for checks and webhooks.
    let ca = linkpulse_testsupport::servers::TestCa::new().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    let c = Config::parse(
        "t.yaml",
        "checks:\n  - name: a\n    http: { url: 'https://h/', ca_file: ca.pem }\nalerts:\n  - webhook: { url: 'https://127.0.0.1:9/', ca_file: ca.pem }\n",
        dir.path(),
    )
    .unwrap();
    match &c.checks[0].spec {
        CheckSpec::Http(h) => assert_eq!(h.ca_file, Some(dir.path().join("ca.pem"))),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&c.alerts[0].target, AlertTarget::Webhook { ca_file: Some(p), .. } if *p == dir.path().join("ca.pem")),
        "{:?}",
        c.alerts[0].target
    );
    // Missing: an error at its line, from the config's directory.
    let e = Config::parse(
        "t.yaml",
        "checks:\n  - name: a\n    http: { url: 'https://h/', ca_file: missing-ca.pem }\nhub: { listen: '127.0.0.1:0', secret_file: nope.secret }\n",
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    let ca = dir.path().join("missing-ca.pem");
    let secret = dir.path().join("nope.secret");
    assert!(
        e.contains(&format!(
            "t.yaml:3: checks[0].http.ca_file: cannot read CA file {}: ",
            ca.display()
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "t.yaml:4: hub.secret_file: cannot read {}: ",
            secret.display()
        )),
        "{e}"
    );
    // A secret the hub would refuse is refused here.
    std::fs::write(dir.path().join("short.secret"), "short\n").unwrap();
    let e = Config::parse(
        "t.yaml",
        "hub: { listen: '127.0.0.1:0', secret_file: short.secret }\n",
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.yaml:1: hub.secret_file: "), "{e}");
}

/// A token or password file that is a device or a FIFO is an error naming it, at once.
#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("token.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (text, want) in [
        (
            "api_token_file: /dev/zero\n".to_owned(),
            "t.yaml:1: api_token_file: cannot read /dev/zero: it is a character device, not a regular file".to_owned(),
        ),
        (
            "api_token_file: token.fifo\n".to_owned(),
            format!("t.yaml:1: api_token_file: cannot read {}: it is a FIFO, not a regular file", fifo.display()),
        ),
        (
            "database: postgres://lp@127.0.0.1/h\ndatabase_password_file: /dev/zero\n".to_owned(),
            "t.yaml:2: database_password_file: cannot read /dev/zero: it is a character device, not a regular file".to_owned(),
        ),
    ] {
        let e = Config::parse("t.yaml", &text, dir.path()).unwrap_err().to_string();
        assert_eq!(e, want);
    }
}

/// The parser's node budget follows the file's size: 20,000 tcp checks with an interval and
/// two labels used to stop at `checks[16665]` with "budget breached: Nodes { nodes: 250001 }".
/// A YAML bomb (aliases) is still refused, in words.
#[test]
fn the_yaml_budget_scales_with_the_file_and_speaks_words() {
    let mut text = String::from("checks:\n");
    for i in 0..20_000 {
        text.push_str(&format!(
            "  - name: c{i}\n    tcp: {{ address: '127.0.0.1:{}' }}\n    interval: 1m\n    labels: {{ zone: a, team: b }}\n",
            1 + i % 60_000
        ));
    }
    assert_eq!(parse(&text).unwrap().checks.len(), 20_000);
    // Far more aliases than anchors: the parser's guard against alias bombs, in words.
    let mut bomb = String::from("defaults: { interval: &i 1m }\nchecks:\n");
    for i in 0..200 {
        bomb.push_str(&format!(
            "  - {{ name: c{i}, tcp: {{ address: 'h:1' }}, interval: *i }}\n"
        ));
    }
    let e = errors(&bomb);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(!e[0].contains("budget breached"), "{e:#?}");
    assert!(e[0].contains("too many aliases"), "{e:#?}");
}

/// The limits are the CLI's, with the same words: methods, ICMP count and gap, timeout.
#[test]
fn limits_are_the_clis() {
    let c = parse(
        "checks:\n  - name: a\n    http: { url: 'http://h/', method: post }\n  - name: b\n    icmp: { host: h, count: 1000, interval: 10ms }\n",
    )
    .unwrap();
    match &c.checks[0].spec {
        CheckSpec::Http(h) => assert_eq!(h.method, "POST"),
        other => panic!("{other:?}"),
    }
    let e = errors(
        "checks:\n  - name: a\n    http: { url: 'http://h/', method: FETCH }\n  - name: b\n    icmp: { host: h, count: 1001, interval: 5ms }\n  - name: c\n    tcp: { address: 'h:1' }\n    interval: 3h\n    timeout: 2h\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e[0].starts_with("t.yaml:3: checks[0].http.method: unknown HTTP method \"FETCH\""),
        "{e:#?}"
    );
    assert_eq!(
        e[1],
        "t.yaml:5: checks[1].icmp.count: 1001 is out of range (1 to 1000)"
    );
    assert!(
        e[2].starts_with("t.yaml:5: checks[1].icmp.interval: 5ms is out of range (10ms to 1m)"),
        "{e:#?}"
    );
    assert!(
        e[3].starts_with("t.yaml:9: checks[2].timeout: 2h is out of range (1ms to 1h)"),
        "{e:#?}"
    );
}

const CLUSTER: &str = "database: postgres://lp@db.invalid/lp\ncluster: { node: m1, vantage: eu }\n";

#[test]
fn vantage_lists_all_and_a_default_majority_quorum() {
    use super::vantage::{Quorum, VantageConfig};
    use linkpulse_cluster::VantageSet;
    let c = parse(&format!(
        "{CLUSTER}checks:\n  - name: a\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu, us, ap], quorum: 2 }}\n  - name: b\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu, us, ap, sa] }}\n  - name: c\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: all }}\n  - name: d\n    tcp: {{ address: '127.0.0.1:1' }}\n"
    ))
    .unwrap();
    let three: VantageSet = VantageSet::Only(["eu", "us", "ap"].map(str::to_owned).into());
    assert_eq!(
        c.checks[0].vantage,
        Some(VantageConfig {
            from: three,
            quorum: Quorum::Exactly(2)
        })
    );
    // A majority of the four listed.
    assert_eq!(
        c.checks[1].vantage.as_ref().unwrap().quorum,
        Quorum::Exactly(3)
    );
    let all = c.checks[2].vantage.as_ref().unwrap();
    assert_eq!(all.from, VantageSet::All);
    assert_eq!((all.quorum_of(3), all.quorum_of(4)), (2, 3));
    assert_eq!(c.checks[3].vantage, None);
}

#[test]
fn bad_vantage_settings_name_line_and_key() {
    let e = errors(&format!(
        "{CLUSTER}checks:\n  - name: a\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu, 'us east'], quorum: 1 }}\n  - name: b\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu, us], quorum: 3 }}\n  - name: c\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu], quorum: 0 }}\n  - name: d\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: some }}\n"
    ));
    let want = [
        "t.yaml:6: checks[0].vantage.from[1]: invalid vantage label \"us east\"",
        "t.yaml:9: checks[1].vantage.quorum: quorum 3 out of range: between 1 and 2, the number of vantages listed",
        "t.yaml:12: checks[2].vantage.quorum: quorum 0 out of range: between 1 and 1",
        "t.yaml:15: checks[3].vantage.from: invalid value \"some\"",
    ];
    for w in want {
        assert!(e.iter().any(|e| e.contains(w)), "{w:?} not in {e:#?}");
    }
    let e = errors(&format!(
        "{CLUSTER}checks:\n  - name: e\n    tcp: {{ address: '127.0.0.1:1' }}\n    vantage: {{ from: [eu], qorum: 1 }}\n"
    ));
    assert_eq!(
        e,
        ["t.yaml:6: checks[0].vantage.qorum: unknown field `qorum`, expected one of from, quorum"]
    );
}

#[test]
fn vantage_without_cluster_names_the_key() {
    let e = errors(
        "database: x.db\nchecks:\n  - name: a\n    tcp: { address: '127.0.0.1:1' }\n    vantage: { from: [eu, us] }\n",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("t.yaml:5: checks[0].vantage: `vantage:` needs cluster mode"),
        "{e:#?}"
    );
}
