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

/// Writes the classic text format of the OpenMetrics exposition `prometheus_client` writes into
/// it, as it comes, into `out`: the two differ (for what this registry holds) only in a counter
/// family's name, which the classic format spells with `_total` in `# HELP`/`# TYPE`, and in the
/// `# EOF` and `# UNIT` lines it does not have. Samples and values are the same bytes and are
/// passed straight through, so a scrape of many checks builds one string, not two (the
/// exposition of 20,000 checks is tens of megabytes).
pub(super) struct TextWriter<'a> {
    out: &'a mut String,
    /// The `#` line being read (sample lines are not buffered).
    meta: String,
    /// Inside a line: a `#` line (buffered in `meta`) or a sample line (passed through).
    in_line: Option<Line>,
    /// A `# HELP` line waiting for the `# TYPE` line after it (which says if it is a counter).
    help: Option<String>,
    /// Counter families seen so far.
    counters: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Meta,
    Sample,
}

impl std::fmt::Debug for TextWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TextWriter")
    }
}

impl<'a> TextWriter<'a> {
    /// A writer appending to `out`.
    pub(super) fn new(out: &'a mut String) -> TextWriter<'a> {
        TextWriter {
            out,
            meta: String::new(),
            in_line: None,
            help: None,
            counters: Vec::new(),
        }
    }

    /// Writes what is still held (a last line without `\n`, a `# HELP` without its `# TYPE`).
    pub(super) fn finish(mut self) {
        if self.in_line == Some(Line::Meta) {
            let line = std::mem::take(&mut self.meta);
            self.meta_line(&line, false);
        }
        if let Some(help) = self.help.take() {
            self.emit(&help, false, true);
        }
    }

    /// One complete `#` line (without its `\n`; `newline` says whether it had one).
    fn meta_line(&mut self, line: &str, newline: bool) {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            if let Some(help) = self.help.take() {
                self.emit(&help, false, true);
            }
            return;
        }
        if line.starts_with("# HELP ") {
            if let Some(help) = self.help.take() {
                self.emit(&help, false, true);
            }
            // `# HELP` comes before `# TYPE`: a counter is known by the TYPE line that follows.
            self.help = Some(line.to_owned());
            return;
        }
        let counter = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.strip_suffix(" counter"));
        if let Some(name) = counter {
            self.counters.push(name.to_owned());
        }
        if let Some(help) = self.help.take() {
            let own_type = counter.is_some_and(|name| {
                help.strip_prefix("# HELP ")
                    .and_then(|r| r.split(' ').next())
                    == Some(name)
            });
            self.emit(&help, own_type, true);
        }
        self.emit(line, false, newline);
    }

    /// Writes a `#` line, adding `_total` to a counter family's name in `# HELP`/`# TYPE`.
    fn emit(&mut self, line: &str, counter_follows: bool, newline: bool) {
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        let Some((prefix, rest)) = meta else {
            self.out.push_str(line);
            if newline {
                self.out.push('\n');
            }
            return;
        };
        let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let counter = counter_follows || self.counters.iter().any(|c| c == name);
        self.out.push_str(prefix);
        self.out.push_str(name);
        if counter && !name.ends_with("_total") {
            self.out.push_str("_total");
        }
        self.out.push(' ');
        self.out.push_str(tail);
        if newline {
            self.out.push('\n');
        }
    }
}

impl std::fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, mut s: &str) -> std::fmt::Result {
        while !s.is_empty() {
            let kind = match self.in_line {
                Some(kind) => kind,
                None if s.starts_with('#') => Line::Meta,
                None => {
                    if let Some(help) = self.help.take() {
                        self.emit(&help, false, true);
                    }
                    Line::Sample
                }
            };
            let (part, rest, ended) = match s.find('\n') {
                Some(n) => (&s[..n], &s[n + 1..], true),
                None => (s, "", false),
            };
            match kind {
                Line::Sample => {
                    self.out.push_str(part);
                    if ended {
                        self.out.push('\n');
                    }
                }
                Line::Meta => {
                    self.meta.push_str(part);
                    if ended {
                        let line = std::mem::take(&mut self.meta);
                        self.meta_line(&line, true);
                        self.meta = line;
                        self.meta.clear();
                    }
                }
            }
            self.in_line = if ended { None } else { Some(kind) };
            s = rest;
        }
        Ok(())
    }
}

/// The classic text format of a whole OpenMetrics exposition (see [`TextWriter`]).
#[cfg(test)]
pub(super) fn openmetrics_to_text(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    let mut w = TextWriter::new(&mut out);
    let _ = std::fmt::Write::write_str(&mut w, open);
    w.finish();
    out
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    const OPEN: &str = "# HELP linkpulse_check_attempts Attempts.\n\
# TYPE linkpulse_check_attempts counter\n\
linkpulse_check_attempts_total{check=\"a#b\",result=\"success\"} 3\n\
# HELP linkpulse_check_latency_seconds Latency.\n\
# TYPE linkpulse_check_latency_seconds histogram\n\
# UNIT linkpulse_check_latency_seconds seconds\n\
linkpulse_check_latency_seconds_sum{check=\"a\"} 0.5\n\
# HELP linkpulse_up Up.\n\
# TYPE linkpulse_up gauge\n\
linkpulse_up 1\n\
# EOF\n";

    const TEXT: &str = "# HELP linkpulse_check_attempts_total Attempts.\n\
# TYPE linkpulse_check_attempts_total counter\n\
linkpulse_check_attempts_total{check=\"a#b\",result=\"success\"} 3\n\
# HELP linkpulse_check_latency_seconds Latency.\n\
# TYPE linkpulse_check_latency_seconds histogram\n\
linkpulse_check_latency_seconds_sum{check=\"a\"} 0.5\n\
# HELP linkpulse_up Up.\n\
# TYPE linkpulse_up gauge\n\
linkpulse_up 1\n";

    #[test]
    fn counters_get_total_and_openmetrics_only_lines_go() {
        assert_eq!(openmetrics_to_text(OPEN), TEXT);
    }

    #[test]
    fn the_text_is_the_same_whatever_the_pieces_it_is_written_in() {
        for size in [1, 2, 3, 7, 64] {
            let mut out = String::new();
            let mut w = TextWriter::new(&mut out);
            let bytes = OPEN.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let mut end = (at + size).min(bytes.len());
                while !OPEN.is_char_boundary(end) {
                    end += 1;
                }
                w.write_str(&OPEN[at..end]).expect("write");
                at = end;
            }
            w.finish();
            assert_eq!(out, TEXT, "pieces of {size} bytes");
        }
    }
}
