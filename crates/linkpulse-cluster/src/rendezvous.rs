//! Rendezvous (highest-random-weight) hashing: the owner of a key among a set of members.
//!
//! Each member scores each key with a hash of both; the highest score owns the key. Every
//! process computes the same owner from the same member names, nothing is stored, and when a
//! member leaves only its own keys move (each to the member that scored second), while a joiner
//! takes about `1/n` of the keys from the others. The hash is XXH3 with a fixed seed, so owners
//! are the same in every process and every release (a std `Hasher` is not stable across
//! releases).

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The seed of the score hash. Changing it moves every check at the next upgrade: never do.
const SEED: u64 = 0x6c69_6e6b_7075_6c73; // "linkpuls"

/// The score of `member` for `key`.
pub fn score(key: &str, member: &str) -> u64 {
    // Hash "key \0 member" in one pass: the NUL cannot appear in either (check and member
    // names are validated text), so ("ab","c") and ("a","bc") never collide by construction.
    let mut buf = Vec::with_capacity(key.len() + member.len() + 1);
    buf.extend_from_slice(key.as_bytes());
    buf.push(0);
    buf.extend_from_slice(member.as_bytes());
    xxh3_64_with_seed(&buf, SEED)
}

/// The owner of `key` among `members`: the highest score, ties broken by the smaller name.
/// `None` when there are no members.
pub fn owner<'a>(key: &str, members: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    members
        .into_iter()
        .map(|m| (score(key, m), m))
        .max_by(|(sa, ma), (sb, mb)| sa.cmp(sb).then(mb.cmp(ma)))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 60_589_855_520_482_851;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("check-{i}")).collect()
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_of_members() {
        for k in keys(200) {
            assert_eq!(owner(&k, ["a", "b", "c"]), owner(&k, ["c", "a", "b"]));
        }
    }

    #[test]
    fn shares_are_even_and_a_leaver_moves_only_its_own_keys() {
        let ks = keys(3_000);
        let before: Vec<&str> = ks
            .iter()
            .map(|k| owner(k, ["a", "b", "c"]).unwrap())
            .collect();
        for m in ["a", "b", "c"] {
            let share = before.iter().filter(|o| **o == m).count();
            assert!((850..1_150).contains(&share), "{m} owns {share} of 3000");
        }
        for (k, was) in ks.iter().zip(&before) {
            let now = owner(k, ["a", "c"]).unwrap();
            if *was != "b" {
                assert_eq!(now, *was, "{k} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn the_scores_are_stable_across_releases() {
        // Pinned: a change here reassigns every check of a running cluster at upgrade.
        assert_eq!(owner("web", ["m1", "m2", "m3"]), Some("m2"));
        assert_eq!(score("web", "m1"), PINNED);
        assert_ne!(score("ab", "c"), score("a", "bc"));
        assert_eq!(owner("x", std::iter::empty::<&str>()), None);
    }
}
