//! blackbox_exporter's request and answer keys of the `http` prober — `basic_auth`,
//! `bearer_token(_file)`, `authorization`, `body`, `method`, `headers`,
//! `fail_if_header_(not_)matches`, `body_size_limit`, `compression`, `proxy_url` (through a
//! proxy written here) — and of the `icmp` prober (`ttl`,
//! `payload_size`, `dont_fragment`; through a router in `icmp_tuning.rs`) on
//! `linkpulse serve`'s `/probe`, against
//! a real HTTP server that records what it receives, and compared with the real
//! `prometheus-blackbox-exporter` on the same config and target: the same request on the
//! wire, the same verdict, the same metric names.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use linkpulse_testsupport::blackbox::{self, EXPORTER, Exporter};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::http;
use linkpulse_testsupport::servers::{HttpResponse, HttpServer};

/// The body the target answers with (29 bytes).
const BODY: &str = "hello from the http key tests";

fn config(dir: &Path) -> std::path::PathBuf {
    let ca = linkpulse_testsupport::servers::TestCa::new().expect("CA");
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, ca.cert_pem()).expect("write CA");
    config_with(dir, "http://127.0.0.1:1/", &pem)
}

/// The config, its `proxied*` modules going through `proxy` and trusting `ca`.
fn config_with(dir: &Path, proxy: &str, ca: &Path) -> std::path::PathBuf {
    let pw = dir.join("pw.txt");
    std::fs::write(&pw, "s3cret\n").expect("write password");
    let token = dir.join("token.txt");
    std::fs::write(&token, "tok-123\n").expect("write token");
    let text = format!(
        r#"modules:
  basic:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      method: POST
      headers:
        Content-Type: application/json
      body: '{{"ping":1}}'
      basic_auth:
        username: alice
        password_file: {pw}
  bearer:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      bearer_token_file: {token}
  bearer_inline:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      bearer_token: inline-456
  authorization:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      authorization:
        type: Token
        credentials: abc
  header_matches:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches:
        - header: X-Env
          regexp: prod
  header_not_matches:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches:
        - header: content-type
          regexp: ^text/plain$
  header_missing:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches:
        - header: X-Version
          regexp: "."
  header_missing_allowed:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches:
        - header: X-Version
          regexp: "."
          allow_missing: true
  small_limit:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      body_size_limit: 10B
  large_limit:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      body_size_limit: 1MB
  gzip:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      compression: gzip
      fail_if_body_not_matches_regexp: ["key tests$"]
  deflate:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      compression: deflate
      fail_if_body_not_matches_regexp: ["^hello"]
  proxied:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: {proxy}
  proxied_tls:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      proxy_url: {proxy}
      fail_if_not_ssl: true
      tls_config:
        ca_file: {ca}
  icmp_tuned:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
      ttl: 5
      payload_size: 100
      dont_fragment: true
  oauth:
    prober: http
    timeout: 5s
    http:
      oauth2:
        client_id: x
        client_secret: y
        token_url: http://127.0.0.1:1/token
"#,
        pw = pw.display(),
        token = token.display(),
        ca = ca.display(),
    );
    let path = dir.join("blackbox.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `linkpulse serve --blackbox-config CONFIG` with no checks.
fn serve(dir: &Path, blackbox: &Path) -> Daemon {
    let config = dir.join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nchecks: []\n",
            dir.join("history.db").display()
        ),
    )
    .expect("write daemon config");
    Daemon::start(
        env!("CARGO_BIN_EXE_linkpulse"),
        &config,
        &["--blackbox-config", &blackbox.display().to_string()],
    )
    .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

/// `/probe?module=…&target=…` on `addr`: the status and the text.
fn probe(addr: SocketAddr, module: &str, target: &str) -> (u16, String) {
    let path = format!(
        "/probe?module={}&target={}",
        http::percent_encode(module),
        http::percent_encode(target)
    );
    let r = http::request(addr, "GET", &path, &[], "").expect("an answer from /probe");
    (r.status, r.body)
}

/// The value of the unlabelled sample `name` in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Names of the metric families (their `# TYPE` lines).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// What the target saw of the last request: the method, the `Authorization` header and the
/// body.
fn last_request(server: &HttpServer) -> (String, Option<String>, String) {
    let all = server.received();
    let raw = all.last().expect("the target received a request");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let method = head
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let auth = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_owned())
    });
    (method, auth, body.to_owned())
}

fn exporter(config: &Path, dir: &Path) -> Option<Exporter> {
    let Some(binary) = blackbox::binary() else {
        eprintln!(
            "SKIPPED: {EXPORTER} is not installed (scripts/install-test-deps installs it); \
             the comparison with the real blackbox_exporter did not run"
        );
        return None;
    };
    Some(Exporter::start(&binary, config, dir).expect("start blackbox_exporter"))
}

#[test]
fn credentials_method_and_body_are_sent_as_the_exporter_sends_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let target = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body(BODY),
    )
    .expect("target");
    let url = target.url("/");
    let daemon = serve(dir.path(), &config);
    let exporter = exporter(&config, dir.path());
    let cases = [
        ("basic", "POST", "Basic YWxpY2U6czNjcmV0", r#"{"ping":1}"#),
        ("bearer", "GET", "Bearer tok-123", ""),
        ("bearer_inline", "GET", "Bearer inline-456", ""),
        ("authorization", "GET", "Token abc", ""),
    ];
    for (module, method, auth, body) in cases {
        let (status, text) = probe(daemon.addr(), module, &url);
        assert_eq!(status, 200, "{module}: {text}");
        assert_eq!(
            sample(&text, "probe_success"),
            Some(1.0),
            "{module}: {text}"
        );
        let ours = last_request(&target);
        assert_eq!(
            ours,
            (method.to_owned(), Some(auth.to_owned()), body.to_owned()),
            "{module}"
        );
        if let Some(exporter) = &exporter {
            let (status, theirs_text) = probe(exporter.addr(), module, &url);
            assert_eq!(status, 200, "{module}: {theirs_text}");
            assert_eq!(
                last_request(&target),
                ours,
                "{module}: what the exporter sent"
            );
            assert_eq!(
                sample(&theirs_text, "probe_success"),
                sample(&text, "probe_success"),
                "{module}"
            );
            let missing: Vec<_> = families(&theirs_text)
                .difference(&families(&text))
                .cloned()
                .collect();
            assert!(missing.is_empty(), "{module}: linkpulse lacks {missing:?}");
        }
    }
    // The debug log never shows a credential.
    let (_, debug) = http::request(
        daemon.addr(),
        "GET",
        &format!(
            "/probe?module=basic&debug=true&target={}",
            http::percent_encode(&url)
        ),
        &[],
        "",
    )
    .map(|r| (r.status, r.body))
    .expect("debug answer");
    for secret in ["s3cret", "YWxpY2U6czNjcmV0", "tok-123"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn header_rules_and_body_size_limit_judge_as_the_exporter_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let target = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body(BODY).header("X-Env", "prod"),
    )
    .expect("target");
    let url = target.url("/");
    let daemon = serve(dir.path(), &config);
    let exporter = exporter(&config, dir.path());
    // module, probe_success, probe_failed_due_to_regex, probe_http_uncompressed_body_length
    let cases = [
        ("header_matches", 0.0, 1.0, 29.0),
        ("header_not_matches", 1.0, 0.0, 29.0),
        ("header_missing", 0.0, 1.0, 29.0),
        ("header_missing_allowed", 1.0, 0.0, 29.0),
        ("small_limit", 0.0, 0.0, 10.0),
        ("large_limit", 1.0, 0.0, 29.0),
    ];
    for (module, success, regex, length) in cases {
        let (status, text) = probe(daemon.addr(), module, &url);
        assert_eq!(status, 200, "{module}: {text}");
        let ours = (
            sample(&text, "probe_success"),
            sample(&text, "probe_failed_due_to_regex"),
            sample(&text, "probe_http_uncompressed_body_length"),
        );
        assert_eq!(
            ours,
            (Some(success), Some(regex), Some(length)),
            "{module}: {text}"
        );
        if let Some(exporter) = &exporter {
            let (_, theirs) = probe(exporter.addr(), module, &url);
            assert_eq!(
                (
                    sample(&theirs, "probe_success"),
                    sample(&theirs, "probe_failed_due_to_regex"),
                    sample(&theirs, "probe_http_uncompressed_body_length"),
                ),
                ours,
                "{module}: blackbox_exporter answered\n{theirs}"
            );
        }
    }
}

#[test]
fn a_key_linkpulse_does_not_implement_is_a_400_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let daemon = serve(dir.path(), &config);
    let (status, text) = probe(daemon.addr(), "oauth", "http://127.0.0.1:1/");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("modules.oauth.http.oauth2"), "{text}");
}

#[test]
fn icmp_keys_answer_as_the_exporter_does_on_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let daemon = serve(dir.path(), &config);
    let (status, ours) = probe(daemon.addr(), "icmp_tuned", "127.0.0.1");
    assert_eq!(status, 200, "{ours}");
    assert_eq!(sample(&ours, "probe_success"), Some(1.0), "{ours}");
    assert_eq!(
        sample(&ours, "probe_icmp_reply_hop_limit"),
        Some(64.0),
        "{ours}"
    );
    if let Some(exporter) = exporter(&config, dir.path()) {
        let (_, theirs) = probe(exporter.addr(), "icmp_tuned", "127.0.0.1");
        assert_eq!(
            sample(&theirs, "probe_success"),
            sample(&ours, "probe_success"),
            "{theirs}"
        );
        let missing: Vec<_> = families(&theirs)
            .difference(&families(&ours))
            .cloned()
            .collect();
        assert!(missing.is_empty(), "linkpulse lacks {missing:?}");
    }
}

#[test]
fn compressed_bodies_are_asked_for_and_decoded_as_the_exporter_does() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(BODY.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(BODY.as_bytes()).unwrap();
    let raw = raw.finish().unwrap();
    let serve_body = |body: Vec<u8>, encoding: &str| {
        HttpServer::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            HttpResponse::new(200)
                .body(body)
                .header("Content-Encoding", encoding),
        )
        .expect("target")
    };
    let gzip_target = serve_body(gz.clone(), "gzip");
    let deflate_target = serve_body(raw, "deflate");
    let plain = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body(BODY),
    )
    .expect("target");
    let daemon = serve(dir.path(), &config);
    let exporter = exporter(&config, dir.path());
    // module, target, probe_success, probe_http_content_length,
    // probe_http_uncompressed_body_length
    let cases = [
        ("gzip", &gzip_target, 1.0, gz.len() as f64, 29.0),
        ("deflate", &deflate_target, 1.0, -2.0, 29.0),
        // Not gzip at all: the exporter decodes blindly, and fails; so does linkpulse.
        ("gzip", &plain, 0.0, 29.0, -2.0),
    ];
    for (module, target, success, length, uncompressed) in cases {
        let url = target.url("/");
        let (_, ours) = probe(daemon.addr(), module, &url);
        let asked = target.received().last().cloned().unwrap_or_default();
        assert!(
            asked
                .to_ascii_lowercase()
                .contains(&format!("accept-encoding: {module}")),
            "{asked}"
        );
        assert_eq!(
            sample(&ours, "probe_success"),
            Some(success),
            "{module}: {ours}"
        );
        if length >= 0.0 {
            assert_eq!(
                sample(&ours, "probe_http_content_length"),
                Some(length),
                "{ours}"
            );
        }
        if uncompressed >= 0.0 {
            assert_eq!(
                sample(&ours, "probe_http_uncompressed_body_length"),
                Some(uncompressed),
                "{module}: {ours}"
            );
        }
        if let Some(exporter) = &exporter {
            let (_, theirs) = probe(exporter.addr(), module, &url);
            for name in [
                "probe_success",
                "probe_http_content_length",
                "probe_failed_due_to_regex",
            ] {
                assert_eq!(
                    sample(&theirs, name),
                    sample(&ours, name),
                    "{module} {name}: {theirs}"
                );
            }
            if success == 1.0 {
                assert_eq!(
                    sample(&theirs, "probe_http_uncompressed_body_length"),
                    sample(&ours, "probe_http_uncompressed_body_length"),
                    "{module}: {theirs}"
                );
            }
        }
    }
}

/// A forwarding HTTP proxy on 127.0.0.1: `CONNECT` tunnels and absolute-form requests, each
/// request line recorded. Its threads end with the test process.
struct Proxy {
    addr: SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut client = client;
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match client.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let line = text.lines().next().unwrap_or_default().to_owned();
                    log.lock().unwrap().push(line.clone());
                    let mut parts = line.split_whitespace();
                    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let authority = if method == "CONNECT" {
                        target.to_owned()
                    } else {
                        let rest = target.strip_prefix("http://").unwrap_or(target);
                        rest.split('/').next().unwrap_or(rest).to_owned()
                    };
                    let Ok(mut upstream) = std::net::TcpStream::connect(&authority) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    if method == "CONNECT" {
                        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    } else {
                        let _ = upstream.write_all(&head);
                    }
                    let (mut c2, mut u2) =
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let up = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut u2);
                        let _ = u2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut upstream, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                    let _ = up.join();
                });
            }
        });
        Proxy { addr, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[test]
fn proxy_url_carries_http_and_tunnels_https_as_the_exporter_does() {
    use linkpulse_testsupport::servers::{TestCa, Validity};
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = Proxy::start();
    let ca = TestCa::new().expect("CA");
    let config = config_with(
        dir.path(),
        &format!("http://{}/", proxy.addr),
        ca.pem_path(),
    );
    let plain = HttpServer::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body(BODY),
    )
    .expect("target");
    let identity = ca
        .issue(&["localhost"], Validity::expires_in_days(30))
        .expect("certificate");
    let tls = HttpServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        None,
        HttpResponse::new(200).body(BODY),
        &identity,
    )
    .expect("TLS target");
    let daemon = serve(dir.path(), &config);
    let exporter = exporter(&config, dir.path());

    let url = plain.url("/via");
    let (_, ours) = probe(daemon.addr(), "proxied", &url);
    assert_eq!(sample(&ours, "probe_success"), Some(1.0), "{ours}");
    assert_eq!(
        proxy.lines().last().map(String::as_str),
        Some(format!("GET {url} HTTP/1.1").as_str())
    );
    let tls_url = format!("https://localhost:{}/", tls.addr().port());
    let (_, ours_tls) = probe(daemon.addr(), "proxied_tls", &tls_url);
    assert_eq!(sample(&ours_tls, "probe_success"), Some(1.0), "{ours_tls}");
    assert_eq!(sample(&ours_tls, "probe_http_ssl"), Some(1.0), "{ours_tls}");
    let connect = proxy.lines().last().cloned().unwrap_or_default();
    assert!(connect.starts_with("CONNECT localhost:"), "{connect}");
    // A target the proxy cannot reach: its 502 is the answer.
    let (_, ours_down) = probe(daemon.addr(), "proxied", "http://127.0.0.1:1/");
    assert_eq!(
        sample(&ours_down, "probe_success"),
        Some(0.0),
        "{ours_down}"
    );
    assert_eq!(
        sample(&ours_down, "probe_http_status_code"),
        Some(502.0),
        "{ours_down}"
    );

    if let Some(exporter) = &exporter {
        for (module, target, ours) in [
            ("proxied", url.as_str(), &ours),
            ("proxied_tls", tls_url.as_str(), &ours_tls),
            ("proxied", "http://127.0.0.1:1/", &ours_down),
        ] {
            let before = proxy.lines().len();
            let (_, theirs) = probe(exporter.addr(), module, target);
            assert!(
                proxy.lines().len() > before,
                "the exporter went through the proxy"
            );
            for name in ["probe_success", "probe_http_status_code", "probe_http_ssl"] {
                assert_eq!(
                    sample(&theirs, name),
                    sample(ours, name),
                    "{module} {name}: {theirs}"
                );
            }
        }
    }
}
