//! Unit tests of the blackbox config: every shape blackbox_exporter users write, and every
//! error located.

use std::path::Path;
use std::time::Duration;

use linkpulse_probe::IpFamily;

use super::config::BlackboxConfig;
use super::module::ModuleProber;
use super::outcome::ip_hash;

use crate::config::ConfigErrors;

fn parse(text: &str) -> Result<BlackboxConfig, ConfigErrors> {
    BlackboxConfig::parse("blackbox.yml", text, Path::new("."))
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("parsed: {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn reads_http_tcp_and_icmp_modules() {
    let c = parse(
        r#"
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200, 204]
      valid_http_versions: ["HTTP/1.1", "HTTP/2.0"]
      method: HEAD
      headers:
        X-Probe: linkpulse
      fail_if_body_matches_regexp: ["error"]
      fail_if_body_not_matches_regexp: ["ok", "^\\{"]
      no_follow_redirects: true
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      fail_if_not_ssl: true
      tls_config:
        insecure_skip_verify: true
  tcp_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip6
  icmp:
    prober: icmp
    timeout: 1500ms
"#,
    )
    .unwrap();
    let m = &c.modules["http_2xx"];
    assert_eq!(m.timeout, Some(Duration::from_secs(5)));
    let ModuleProber::Http(h) = &m.prober else {
        panic!("{m:?}")
    };
    assert!(h.options.expect_status.contains(204) && !h.options.expect_status.contains(201));
    assert_eq!(h.options.method, http::Method::HEAD);
    assert_eq!(h.options.headers.len(), 1);
    assert_eq!(h.fail_if_body_matches.len(), 1);
    assert_eq!(h.fail_if_body_not_matches.len(), 2);
    assert!(!h.options.follow_redirects && h.options.insecure && h.fail_if_not_ssl);
    assert_eq!(h.ip.preferred, IpFamily::V4);
    assert!(!h.ip.fallback);
    assert_eq!(h.valid_http_versions, ["HTTP/1.1", "HTTP/2.0"]);
    let ModuleProber::Tcp(t) = &c.modules["tcp_connect"].prober else {
        panic!()
    };
    assert_eq!(t.ip.preferred, IpFamily::V6);
    assert!(t.ip.fallback);
    assert!(c.modules["tcp_connect"].timeout.is_none());
    assert!(matches!(c.modules["icmp"].prober, ModuleProber::Icmp(_)));
    assert_eq!(c.modules["icmp"].timeout, Some(Duration::from_millis(1500)));
}

#[test]
fn defaults_are_blackbox_exporters() {
    let c = parse("modules:\n  h:\n    prober: http\n").unwrap();
    let ModuleProber::Http(h) = &c.modules["h"].prober else {
        panic!()
    };
    // Any 2xx, follow redirects, IPv6 preferred with fallback.
    assert!(h.options.expect_status.contains(200) && h.options.expect_status.contains(299));
    assert!(!h.options.expect_status.contains(301));
    assert!(h.options.follow_redirects);
    assert_eq!((h.ip.preferred, h.ip.fallback), (IpFamily::V6, true));
    // An empty `modules:` is a valid (useless) file.
    assert!(parse("modules: {}\n").unwrap().modules.is_empty());
}

#[test]
fn other_probers_and_unimplemented_settings_are_kept_as_unsupported() {
    let c = parse(
        "modules:\n  mail:\n    prober: smtp\n  dns_udp:\n    prober: dns\n    dns:\n      query_name: example.org\n      source_ip_address: 127.0.0.1\n  auth:\n    prober: http\n    http:\n      oauth2: { client_id: u }\n  tls_tcp:\n    prober: tcp\n    tcp: { tls: true, source_ip_address: 127.0.0.1 }\n  ok:\n    prober: tcp\n",
    )
    .unwrap();
    let reasons: Vec<_> = c.unsupported().collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    let reason = |m: &str| {
        reasons
            .iter()
            .find(|(n, _)| *n == m)
            .map(|(_, r)| r.to_string())
            .unwrap()
    };
    assert!(reason("dns_udp").contains("modules.dns_udp.dns.source_ip_address"));
    // blackbox_exporter loads unknown probers too (and answers them with 400).
    assert_eq!(
        reason("mail"),
        "blackbox.yml:3: modules.mail.prober: unknown prober \"smtp\" (expected http, tcp, icmp, dns or grpc)"
    );
    assert!(reason("auth").contains("modules.auth.http.oauth2"));
    assert!(reason("tls_tcp").contains("modules.tls_tcp.tcp.source_ip_address"));
}

#[test]
fn every_error_names_file_line_and_key() {
    let e = errors(
        "modules:\n  a:\n    prober: http\n    timeout: 5x\n    http:\n      valid_status_codes: [200, 999]\n      fail_if_body_matches_regexp: ['(']\n      preferred_ip_protocol: ip5\n  b:\n    prober: tcp\n    tcp: { preferred_ip_protocol: ipx }\n  c:\n    timeout: 1s\n",
    );
    assert_eq!(e.len(), 6, "{e:#?}");
    assert!(
        e[0].starts_with("blackbox.yml:4: modules.a.timeout: invalid duration \"5x\""),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("blackbox.yml:6: modules.a.http.valid_status_codes[1]: status code 999"),
        "{e:#?}"
    );
    assert!(
        e[2].starts_with(
            "blackbox.yml:7: modules.a.http.fail_if_body_matches_regexp[0]: invalid regular expression"
        ),
        "{e:#?}"
    );
    assert!(
        e[3].starts_with(
            "blackbox.yml:8: modules.a.http.preferred_ip_protocol: invalid value \"ip5\""
        ),
        "{e:#?}"
    );
    assert!(
        e[4].starts_with(
            "blackbox.yml:11: modules.b.tcp.preferred_ip_protocol: invalid value \"ipx\""
        ),
        "{e:#?}"
    );
    assert!(
        e[5].contains("modules.c.prober: missing `prober:`"),
        "{e:#?}"
    );
}

#[test]
fn syntax_errors_and_unknown_fields_are_located() {
    let e = errors("modules:\n  a:\n    prober: http\n    http:\n      colour: red\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("blackbox.yml:5: modules.a.http"), "{e:?}");
    assert!(e[0].contains("unknown field `colour`"), "{e:?}");

    let e = errors("modules:\n  a: { prober: http\n");
    assert!(e[0].starts_with("blackbox.yml:"), "{e:?}");

    let e = errors("");
    assert_eq!(
        e,
        ["blackbox.yml:1: the file is empty; a blackbox_exporter config starts with `modules:`"]
    );

    let e = errors(
        "modules:\n  a:\n    prober: http\n    http:\n      tls_config:\n        ca_file: /nonexistent/ca.pem\n",
    );
    assert!(
        e[0].starts_with(
            "blackbox.yml:6: modules.a.http.tls_config.ca_file: cannot read /nonexistent/ca.pem"
        ),
        "{e:?}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let e = BlackboxConfig::load(Path::new("/nonexistent/blackbox.yml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/blackbox.yml: cannot read the blackbox_exporter config"),
        "{e}"
    );
}

#[test]
fn ip_hash_is_blackbox_exporters() {
    // Values read from blackbox_exporter 0.23 for the same addresses.
    assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), 3_668_918_509.0);
}

#[test]
fn builtin_modules_are_the_usual_three() {
    let c = BlackboxConfig::builtin();
    let names: Vec<&str> = c.modules.keys().map(String::as_str).collect();
    assert_eq!(names, ["http_2xx", "icmp", "tcp_connect"]);
    assert_eq!(c.unsupported().count(), 0);
    assert!(
        c.modules
            .values()
            .all(|m| m.timeout == Some(Duration::from_secs(5)))
    );
}

#[test]
fn http_dates_parse_as_blackbox_exporter_reads_last_modified() {
    assert_eq!(
        super::run::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777.0)
    );
    assert_eq!(super::run::http_date("yesterday"), None);
}
