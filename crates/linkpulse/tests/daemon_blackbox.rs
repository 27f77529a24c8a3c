//! The blackbox_exporter-compatible `/probe`: real HTTP, HTTPS and TCP servers and ICMP on
//! loopback, the answer parsed as Prometheus text and compared field by field with what
//! blackbox_exporter documents — and with what the real `prometheus-blackbox-exporter` binary
//! answers for the same config and targets.

#[path = "../../linkpulse-probe/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linkpulse_daemon::blackbox::{Blackbox, BlackboxConfig, routes};
use linkpulse_testsupport::blackbox::{self, EXPORTER, Exporter};
use linkpulse_testsupport::daemon::Daemon;
use linkpulse_testsupport::http;
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------------
// Prometheus text format, parsed strictly.

/// One metric family of an exposition.
#[derive(Debug, Clone, Default)]
struct Family {
    help: String,
    kind: String,
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parses the text exposition; panics on anything the format does not allow, including a
/// sample without HELP and TYPE lines before it.
fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP line has a name and text");
            families.entry(name.to_owned()).or_default().help = help.to_owned();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line has a name and type");
            let f = families.entry(name.to_owned()).or_default();
            assert!(!f.help.is_empty(), "TYPE before HELP for {name}");
            f.kind = kind.to_owned();
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name, parse_labels(body))
            }
        };
        let f = families
            .get_mut(name)
            .unwrap_or_else(|| panic!("sample of {name} without HELP/TYPE"));
        assert!(!f.kind.is_empty(), "sample of {name} without TYPE");
        f.samples.push((labels, value));
    }
    families
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label key=\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("dangling escape"),
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.expect("closing quote");
        out.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

/// The value of the unlabelled sample of `name`.
fn value(m: &BTreeMap<String, Family>, name: &str) -> f64 {
    let f = m.get(name).unwrap_or_else(|| panic!("no {name} in {m:#?}"));
    assert_eq!(f.samples.len(), 1, "{name}: {f:?}");
    f.samples[0].1
}

/// The value of the sample of `name` whose label `key` is `val`.
fn labelled(m: &BTreeMap<String, Family>, name: &str, key: &str, val: &str) -> f64 {
    let f = m.get(name).unwrap_or_else(|| panic!("no {name} in {m:#?}"));
    f.samples
        .iter()
        .find(|(l, _)| l.get(key).map(String::as_str) == Some(val))
        .unwrap_or_else(|| panic!("no {name}{{{key}={val:?}}} in {f:?}"))
        .1
}

/// (name, type, sorted label names of each sample) — what a scrape config and its queries
/// depend on.
fn shape(m: &BTreeMap<String, Family>) -> BTreeSet<(String, String, Vec<String>)> {
    let mut out = BTreeSet::new();
    for (name, f) in m {
        for (labels, _) in &f.samples {
            out.insert((
                name.clone(),
                f.kind.clone(),
                labels.keys().cloned().collect(),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The servers under test, asked with testsupport's one raw HTTP client.

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

/// `GET path` with `headers`, off the async runtime (the `/probe` router under test may run on
/// this test's own runtime).
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let path = path.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let r = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http::request(addr, "GET", &path, &headers, "")
    })
    .await
    .expect("the request task")
    .expect("an HTTP answer");
    Reply {
        status: r.status,
        content_type: r.header("content-type").unwrap_or_default().to_owned(),
        body: r.body,
    }
}

/// A URL query component.
fn q(s: &str) -> String {
    http::percent_encode(s)
}

/// linkpulse's `/probe` router on its own axum server on 127.0.0.1:0.
struct Linkpulse {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Linkpulse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Linkpulse {
    async fn start(config: &Path) -> Linkpulse {
        let bb = Blackbox::load(config, linkpulse_probe::Prober::new())
            .unwrap_or_else(|e| panic!("config: {e}"));
        let app: axum::Router = routes(Arc::new(bb));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Linkpulse { addr, task }
    }

    async fn probe(&self, module: &str, target: &str) -> BTreeMap<String, Family> {
        probe_at(self.addr, module, target).await
    }
}

async fn probe_at(addr: SocketAddr, module: &str, target: &str) -> BTreeMap<String, Family> {
    let r = get(
        addr,
        &format!("/probe?module={}&target={}", q(module), q(target)),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{module} {target}: {}", r.body);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    parse_exposition(&r.body)
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the tests.

const HELLO: &str = "hello from linkpulse tests";

fn config(dir: &Path, ca: &Path) -> PathBuf {
    let text = format!(
        r#"modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  http_404_ok:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [404]
      preferred_ip_protocol: ip4
  http_body_ok:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["^hello", "linkpulse"]
      preferred_ip_protocol: ip4
  http_body_bad:
    prober: http
    timeout: 5s
    http:
      fail_if_body_matches_regexp: ["linkpulse tests$"]
      preferred_ip_protocol: ip4
  http_no_redirects:
    prober: http
    timeout: 5s
    http:
      follow_redirects: false
      valid_status_codes: [302]
      preferred_ip_protocol: ip4
  https_ca:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        ca_file: {ca}
  https_insecure:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        insecure_skip_verify: true
  http_slow:
    prober: http
    timeout: 20s
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
  icmp:
    prober: icmp
    timeout: 5s
    icmp:
      preferred_ip_protocol: ip4
  icmp6:
    prober: icmp
    timeout: 5s
  tcp6:
    prober: tcp
    timeout: 5s
  tcp4_only:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  dns_udp:
    prober: dns
    dns:
      query_name: example.org
      source_ip_address: 127.0.0.1
"#,
        ca = ca.display()
    );
    let path = dir.join("blackbox.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

struct World {
    dir: tempfile::TempDir,
    config: PathBuf,
    http: support::Server,
    https: support::Server,
    tcp: TcpListener,
    /// Answers with a `Last-Modified` header.
    dated: support::Server,
    /// Answers with a chunked body (no `Content-Length`).
    chunked: support::Server,
}

const DATED: &[u8] = b"HTTP/1.1 200 OK\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n";

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = support::Pki::new();
    let ca = pki.write_ca(dir.path());
    let config = config(dir.path(), &ca);
    World {
        config,
        http: support::http_server(None).await,
        https: support::http_server(Some(pki.server_config(-1, 30))).await,
        tcp: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        dated: support::raw_server(DATED).await,
        chunked: support::raw_server(CHUNKED).await,
        dir,
    }
}

/// Every family is a gauge with blackbox_exporter's HELP text, and the common ones are there.
fn assert_common(m: &BTreeMap<String, Family>) {
    for (name, f) in m {
        assert_eq!(f.kind, "gauge", "{name}");
        assert!(!f.help.is_empty(), "{name}");
    }
    assert_eq!(
        m["probe_success"].help,
        "Displays whether or not the probe was a success"
    );
    assert_eq!(
        m["probe_duration_seconds"].help,
        "Returns how long the probe took to complete in seconds"
    );
    let d = value(m, "probe_duration_seconds");
    assert!(d > 0.0 && d < 30.0, "{d}");
    assert!(value(m, "probe_dns_lookup_time_seconds") >= 0.0);
    assert_eq!(value(m, "probe_ip_protocol"), 4.0);
    // FNV-1a of 127.0.0.1, as blackbox_exporter computes it.
    assert_eq!(value(m, "probe_ip_addr_hash"), 3_668_918_509.0);
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_module_answers_blackbox_metrics() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let base = format!("http://{}", w.http.addr);

    let m = lp.probe("http_2xx", &format!("{base}/")).await;
    assert_common(&m);
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_http_status_code"), 200.0);
    assert_eq!(value(&m, "probe_http_content_length"), HELLO.len() as f64);
    assert_eq!(
        value(&m, "probe_http_uncompressed_body_length"),
        HELLO.len() as f64
    );
    assert_eq!(value(&m, "probe_http_version"), 1.1);
    assert_eq!(value(&m, "probe_http_ssl"), 0.0);
    assert_eq!(value(&m, "probe_http_redirects"), 0.0);
    assert_eq!(value(&m, "probe_failed_due_to_regex"), 0.0);
    let phases = &m["probe_http_duration_seconds"];
    assert_eq!(
        phases.help,
        "Duration of http request by phase, summed over all redirects"
    );
    let names: BTreeSet<&str> = phases
        .samples
        .iter()
        .map(|(l, _)| l["phase"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["connect", "processing", "resolve", "tls", "transfer"])
    );
    assert!(labelled(&m, "probe_http_duration_seconds", "phase", "connect") > 0.0);
    assert_eq!(
        labelled(&m, "probe_http_duration_seconds", "phase", "tls"),
        0.0
    );
    assert!(!m.contains_key("probe_ssl_earliest_cert_expiry"));

    // A target without a scheme gets http://, as with blackbox_exporter.
    let m = lp.probe("http_2xx", &w.http.addr.to_string()).await;
    assert_eq!(value(&m, "probe_success"), 1.0);

    let m = lp.probe("http_2xx", &format!("{base}/status/503")).await;
    assert_eq!(value(&m, "probe_success"), 0.0);
    assert_eq!(value(&m, "probe_http_status_code"), 503.0);
    let m = lp.probe("http_404_ok", &format!("{base}/nothing")).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_http_status_code"), 404.0);

    let m = lp.probe("http_2xx", &format!("{base}/redirect/2")).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_http_redirects"), 2.0);
    // Phases are summed over the chain: the probe keeps the earlier requests' timings.
    let prober = linkpulse_probe::Prober::new();
    let opts = linkpulse_probe::ProbeOptions::default();
    let chain = linkpulse_probe::Target::http_from_url(&format!("{base}/redirect/2")).unwrap();
    let r = prober.probe(&chain, &opts).await;
    let earlier = r
        .http
        .and_then(|h| h.redirect_phases)
        .expect("two earlier requests");
    assert!(earlier.connect_ms.is_some() && earlier.first_byte_ms.is_some());
    let single = linkpulse_probe::Target::http_from_url(&format!("{base}/")).unwrap();
    let r = prober.probe(&single, &opts).await;
    assert!(r.http.is_some_and(|h| h.redirect_phases.is_none()));

    let m = lp
        .probe("http_no_redirects", &format!("{base}/redirect/2"))
        .await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_http_status_code"), 302.0);
    assert_eq!(value(&m, "probe_http_redirects"), 0.0);

    let m = lp.probe("http_body_ok", &format!("{base}/")).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_failed_due_to_regex"), 0.0);
    let m = lp.probe("http_body_bad", &format!("{base}/")).await;
    assert_eq!(value(&m, "probe_success"), 0.0);
    assert_eq!(value(&m, "probe_failed_due_to_regex"), 1.0);
    assert_eq!(value(&m, "probe_http_status_code"), 200.0);

    // Last-Modified as unix time; a chunked body has no declared length (-1) but 5 bytes read.
    let m = lp
        .probe("http_2xx", &format!("http://{}/", w.dated.addr))
        .await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(
        value(&m, "probe_http_last_modified_timestamp_seconds"),
        784_111_777.0
    );
    assert_eq!(value(&m, "probe_http_content_length"), 2.0);
    let m = lp
        .probe("http_2xx", &format!("http://{}/", w.chunked.addr))
        .await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_http_content_length"), -1.0);
    assert_eq!(value(&m, "probe_http_uncompressed_body_length"), 5.0);
    assert!(!m.contains_key("probe_http_last_modified_timestamp_seconds"));

    // Nothing listening: down, status 0, still every family.
    let closed = support::closed_port();
    let m = lp.probe("http_2xx", &format!("http://{closed}/")).await;
    assert_common(&m);
    assert_eq!(value(&m, "probe_success"), 0.0);
    assert_eq!(value(&m, "probe_http_status_code"), 0.0);
    assert_eq!(
        labelled(&m, "probe_http_duration_seconds", "phase", "processing"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_module_reports_certificate_and_tls_version() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let url = format!("https://{}/", w.https.addr);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();

    for module in ["https_ca", "https_insecure"] {
        let m = lp.probe(module, &url).await;
        assert_common(&m);
        assert_eq!(value(&m, "probe_success"), 1.0, "{module}");
        assert_eq!(value(&m, "probe_http_ssl"), 1.0);
        // The fixture negotiates h2 by ALPN.
        assert_eq!(value(&m, "probe_http_version"), 2.0);
        assert!(labelled(&m, "probe_http_duration_seconds", "phase", "tls") > 0.0);
        let expiry = value(&m, "probe_ssl_earliest_cert_expiry");
        let days = (expiry - now) / 86_400.0;
        assert!((29.0..=30.01).contains(&days), "{days}");
        assert_eq!(
            m["probe_ssl_earliest_cert_expiry"].help,
            "Returns last SSL chain expiry in unixtime"
        );
        assert_eq!(
            value(&m, "probe_ssl_last_chain_expiry_timestamp_seconds"),
            expiry
        );
        assert_eq!(
            labelled(&m, "probe_tls_version_info", "version", "TLS 1.3"),
            1.0
        );
        let info = &m["probe_ssl_last_chain_info"].samples;
        assert_eq!(info.len(), 1);
        let labels = &info[0].0;
        assert_eq!(labels["fingerprint_sha256"].len(), 64, "{labels:?}");
        assert!(
            labels["fingerprint_sha256"]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
        assert_eq!(labels["subjectalternative"], "localhost");
        assert!(
            labels["subject"].contains("linkpulse test server"),
            "{labels:?}"
        );
        assert!(labels["issuer"].contains("linkpulse test CA"), "{labels:?}");
    }

    // fail_if_not_ssl: the same module over plain HTTP fails.
    let m = lp
        .probe("https_ca", &format!("http://{}/", w.http.addr))
        .await;
    assert_eq!(value(&m, "probe_success"), 0.0);
    assert_eq!(value(&m, "probe_http_status_code"), 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_module_up_and_refused() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let up = w.tcp.local_addr().expect("addr").to_string();
    let m = lp.probe("tcp_connect", &up).await;
    assert_common(&m);
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_failed_due_to_regex"), 0.0);
    assert!(!m.contains_key("probe_http_status_code"));

    let m = lp
        .probe("tcp_connect", &support::closed_port().to_string())
        .await;
    assert_common(&m);
    assert_eq!(value(&m, "probe_success"), 0.0);

    // Not HOST:PORT: a failed probe, as blackbox_exporter answers it.
    let m = lp.probe("tcp_connect", "127.0.0.1").await;
    assert_eq!(value(&m, "probe_success"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_module_pings_loopback() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let m = lp.probe("icmp", "127.0.0.1").await;
    assert_common(&m);
    assert_eq!(value(&m, "probe_success"), 1.0, "{m:#?}");
    let f = &m["probe_icmp_duration_seconds"];
    assert_eq!(f.help, "Duration of icmp request by phase");
    let phases: BTreeSet<&str> = f.samples.iter().map(|(l, _)| l["phase"].as_str()).collect();
    assert_eq!(phases, BTreeSet::from(["resolve", "rtt", "setup"]));
    assert!(labelled(&m, "probe_icmp_duration_seconds", "phase", "rtt") > 0.0);
    // Loopback replies carry the kernel's default TTL.
    assert_eq!(value(&m, "probe_icmp_reply_hop_limit"), 64.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_family_follows_preferred_ip_protocol() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let v6 = TcpListener::bind("[::1]:0").await.expect("bind ::1");
    let v6 = v6.local_addr().expect("addr");
    let v4 = w.tcp.local_addr().expect("addr");

    // IPv6 preferred (the default): ::1 is probed over IPv6.
    let m = lp.probe("tcp6", &v6.to_string()).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_ip_protocol"), 6.0);
    // A name is resolved and the preferred family chosen: localhost → 127.0.0.1 for ip4.
    let m = lp
        .probe("tcp_connect", &format!("localhost:{}", v4.port()))
        .await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    assert_eq!(value(&m, "probe_ip_protocol"), 4.0);
    assert_eq!(value(&m, "probe_ip_addr_hash"), 3_668_918_509.0);
    // IPv4 only, no fallback: an IPv6 target fails without an address.
    let m = lp.probe("tcp4_only", &v6.to_string()).await;
    assert_eq!(value(&m, "probe_success"), 0.0);
    assert_eq!(value(&m, "probe_ip_protocol"), 0.0);
    assert!(!m.contains_key("probe_ip_addr_hash"));

    // ICMPv6: the hop limit comes from ancillary data rather than an IP header.
    let m = lp.probe("icmp6", "::1").await;
    assert_eq!(value(&m, "probe_success"), 1.0, "{m:#?}");
    assert_eq!(value(&m, "probe_ip_protocol"), 6.0);
    assert_eq!(value(&m, "probe_icmp_reply_hop_limit"), 64.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_blackbox_exporters_errors() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let target = q(&format!("http://{}/", w.http.addr));

    let r = get(lp.addr, &format!("/probe?module=nope&target={target}"), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "Unknown module \"nope\"\n");

    let r = get(lp.addr, "/probe?module=http_2xx", &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "Target parameter is missing\n");

    let r = get(lp.addr, "/probe?module=dns_udp&target=example.org", &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("dns.source_ip_address"), "{}", r.body);

    let r = get(
        lp.addr,
        &format!("/probe?module=http_2xx&target={target}"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
    )
    .await;
    assert_eq!(r.status, 500);
    assert!(
        r.body
            .starts_with("Failed to parse timeout from Prometheus header"),
        "{}",
        r.body
    );

    // No module: blackbox_exporter's default, http_2xx.
    let r = get(lp.addr, &format!("/probe?target={target}"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(value(&parse_exposition(&r.body), "probe_success"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_timeout_header_bounds_the_probe() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    // `/slow` answers after 30 s; the module allows 20 s, the scrape 2 s minus the 0.5 s offset.
    let target = q(&format!("http://{}/slow", w.http.addr));
    let started = Instant::now();
    let r = get(
        lp.addr,
        &format!("/probe?module=http_slow&target={target}"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    let m = parse_exposition(&r.body);
    assert_eq!(value(&m, "probe_success"), 0.0);
    let d = value(&m, "probe_duration_seconds");
    assert!((1.4..10.0).contains(&d), "probe took {d} s");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_shows_the_log_and_the_metrics() {
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let target = q(&support::closed_port().to_string());
    let r = get(
        lp.addr,
        &format!("/probe?module=tcp_connect&target={target}&debug=true"),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("Logs for the probe:\n"), "{}", r.body);
    assert!(r.body.contains("refused"), "{}", r.body);
    let (_, metrics) = r
        .body
        .split_once("Metrics that would have been returned:\n")
        .expect("metrics section");
    let (metrics, module) = metrics
        .split_once("Module configuration:\n")
        .expect("module section");
    assert_eq!(value(&parse_exposition(metrics), "probe_success"), 0.0);
    assert!(module.contains("Tcp"), "{module}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_a_superset_of_the_real_blackbox_exporters() {
    let Some(binary) = blackbox::binary() else {
        eprintln!(
            "SKIPPED: {EXPORTER} is not installed (scripts/install-test-deps installs it); \
             the comparison with the real blackbox_exporter did not run"
        );
        return;
    };
    let w = world().await;
    let lp = Linkpulse::start(&w.config).await;
    let (config, dir) = (w.config.clone(), w.dir.path().to_owned());
    let exporter = tokio::task::spawn_blocking(move || Exporter::start(&binary, &config, &dir))
        .await
        .expect("the exporter task")
        .expect("start blackbox_exporter");
    let http = format!("http://{}", w.http.addr);
    let https = format!("https://{}/", w.https.addr);
    let tcp = w.tcp.local_addr().expect("addr").to_string();
    let closed = support::closed_port().to_string();
    let cases = [
        ("http_2xx", format!("{http}/")),
        ("http_2xx", format!("{http}/status/503")),
        ("http_2xx", format!("{http}/redirect/2")),
        ("http_2xx", format!("http://{closed}/")),
        ("http_body_bad", format!("{http}/")),
        ("http_2xx", format!("http://{}/", w.dated.addr)),
        ("http_2xx", format!("http://{}/", w.chunked.addr)),
        ("https_ca", https.clone()),
        ("https_insecure", https),
        ("tcp_connect", tcp),
        ("tcp_connect", closed),
        ("icmp", "127.0.0.1".to_owned()),
        ("icmp6", "::1".to_owned()),
    ];
    let mut seen = BTreeSet::new();
    for (module, target) in &cases {
        let theirs = probe_at(exporter.addr(), module, target).await;
        seen.extend(theirs.keys().cloned());
        let ours = lp.probe(module, target).await;
        let missing: Vec<_> = shape(&theirs).difference(&shape(&ours)).cloned().collect();
        assert!(
            missing.is_empty(),
            "{module} {target}: linkpulse lacks {missing:?}\nblackbox_exporter: {theirs:#?}\nlinkpulse: {ours:#?}"
        );
        for (name, f) in &theirs {
            assert_eq!(ours[name].help, f.help, "HELP of {name}");
        }
        // Same verdict and, where both are deterministic, the same values.
        for name in [
            "probe_success",
            "probe_http_status_code",
            "probe_http_redirects",
            "probe_http_ssl",
            "probe_failed_due_to_regex",
            "probe_ip_protocol",
            "probe_ip_addr_hash",
            "probe_ssl_earliest_cert_expiry",
            "probe_icmp_reply_hop_limit",
            "probe_http_content_length",
            "probe_http_uncompressed_body_length",
            "probe_http_last_modified_timestamp_seconds",
        ] {
            if let Some(f) = theirs.get(name) {
                assert_eq!(
                    value(&ours, name),
                    f.samples[0].1,
                    "{module} {target}: {name}"
                );
            }
        }
        if let Some(f) = theirs.get("probe_expect_info") {
            assert_eq!(ours["probe_expect_info"].samples, f.samples, "{module}");
            assert_eq!(ours["probe_expect_info"].help, f.help);
        }
    }

    // The comparison covered every kind of family blackbox_exporter has for these probers.
    for name in [
        "probe_http_duration_seconds",
        "probe_ssl_last_chain_info",
        "probe_tls_version_info",
        "probe_icmp_duration_seconds",
        "probe_icmp_reply_hop_limit",
        "probe_dns_lookup_time_seconds",
        "probe_http_last_modified_timestamp_seconds",
    ] {
        assert!(
            seen.contains(name),
            "blackbox_exporter never answered {name}"
        );
    }

    // Errors: the same statuses.
    for path in ["/probe?module=nope&target=x", "/probe?module=http_2xx"] {
        let theirs = get(exporter.addr(), path, &[]).await;
        let ours = get(lp.addr, path, &[]).await;
        assert_eq!(ours.status, theirs.status, "{path}");
        assert_eq!(ours.body, theirs.body, "{path}");
    }
}

#[test]
fn shipped_example_loads_and_the_real_exporter_accepts_it() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blackbox.yml");
    let config = BlackboxConfig::load(&example).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.modules.len() >= 4);
    assert_eq!(config.unsupported().count(), 0);
    if let Some(binary) = blackbox::binary() {
        let out = blackbox::check_config(&binary, &example).expect("run blackbox_exporter");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(
        &path,
        "modules:\n  web:\n    prober: http\n    timeout: soon\n    http:\n      method: 'G ET'\n",
    )
    .expect("write");
    let e = Blackbox::load(&path, linkpulse_probe::Prober::new())
        .expect_err("bad config")
        .to_string();
    let file = path.display().to_string();
    assert!(
        e.contains(&format!(
            "{file}:4: modules.web.timeout: invalid duration \"soon\""
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{file}:6: modules.web.http.method: invalid HTTP method \"G ET\""
        )),
        "{e}"
    );
}

#[test]
fn reload_takes_new_modules_and_keeps_the_old_ones_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(&path, "modules:\n  a:\n    prober: tcp\n").expect("write");
    let bb = Blackbox::load(&path, linkpulse_probe::Prober::new()).expect("load");
    let names = |bb: &Blackbox| bb.config().modules.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&bb), ["a"]);

    std::fs::write(&path, "modules:\n  b:\n    prober: icmp\n").expect("write");
    bb.reload().expect("reload");
    assert_eq!(names(&bb), ["b"]);

    std::fs::write(
        &path,
        "modules:\n  c:\n    prober: tcp\n    timeout: soon\n",
    )
    .expect("write");
    let e = bb.reload().expect_err("bad file").to_string();
    assert!(
        e.contains(":4: modules.c.timeout: invalid duration \"soon\""),
        "{e}"
    );
    assert_eq!(names(&bb), ["b"]);
}

/// `linkpulse serve` (the real binary) on 127.0.0.1:0 with no checks, killed when dropped.
fn serve(dir: &Path, extra: &[&str]) -> Daemon {
    let config = dir.join("linkpulse.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ndatabase: {}\nchecks: []\n",
            dir.join("history.db").display()
        ),
    )
    .expect("write daemon config");
    Daemon::start(env!("CARGO_BIN_EXE_linkpulse"), &config, extra)
        .unwrap_or_else(|e| panic!("linkpulse serve: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mounts_probe_with_builtin_modules_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();

    // Without --blackbox-config: http_2xx, tcp_connect and icmp.
    let plain = serve(dir.path(), &[]);
    let m = probe_at(plain.addr(), "tcp_connect", &target).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
    drop(plain);

    let bb = dir.path().join("blackbox.yml");
    std::fs::write(&bb, "modules:\n  first:\n    prober: tcp\n").expect("write");
    let served = serve(
        dir.path(),
        &["--blackbox-config", &bb.display().to_string()],
    );
    assert_eq!(
        value(
            &probe_at(served.addr(), "first", &target).await,
            "probe_success"
        ),
        1.0
    );
    let unknown = format!("/probe?module=second&target={}", q(&target));
    assert_eq!(get(served.addr(), &unknown, &[]).await.status, 400);

    std::fs::write(&bb, "modules:\n  second:\n    prober: tcp\n").expect("write");
    let status = Command::new("kill")
        .args(["-HUP", &served.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(served.addr(), &unknown, &[]).await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "module `second` never appeared after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = probe_at(served.addr(), "second", &target).await;
    assert_eq!(value(&m, "probe_success"), 1.0);
}

// ---------------------------------------------------------------------------------------------
// The `dns` and `grpc` probers, against a real dnsmasq and a real gRPC health server.

/// A config with `dns` and `grpc` modules (`ca` trusts the TLS gRPC server).
fn dns_grpc_config(dir: &Path, ca: &Path) -> PathBuf {
    let text = format!(
        r#"modules:
  dns_a:
    prober: dns
    timeout: 5s
    dns:
      query_name: db.test
      query_type: A
      preferred_ip_protocol: ip4
      validate_answer_rrs:
        fail_if_not_matches_regexp: ['10\.0\.0\.1$']
  dns_a_wrong:
    prober: dns
    timeout: 5s
    dns:
      query_name: db.test
      query_type: A
      validate_answer_rrs:
        fail_if_none_matches_regexp: ['10\.9\.9\.9']
  dns_nx:
    prober: dns
    timeout: 5s
    dns:
      query_name: nothing.test
      query_type: A
  dns_nx_ok:
    prober: dns
    timeout: 5s
    dns:
      query_name: nothing.test
      query_type: A
      valid_rcodes: [NXDOMAIN]
  dns_mx_tcp:
    prober: dns
    timeout: 5s
    dns:
      query_name: mail.test
      query_type: MX
      transport_protocol: tcp
      recursion_desired: false
  dns_soa:
    prober: dns
    timeout: 5s
    dns:
      query_name: test
      query_type: SOA
      valid_rcodes: [NOERROR, NXDOMAIN]
  grpc_plain:
    prober: grpc
    timeout: 5s
    grpc:
      preferred_ip_protocol: ip4
  grpc_down:
    prober: grpc
    timeout: 5s
    grpc:
      service: shop.Down
  grpc_unknown:
    prober: grpc
    timeout: 5s
    grpc:
      service: shop.Nope
  grpc_tls:
    prober: grpc
    timeout: 5s
    grpc:
      tls: true
      tls_config:
        ca_file: {ca}
"#,
        ca = ca.display()
    );
    let path = dir.join("blackbox-dns-grpc.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every `dns` and `grpc` case: the same metric names and label names, the same HELP texts
/// and the same `probe_success` as the real blackbox_exporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_and_grpc_modules_match_the_real_blackbox_exporter() {
    use linkpulse_testsupport::dnsmasq::Dnsmasq;
    use linkpulse_testsupport::servers::{GrpcHealthServer, TestCa, Validity};

    let Some(binary) = blackbox::binary() else {
        eprintln!("SKIPPED: {EXPORTER} is not installed (scripts/install-test-deps installs it)");
        return;
    };
    let zone = Dnsmasq::start(&[
        "--address=/db.test/10.0.0.1",
        "--mx-host=mail.test,mx1.test,10",
    ])
    .expect("start dnsmasq");
    let servfail = Dnsmasq::servfail(zone.addr()).expect("start validating dnsmasq");
    let grpc = GrpcHealthServer::start("127.0.0.1:0".parse().unwrap()).expect("gRPC server");
    grpc.set("shop.Down", false);
    let ca = TestCa::new().expect("CA");
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .expect("certificate");
    let grpc_tls = GrpcHealthServer::start_tls("127.0.0.1:0".parse().unwrap(), &id).expect("TLS");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dns_grpc_config(dir.path(), ca.pem_path());
    let lp = Linkpulse::start(&config).await;
    let (c, d) = (config.clone(), dir.path().to_owned());
    let exporter = tokio::task::spawn_blocking(move || Exporter::start(&binary, &c, &d))
        .await
        .expect("the exporter task")
        .expect("start blackbox_exporter");
    let closed = support::closed_port().to_string();
    let (dns, sf, g, gt) = (
        zone.addr().to_string(),
        servfail.addr().to_string(),
        grpc.addr().to_string(),
        grpc_tls.addr().to_string(),
    );
    let cases: [(&str, &str, f64); 13] = [
        ("dns_a", &dns, 1.0),
        ("dns_a_wrong", &dns, 0.0),
        ("dns_nx", &dns, 0.0),
        ("dns_nx_ok", &dns, 1.0),
        ("dns_mx_tcp", &dns, 1.0),
        ("dns_soa", &dns, 1.0),
        ("dns_a", &sf, 0.0),
        ("dns_mx_tcp", &closed, 0.0),
        ("grpc_plain", &g, 1.0),
        ("grpc_down", &g, 0.0),
        ("grpc_unknown", &g, 0.0),
        ("grpc_plain", &closed, 0.0),
        ("grpc_tls", &gt, 1.0),
    ];
    for (module, target, success) in cases {
        let theirs = probe_at(exporter.addr(), module, target).await;
        let ours = lp.probe(module, target).await;
        assert_eq!(
            shape(&ours),
            shape(&theirs),
            "{module} {target}: metric names or label names differ\n\
             blackbox_exporter: {theirs:#?}\nlinkpulse: {ours:#?}"
        );
        for (name, f) in &theirs {
            assert_eq!(ours[name].help, f.help, "HELP of {name}");
        }
        assert_eq!(
            value(&theirs, "probe_success"),
            success,
            "{module} {target}: theirs"
        );
        assert_eq!(
            value(&ours, "probe_success"),
            success,
            "{module} {target}: ours"
        );
        for name in [
            "probe_dns_answer_rrs",
            "probe_dns_query_succeeded",
            "probe_grpc_status_code",
            "probe_grpc_ssl",
            "probe_ip_protocol",
        ] {
            if theirs.contains_key(name) {
                assert_eq!(
                    value(&ours, name),
                    value(&theirs, name),
                    "{module} {target}: {name}"
                );
            }
        }
        if theirs.contains_key("probe_grpc_healthcheck_response") {
            for s in ["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN"] {
                let name = "probe_grpc_healthcheck_response";
                assert_eq!(
                    labelled(&ours, name, "serving_status", s),
                    labelled(&theirs, name, "serving_status", s),
                    "{module} {target}: {name} {s}"
                );
            }
        }
    }
}

/// tcp modules with `query_response` (STARTTLS), `tls: true` and a failing `expect`, compared
/// with the real blackbox_exporter: the SMTP-like server and `redis-server` with TLS of
/// testsupport, certificates from its test CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_dialogues_match_the_real_exporter() {
    use linkpulse_testsupport::redis::RedisServer;
    use linkpulse_testsupport::servers::{SmtpServer, TestCa, Validity};

    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().unwrap();
    let id = ca
        .issue(&["127.0.0.1"], Validity::expires_in_days(30))
        .unwrap();
    let smtp = SmtpServer::start("127.0.0.1:0".parse().unwrap(), None, &id).unwrap();
    let redis = RedisServer::start_tls(&id).unwrap();
    let config = dir.path().join("blackbox.yml");
    std::fs::write(
        &config,
        format!(
            r#"modules:
  smtp_starttls:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 "
        - send: "EHLO prober"
        - expect: "^250 STARTTLS"
        - send: "STARTTLS"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober"
        - expect: "^250 "
        - send: "QUIT"
      tls_config:
        ca_file: {ca}
  smtp_wrong:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 "
        - send: "QUIT"
        - expect: "^250 "
  tls_ping:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {ca}
      query_response:
        - send: "PING"
        - expect: "^\\+PONG"
"#,
            ca = ca.pem_path().display()
        ),
    )
    .unwrap();
    // `labels` (probe_expect_info) came after Debian's exporter (0.23): linkpulse's file only.
    let ours_config = dir.path().join("linkpulse-blackbox.yml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        r#"  smtp_labels:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: '^220 (\S+) (\w+)'
          labels:
            - name: mx
              value: "${1}"
            - name: proto
              value: "$2"
        - send: "QUIT"
"#,
    );
    std::fs::write(&ours_config, text).unwrap();
    let lp = Linkpulse::start(&ours_config).await;
    let smtp_addr = smtp.addr().to_string();
    let redis_addr = format!("127.0.0.1:{}", redis.port());
    let cases = [
        ("smtp_starttls", smtp_addr.clone(), 1.0, 0.0),
        ("smtp_labels", smtp_addr.clone(), 1.0, 0.0),
        ("smtp_wrong", smtp_addr, 0.0, 1.0),
        ("tls_ping", redis_addr, 1.0, 0.0),
    ];
    for (module, target, success, regex) in &cases {
        let ours = lp.probe(module, target).await;
        assert_common(&ours);
        assert_eq!(
            value(&ours, "probe_success"),
            *success,
            "{module}: {ours:#?}"
        );
        assert_eq!(
            value(&ours, "probe_failed_due_to_regex"),
            *regex,
            "{module}"
        );
        if *module == "smtp_labels" {
            assert_eq!(labelled(&ours, "probe_expect_info", "mx", "mx.test"), 1.0);
            assert_eq!(labelled(&ours, "probe_expect_info", "proto", "ESMTP"), 1.0);
        }
        if *success == 1.0 && *module != "smtp_labels" {
            assert!(
                value(&ours, "probe_ssl_earliest_cert_expiry") > 0.0,
                "{module}"
            );
            assert_eq!(
                labelled(&ours, "probe_tls_version_info", "version", "TLS 1.3"),
                1.0
            );
        }
    }

    let Some(binary) = blackbox::binary() else {
        eprintln!(
            "SKIPPED: {EXPORTER} is not installed (scripts/install-test-deps installs it); \
             the comparison with the real blackbox_exporter did not run"
        );
        return;
    };
    let (cfg, d) = (config.clone(), dir.path().to_owned());
    let exporter = tokio::task::spawn_blocking(move || Exporter::start(&binary, &cfg, &d))
        .await
        .expect("the exporter task")
        .expect("start blackbox_exporter");
    for (module, target, _, _) in cases.iter().filter(|c| c.0 != "smtp_labels") {
        let theirs = probe_at(exporter.addr(), module, target).await;
        let ours = lp.probe(module, target).await;
        let missing: Vec<_> = shape(&theirs).difference(&shape(&ours)).cloned().collect();
        assert!(
            missing.is_empty(),
            "{module} {target}: linkpulse lacks {missing:?}\nblackbox_exporter: {theirs:#?}\nlinkpulse: {ours:#?}"
        );
        for name in [
            "probe_success",
            "probe_failed_due_to_regex",
            "probe_ip_protocol",
            "probe_ssl_earliest_cert_expiry",
        ] {
            if let Some(f) = theirs.get(name) {
                assert_eq!(
                    value(&ours, name),
                    f.samples[0].1,
                    "{module} {target}: {name}"
                );
            }
        }
    }
}
