//! `linkpulse nodes`: list the nodes a hub knows, or follow their changes.

use std::process::ExitCode;

use anyhow::{Context, bail};
use linkpulse_hub::{Node, WatchClient, list_nodes_with_token};

use super::output::{self, Align, Output, table};

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
    /// Output format: a table (list) or one line per change (watch); the API's JSON (list) or
    /// one JSON object per change and line (watch); or one Nagios plugin line (list only:
    /// CRITICAL when a node is dead, WARNING when one is suspect, with that exit code).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    token: super::token::TokenArgs,
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

const HEADER: [&str; 7] = ["NAME", "STATE", "STATUS", "RTT", "CAUSE", "SINCE", "LABELS"];
const ALIGN: [Align; 4] = [Align::Left, Align::Left, Align::Left, Align::Right];

/// The table cells of one node, in [`HEADER`] order.
fn cells(n: &Node) -> Vec<String> {
    let status = n.status.as_ref().map_or("-", |s| s.health.as_str());
    let rtt = n.rtt_ms.map_or("-".to_owned(), |r| format!("{r:.2}ms"));
    let cause = match (&n.cause, &n.diagnosis) {
        (Some(c), Some(d)) => format!("{c} ({d})"),
        (Some(c), None) => c.clone(),
        _ => "-".to_owned(),
    };
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        n.name.clone(),
        n.state.to_string(),
        status.to_owned(),
        rtt,
        cause,
        n.since.clone(),
        labels.join(","),
    ]
}

/// One Nagios plugin line over the listed nodes, and its exit code.
fn nagios(nodes: &[Node]) -> (String, u8) {
    let count = |state: &str| nodes.iter().filter(|n| n.state.as_str() == state).count();
    let (alive, suspect, dead, left) = (
        count("alive"),
        count("suspect"),
        count("dead"),
        count("left"),
    );
    let (word, code) = match (dead, suspect) {
        (1.., _) => ("CRITICAL", 2),
        (0, 1..) => ("WARNING", 1),
        _ => ("OK", 0),
    };
    let line = format!(
        "LINKPULSE NODES {word} - {} nodes: {alive} alive, {suspect} suspect, {dead} dead, {left} left | alive={alive};;;0 suspect={suspect};;;0 dead={dead};;;0 left={left};;;0\n",
        nodes.len()
    );
    (line, code)
}

/// Lines of `--watch` in text: an event name then the node's cells, in columns as wide as
/// the widest cell seen so far (the snapshot sets them; a longer cell later widens its column).
struct WatchColumns {
    widths: Vec<usize>,
}

impl WatchColumns {
    fn new(nodes: &[Node]) -> Self {
        let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
        for n in nodes {
            for (w, c) in widths.iter_mut().zip(cells(n)) {
                *w = (*w).max(c.chars().count());
            }
        }
        WatchColumns { widths }
    }

    fn line(&mut self, event: &str, n: &Node) -> String {
        let cells = cells(n);
        let mut line = format!("{event:<11}");
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            let width = cell.chars().count();
            self.widths[i] = self.widths[i].max(width);
            let pad = " ".repeat(self.widths[i] - width);
            line.push_str("  ");
            match ALIGN.get(i) {
                Some(Align::Right) => line.push_str(&format!("{pad}{cell}")),
                _ if i == last => line.push_str(cell),
                _ => line.push_str(&format!("{cell}{pad}")),
            }
        }
        line.truncate(line.trim_end().len());
        line.push('\n');
        line
    }
}

/// Runs `linkpulse nodes`.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let q = query(&args);
    let token = args.token.token()?;
    let sent_token = token.is_some();
    if !args.watch {
        let list = list_nodes_with_token(&args.hub_api, &q, token.as_ref())
            .await
            .map_err(|e| super::token::explain(e, sent_token))?;
        let (text, code) = match args.output {
            Output::Json => (format!("{}\n", serde_json::to_string_pretty(&list)?), 0),
            Output::Text => {
                let rows: Vec<Vec<String>> = list.nodes.iter().map(cells).collect();
                (table(&HEADER, &ALIGN, &rows), 0)
            }
            Output::Nagios => nagios(&list.nodes),
        };
        output::print(text)?;
        return Ok(ExitCode::from(code));
    }
    if args.output == Output::Nagios {
        bail!("--output nagios gives one verdict and cannot --watch: use text or json");
    }
    let filter = linkpulse_hub::NodeFilter::parse(&q).map_err(anyhow::Error::msg)?;
    let client = WatchClient::connect_with_token(&args.hub_api, token.as_ref())
        .await
        .map_err(|e| super::token::explain(e, sent_token))
        .context("cannot follow the hub")?;
    let mut changes = client.subscribe();
    let nodes: Vec<Node> = client
        .nodes()
        .into_iter()
        .filter(|n| filter.matches(n))
        .collect();
    let mut columns = WatchColumns::new(&nodes);
    let snapshot = match args.output {
        Output::Json => format!(
            "{}\n",
            serde_json::json!({"revision": client.revision(), "event": "snapshot", "nodes": nodes})
        ),
        _ => {
            let mut text = format!(
                "snapshot revision {}: {} node(s)\n",
                client.revision(),
                nodes.len()
            );
            for n in &nodes {
                text.push_str(&columns.line("snapshot", n));
            }
            text
        }
    };
    if !output::print(snapshot)? {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let text = match changes.recv().await {
            Ok(c) if filter.matches(&c.node) => match args.output {
                Output::Json => format!("{}\n", serde_json::to_string(&c)?),
                _ => columns.line(c.event.as_str(), &c.node),
            },
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("linkpulse nodes: missed {n} changes");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        // Nobody reads any more: stop following.
        if !output::print(text)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
