//! A vantage that fails alone on every check is its own network's problem, not an outage of
//! all its targets.

use std::collections::{BTreeMap, BTreeSet};

/// A vantage is isolated when, on every check that at least one other vantage also reports, it
/// says down while another vantage says up — and there are at least `min_checks` such checks
/// (so one shared check failing from one place is a partial outage, not an isolation).
///
/// `latest` maps each check to the latest verdict (`true` = up) of each vantage on it.
pub fn isolated_vantages(
    latest: &BTreeMap<String, BTreeMap<String, bool>>,
    min_checks: usize,
) -> BTreeSet<String> {
    // Per vantage: (shared checks seen, shared checks where it alone-ish fails).
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for verdicts in latest.values() {
        if verdicts.len() < 2 {
            continue;
        }
        for (vantage, up) in verdicts {
            let others_up = verdicts.iter().any(|(o, ou)| o != vantage && *ou);
            let entry = tally.entry(vantage.as_str()).or_default();
            entry.0 += 1;
            if !*up && others_up {
                entry.1 += 1;
            }
        }
    }
    tally
        .into_iter()
        .filter(|(_, (shared, failing_alone))| {
            *shared >= min_checks.max(1) && failing_alone == shared
        })
        .map(|(v, _)| v.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &[(&str, bool)])]) -> BTreeMap<String, BTreeMap<String, bool>> {
        rows.iter()
            .map(|(c, vs)| {
                (
                    (*c).to_owned(),
                    vs.iter().map(|(v, u)| ((*v).to_owned(), *u)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_vantage_failing_alone_everywhere_is_isolated() {
        let t = table(&[
            ("a", &[("eu", false), ("us", true), ("ap", true)]),
            ("b", &[("eu", false), ("us", true), ("ap", true)]),
            ("c", &[("eu", false), ("us", true)]),
        ]);
        assert_eq!(isolated_vantages(&t, 3), ["eu".to_owned()].into());
        assert!(isolated_vantages(&t, 4).is_empty(), "too few shared checks");
    }

    #[test]
    fn one_target_down_for_one_vantage_is_not_isolation() {
        let t = table(&[
            ("a", &[("eu", false), ("us", true)]),
            ("b", &[("eu", true), ("us", true)]),
            ("c", &[("eu", true), ("us", true)]),
        ]);
        assert!(isolated_vantages(&t, 1).is_empty());
    }

    #[test]
    fn everything_down_everywhere_is_an_outage_not_an_isolation() {
        let t = table(&[
            ("a", &[("eu", false), ("us", false)]),
            ("b", &[("eu", false), ("us", false)]),
        ]);
        assert!(isolated_vantages(&t, 1).is_empty());
    }
}
