//! Text → [`Condition`]: a small hand-written scanner (`FIELD OP VALUE`), then the type check.

use std::ops::Range;

use super::{Condition, ConditionError, Field, Literal, Op, Segment, Ty, Value};

/// Operands a condition may start with, for error messages.
const FIELDS: &str =
    "status, body, body.PATH, header.NAME, response_time, cert_expiry or connected";

/// Parses and type-checks one condition.
pub(super) fn condition(input: &str) -> Result<Condition, ConditionError> {
    let text = input.trim();
    let mut s = Scanner { text, pos: 0 };
    s.skip_ws();
    if s.at_end() {
        return Err(s.error(0..0, "empty condition: expected e.g. `status == 200`"));
    }
    let (field, field_span) = s.field()?;
    s.skip_ws();
    let (op, op_span) = s.op()?;
    s.skip_ws();
    let (value, value_span) = s.value(op)?;
    s.skip_ws();
    if !s.at_end() {
        let rest = s.pos..text.len();
        return Err(s.error(
            rest.clone(),
            format!("unexpected `{}` after the value", &text[rest]),
        ));
    }
    check(text, &field, field_span, op, op_span, &value, value_span)?;
    Ok(Condition {
        text: text.to_owned(),
        field,
        op,
        value,
    })
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConditionError {
        ConditionError::new(self.text, span, message)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// A run of characters up to white space, an operator character or a quote.
    fn word(&mut self) -> Range<usize> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || "=!<>\"'(),".contains(c))
            .unwrap_or(self.rest().len());
        self.pos += len;
        start..self.pos
    }

    /// The left side.
    fn field(&mut self) -> Result<(Field, Range<usize>), ConditionError> {
        let span = self.word();
        if span.is_empty() {
            let end = (self.pos + self.peek().map_or(0, char::len_utf8)).min(self.text.len());
            return Err(self.error(self.pos..end, format!("expected {FIELDS}")));
        }
        let word = &self.text[span.clone()];
        let field = field(word).map_err(|(at, message)| {
            let start = span.start + at.start;
            let end = span.start + at.end;
            self.error(start..end, message)
        })?;
        Ok((field, span))
    }

    /// The operator.
    fn op(&mut self) -> Result<(Op, Range<usize>), ConditionError> {
        let start = self.pos;
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.rest().starts_with(sym) {
                self.pos += sym.len();
                // `===`, `=>`, `<>`: one operator run, not an operator and a value.
                let more = self
                    .rest()
                    .find(|c: char| !"=!<>~".contains(c))
                    .unwrap_or(self.rest().len());
                if more > 0 {
                    self.pos += more;
                    return Err(self.error(
                        start..self.pos,
                        format!(
                            "unknown operator `{}` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)",
                            &self.text[start..self.pos]
                        ),
                    ));
                }
                return Ok((op, start..self.pos));
            }
        }
        let first = self.word();
        let op = match &self.text[first.clone()] {
            "contains" => Op::Contains,
            "matches" => Op::Matches,
            "not" => {
                self.skip_ws();
                let second = self.word();
                match &self.text[second.clone()] {
                    "contains" => Op::NotContains,
                    "matches" => Op::NotMatches,
                    other => {
                        return Err(self.error(
                            second,
                            format!(
                                "expected `contains` or `matches` after `not`, found `{other}`"
                            ),
                        ));
                    }
                }
            }
            "" => {
                let len = self
                    .rest()
                    .find(char::is_whitespace)
                    .unwrap_or(self.rest().len());
                if len == 0 {
                    return Err(self.error(
                        start..start,
                        "expected an operator: ==, !=, <, <=, >, >=, contains, not contains, matches",
                    ));
                }
                self.pos += len;
                return Err(self.error(
                    start..self.pos,
                    format!(
                        "unknown operator `{}` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)",
                        &self.text[start..self.pos]
                    ),
                ));
            }
            other => {
                return Err(self.error(
                    first,
                    format!(
                        "unknown operator `{other}` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)"
                    ),
                ));
            }
        };
        Ok((op, start..self.pos))
    }

    /// The right side.
    fn value(&mut self, op: Op) -> Result<(Value, Range<usize>), ConditionError> {
        let start = self.pos;
        if self.at_end() {
            return Err(self.error(start..start, "expected a value after the operator"));
        }
        for name in ["any", "pat"] {
            let rest = self.rest();
            if rest.starts_with(name) && rest[name.len()..].trim_start().starts_with('(') {
                self.pos += name.len();
                self.skip_ws();
                self.pos += 1; // (
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(')') && items.is_empty() {
                        return Err(self.error(
                            start..self.pos + 1,
                            format!("{name}() needs at least one value"),
                        ));
                    }
                    items.push(self.literal()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(')') => {
                            self.pos += 1;
                            break;
                        }
                        _ => {
                            let end = (self.pos + self.peek().map_or(0, char::len_utf8))
                                .min(self.text.len());
                            return Err(self.error(
                                self.pos..end.max(self.pos),
                                format!("expected `,` or `)` in {name}(…)"),
                            ));
                        }
                    }
                }
                let span = start..self.pos;
                if name == "any" {
                    return Ok((
                        Value::Any(items.into_iter().map(|(l, _)| l).collect()),
                        span,
                    ));
                }
                let [(Literal::Text(glob), at)] = items.as_slice() else {
                    return Err(
                        self.error(span, "pat(…) takes one quoted pattern, e.g. pat(\"web-*\")")
                    );
                };
                let re = glob_regex(glob).map_err(|e| self.error(at.clone(), e))?;
                return Ok((Value::Regex(re), span));
            }
        }
        let (lit, span) = self.literal()?;
        if matches!(op, Op::Matches | Op::NotMatches) {
            let Literal::Text(pattern) = &lit else {
                return Err(self.error(
                    span,
                    "matches takes a quoted regular expression, e.g. matches \"^ok\"",
                ));
            };
            let re = regex::Regex::new(pattern).map_err(|e| {
                self.error(
                    span.clone(),
                    format!("invalid regular expression: {}", regex_reason(&e)),
                )
            })?;
            return Ok((Value::Regex(re), span));
        }
        Ok((Value::Literal(lit), span))
    }

    /// One literal: a quoted string, a number, a duration, `true`, `false` or `null`.
    fn literal(&mut self) -> Result<(Literal, Range<usize>), ConditionError> {
        let start = self.pos;
        if let Some(q @ ('"' | '\'')) = self.peek() {
            self.pos += 1;
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    c if c == q => {
                        self.pos += i + 1;
                        return Ok((Literal::Text(out), start..self.pos));
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, other)) => out.push(other),
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            return Err(self.error(
                start..self.text.len(),
                "unterminated string: add the closing quote",
            ));
        }
        let span = self.word();
        let word = &self.text[span.clone()];
        let lit = match word {
            "" => {
                let end = (self.pos + self.peek().map_or(0, char::len_utf8)).min(self.text.len());
                return Err(self.error(start..end.max(start), "expected a value: a number, \"text\", a duration like 300ms, true, false or null"));
            }
            "true" => Literal::Bool(true),
            "false" => Literal::Bool(false),
            "null" => Literal::Null,
            w => {
                if let Ok(n) = w.parse::<f64>()
                    && n.is_finite()
                {
                    Literal::Number(n)
                } else if w.starts_with(|c: char| c.is_ascii_digit()) {
                    match humantime::parse_duration(w) {
                        Ok(d) => Literal::Duration(d.as_secs_f64()),
                        Err(_) => {
                            return Err(self.error(
                                span,
                                format!(
                                    "`{w}` is neither a number nor a duration like 300ms, 2s, 7d"
                                ),
                            ));
                        }
                    }
                } else {
                    // A bare word is text, as Gatus reads it: `contains json`.
                    Literal::Text(w.to_owned())
                }
            }
        };
        Ok((lit, span))
    }
}

/// Parses the left side; an error carries its range within `word`.
fn field(word: &str) -> Result<Field, (Range<usize>, String)> {
    // Gatus's placeholders.
    let word_owned;
    let (word, shift) = match gatus_alias(word) {
        Some((alias, rest_at)) => {
            word_owned = format!("{alias}{}", &word[rest_at..]);
            (
                word_owned.as_str(),
                Some(rest_at as isize - alias.len() as isize),
            )
        }
        None => (word, None),
    };
    let map = |r: Range<usize>| match shift {
        Some(d) => ((r.start as isize + d).max(0) as usize)..((r.end as isize + d).max(0) as usize),
        None => r,
    };
    match word {
        "status" => return Ok(Field::Status),
        "body" => return Ok(Field::Body),
        "response_time" => return Ok(Field::ResponseTime),
        "cert_expiry" => return Ok(Field::CertExpiry),
        "connected" => return Ok(Field::Connected),
        _ => {}
    }
    if let Some(name) = word.strip_prefix("header.") {
        if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err((
                map(7..word.len().max(8)),
                format!("`{name}` is not a header name"),
            ));
        }
        return Ok(Field::Header(name.to_ascii_lowercase()));
    }
    if let Some(path) = word.strip_prefix("body")
        && path.starts_with(['.', '['])
    {
        return json_path(path, 4)
            .map(Field::BodyPath)
            .map_err(|(r, m)| (map(r), m));
    }
    let head = word.find(['.', '[']).unwrap_or(word.len());
    Err((
        map(0..head.max(1)),
        format!("unknown operand `{}` (expected {FIELDS})", &word[..head]),
    ))
}

/// `[STATUS]` → `status`, …: the alias and where the rest of `word` starts.
fn gatus_alias(word: &str) -> Option<(&'static str, usize)> {
    [
        ("[STATUS]", "status"),
        ("[BODY]", "body"),
        ("[RESPONSE_TIME]", "response_time"),
        ("[CERTIFICATE_EXPIRATION]", "cert_expiry"),
        ("[CONNECTED]", "connected"),
    ]
    .into_iter()
    .find(|(g, _)| word.starts_with(g))
    .map(|(g, alias)| (alias, g.len()))
}

/// `.a.b[0]["c d"].length` → segments; `offset` is where `path` starts in the word.
fn json_path(path: &str, offset: usize) -> Result<Vec<Segment>, (Range<usize>, String)> {
    let mut out = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                let start = i + 1;
                let end = path[start..]
                    .find(['.', '['])
                    .map_or(path.len(), |n| start + n);
                if start == end {
                    return Err((
                        offset + i..offset + i + 1,
                        "empty key in the JSON path".to_owned(),
                    ));
                }
                out.push(Segment::Key(path[start..end].to_owned()));
                i = end;
            }
            b'[' => {
                let Some(close) = path[i..].find(']').map(|n| i + n) else {
                    return Err((
                        offset + i..offset + path.len(),
                        "`[` without `]` in the JSON path".to_owned(),
                    ));
                };
                let inner = &path[i + 1..close];
                let seg = if let Ok(n) = inner.parse::<usize>() {
                    Segment::Index(n)
                } else {
                    return Err((
                        offset + i..offset + close + 1,
                        format!("`[{inner}]` is not an index: write [0], [1], … (keys as .name)"),
                    ));
                };
                out.push(seg);
                i = close + 1;
            }
            _ => {
                return Err((
                    offset + i..offset + i + 1,
                    "expected `.key` or `[index]` in the JSON path".to_owned(),
                ));
            }
        }
    }
    Ok(out)
}

/// `web-*` → `^web-.*$` (`*` any run, `?` one character).
fn glob_regex(glob: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("invalid pattern: {e}"))
}

/// The type check: does this operator make sense between this field and this value?
fn check(
    text: &str,
    field: &Field,
    field_span: Range<usize>,
    op: Op,
    op_span: Range<usize>,
    value: &Value,
    value_span: Range<usize>,
) -> Result<(), ConditionError> {
    let err = |span: Range<usize>, m: String| Err(ConditionError::new(text, span, m));
    let fty = field.ty();
    let name = &text[field_span];
    // Operators the field's type allows.
    let op_ok = match fty {
        Ty::Number | Ty::Duration => !matches!(op, Op::Contains | Op::NotContains),
        Ty::Bool => matches!(op, Op::Eq | Op::Ne),
        Ty::Text | Ty::Json | Ty::Null => true,
    };
    if !op_ok {
        let allowed = match fty {
            Ty::Bool => "== or !=",
            _ => "==, !=, <, <=, >, >= or matches",
        };
        return err(op_span, format!("{name} is {}: use {allowed}", fty.name()));
    }
    let literals: &[Literal] = match value {
        Value::Literal(l) => std::slice::from_ref(l),
        Value::Any(items) => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return err(op_span, "any(…) goes with == or !=".to_owned());
            }
            items
        }
        Value::Regex(_) => {
            if matches!(fty, Ty::Bool | Ty::Duration) {
                return err(
                    value_span,
                    format!("{name} is {}: it cannot match a pattern", fty.name()),
                );
            }
            if !matches!(op, Op::Eq | Op::Ne | Op::Matches | Op::NotMatches) {
                return err(op_span, "a pattern goes with ==, != or matches".to_owned());
            }
            return Ok(());
        }
    };
    for lit in literals {
        let lty = lit.ty();
        let fits = match (fty, lty) {
            (Ty::Duration, Ty::Number) => {
                return err(
                    value_span,
                    format!("{name} is a duration: write the value with a unit, e.g. 300ms or 2s"),
                );
            }
            (_, Ty::Null) => matches!(fty, Ty::Json | Ty::Text) && matches!(op, Op::Eq | Op::Ne),
            (a, b) if a == b => true,
            (Ty::Json, Ty::Duration) => false,
            (Ty::Json, _) => true,
            // `header.content-length > 100`: text read as a number.
            (Ty::Text, Ty::Number) => true,
            _ => false,
        };
        if !fits {
            return err(
                value_span,
                format!("{name} is {}, but the value is {}", fty.name(), lty.name()),
            );
        }
        if op.is_order() && !matches!(lty, Ty::Number | Ty::Duration) {
            return err(
                value_span,
                format!(
                    "<, <=, >, >= compare numbers or durations, not {}",
                    lty.name()
                ),
            );
        }
        if matches!(op, Op::Contains | Op::NotContains) && fty == Ty::Text && lty != Ty::Text {
            return err(
                value_span,
                format!("contains takes quoted text here, not {}", lty.name()),
            );
        }
    }
    Ok(())
}

/// The last line of a regex error (`unclosed group`), without the drawing above it.
pub(crate) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}
