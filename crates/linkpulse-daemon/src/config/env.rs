//! Environment variables in config values, expanded before stage one.
//!
//! In every plain or quoted scalar *value* (not in keys, comments or block scalars `|`/`>`):
//! - `${NAME}` is the value of the environment variable `NAME`; an unset variable is an error
//!   naming file, line and key (collected with every other problem of the file);
//! - `${NAME:-default}` is the variable's value, or `default` when it is unset or empty;
//! - `$${` is a literal `${`; any other `$` is itself.
//!
//! The YAML is walked once with the parser of `serde-saphyr` to find each value, its line and
//! its key path; each value that changes is written back in place, as it was when the result
//! is safe as a plain scalar (so `rise: ${RISE}` reads a number, as if typed there), otherwise
//! double-quoted, so a variable can never add keys or change the file's structure. Line numbers
//! stay those of the file.

use std::borrow::Cow;
use std::ops::Range;

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle};

use super::error::ConfigError;

/// Where the walk is: one frame per open mapping or sequence.
enum Frame {
    /// A mapping; `key` is the key of the value being read, `at_key` whether the next node is
    /// a key.
    Map { key: Option<String>, at_key: bool },
    /// A sequence and the index of the next item.
    Seq { index: usize },
}

/// Expands the variables in the values of `text` (see the module docs), reading them with
/// `lookup`. Returns the text to parse and the problems found, each with its line and key
/// path. A YAML syntax error ends the walk quietly: stage one reports it.
pub(crate) fn expand<'t>(
    file: &str,
    text: &'t str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (Cow<'t, str>, Vec<ConfigError>) {
    if !text.contains("${") {
        return (Cow::Borrowed(text), Vec::new());
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut errors = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            return (Cow::Borrowed(text), Vec::new());
        };
        match event {
            Event::Scalar(value, style, _, _) => {
                if let Some(Frame::Map { key, at_key: true }) = stack.last_mut() {
                    *key = Some(value.into_owned());
                } else if value.contains("${")
                    && matches!(
                        style,
                        ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                    )
                {
                    let line = u64::try_from(span.start.line()).unwrap_or(u64::MAX);
                    match expand_value(&value, lookup) {
                        Ok(expanded) if expanded == value => {}
                        Ok(expanded) => {
                            let range = byte_offset(text, span.start)..byte_offset(text, span.end);
                            let newlines = text[range.clone()].matches('\n').count();
                            let mut written =
                                if style == ScalarStyle::Plain && plain_safe(&expanded) {
                                    expanded
                                } else {
                                    serde_json::Value::String(expanded).to_string()
                                };
                            // A value written over several lines keeps them, so the lines
                            // below keep their numbers.
                            written.push_str(&"\n".repeat(newlines));
                            edits.push((range, written));
                        }
                        Err(problems) => {
                            let path = key_path(&stack);
                            errors.extend(problems.into_iter().map(|message| ConfigError {
                                file: file.to_owned(),
                                line,
                                path: path.clone(),
                                message,
                            }));
                        }
                    }
                }
                node_done(&mut stack);
            }
            Event::Alias(_) => node_done(&mut stack),
            Event::MappingStart(..) => stack.push(Frame::Map {
                key: None,
                at_key: true,
            }),
            Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                node_done(&mut stack);
            }
            _ => {}
        }
    }
    if edits.is_empty() {
        return (Cow::Borrowed(text), errors);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, written) in edits {
        out.push_str(&text[at..range.start]);
        out.push_str(&written);
        at = range.end;
    }
    out.push_str(&text[at..]);
    (Cow::Owned(out), errors)
}

/// A node of the innermost collection is complete: a mapping expects its next key or value,
/// a sequence its next item.
fn node_done(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key, at_key }) => {
            if *at_key {
                // A key that is itself a collection has no name to show.
                key.get_or_insert_with(|| "?".to_owned());
            }
            *at_key = !*at_key;
        }
        Some(Frame::Seq { index }) => *index += 1,
        None => {}
    }
}

/// The key path of the value being read, as the other config errors write it:
/// `checks[2].http.url`.
fn key_path(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Map { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Map { key: None, .. } => {}
            Frame::Seq { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

/// The byte offset of `marker` in `text` (the parser counts characters; it usually knows the
/// byte offset too).
fn byte_offset(text: &str, marker: Marker) -> usize {
    marker.byte_offset().unwrap_or_else(|| {
        text.char_indices()
            .nth(marker.index())
            .map_or(text.len(), |(i, _)| i)
    })
}

/// Whether `value` reads back as itself when written as a plain scalar in block or flow
/// context: a word of letters, digits and `._/:@+-=%~`, not starting with a YAML indicator.
fn plain_safe(value: &str) -> bool {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || "._/:@+-=%~".contains(c);
    (first.is_ascii_alphanumeric() || first == '/' || first == '.')
        && ok(first)
        && chars.all(ok)
        && !value.ends_with(':')
}

/// Expands one value: `${NAME}`, `${NAME:-default}`, `$${` (a literal `${`). Every problem of
/// the value is returned, in words.
fn expand_value(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(value.len());
    let mut problems = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let here = &rest[i..];
        if let Some(after) = here.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body) = here.strip_prefix("${") else {
            out.push('$');
            rest = &here[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            problems.push("\"${\" without a closing \"}\" (write $${ for a literal ${)".to_owned());
            out.push_str(here);
            rest = "";
            break;
        };
        let reference = &body[..end];
        rest = &body[end + 1..];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if !is_name(name) {
            problems.push(format!(
                "\"${{{reference}}}\" is not a variable: use ${{NAME}} or ${{NAME:-default}}, \
                 NAME made of letters, digits and _ (write $${{ for a literal ${{)"
            ));
            continue;
        }
        match (lookup(name), default) {
            (Some(v), Some(default)) if v.is_empty() => out.push_str(default),
            (Some(v), _) => out.push_str(&v),
            (None, Some(default)) => out.push_str(default),
            (None, None) => problems.push(format!(
                "environment variable {name} is not set (set it, or give a default: \
                 ${{{name}:-default}})"
            )),
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// A variable name: letters, digits and `_`, not starting with a digit.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.org".to_owned()),
            "RISE" => Some("3".to_owned()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a: b # c".to_owned()),
            _ => None,
        }
    }

    fn run(text: &str) -> (String, Vec<String>) {
        let (out, errors) = expand("c.yaml", text, &env);
        (
            out.into_owned(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn plain_and_quoted_values_are_expanded_keys_and_comments_are_not() {
        let text = "# ${HOST}\n${HOST}: 1\na: https://${HOST}/x\nb: \"${HOST}\"\nc: 'at ${HOST}'\n";
        let (out, errors) = run(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            out,
            "# ${HOST}\n${HOST}: 1\na: https://example.org/x\nb: \"example.org\"\nc: \"at example.org\"\n"
        );
    }

    #[test]
    fn defaults_escapes_and_lone_dollars() {
        let (out, errors) = run(
            "a: ${NOPE:-fallback}\nb: ${EMPTY:-fallback}\nc: \"$${HOST} costs $5\"\nd: x${EMPTY}y\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            out,
            "a: fallback\nb: fallback\nc: \"${HOST} costs $5\"\nd: xy\n"
        );
    }

    #[test]
    fn a_value_cannot_change_the_structure() {
        let (out, _) = run("a: ${SPACED}\nb: 1\n");
        assert_eq!(out, "a: \"a: b # c\"\nb: 1\n");
    }

    #[test]
    fn a_number_stays_a_number_and_lines_keep_their_numbers() {
        let (out, _) = run("rise: ${RISE}\ng: two\n  lines ${HOST}\nlast: 1\n");
        assert_eq!(out, "rise: 3\ng: \"two lines example.org\"\n\nlast: 1\n");
    }

    #[test]
    fn every_unset_variable_is_named_with_line_and_key() {
        let text = "listen: ${HOST}:9\nchecks:\n  - name: a\n    http:\n      url: \"https://${NOPE}/${ALSO_NOPE}\"\n  - tcp: [\"${BAD NAME}\"]\n";
        let (_, errors) = run(text);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("c.yaml:5: checks[0].http.url: environment variable NOPE is not set"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with(
                "c.yaml:5: checks[0].http.url: environment variable ALSO_NOPE is not set"
            ),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("c.yaml:6: checks[1].tcp[0]: \"${BAD NAME}\" is not a variable"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_unclosed_reference_is_an_error_and_block_scalars_are_literal() {
        let (_, errors) = run("a: \"${HOST\"\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("without a closing"), "{errors:?}");
        let text = "a: |\n  ${NOPE}\n";
        assert_eq!(run(text), (text.to_owned(), Vec::new()));
    }

    #[test]
    fn text_without_references_is_not_touched() {
        let text = "a: $HOME and $$\n";
        let (out, errors) = expand("c.yaml", text, &env);
        assert!(matches!(out, Cow::Borrowed(_)));
        assert!(errors.is_empty());
    }
}
