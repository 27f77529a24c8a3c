//! The one table of probe defaults and limits, shared by `linkpulse check` (its clap flags) and
//! the daemon's config validation, so that a check behaves the same whether it is run once from
//! the command line or every 30 s by `linkpulse serve`.
//!
//! [`ProbeOptions::default`](crate::ProbeOptions::default) is built from these constants; the
//! `check_*` functions say whether a value is within its limits, with a message that names the
//! limit (the caller adds the flag or the config key).

use std::ops::RangeInclusive;
use std::time::Duration;

use http::Method;

/// Budget for the network part of a probe (connect, TLS, request, each echo reply) and for
/// resolving its host name, when none is given.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Shortest accepted probe timeout.
pub const TIMEOUT_MIN: Duration = Duration::from_millis(1);

/// Longest accepted probe timeout.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(3600);

/// HTTP status codes that count as up when none are given (as blackbox_exporter: every 2xx).
pub const EXPECT_STATUS: &str = "200-299";

/// Whether an HTTP probe follows redirects (at most [`MAX_REDIRECTS`](crate::MAX_REDIRECTS))
/// when not told otherwise (as blackbox_exporter and curl -L): a redirect to a login page is
/// judged by the login page's status.
pub const FOLLOW_REDIRECTS: bool = true;

/// HTTP methods a probe may use.
pub const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];

/// Echo requests per ICMP probe when none is given.
pub const ICMP_COUNT: u32 = 3;

/// Accepted echo requests per ICMP probe.
pub const ICMP_COUNT_RANGE: RangeInclusive<u32> = 1..=1000;

/// Gap between the echo requests of one ICMP probe when none is given.
pub const ICMP_INTERVAL: Duration = Duration::from_millis(200);

/// Shortest accepted gap between echo requests (fping's and ping's floor for a plain user is
/// of this order; shorter is a flood).
pub const ICMP_INTERVAL_MIN: Duration = Duration::from_millis(10);

/// Longest accepted gap between echo requests.
pub const ICMP_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// A value outside its limits; the message names the limit, not the flag or key (the caller
/// knows which one it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// An HTTP method that is not in [`HTTP_METHODS`].
    #[error(
        "unknown HTTP method {given:?} (use one of GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH)"
    )]
    Method {
        /// The method as written.
        given: String,
    },
    /// A duration outside its range.
    #[error("{given} is out of range ({min} to {max})")]
    Duration {
        /// The value, formatted.
        given: String,
        /// The smallest accepted value, formatted.
        min: String,
        /// The largest accepted value, formatted.
        max: String,
    },
    /// A count outside its range.
    #[error("{given} is out of range ({min} to {max})")]
    Count {
        /// The value.
        given: u64,
        /// The smallest accepted value.
        min: u32,
        /// The largest accepted value.
        max: u32,
    },
}

/// Parses an HTTP method in any case; only [`HTTP_METHODS`] are accepted.
pub fn parse_method(s: &str) -> Result<Method, LimitError> {
    let upper = s.trim().to_ascii_uppercase();
    HTTP_METHODS
        .iter()
        .find(|m| **m == upper)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| LimitError::Method {
            given: s.to_owned(),
        })
}

fn within(d: Duration, min: Duration, max: Duration) -> Result<Duration, LimitError> {
    if d < min || d > max {
        return Err(LimitError::Duration {
            given: humantime::format_duration(d).to_string(),
            min: humantime::format_duration(min).to_string(),
            max: humantime::format_duration(max).to_string(),
        });
    }
    Ok(d)
}

/// Checks a probe timeout (and a DNS timeout) against [`TIMEOUT_MIN`]..=[`TIMEOUT_MAX`].
pub fn check_timeout(d: Duration) -> Result<Duration, LimitError> {
    within(d, TIMEOUT_MIN, TIMEOUT_MAX)
}

/// Checks the gap between echo requests against
/// [`ICMP_INTERVAL_MIN`]..=[`ICMP_INTERVAL_MAX`].
pub fn check_icmp_interval(d: Duration) -> Result<Duration, LimitError> {
    within(d, ICMP_INTERVAL_MIN, ICMP_INTERVAL_MAX)
}

/// Checks an echo request count against [`ICMP_COUNT_RANGE`].
pub fn check_icmp_count(n: u64) -> Result<u32, LimitError> {
    match u32::try_from(n) {
        Ok(c) if ICMP_COUNT_RANGE.contains(&c) => Ok(c),
        _ => Err(LimitError::Count {
            given: n,
            min: *ICMP_COUNT_RANGE.start(),
            max: *ICMP_COUNT_RANGE.end(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_range() {
        assert_eq!(parse_method("post").unwrap(), Method::POST);
        assert!(
            parse_method("FETCH")
                .unwrap_err()
                .to_string()
                .contains("unknown HTTP method \"FETCH\"")
        );
        assert_eq!(
            check_icmp_count(1001).unwrap_err().to_string(),
            "1001 is out of range (1 to 1000)"
        );
        assert_eq!(check_icmp_count(1000).unwrap(), 1000);
        assert_eq!(
            check_icmp_interval(Duration::from_millis(5))
                .unwrap_err()
                .to_string(),
            "5ms is out of range (10ms to 1m)"
        );
        assert!(check_timeout(Duration::ZERO).is_err());
        assert_eq!(
            EXPECT_STATUS.parse::<crate::StatusSet>().unwrap(),
            crate::StatusSet::default()
        );
    }
}
