//! Reading a targets file: one target URL per line, `#` comments and blank lines allowed.

use std::path::Path;

use anyhow::Context;

use super::Job;

/// Reads `path`. The outer error is a file that cannot be used at all (unreadable, empty);
/// the inner one lists every bad line as `FILE:LINE: `text`: what is wrong`.
pub(crate) fn read(path: &Path) -> anyhow::Result<Result<Vec<Job>, Vec<String>>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read targets file {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "targets file {} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(parse(&path.display().to_string(), &text))
}

/// Parses the text of a targets file named `name` (for messages).
pub(crate) fn parse(name: &str, text: &str) -> Result<Vec<Job>, Vec<String>> {
    let mut jobs = Vec::new();
    let mut problems = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // A trailing comment after the target.
        let entry = match line.find(" #") {
            Some(at) => line[..at].trim_end(),
            None => line,
        };
        match entry.parse() {
            Ok(target) => jobs.push(Job {
                label: super::job_label(entry, &target),
                target,
            }),
            Err(e) => problems.push(format!("{name}:{}: `{entry}`: {e}", index + 1)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if jobs.is_empty() {
        return Err(vec![format!(
            "{name}: no targets (only blank lines and comments)"
        )]);
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_line() {
        let text = "# c\n\ntcp://127.0.0.1:22\ntcp://host\nftp://x # old\nicmp://::1\n";
        let problems = parse("t.txt", text).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "t.txt:4: `tcp://host`: missing port: expected HOST:PORT".to_owned(),
                "t.txt:5: `ftp://x`: unknown scheme `ftp`: expected tcp, http, https, icmp, \
                 dns, grpc, grpcs, postgres, redis, rediss or mysql"
                    .to_owned(),
            ]
        );
        let jobs = parse("t.txt", "tcp://[::1]:80 # v6\n").unwrap();
        assert_eq!(jobs[0].label, "tcp://[::1]:80");
        assert!(parse("t.txt", "# nothing\n\n").unwrap_err()[0].contains("no targets"));
        // A byte-order mark and CRLF line ends are fine.
        let jobs = parse("t.txt", "\u{feff}tcp://h:1\r\nicmp://h\r\n").unwrap();
        assert_eq!(jobs.len(), 2);
    }
}
