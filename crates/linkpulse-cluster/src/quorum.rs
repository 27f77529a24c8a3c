//! The state of a multi-vantage check from the latest verdict of each vantage.

use std::collections::{BTreeMap, BTreeSet};

/// One vantage's latest verdict on a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VantageVerdict {
    /// The target answered from there.
    Up,
    /// It did not.
    Down,
}

/// What the vantages' verdicts add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No vantage has reported yet (or every reporting vantage is isolated).
    Unknown,
    /// Fewer than one vantage says down, not counting isolated vantages (named in `isolated`:
    /// their failures are their own network's, diagnosis `vantage_isolated`).
    Up {
        /// Vantages left out because they fail alone on every check.
        isolated: Vec<String>,
    },
    /// Some vantages say down, fewer than the quorum: diagnosis `partial_outage`.
    Degraded {
        /// The vantages that say down.
        failing: Vec<String>,
    },
    /// At least `quorum` vantages say down.
    Down {
        /// The vantages that say down.
        failing: Vec<String>,
    },
}

impl Decision {
    /// The diagnosis the decision carries beyond up and down: `partial_outage` when some
    /// vantages fail, `vantage_isolated` when a vantage was left out as isolated.
    pub fn diagnosis(&self) -> Option<&'static str> {
        match self {
            Decision::Degraded { .. } => Some("partial_outage"),
            Decision::Up { isolated } if !isolated.is_empty() => Some("vantage_isolated"),
            _ => None,
        }
    }
}

/// Decides a check from the latest verdict per vantage: down when at least `quorum` vantages
/// say down, degraded when some but fewer do, up otherwise. Verdicts of `isolated` vantages
/// are left out. A quorum larger than the vantages reporting cannot be reached: the check is
/// then degraded, never down, as the quorum asks for that many independent witnesses.
pub fn decide(
    latest: &BTreeMap<String, VantageVerdict>,
    quorum: usize,
    isolated: &BTreeSet<String>,
) -> Decision {
    let counted = latest.iter().filter(|(v, _)| !isolated.contains(*v));
    let (mut any, mut failing) = (false, Vec::new());
    for (vantage, verdict) in counted {
        any = true;
        if *verdict == VantageVerdict::Down {
            failing.push(vantage.clone());
        }
    }
    if !any {
        return Decision::Unknown;
    }
    match failing.len() {
        0 => Decision::Up {
            isolated: latest
                .keys()
                .filter(|v| isolated.contains(*v))
                .cloned()
                .collect(),
        },
        n if n >= quorum.max(1) => Decision::Down { failing },
        _ => Decision::Degraded { failing },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VantageVerdict::{Down, Up};

    fn v(pairs: &[(&str, VantageVerdict)]) -> BTreeMap<String, VantageVerdict> {
        pairs.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn down_needs_the_quorum_fewer_is_a_partial_outage() {
        let none = BTreeSet::new();
        let one = v(&[("eu", Down), ("us", Up), ("ap", Up)]);
        assert_eq!(
            decide(&one, 2, &none),
            Decision::Degraded {
                failing: vec!["eu".into()]
            }
        );
        assert_eq!(decide(&one, 2, &none).diagnosis(), Some("partial_outage"));
        let two = v(&[("eu", Down), ("us", Down), ("ap", Up)]);
        assert_eq!(
            decide(&two, 2, &none),
            Decision::Down {
                failing: vec!["eu".into(), "us".into()]
            }
        );
        let all_up = v(&[("eu", Up), ("us", Up)]);
        assert_eq!(decide(&all_up, 2, &none), Decision::Up { isolated: vec![] });
        assert_eq!(decide(&v(&[]), 2, &none), Decision::Unknown);
    }

    #[test]
    fn an_isolated_vantage_is_left_out_and_named() {
        let isolated: BTreeSet<String> = ["eu".to_owned()].into();
        let d = decide(&v(&[("eu", Down), ("us", Up), ("ap", Up)]), 2, &isolated);
        assert_eq!(
            d,
            Decision::Up {
                isolated: vec!["eu".into()]
            }
        );
        assert_eq!(d.diagnosis(), Some("vantage_isolated"));
    }

    #[test]
    fn a_quorum_beyond_the_reporting_vantages_is_never_down() {
        let d = decide(&v(&[("eu", Down)]), 2, &BTreeSet::new());
        assert!(matches!(d, Decision::Degraded { .. }), "{d:?}");
    }
}
