//! `linkpulse silence add|list|expire`: silences of a running daemon, through
//! `/api/v1/silences` (adding and expiring need a token with the write role).

use std::process::ExitCode;

use anyhow::Context;
use linkpulse_probe::client::HttpClient;
use serde_json::{Value, json};

use super::output::Align::Left;

/// Arguments of `linkpulse silence`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the daemon's HTTP API.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:9118",
        env = "LINKPULSE_URL"
    )]
    url: String,
    /// Bearer token for the API (`auth:` tokens or `api_token`); adding and expiring need the
    /// write role.
    #[arg(long, global = true, env = "LINKPULSE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Silence checks (by name or by label) until a time or for a duration.
    Add {
        /// A check to silence (repeatable).
        #[arg(long = "check", value_name = "NAME")]
        checks: Vec<String>,
        /// A label the silenced checks carry, `KEY=VALUE` (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
        labels: Vec<(String, String)>,
        /// How long from now (`30m`, `2h`).
        #[arg(long, conflicts_with = "until", required_unless_present = "until")]
        duration: Option<String>,
        /// When it ends (RFC 3339: `2026-12-24T22:00:00Z`).
        #[arg(long)]
        until: Option<String>,
        /// Why (required).
        #[arg(long)]
        comment: String,
        /// Who (default: $USER).
        #[arg(long, env = "USER")]
        created_by: Option<String>,
    },
    /// The silences in force or still to come.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Expire {
        /// The silence's id (from `add` or `list`).
        id: String,
    },
}

fn label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn when(ms: &Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or("-".to_owned(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
}

fn table(list: &[Value]) -> String {
    let header = ["ID", "MATCHES", "STARTS", "ENDS", "BY", "COMMENT"];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let mut m: Vec<String> = s["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            if let Some(l) = s["labels"].as_object() {
                m.extend(
                    l.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))),
                );
            }
            vec![
                s["id"].as_str().unwrap_or("").to_owned(),
                m.join(","),
                when(&s["starts_ms"]),
                when(&s["ends_ms"]),
                s["created_by"].as_str().unwrap_or("").to_owned(),
                s["comment"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    super::output::table(&header, &[Left; 6], &rows)
}

/// Runs `linkpulse silence …`; exit 0 on success.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = format!("{}/api/v1/silences", args.url.trim_end_matches('/'));
    let headers: Vec<(String, String)> = args
        .token
        .iter()
        .map(|t| ("Authorization".to_owned(), format!("Bearer {t}")))
        .collect();
    let client = HttpClient::new();
    let text = match args.what {
        What::Add {
            checks,
            labels,
            duration,
            until,
            comment,
            created_by,
        } => {
            let body = json!({
                "checks": checks,
                "labels": labels
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "duration": duration,
                "ends_at": until,
                "comment": comment,
                "created_by": created_by,
            });
            let body = strip_nulls(body);
            let answer = client
                .send_json(http::Method::POST, &base, &headers, Some(&body))
                .await?;
            let s: Value =
                serde_json::from_slice(&answer).context("the daemon's answer is not JSON")?;
            format!("{}\n", s["id"].as_str().unwrap_or(""))
        }
        What::List { json } => {
            let answer = client
                .send_json(http::Method::GET, &base, &headers, None)
                .await?;
            let list: Vec<Value> = serde_json::from_slice(&answer)
                .context("the daemon's answer is not a JSON list")?;
            if json {
                format!("{}\n", Value::Array(list))
            } else {
                table(&list)
            }
        }
        What::Expire { id } => {
            let url = format!("{base}/{id}");
            client
                .send_json(http::Method::DELETE, &url, &headers, None)
                .await?;
            format!("expired {id}\n")
        }
    };
    super::output::print(text)?;
    Ok(ExitCode::SUCCESS)
}

/// The body without the keys left unset (the API takes exactly one of duration and ends_at).
fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}
