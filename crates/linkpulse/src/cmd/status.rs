//! `linkpulse status [--url URL] [--token-file FILE]`: availability figures of a running
//! daemon, as a table.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use linkpulse_probe::client::HttpClient;
use serde_json::Value;

use super::output::Output;

/// Arguments of `linkpulse status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the daemon's HTTP API (`http://` or `https://`; HTTPS trusts the system
    /// roots, which `SSL_CERT_FILE` replaces).
    #[arg(long, default_value = "http://127.0.0.1:9118", env = "LINKPULSE_URL")]
    url: String,
    /// Output format: a table, the JSON of `/api/v1/checks`, or one Nagios plugin line.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Same as `--output json` (kept for scripts written before `--output`).
    #[arg(long, hide = true, conflicts_with = "output")]
    json: bool,
    #[command(flatten)]
    token: super::token::TokenArgs,
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
    use super::output::Align::{Left, Right};
    let align = [
        Left, Left, Left, Right, Right, Right, Right, Right, Right, Right, Left,
    ];
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(checks.len());
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
    super::output::table(&header, &align, &rows)
}

/// One Nagios plugin line: the worst state, the counts per state as performance data.
fn nagios(checks: &[Value]) -> String {
    let count = |state: &str| checks.iter().filter(|c| c["state"] == state).count();
    let (up, degraded, down) = (count("up"), count("degraded"), count("down"));
    let other = checks.len() - up - degraded - down;
    let word = if down > 0 { "CRITICAL" } else { "OK" };
    let mut down_names: Vec<&str> = checks
        .iter()
        .filter(|c| c["state"] == "down")
        .filter_map(|c| c["name"].as_str())
        .collect();
    down_names.truncate(10);
    let names = if down_names.is_empty() {
        String::new()
    } else {
        format!(" (down: {})", down_names.join(", "))
    };
    format!(
        "LINKPULSE STATUS {word} - {} checks: {up} up, {degraded} degraded, {down} down, {other} unknown{names} | up={up};;;0 degraded={degraded};;;0 down={down};;;0 unknown={other};;;0\n",
        checks.len()
    )
}

/// Runs `linkpulse status`: exit 0 when every check is up or degraded, 2 when any is down
/// (whatever the output format).
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = format!("{}/api/v1/checks", args.url.trim_end_matches('/'));
    let token = args.token.token()?;
    let sent_token = token.is_some();
    let body = HttpClient::new()
        .bearer(token)
        .get_bytes(&url, "application/json")
        .await
        .map_err(|e| super::token::explain(e, sent_token))?;
    let body = String::from_utf8_lossy(&body);
    let checks: Vec<Value> =
        serde_json::from_str(&body).context("the daemon's answer is not a JSON list")?;
    let format = if args.json { Output::Json } else { args.output };
    let text = match format {
        Output::Json => format!("{}\n", body.trim_end()),
        Output::Text => table(&checks),
        Output::Nagios => nagios(&checks),
    };
    super::output::print(text)?;
    let down = checks.iter().any(|c| c["state"] == "down");
    Ok(if down {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
