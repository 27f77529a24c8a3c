//! `linkpulse nodes`: list the nodes a hub knows, or follow their changes.

use std::process::ExitCode;

use anyhow::Context;
use linkpulse_hub::{Node, WatchClient, list_nodes};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// A table (list) or one line per change (watch).
    Human,
    /// The API's JSON (list), or one JSON object per change and line (watch).
    Json,
}

/// Arguments of `linkpulse nodes`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:9118")]
    hub_api: String,
    /// Follow changes as they happen (after the current list).
    #[arg(long)]
    watch: bool,
    /// Only nodes in this state (alive, suspect, dead, left; repeatable).
    #[arg(long)]
    state: Vec<String>,
    /// Only nodes with this label KEY=VALUE (repeatable).
    #[arg(long)]
    label: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    output: Output,
}

fn query(args: &Args) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for s in &args.state {
        q.append_pair("state", s);
    }
    for l in &args.label {
        q.append_pair("label", l);
    }
    q.finish()
}

fn human_line(n: &Node) -> String {
    let status = n.status.as_ref().map_or("-", |s| s.health.as_str());
    let rtt = n.rtt_ms.map_or("-".to_owned(), |r| format!("{r:.2}ms"));
    let cause = match (&n.cause, &n.diagnosis) {
        (Some(c), Some(d)) => format!("{c} ({d})"),
        (Some(c), None) => c.clone(),
        _ => "-".to_owned(),
    };
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{:<20} {:<8} {:<8} {:>9} {:<26} {:<24} {}",
        n.name,
        n.state,
        status,
        rtt,
        cause,
        n.since,
        labels.join(",")
    )
}

/// Runs `linkpulse nodes`.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let q = query(&args);
    if !args.watch {
        let list = list_nodes(&args.hub_api, &q).await?;
        match args.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&list)?),
            Output::Human => {
                println!(
                    "{:<20} {:<8} {:<8} {:>9} {:<26} {:<24} LABELS",
                    "NAME", "STATE", "STATUS", "RTT", "CAUSE", "SINCE"
                );
                for n in &list.nodes {
                    println!("{}", human_line(n));
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let filter = linkpulse_hub::NodeFilter::parse(&q).map_err(anyhow::Error::msg)?;
    let client = WatchClient::connect(&args.hub_api)
        .await
        .context("cannot follow the hub")?;
    let mut changes = client.subscribe();
    let nodes: Vec<Node> = client
        .nodes()
        .into_iter()
        .filter(|n| filter.matches(n))
        .collect();
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({"revision": client.revision(), "event": "snapshot", "nodes": nodes})
        ),
        Output::Human => {
            println!(
                "snapshot revision {}: {} node(s)",
                client.revision(),
                nodes.len()
            );
            for n in &nodes {
                println!("{:<11} {}", "snapshot", human_line(n));
            }
        }
    }
    loop {
        match changes.recv().await {
            Ok(c) if filter.matches(&c.node) => match args.output {
                Output::Json => println!("{}", serde_json::to_string(&c)?),
                Output::Human => println!("{:<11} {}", c.event.as_str(), human_line(&c.node)),
            },
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("linkpulse nodes: missed {n} changes");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}
