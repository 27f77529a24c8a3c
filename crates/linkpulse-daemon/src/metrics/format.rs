//! The two text formats `GET /metrics` serves, and the conversion from the OpenMetrics text
//! `prometheus_client` writes to the classic Prometheus format.

/// The text formats `GET /metrics` serves, chosen by the scraper's `Accept` header as the
/// official clients do: Prometheus asks for OpenMetrics; `curl` (and so
/// `curl … | promtool check metrics`, whose parser reads only the classic format) gets the
/// classic Prometheus text format 0.0.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Text,
}

impl Format {
    /// OpenMetrics when `accept` names it, the classic text format otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The classic text format of an OpenMetrics exposition made by `prometheus_client`: the two
/// differ (for what this registry holds) only in a counter family's name, which the classic
/// format spells with `_total` in `# HELP`/`# TYPE`, and in the `# EOF` and `# UNIT` lines it
/// does not have. Samples and values are the same bytes.
pub(super) fn openmetrics_to_text(open: &str) -> String {
    let mut out = String::with_capacity(open.len() + 256);
    let mut counters: Vec<&str> = Vec::new();
    // Samples are copied in runs between metadata lines (a scrape of many checks is mostly
    // samples); only the `#` lines are looked at.
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = open[at..].find('#') {
        let start = at + found;
        let end = open[start..]
            .find('\n')
            .map_or(open.len(), |n| start + n + 1);
        at = end;
        if start > 0 && open.as_bytes()[start - 1] != b'\n' {
            continue; // a `#` inside a sample line (a label value)
        }
        let line = open[start..end].trim_end_matches('\n');
        out.push_str(&open[copied..start]);
        copied = end;
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.strip_suffix(" counter"))
        {
            counters.push(name);
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        let Some((prefix, rest)) = meta else {
            out.push_str(&open[start..end]);
            continue;
        };
        let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        // `# HELP` comes before `# TYPE`: a counter is known by the TYPE line that follows.
        let counter = counters.contains(&name)
            || (prefix == "# HELP "
                && open[end..].starts_with(&format!("# TYPE {name} counter\n")));
        out.push_str(prefix);
        out.push_str(name);
        if counter && !name.ends_with("_total") {
            out.push_str("_total");
        }
        out.push(' ');
        out.push_str(tail);
        out.push('\n');
    }
    out.push_str(&open[copied..]);
    out
}
