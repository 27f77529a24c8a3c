//! `linkpulse status [--url URL]`: availability figures of a running daemon, as a table.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Arguments of `linkpulse status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:9118", env = "LINKPULSE_URL")]
    url: String,
    /// Print the raw JSON of `/api/v1/checks` instead of a table.
    #[arg(long)]
    json: bool,
}

/// GET over plain HTTP/1.1 with a 10 s budget; returns the body of a 200 answer.
fn get(base: &str, path: &str) -> anyhow::Result<String> {
    let rest = base
        .strip_prefix("http://")
        .with_context(|| format!("{base}: only http:// URLs are supported"))?;
    let (authority, prefix) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let authority = authority.trim_end_matches('/');
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut s = TcpStream::connect(&addr).with_context(|| format!("cannot connect to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!("{base}{path}: HTTP {status}: {}", body.trim());
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_owned())
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}%"))
}

fn dur(v: &Value) -> String {
    match v.as_f64() {
        Some(ms) if ms >= 0.0 => {
            let d = Duration::from_millis(ms as u64);
            if d.as_secs() >= 60 {
                humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
            } else {
                format!("{:.1}s", ms / 1000.0)
            }
        }
        _ => "-".to_owned(),
    }
}

/// Renders the check list as an aligned table.
fn table(checks: &[Value]) -> String {
    let header = [
        "NAME",
        "KIND",
        "STATE",
        "LATENCY",
        "UP 24H",
        "UP 7D",
        "UP 30D",
        "INCIDENTS",
        "MTTR",
        "MTBF",
        "CAUSE / DIAGNOSIS",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for c in checks {
        let s = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
        let latency = c["last"]["latency_ms"]
            .as_f64()
            .map_or("-".to_owned(), |ms| format!("{ms:.1}ms"));
        let why = match (c["cause"].as_str(), c["diagnosis"].as_str()) {
            (Some(cause), Some(d)) => format!("{cause} [{d}]"),
            (Some(cause), None) => cause.to_owned(),
            (None, Some(d)) => format!("[{d}]"),
            (None, None) => String::new(),
        };
        let inc = &c["incidents_30d"];
        rows.push(vec![
            s("name"),
            s("kind"),
            s("state"),
            latency,
            pct(&c["uptime"]["24h"]),
            pct(&c["uptime"]["7d"]),
            pct(&c["uptime"]["30d"]),
            inc["count"]
                .as_u64()
                .map_or("-".to_owned(), |n| n.to_string()),
            dur(&inc["mttr_ms"]),
            dur(&inc["mtbf_ms"]),
            why,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == r.len() {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Runs `linkpulse status`: exit 0 when every check is up or degraded, 2 when any is down.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = args.url.trim_end_matches('/').to_owned();
    let body = tokio::task::spawn_blocking(move || get(&url, "/api/v1/checks")).await??;
    let checks: Vec<Value> =
        serde_json::from_str(&body).context("the daemon's answer is not a JSON list")?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", table(&checks));
    }
    let down = checks.iter().any(|c| c["state"] == "down");
    Ok(if down {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
