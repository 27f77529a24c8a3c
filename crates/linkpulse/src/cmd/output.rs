//! What every subcommand shares about its output: the `--output` formats, writing to a stdout
//! whose reader may go away, and aligned tables.
//!
//! A closed pipe (`linkpulse status --output json | head -c 10`) must end the output quietly,
//! not panic as `println!` does. Rust starts programs with SIGPIPE ignored, so a write to a
//! closed pipe fails with `EPIPE` (`ErrorKind::BrokenPipe`). We keep it that way rather than
//! restoring the default SIGPIPE action (which would kill the process silently): `link listen`
//! must keep serving its peers when its stdout is gone, `link connect` says goodbye to its
//! peer first, and `serve` must never die because an alert command closed its stdin. Instead
//! every command prints through [`print()`], which treats a closed pipe as "nobody reads any
//! more": the output stops, the command still exits with the code for what it saw.

use std::fmt::Display;
use std::io::{self, Write};

/// Output format, the same flag on every subcommand: `--output text|json|nagios`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Aligned text for a person.
    #[value(alias = "human")]
    Text,
    /// JSON: one object per line, or one document.
    Json,
    /// Nagios/Icinga plugin lines with performance data (commands that give a verdict).
    Nagios,
}

/// Output format of the commands that stream events or describe settings and so have no
/// verdict for a monitoring plugin: `--output text|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StreamOutput {
    /// One readable line per event.
    #[value(alias = "human")]
    Text,
    /// One JSON object per line.
    Json,
}

/// Writes `text` to stdout and flushes it. A reader that went away is not an error: the text
/// is dropped and `Ok(false)` returned, so the caller may stop producing output. Other write
/// errors (a full disk) are returned.
pub(crate) fn print(text: impl Display) -> io::Result<bool> {
    let mut out = io::stdout().lock();
    let written = write!(out, "{text}").and_then(|()| out.flush());
    quiet(written)
}

/// Like [`print()`], followed by a newline.
pub(crate) fn println(text: impl Display) -> io::Result<bool> {
    print(format_args!("{text}\n"))
}

/// Maps a write result: a closed pipe becomes `Ok(false)` (nobody reads any more), success
/// `Ok(true)`.
pub(crate) fn quiet(result: io::Result<()>) -> io::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `err` comes from writing to a closed pipe (anywhere in its chain).
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Column alignment in a [`table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// Renders `rows` under `header` as columns two spaces apart, each as wide as its widest
/// cell (counted in characters); the last column is not padded and no line ends in spaces.
/// `align` gives each column's alignment (missing entries are [`Align::Left`]).
pub(crate) fn table(header: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == columns;
            match align.get(i).copied().unwrap_or(Align::Left) {
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                }
                Align::Left => {
                    line.push_str(cell);
                    if !last {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_whatever_the_cell_widths() {
        let rows = vec![
            vec![
                "a-very-long-node-name".to_owned(),
                "1.5ms".to_owned(),
                "x".to_owned(),
            ],
            vec!["b".to_owned(), "120.25ms".to_owned(), String::new()],
        ];
        let text = table(
            &["NAME", "RTT", "LABELS"],
            &[Align::Left, Align::Right],
            &rows,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME                        RTT  LABELS");
        assert_eq!(lines[1], "a-very-long-node-name     1.5ms  x");
        assert_eq!(lines[2], "b                      120.25ms");
    }
}
