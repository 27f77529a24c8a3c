//! [`StatusSet`]: the HTTP status codes that count as "up", written `200-299,301`.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// A set of HTTP status codes, parsed from a comma-separated list of codes and ranges
/// (`200-299,301`). The default is every 2xx code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<RangeInclusive<u16>>,
}

/// Why a status set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusSetError {
    /// The list is empty.
    #[error("empty status list: expected codes or ranges like 200-299,301")]
    Empty,
    /// One item is not a code or a range.
    #[error("`{item}` is not a status code or range (expected e.g. 200 or 200-299)")]
    Invalid {
        /// The item as written.
        item: String,
    },
    /// A code outside 100–599.
    #[error("status code {code} out of range 100-599")]
    OutOfRange {
        /// The code as written.
        code: String,
    },
    /// A range whose start is above its end.
    #[error("range {item} is backwards")]
    Backwards {
        /// The range as written.
        item: String,
    },
}

impl StatusSet {
    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(&status))
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        // `defaults::EXPECT_STATUS` is "200-299": the same set, spelled for the docs.
        StatusSet {
            ranges: vec![200..=299],
        }
    }
}

impl FromStr for StatusSet {
    type Err = StatusSetError;

    fn from_str(s: &str) -> Result<StatusSet, StatusSetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(StatusSetError::Empty);
        }
        let mut ranges = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(StatusSetError::Invalid {
                    item: item.to_owned(),
                });
            }
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (code(lo.trim(), item)?, code(hi.trim(), item)?),
                None => {
                    let c = code(item, item)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(StatusSetError::Backwards {
                    item: item.to_owned(),
                });
            }
            ranges.push(lo..=hi);
        }
        Ok(StatusSet { ranges })
    }
}

fn code(s: &str, item: &str) -> Result<u16, StatusSetError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StatusSetError::Invalid {
            item: item.to_owned(),
        });
    }
    match s.parse::<u16>() {
        Ok(c) if (100..=599).contains(&c) => Ok(c),
        _ => Err(StatusSetError::OutOfRange { code: s.to_owned() }),
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_ranges() {
        let s: StatusSet = "200-299, 301".parse().unwrap();
        assert!(s.contains(204) && s.contains(301) && !s.contains(302) && !s.contains(199));
        assert_eq!(s.to_string(), "200-299,301");
        assert_eq!(StatusSet::default().to_string(), "200-299");
    }

    #[test]
    fn rejects_bad_lists() {
        let e = |s: &str| s.parse::<StatusSet>().unwrap_err().to_string();
        assert!(e("").starts_with("empty status list"));
        assert_eq!(
            e("abc"),
            "`abc` is not a status code or range (expected e.g. 200 or 200-299)"
        );
        assert_eq!(
            e("200,,300"),
            "`` is not a status code or range (expected e.g. 200 or 200-299)"
        );
        assert_eq!(e("700"), "status code 700 out of range 100-599");
        assert_eq!(e("99999999"), "status code 99999999 out of range 100-599");
        assert_eq!(e("300-200"), "range 300-200 is backwards");
        assert!(e("200-").contains("`200-`"));
    }
}
