//! The `dns:` check kind: its YAML keys (stage one), their validation (stage two) and the
//! validated [`DnsSpec`]. The keys mirror `linkpulse check dns`:
//!
//! ```yaml
//! dns:
//!   server: 127.0.0.1:53       # ADDR[:PORT], port 53 unless given
//!   name: db.example
//!   type: A                    # A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, PTR, ANY
//!   tcp: false                 # TCP only (default: UDP, TCP when truncated)
//!   expect_rcode: [NOERROR]    # or "NOERROR,NXDOMAIN"
//!   answer_regex: ['\t10\.0\.0\.1$']   # some answer record must match each
//!   answer_reject: ['\t0\.0\.0\.0$']   # no answer record may match any
//!   recursion: true            # the RD bit
//! ```

use linkpulse_probe::{DnsOptions, DnsType, Rcode, RrRules, Target};
use serde::Deserialize;

use super::collect::Errors;
use super::spanned::S;

/// `dns:` check module, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub(crate) server: S<String>,
    pub(crate) name: S<String>,
    #[serde(rename = "type")]
    pub(crate) record_type: Option<S<String>>,
    pub(crate) tcp: Option<bool>,
    pub(crate) expect_rcode: Option<S<RawList>>,
    #[serde(default)]
    pub(crate) answer_regex: Vec<S<String>>,
    #[serde(default)]
    pub(crate) answer_reject: Vec<S<String>>,
    pub(crate) recursion: Option<bool>,
}

/// A list written as a YAML list or as comma-separated text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawList {
    /// `[NOERROR, NXDOMAIN]`
    Many(Vec<String>),
    /// `"NOERROR,NXDOMAIN"`
    Text(String),
}

impl RawList {
    fn items(&self) -> Vec<String> {
        match self {
            RawList::Many(v) => v.iter().map(|s| s.trim().to_owned()).collect(),
            RawList::Text(t) => t.split(',').map(|s| s.trim().to_owned()).collect(),
        }
    }
}

/// A validated DNS check.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSpec {
    /// The query target (server, name, type, transport).
    pub target: Target,
    /// Response codes that count as up (never empty).
    pub expect_rcode: Vec<Rcode>,
    /// Some answer record must match each of these (already checked to compile).
    pub answer_regex: Vec<String>,
    /// No answer record may match any of these (already checked to compile).
    pub answer_reject: Vec<String>,
    /// Set the RD bit.
    pub recursion: bool,
}

impl DnsSpec {
    /// The probe options of this check.
    pub fn options(&self) -> Result<DnsOptions, regex::Error> {
        let compile = |list: &[String]| {
            list.iter()
                .map(|r| regex::Regex::new(r))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(DnsOptions {
            valid_rcodes: self.expect_rcode.clone(),
            recursion_desired: self.recursion,
            answer: RrRules {
                fail_if_none_matches: compile(&self.answer_regex)?,
                fail_if_matches: compile(&self.answer_reject)?,
                ..RrRules::default()
            },
            ..DnsOptions::default()
        })
    }
}

/// Validates a `dns:` module at `path` (`checks[3].dns`), every problem at its line.
pub(crate) fn validate(e: &mut Errors<'_>, d: &RawDns, path: &str) -> Option<DnsSpec> {
    let mut ok = true;
    let record_type = match &d.record_type {
        Some(t) => match t.value.parse::<DnsType>() {
            Ok(t) => t,
            Err(err) => {
                e.at(t, format!("{path}.type"), err.to_string());
                ok = false;
                DnsType::A
            }
        },
        None => DnsType::A,
    };
    let target = match Target::dns_from_parts(
        &d.server.value,
        &d.name.value,
        record_type,
        d.tcp.unwrap_or(false),
    ) {
        Ok(t) => Some(t),
        Err(err) => {
            // The name's problems are the name's; anything else is the server's.
            let (at, key) = if matches!(err, linkpulse_probe::TargetError::InvalidDns { .. }) {
                (&d.name, "name")
            } else {
                (&d.server, "server")
            };
            e.at(at, format!("{path}.{key}"), err.to_string());
            None
        }
    };
    let mut expect_rcode = Vec::new();
    match &d.expect_rcode {
        Some(list) => {
            for item in list.value.items() {
                match item.parse::<Rcode>() {
                    Ok(r) => expect_rcode.push(r),
                    Err(err) => {
                        e.at(list, format!("{path}.expect_rcode"), err.to_string());
                        ok = false;
                    }
                }
            }
        }
        None => expect_rcode.push(Rcode::NOERROR),
    }
    for (key, list) in [
        ("answer_regex", &d.answer_regex),
        ("answer_reject", &d.answer_reject),
    ] {
        for (i, re) in list.iter().enumerate() {
            if let Err(err) = regex::Regex::new(&re.value) {
                e.at(
                    re,
                    format!("{path}.{key}[{i}]"),
                    format!("invalid regular expression {:?}: {err}", re.value),
                );
                ok = false;
            }
        }
    }
    let plain = |list: &[S<String>]| list.iter().map(|s| s.value.clone()).collect();
    match (ok, target) {
        (true, Some(target)) => Some(DnsSpec {
            target,
            expect_rcode,
            answer_regex: plain(&d.answer_regex),
            answer_reject: plain(&d.answer_reject),
            recursion: d.recursion.unwrap_or(true),
        }),
        _ => None,
    }
}
