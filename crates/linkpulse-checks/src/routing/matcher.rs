//! Which checks a silence, a maintenance window or a route covers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Check names and/or label values; a check matches when its name is listed (or no names are
/// given) and it carries every listed label with the listed value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// Check names; empty means any check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Labels the check must carry, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Matcher {
    /// True when neither names nor labels are given (it would match every check).
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.labels.is_empty()
    }

    /// Whether check `name` with `labels` matches.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.checks.is_empty() || self.checks.iter().any(|c| c == name))
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_and_labels_must_all_match() {
        let m = Matcher {
            checks: vec!["db".into()],
            labels: labels(&[("team", "db")]),
        };
        assert!(m.matches("db", &labels(&[("team", "db"), ("env", "prod")])));
        assert!(!m.matches("db", &labels(&[("team", "web")])));
        assert!(!m.matches("web", &labels(&[("team", "db")])));
        let by_label = Matcher {
            checks: vec![],
            labels: labels(&[("team", "db")]),
        };
        assert!(by_label.matches("anything", &labels(&[("team", "db")])));
        assert!(!by_label.matches("anything", &BTreeMap::new()));
    }
}
