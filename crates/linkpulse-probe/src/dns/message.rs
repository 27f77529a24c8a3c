//! The sans-IO part of the DNS probe: the query's bytes ([`Question::encode`]), the answer
//! read from bytes ([`Question::read`]) and the verdict on it ([`judge`]). No sockets, no
//! clock: the tests feed bytes built with the same codec.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{DnsOptions, DnsType, Rcode, RrRules};
use crate::{ErrorKind, ProbeError};

/// One query: the name, the type, the RD bit and the message id the answer must carry.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    id: u16,
    name: Name,
    record_type: RecordType,
    recursion_desired: bool,
}

/// What an answer said, in the forms the verdict and the details need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// The response code.
    pub(crate) rcode: Rcode,
    /// The TC bit: the answer did not fit the UDP datagram.
    pub(crate) truncated: bool,
    /// Answer records in zone-file form.
    pub(crate) answers: Vec<String>,
    /// Authority records.
    pub(crate) authority: Vec<String>,
    /// Additional records.
    pub(crate) additional: Vec<String>,
    /// The serial of an SOA record among the answers.
    pub(crate) soa_serial: Option<u32>,
}

/// Why bytes are not the answer to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadError {
    /// Not a DNS message at all.
    #[error("not a DNS message: {0}")]
    Malformed(String),
    /// A message, but not the answer to this query (another id, or a query): over UDP such a
    /// datagram is ignored and the probe keeps waiting.
    #[error("an answer to another query (id {0})")]
    Other(u16),
}

fn record_type(t: DnsType) -> RecordType {
    match t {
        DnsType::A => RecordType::A,
        DnsType::Aaaa => RecordType::AAAA,
        DnsType::Cname => RecordType::CNAME,
        DnsType::Mx => RecordType::MX,
        DnsType::Txt => RecordType::TXT,
        DnsType::Srv => RecordType::SRV,
        DnsType::Ns => RecordType::NS,
        DnsType::Soa => RecordType::SOA,
        DnsType::Ptr => RecordType::PTR,
        DnsType::Any => RecordType::ANY,
    }
}

/// Checks a name a DNS query may carry; the error says why not.
pub(crate) fn parse_name(name: &str) -> Result<Name, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("empty name".to_owned());
    }
    let mut parsed = Name::from_ascii(name).map_err(|e| e.to_string())?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

impl Question {
    /// A query of `name` (made absolute) for `t`, with message id `id`.
    pub(crate) fn new(
        name: &str,
        t: DnsType,
        recursion_desired: bool,
        id: u16,
    ) -> Result<Question, String> {
        Ok(Question {
            id,
            name: parse_name(name)?,
            record_type: record_type(t),
            recursion_desired,
        })
    }

    /// The query as one UDP datagram (over TCP, [`Question::encode_tcp`]).
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let mut m = Message::new();
        m.set_id(self.id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(self.recursion_desired);
        m.add_query(Query::query(self.name.clone(), self.record_type));
        m.to_vec().map_err(|e| e.to_string())
    }

    /// The query as TCP sends it: the message after its two-byte length.
    pub(crate) fn encode_tcp(&self) -> Result<Vec<u8>, String> {
        let body = self.encode()?;
        let len = u16::try_from(body.len()).map_err(|_| "query too long".to_owned())?;
        let mut out = Vec::with_capacity(body.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads `bytes` (one message, without a TCP length) as the answer to this question.
    pub(crate) fn read(&self, bytes: &[u8]) -> Result<Reply, ReadError> {
        let m = Message::from_vec(bytes).map_err(|e| ReadError::Malformed(e.to_string()))?;
        if m.id() != self.id || m.message_type() != MessageType::Response {
            return Err(ReadError::Other(m.id()));
        }
        let text = |records: &[Record]| records.iter().map(zone_form).collect::<Vec<_>>();
        let soa_serial = m.answers().iter().find_map(|r| match r.data() {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        });
        Ok(Reply {
            rcode: Rcode(u16::from(m.response_code())),
            truncated: m.truncated(),
            answers: text(m.answers()),
            authority: text(m.name_servers()),
            additional: text(
                &m.additionals()
                    .iter()
                    .filter(|r| r.record_type() != RecordType::OPT)
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            soa_serial,
        })
    }
}

/// A record as zone files (and blackbox_exporter's regular expressions) write it:
/// `name.<TAB>ttl<TAB>IN<TAB>type<TAB>data`.
fn zone_form(r: &Record) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        r.name(),
        r.ttl(),
        r.dns_class(),
        r.record_type(),
        r.data()
    )
}

/// Whether `reply` is up under `opts`; the error names the response code or the rule that
/// failed. `what` names the query for messages (`db.example A from 127.0.0.1:53`).
pub(crate) fn judge(reply: &Reply, opts: &DnsOptions, what: &str) -> Result<(), ProbeError> {
    let valid = if opts.valid_rcodes.is_empty() {
        reply.rcode == Rcode::NOERROR
    } else {
        opts.valid_rcodes.contains(&reply.rcode)
    };
    if !valid {
        let expected = if opts.valid_rcodes.is_empty() {
            "NOERROR".to_owned()
        } else {
            opts.valid_rcodes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ProbeError::new(
            ErrorKind::Dns,
            format!("{} for {what} (expected {expected})", reply.rcode),
        ));
    }
    for (section, records, rules) in [
        ("answer", &reply.answers, &opts.answer),
        ("authority", &reply.authority, &opts.authority),
        ("additional", &reply.additional, &opts.additional),
    ] {
        if let Err(why) = check_rules(records, rules) {
            return Err(ProbeError::new(
                ErrorKind::BodyMismatch,
                format!("{section} section of {what}: {why}"),
            ));
        }
    }
    Ok(())
}

/// blackbox_exporter's `validRRs`, with a reason for the first rule that fails.
fn check_rules(records: &[String], rules: &RrRules) -> Result<(), String> {
    if records.is_empty()
        && (!rules.fail_if_not_matches.is_empty() || !rules.fail_if_none_matches.is_empty())
    {
        return Err("no records, but a record must match".to_owned());
    }
    for record in records {
        if let Some(re) = rules.fail_if_matches.iter().find(|re| re.is_match(record)) {
            return Err(format!("record `{record}` matches /{re}/"));
        }
        if let Some(re) = rules
            .fail_if_not_matches
            .iter()
            .find(|re| !re.is_match(record))
        {
            return Err(format!("record `{record}` does not match /{re}/"));
        }
    }
    if let Some(re) = rules
        .fail_if_all_match
        .iter()
        .find(|re| records.iter().all(|r| re.is_match(r)))
    {
        return Err(format!("every record matches /{re}/"));
    }
    if let Some(re) = rules
        .fail_if_none_matches
        .iter()
        .find(|re| !records.iter().any(|r| re.is_match(r)))
    {
        return Err(format!("no record matches /{re}/"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::{A, SOA};
    use std::net::Ipv4Addr;

    fn answer_to(q: &Question, rcode: ResponseCode, records: Vec<Record>) -> Vec<u8> {
        let query = Message::from_vec(&q.encode().unwrap()).unwrap();
        let mut m = Message::new();
        m.set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_response_code(rcode);
        m.add_queries(query.queries().to_vec());
        m.add_answers(records);
        m.to_vec().unwrap()
    }

    fn a(name: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            300,
            RData::A(A(Ipv4Addr::from(ip))),
        )
    }

    fn rules(field: &str, re: &str) -> RrRules {
        let re = vec![regex::Regex::new(re).unwrap()];
        let mut r = RrRules::default();
        match field {
            "matches" => r.fail_if_matches = re,
            "all" => r.fail_if_all_match = re,
            "not" => r.fail_if_not_matches = re,
            _ => r.fail_if_none_matches = re,
        }
        r
    }

    #[test]
    fn query_bytes_carry_name_type_and_rd() {
        let q = Question::new("db.example", DnsType::Mx, false, 0x1234).unwrap();
        let m = Message::from_vec(&q.encode().unwrap()).unwrap();
        assert_eq!(m.id(), 0x1234);
        assert!(!m.recursion_desired());
        assert_eq!(m.queries()[0].name().to_string(), "db.example.");
        assert_eq!(m.queries()[0].query_type(), RecordType::MX);
        let tcp = q.encode_tcp().unwrap();
        assert_eq!(
            usize::from(u16::from_be_bytes([tcp[0], tcp[1]])),
            tcp.len() - 2
        );
    }

    #[test]
    fn reads_the_answer_and_ignores_others() {
        let q = Question::new("db.example", DnsType::A, true, 7).unwrap();
        let bytes = answer_to(
            &q,
            ResponseCode::NoError,
            vec![a("db.example.", [10, 0, 0, 1])],
        );
        let reply = q.read(&bytes).unwrap();
        assert_eq!(reply.rcode, Rcode::NOERROR);
        assert_eq!(reply.answers, ["db.example.\t300\tIN\tA\t10.0.0.1"]);
        let other = Question::new("db.example", DnsType::A, true, 8).unwrap();
        assert_eq!(other.read(&bytes), Err(ReadError::Other(7)));
        assert!(matches!(q.read(b"\x00\x01"), Err(ReadError::Malformed(_))));
        // The query itself (QR = 0) is not its answer.
        assert_eq!(q.read(&q.encode().unwrap()), Err(ReadError::Other(7)));
    }

    #[test]
    fn soa_serial_is_read() {
        let q = Question::new("example", DnsType::Soa, true, 1).unwrap();
        let soa = SOA::new(
            Name::from_ascii("ns.example.").unwrap(),
            Name::from_ascii("root.example.").unwrap(),
            2026120501,
            3600,
            600,
            86400,
            60,
        );
        let rec = Record::from_rdata(Name::from_ascii("example.").unwrap(), 60, RData::SOA(soa));
        let reply = q
            .read(&answer_to(&q, ResponseCode::NoError, vec![rec]))
            .unwrap();
        assert_eq!(reply.soa_serial, Some(2026120501));
    }

    #[test]
    fn judges_rcode_by_name() {
        let q = Question::new("gone.example", DnsType::A, true, 1).unwrap();
        let reply = q
            .read(&answer_to(&q, ResponseCode::NXDomain, vec![]))
            .unwrap();
        let err = judge(&reply, &DnsOptions::default(), "gone.example A").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Dns);
        assert_eq!(
            err.message,
            "NXDOMAIN for gone.example A (expected NOERROR)"
        );
        let opts = DnsOptions {
            valid_rcodes: vec!["NXDOMAIN".parse().unwrap()],
            ..DnsOptions::default()
        };
        assert!(judge(&reply, &opts, "x").is_ok());
        assert_eq!(Rcode(2).to_string(), "SERVFAIL");
        assert_eq!(Rcode(4000).to_string(), "RCODE4000");
        assert!("nosuch".parse::<Rcode>().is_err());
    }

    #[test]
    fn rules_follow_blackbox_semantics() {
        let two = vec![
            "a\t1\tIN\tA\t10.0.0.1".to_owned(),
            "a\t1\tIN\tA\t10.0.0.2".to_owned(),
        ];
        assert!(check_rules(&two, &rules("matches", r"10\.0\.0\.2")).is_err());
        assert!(check_rules(&two, &rules("matches", r"10\.0\.0\.3")).is_ok());
        assert!(check_rules(&two, &rules("all", r"10\.0\.0\.")).is_err());
        assert!(check_rules(&two, &rules("all", r"10\.0\.0\.1")).is_ok());
        assert!(check_rules(&two, &rules("not", r"10\.0\.0\.1")).is_err());
        assert!(check_rules(&two, &rules("not", r"IN\tA")).is_ok());
        assert!(check_rules(&two, &rules("none", r"10\.0\.0\.9")).is_err());
        assert!(check_rules(&two, &rules("none", r"10\.0\.0\.2")).is_ok());
        assert!(check_rules(&[], &rules("none", ".")).is_err());
        assert!(check_rules(&[], &rules("not", ".")).is_err());
        assert!(check_rules(&[], &rules("all", ".")).is_err());
        assert!(check_rules(&[], &rules("matches", ".")).is_ok());
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(parse_name("").is_err());
        assert!(parse_name(&"a".repeat(64)).is_err());
        assert!(parse_name("ok.example").is_ok());
    }
}
