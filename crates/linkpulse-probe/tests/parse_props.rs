//! Parsers never panic, and what they accept round-trips.

use linkpulse_probe::{StatusSet, Target};
use proptest::prelude::*;

proptest! {
    #[test]
    fn target_parsing_never_panics(s in "\\PC{0,40}") {
        let _ = s.parse::<Target>();
        let _ = Target::tcp_from_host_port(&s);
        let _ = Target::icmp_from_host(&s);
        let _ = Target::http_from_url(&s);
    }

    #[test]
    fn url_like_targets_never_panic(
        scheme in "(tcp|icmp|http|https|ftp|)",
        host in "[a-z0-9:.\\[\\]_ -]{0,20}",
        port in "(:[0-9]{0,7})?",
        rest in "(/[a-z?#@]{0,5})?",
    ) {
        let s = format!("{scheme}://{host}{port}{rest}");
        if let Ok(t) = s.parse::<Target>() {
            // Display gives the URL form, which parses back to the same target.
            let again: Target = t.to_string().parse().expect("round trip");
            prop_assert_eq!(again, t);
        }
    }

    #[test]
    fn status_sets_never_panic(s in "[0-9,\\- a-z]{0,20}") {
        if let Ok(set) = s.parse::<StatusSet>() {
            let again: StatusSet = set.to_string().parse().expect("round trip");
            prop_assert_eq!(again, set);
        }
    }
}
