//! The DNS probe: one query of a given name and record type to a given server, over UDP with a
//! retry over TCP when the answer is truncated (or over TCP only), judged by its response code
//! and by regular expressions over the records of each section (blackbox_exporter's `dns`
//! module rules).
//!
//! The protocol part is sans-IO ([`message`]: build the query bytes, read the answer bytes,
//! judge the answer); [`exchange`] is the thin socket glue. The codec is hickory-proto's.

pub(crate) mod exchange;
pub(crate) mod message;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub(crate) use exchange::probe;

/// The record types a DNS check may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DnsType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Canonical name.
    Cname,
    /// Mail exchangers.
    Mx,
    /// Text records.
    Txt,
    /// Service locations.
    Srv,
    /// Name servers.
    Ns,
    /// Start of authority.
    Soa,
    /// Reverse pointer.
    Ptr,
    /// Any type (blackbox_exporter's default query type).
    Any,
}

impl DnsType {
    /// Every type, in the order of [`DnsType::NAMES`].
    const ALL: [DnsType; 10] = [
        DnsType::A,
        DnsType::Aaaa,
        DnsType::Cname,
        DnsType::Mx,
        DnsType::Txt,
        DnsType::Srv,
        DnsType::Ns,
        DnsType::Soa,
        DnsType::Ptr,
        DnsType::Any,
    ];

    /// The names [`FromStr`] accepts (any case), for messages.
    pub const NAMES: &'static str = "A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, PTR or ANY";

    /// The upper-case name (`A`, `AAAA`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Aaaa => "AAAA",
            DnsType::Cname => "CNAME",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Srv => "SRV",
            DnsType::Ns => "NS",
            DnsType::Soa => "SOA",
            DnsType::Ptr => "PTR",
            DnsType::Any => "ANY",
        }
    }
}

impl fmt::Display for DnsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A record type that is not one of [`DnsType::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DNS record type `{0}`: expected {names}", names = DnsType::NAMES)]
pub struct UnknownDnsType(pub String);

impl FromStr for DnsType {
    type Err = UnknownDnsType;

    fn from_str(s: &str) -> Result<DnsType, UnknownDnsType> {
        DnsType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownDnsType(s.to_owned()))
    }
}

/// The response codes by name, as DNS tools (and blackbox_exporter's `valid_rcodes`) write them.
const RCODES: [(&str, u16); 19] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// A DNS response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rcode(pub u16);

impl Rcode {
    /// `NOERROR`, the code a check expects unless told otherwise.
    pub const NOERROR: Rcode = Rcode(0);
}

impl fmt::Display for Rcode {
    /// The name (`NXDOMAIN`), or `RCODE<n>` for a code without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RCODES.iter().find(|(_, n)| *n == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "RCODE{}", self.0),
        }
    }
}

/// A response code name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown DNS response code `{0}`: expected a name such as NOERROR, NXDOMAIN, SERVFAIL or REFUSED"
)]
pub struct UnknownRcode(pub String);

impl FromStr for Rcode {
    type Err = UnknownRcode;

    fn from_str(s: &str) -> Result<Rcode, UnknownRcode> {
        RCODES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s.trim()))
            .map(|(_, n)| Rcode(*n))
            .ok_or_else(|| UnknownRcode(s.to_owned()))
    }
}

/// Rules over the records of one section of an answer, as blackbox_exporter's
/// `validate_*_rrs`. Each record is matched in its zone-file form
/// (`name.<TAB>ttl<TAB>IN<TAB>type<TAB>data`).
#[derive(Debug, Clone, Default)]
pub struct RrRules {
    /// Down when any record matches any of these.
    pub fail_if_matches: Vec<regex::Regex>,
    /// Down when, for one of these, every record matches it.
    pub fail_if_all_match: Vec<regex::Regex>,
    /// Down when any record does not match one of these (or there is no record).
    pub fail_if_not_matches: Vec<regex::Regex>,
    /// Down when, for one of these, no record matches it (or there is no record).
    pub fail_if_none_matches: Vec<regex::Regex>,
}

impl RrRules {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.fail_if_matches.is_empty()
            && self.fail_if_all_match.is_empty()
            && self.fail_if_not_matches.is_empty()
            && self.fail_if_none_matches.is_empty()
    }
}

/// DNS probe options (the name, type and transport are part of the target).
#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// Response codes that count as up; empty means `NOERROR` only.
    pub valid_rcodes: Vec<Rcode>,
    /// Set the RD (recursion desired) bit in the query.
    pub recursion_desired: bool,
    /// Rules over the answer section.
    pub answer: RrRules,
    /// Rules over the authority section.
    pub authority: RrRules,
    /// Rules over the additional section (the EDNS OPT record left out).
    pub additional: RrRules,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            valid_rcodes: Vec::new(),
            recursion_desired: true,
            answer: RrRules::default(),
            authority: RrRules::default(),
            additional: RrRules::default(),
        }
    }
}

/// DNS details of a probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DnsDetail {
    /// The response code of the answer (`NOERROR`, `NXDOMAIN`, …), once one arrived.
    pub rcode: Option<String>,
    /// The transport of the answer: `udp` or `tcp`.
    pub transport: String,
    /// The UDP answer was truncated and the query was sent again over TCP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Records of the answer section, in zone-file form.
    pub answers: Vec<String>,
    /// Records of the authority section.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authority: Vec<String>,
    /// Records of the additional section (without the EDNS OPT record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<String>,
    /// The serial of an SOA record in the answer section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soa_serial: Option<u32>,
    /// Time to connect (TCP only), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// From sending the query to the whole answer, in milliseconds (both tries).
    pub request_ms: Option<f64>,
}
