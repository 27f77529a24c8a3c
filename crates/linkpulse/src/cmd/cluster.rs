//! `linkpulse cluster status [--url URL] [--token-file FILE]`: the members of a daemon's cluster, as a table.

use std::process::ExitCode;

use anyhow::Context;
use linkpulse_probe::client::HttpClient;
use serde_json::Value;

use super::output::{Align, Output};

/// `linkpulse cluster …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClusterCommand {
    /// The members (name, vantage, address, lease expiry, checks owned, last renewal), as
    /// one member sees them.
    Status(StatusArgs),
}

/// Arguments of `linkpulse cluster status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Base URL of any member's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:9118", env = "LINKPULSE_URL")]
    url: String,
    /// Output format: a table, the JSON of `/api/v1/cluster`, or one Nagios plugin line
    /// (CRITICAL when the member cannot reach the database, WARNING when a member's lease
    /// lapsed).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    token: super::token::TokenArgs,
}

/// Runs `linkpulse cluster …`.
pub(crate) async fn run(command: ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Status(args) => status(args).await,
    }
}

/// Milliseconds since the epoch as UTC text.
fn when(v: &Value) -> String {
    v.as_i64()
        .and_then(|ms| u64::try_from(ms).ok())
        .map_or("-".to_owned(), |ms| {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_seconds(t).to_string()
        })
}

fn table(status: &Value) -> String {
    let header = [
        "NAME",
        "VANTAGE",
        "LIVE",
        "CHECKS",
        "ADDRESS",
        "LEASE EXPIRES",
        "LAST RENEWAL",
    ];
    let align = [
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Left,
    ];
    let rows: Vec<Vec<String>> = status["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            vec![
                m["name"].as_str().unwrap_or("-").to_owned(),
                m["vantage"].as_str().unwrap_or("-").to_owned(),
                if m["live"] == true { "yes" } else { "no" }.to_owned(),
                m["checks_owned"].to_string(),
                m["address"].as_str().unwrap_or("-").to_owned(),
                when(&m["lease_expires_ms"]),
                when(&m["last_renewal_ms"]),
            ]
        })
        .collect();
    let mut out = format!(
        "member {} (vantage {}), database {}\n",
        status["node"].as_str().unwrap_or("?"),
        status["vantage"].as_str().unwrap_or("?"),
        status["database"].as_str().unwrap_or("?")
    );
    out.push_str(&super::output::table(&header, &align, &rows));
    out
}

/// One Nagios line and its exit code.
fn nagios(status: &Value) -> (String, u8) {
    let members = status["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let live = members.iter().filter(|m| m["live"] == true).count();
    let lapsed = members.len() - live;
    let (word, code) = if status["database"] != "reachable" {
        ("CRITICAL", 2)
    } else if lapsed > 0 {
        ("WARNING", 1)
    } else {
        ("OK", 0)
    };
    (
        format!(
            "LINKPULSE CLUSTER {word} - {live} live members, {lapsed} lapsed, database {} | live={live};;;0 lapsed={lapsed};;;0\n",
            status["database"].as_str().unwrap_or("unknown")
        ),
        code,
    )
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let url = format!("{}/api/v1/cluster", args.url.trim_end_matches('/'));
    let token = args.token.token()?;
    let sent_token = token.is_some();
    let body = HttpClient::new()
        .bearer(token)
        .get_bytes(&url, "application/json")
        .await
        .map_err(|e| super::token::explain(e, sent_token))?;
    let body = String::from_utf8_lossy(&body);
    let status: Value = serde_json::from_str(&body).context("the daemon's answer is not JSON")?;
    let (text, code) = match args.output {
        Output::Json => (format!("{}\n", body.trim_end()), 0),
        Output::Text => (table(&status), 0),
        Output::Nagios => nagios(&status),
    };
    super::output::print(text)?;
    Ok(ExitCode::from(code))
}
