//! The collector of stage two: every problem once, with file, line and key path.
//!
//! A problem found twice (the same line, key and words) is kept once. A problem of a value
//! written in `defaults:` is found once per check that inherits the value; it is reported
//! once, at the line of the default, with words saying which checks inherit it — never once
//! per check.

use std::collections::HashMap;

use super::error::ConfigError;
use super::spanned::S;

/// Collects problems while validating (see the module docs).
pub(crate) struct Errors<'a> {
    file: &'a str,
    list: Vec<ConfigError>,
    /// Each problem's place in `list`, by line, key and words.
    seen: HashMap<(u64, String, String), usize>,
    /// The check being validated (`checks[3]`), while one is: a problem under `defaults.`
    /// found meanwhile is inherited by it.
    check: Option<String>,
    /// For problems of `defaults:` values (by place in `list`): the first check that
    /// inherits it and how many do.
    inherited: HashMap<usize, (String, usize)>,
}

impl<'a> Errors<'a> {
    /// An empty collector for `file`.
    pub(crate) fn new(file: &'a str) -> Errors<'a> {
        Errors {
            file,
            list: Vec::new(),
            seen: HashMap::new(),
            check: None,
            inherited: HashMap::new(),
        }
    }

    /// A problem at `line` (0: none) with key `path`.
    pub(crate) fn push(&mut self, line: u64, path: impl Into<String>, message: impl Into<String>) {
        let (path, message) = (path.into(), message.into());
        let key = (line, path, message);
        let at = match self.seen.get(&key) {
            Some(&at) => at,
            None => {
                let at = self.list.len();
                let (line, path, message) = key.clone();
                self.list.push(ConfigError {
                    file: self.file.to_owned(),
                    line,
                    path,
                    message,
                });
                self.seen.insert(key.clone(), at);
                at
            }
        };
        if let Some(check) = &self.check
            && key.1.starts_with("defaults.")
        {
            let entry = self.inherited.entry(at).or_insert((check.clone(), 0));
            entry.1 += 1;
        }
    }

    /// A problem of the value `s`, at its line.
    pub(crate) fn at<T>(&mut self, s: &S<T>, path: impl Into<String>, message: impl Into<String>) {
        self.push(s.referenced.line(), path, message);
    }

    /// Problems pushed until [`Errors::end_check`] are found while validating the check at
    /// `path` (`checks[3]`).
    pub(crate) fn begin_check(&mut self, path: &str) {
        self.check = Some(path.to_owned());
    }

    /// Ends [`Errors::begin_check`].
    pub(crate) fn end_check(&mut self) {
        self.check = None;
    }

    /// Whether no problem was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every problem in line order; one from `defaults:` says which checks inherit it.
    pub(crate) fn finish(mut self) -> Vec<ConfigError> {
        for (at, (first, count)) in self.inherited {
            let who = match count {
                1 => first,
                2 => format!("{first} and 1 other check"),
                n => format!("{first} and {} other checks", n - 1),
            };
            self.list[at]
                .message
                .push_str(&format!(" (a value of `defaults:`, inherited by {who})"));
        }
        self.list.sort_by_key(|x| x.line);
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_kept_once_and_a_default_names_who_inherits_it() {
        let mut e = Errors::new("t.yaml");
        e.push(4, "checks[0].interval", "bad");
        e.push(4, "checks[0].interval", "bad");
        for i in 0..3 {
            e.begin_check(&format!("checks[{i}]"));
            e.push(1, "defaults.rise", "0 is out of range");
            e.end_check();
        }
        e.begin_check("checks[5]");
        e.push(1, "defaults.fall", "0 is out of range");
        e.end_check();
        let all: Vec<String> = e.finish().iter().map(ToString::to_string).collect();
        assert_eq!(
            all,
            [
                "t.yaml:1: defaults.rise: 0 is out of range (a value of `defaults:`, inherited by checks[0] and 2 other checks)",
                "t.yaml:1: defaults.fall: 0 is out of range (a value of `defaults:`, inherited by checks[5])",
                "t.yaml:4: checks[0].interval: bad",
            ]
        );
    }
}
