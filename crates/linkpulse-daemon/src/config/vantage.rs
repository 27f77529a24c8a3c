//! A check's `vantage:` — run it from several vantage points of a cluster and decide its state
//! by quorum (see [`crate::cluster`] and `linkpulse_cluster::quorum`).
//!
//! ```yaml
//! checks:
//!   - name: web
//!     http: { url: https://example.com/ }
//!     vantage: { from: [eu, us, ap], quorum: 2 }   # or from: all
//! ```
//!
//! `quorum` is how many vantages must say down for the check to be `down`; fewer make it
//! `degraded` (`partial_outage`). When omitted it is a majority: of the vantages listed
//! (`[eu, us, ap]` → 2), or with `from: all` of the vantages reporting at each decision.

use std::collections::BTreeSet;

use serde::Deserialize;

use linkpulse_cluster::{Placement, VantageSet};

use super::spanned::S;

/// A validated `vantage:` of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VantageConfig {
    /// The vantages that run the check.
    pub from: VantageSet,
    /// How many of them must say down for the check to be down.
    pub quorum: Quorum,
}

/// How many vantages make the check down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// This many (`quorum: N`, or a majority of the vantages listed).
    Exactly(usize),
    /// A majority of the vantages reporting (`from: all` without `quorum`).
    Majority,
}

impl VantageConfig {
    /// The quorum when `reporting` vantages have a recent verdict.
    pub fn quorum_of(&self, reporting: usize) -> usize {
        match self.quorum {
            Quorum::Exactly(n) => n,
            Quorum::Majority => majority(reporting),
        }
    }

    /// The check's placement on the cluster.
    pub fn placement(&self) -> Placement {
        Placement::Vantages {
            from: self.from.clone(),
            // Placement does not use the quorum (the poller decides with `quorum_of`); 0 says
            // "a majority of those reporting".
            quorum: match self.quorum {
                Quorum::Exactly(n) => n,
                Quorum::Majority => 0,
            },
        }
    }
}

/// More than half of `n` (at least 1).
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// `vantage:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVantage {
    from: S<RawFrom>,
    quorum: Option<S<i64>>,
}

/// `from: all` or `from: [eu, us]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawFrom {
    List(Vec<S<String>>),
    Word(String),
}

/// One problem: line, key path, message.
pub(crate) type Problem = (u64, String, String);

/// Validates the `vantage:` of check `prefix` (`checks[3]`).
pub(crate) fn validate(raw: &RawVantage, prefix: &str) -> Result<VantageConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let from_line = raw.from.referenced.line();
    let from = match &raw.from.value {
        RawFrom::Word(w) if w.trim() == "all" => VantageSet::All,
        RawFrom::Word(w) => {
            problems.push((
                from_line,
                format!("{prefix}.vantage.from"),
                format!("invalid value {w:?}: a list of vantage labels ([eu, us]) or `all`"),
            ));
            VantageSet::All
        }
        RawFrom::List(list) => {
            let mut set = BTreeSet::new();
            for (i, label) in list.iter().enumerate() {
                let v = label.value.trim();
                // Inside an untagged enum the items lose their place: fall back on `from`'s.
                let line = match label.referenced.line() {
                    0 => from_line,
                    l => l,
                };
                let path = format!("{prefix}.vantage.from[{i}]");
                if !valid_label(v) {
                    problems.push((
                        line,
                        path,
                        format!(
                            "invalid vantage label {:?}: 1 to 64 letters, digits, '.', '_' or '-' (as in cluster.vantage)",
                            label.value
                        ),
                    ));
                } else if !set.insert(v.to_owned()) {
                    problems.push((line, path, format!("vantage {v:?} is listed twice")));
                }
            }
            if list.is_empty() {
                problems.push((
                    from_line,
                    format!("{prefix}.vantage.from"),
                    "no vantage listed: name at least one ([eu, us]) or use `all`".to_owned(),
                ));
            }
            VantageSet::Only(set)
        }
    };
    let quorum = match (&raw.quorum, &from) {
        (None, VantageSet::All) => Quorum::Majority,
        (None, VantageSet::Only(set)) => Quorum::Exactly(majority(set.len())),
        (Some(q), from) => {
            let listed = match from {
                VantageSet::Only(set) => Some(set.len()),
                VantageSet::All => None,
            };
            let path = format!("{prefix}.vantage.quorum");
            match usize::try_from(q.value) {
                Ok(n) if n >= 1 && listed.is_none_or(|l| n <= l) => Quorum::Exactly(n),
                _ => {
                    let range = listed.map_or_else(
                        || "at least 1".to_owned(),
                        |l| format!("between 1 and {l}, the number of vantages listed"),
                    );
                    problems.push((
                        q.referenced.line(),
                        path,
                        format!("quorum {} out of range: {range}", q.value),
                    ));
                    Quorum::Majority
                }
            }
        }
    };
    if problems.is_empty() {
        Ok(VantageConfig { from, quorum })
    } else {
        Err(problems)
    }
}

/// A vantage label, as `cluster.vantage` accepts it.
fn valid_label(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
