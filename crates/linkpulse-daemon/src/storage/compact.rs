//! The compact stored form of a result (schema version 2), sans-IO.
//!
//! A result in the probe JSON shape repeats what the row already says: the check's target and
//! kind (the same in every row of a check), `up` and `latency_ms` (columns), and `null` for
//! `warning`, `error` and `resolved` on most rows. [`split`] moves target and kind to the
//! row's *series* and drops every key the row can give back exactly; [`join`] rebuilds the
//! identical JSON. A value that is not the full probe shape is stored verbatim. What is left
//! (`detail`) is then stored as typed cells (`cells.rs`), not as this text.

use linkpulse_probe::ProbeResult;
use serde_json::{Map, Value};

use super::cells::{self, Cells};

/// The keys every result in the probe JSON shape has.
const SHAPE: [&str; 7] = [
    "target",
    "kind",
    "up",
    "warning",
    "latency_ms",
    "error",
    "resolved",
];

/// Keys left out when they are `null` (given back as `null`).
const NULLABLE: [&str; 3] = ["warning", "error", "resolved"];

/// A result split for storage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    /// The probe kind (`tcp`, `http`, …), or `None` when `detail` is the verbatim JSON.
    pub(crate) kind: Option<String>,
    /// The probe target, or `None` when `detail` is the verbatim JSON.
    pub(crate) target: Option<String>,
    /// What is left as JSON text; `None` when nothing is.
    pub(crate) detail: Option<String>,
}

/// The entries of a JSON object except some keys, serialized as an object.
struct Without<'a> {
    map: &'a Map<String, Value>,
    skip: &'a [&'a str],
}

impl serde::Serialize for Without<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.map
                .iter()
                .filter(|(k, _)| !self.skip.contains(&k.as_str())),
        )
    }
}

/// Splits `result` of a row whose columns hold `up` and `latency_ms` (without copying it).
pub(crate) fn split(result: &Value, up: bool, latency_ms: Option<f64>) -> Split {
    let map = match result {
        Value::Object(map)
            if SHAPE.iter().all(|k| map.contains_key(*k))
                && map.get("kind").is_some_and(Value::is_string)
                && map.get("target").is_some_and(Value::is_string) =>
        {
            map
        }
        other => {
            return Split {
                kind: None,
                target: None,
                detail: Some(other.to_string()),
            };
        }
    };
    let text = |key| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut skip: Vec<&str> = Vec::with_capacity(SHAPE.len());
    skip.extend(["kind", "target"]);
    if map.get("up") == Some(&Value::Bool(up)) {
        skip.push("up");
    }
    let same_latency = match (map.get("latency_ms"), latency_ms) {
        (Some(Value::Null), None) => true,
        (Some(Value::Number(n)), Some(l)) => n.is_f64() && n.as_f64() == Some(l),
        _ => false,
    };
    if same_latency {
        skip.push("latency_ms");
    }
    for key in NULLABLE {
        if map.get(key) == Some(&Value::Null) {
            skip.push(key);
        }
    }
    let rest = Without { map, skip: &skip };
    Split {
        kind: text("kind"),
        target: text("target"),
        detail: (map.len() > skip.len())
            .then(|| serde_json::to_string(&rest).unwrap_or_else(|_| "null".to_owned())),
    }
}

/// What [`split`] keeps of a typed probe result, serialized straight from it: every key that
/// is not `null`, except `target`, `kind`, `up` (the series and columns) and a finite
/// `latency_ms` (the column; `to_value` turns a non-finite one into `null`, kept as such).
struct ProbeRest<'a>(&'a ProbeResult);

impl ProbeRest<'_> {
    /// Entries the rest has.
    fn len(&self) -> usize {
        let r = self.0;
        usize::from(r.dns.is_some())
            + usize::from(r.error.is_some())
            + usize::from(r.grpc.is_some())
            + usize::from(r.http.is_some())
            + usize::from(r.icmp.is_some())
            + usize::from(r.latency_ms.is_some_and(|l| !l.is_finite()))
            + usize::from(r.resolved.is_some())
            + usize::from(r.tcp.is_some())
            + usize::from(r.tls.is_some())
            + usize::from(r.warning.is_some())
    }
}

impl serde::Serialize for ProbeRest<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut m = s.serialize_map(Some(self.len()))?;
        if let Some(d) = &r.dns {
            m.serialize_entry("dns", d)?;
        }
        if let Some(e) = &r.error {
            m.serialize_entry("error", e)?;
        }
        if let Some(g) = &r.grpc {
            m.serialize_entry("grpc", g)?;
        }
        if let Some(h) = &r.http {
            m.serialize_entry("http", h)?;
        }
        if let Some(i) = &r.icmp {
            m.serialize_entry("icmp", i)?;
        }
        if r.latency_ms.is_some_and(|l| !l.is_finite()) {
            m.serialize_entry("latency_ms", &())?;
        }
        if let Some(a) = &r.resolved {
            m.serialize_entry("resolved", a)?;
        }
        if let Some(t) = &r.tcp {
            m.serialize_entry("tcp", t)?;
        }
        if let Some(t) = &r.tls {
            m.serialize_entry("tls", t)?;
        }
        if let Some(w) = &r.warning {
            m.serialize_entry("warning", w)?;
        }
        m.end()
    }
}

/// The probe kind of `r` and the cells of what [`split_probe`] leaves of it, written straight
/// from the typed result ([`cells::encode_value`]): no detail text is written for the
/// writer to cut into numbers again.
pub(crate) fn probe_cells(r: &ProbeResult) -> (&'static str, Cells) {
    let rest = ProbeRest(r);
    let cells = cells::encode_value(r.latency_ms, (rest.len() > 0).then_some(&rest));
    (r.kind.as_str(), cells)
}

/// [`split`] of `serde_json::to_value(r)` for a row whose columns hold `r.up` and
/// `r.latency_ms`, without building the JSON value: [`join`] gives back exactly that value.
/// (The writer stores [`probe_cells`]: the same cells, without the detail text.)
#[cfg(test)]
pub(crate) fn split_probe(r: &ProbeResult) -> ProbeSplit {
    let rest = ProbeRest(r);
    ProbeSplit {
        kind: r.kind.as_str(),
        detail: (rest.len() > 0)
            .then(|| serde_json::to_string(&rest).unwrap_or_else(|_| "null".to_owned())),
    }
}

/// A typed probe result split for storage (its target is the result's own).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeSplit {
    /// The probe kind.
    pub(crate) kind: &'static str,
    /// What is left as JSON text; `None` when nothing is.
    pub(crate) detail: Option<String>,
}

/// Rebuilds the result [`split`] stored; unreadable JSON comes back as `null`.
pub(crate) fn join(
    kind: Option<String>,
    target: Option<String>,
    detail: Option<&str>,
    up: bool,
    latency_ms: Option<f64>,
) -> Value {
    let parsed = detail.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let (Some(kind), Some(target)) = (kind, target) else {
        return parsed.unwrap_or(Value::Null);
    };
    let mut map = match parsed {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    map.entry("target").or_insert(Value::String(target));
    map.entry("kind").or_insert(Value::String(kind));
    map.entry("up").or_insert(Value::Bool(up));
    map.entry("latency_ms")
        .or_insert_with(|| latency_ms.map_or(Value::Null, Value::from));
    for key in NULLABLE {
        map.entry(key).or_insert(Value::Null);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: &Value, up: bool, latency: Option<f64>) -> Split {
        let s = split(v, up, latency);
        let back = join(
            s.kind.clone(),
            s.target.clone(),
            s.detail.as_deref(),
            up,
            latency,
        );
        assert_eq!(&back, v, "split {s:?}");
        assert_eq!(back.to_string(), v.to_string(), "same text");
        s
    }

    #[test]
    fn a_tcp_success_keeps_only_the_resolved_address() {
        let v = json!({"target": "tcp://127.1.0.1:8080", "kind": "tcp", "up": true,
            "warning": null, "latency_ms": 0.123, "error": null, "resolved": "127.1.0.1"});
        let s = roundtrip(&v, true, Some(0.123));
        assert_eq!(s.kind.as_deref(), Some("tcp"));
        assert_eq!(s.target.as_deref(), Some("tcp://127.1.0.1:8080"));
        assert_eq!(s.detail.as_deref(), Some(r#"{"resolved":"127.1.0.1"}"#));
    }

    #[test]
    fn failures_http_details_and_warnings_come_back_identical() {
        let failure = json!({"target": "tcp://127.0.0.1:1", "kind": "tcp", "up": false,
            "warning": null, "latency_ms": null, "resolved": "127.0.0.1",
            "error": {"kind": "refused", "message": "connection refused by 127.0.0.1:1"}});
        roundtrip(&failure, false, None);
        let http = json!({"target": "http://127.3.0.1:80/", "kind": "http", "up": true,
            "warning": "slow: 900 ms", "latency_ms": 0.5, "error": null, "resolved": "127.3.0.1",
            "http": {"status": 200, "version": "HTTP/1.1", "body_bytes": 2, "redirects": 0,
                "final_url": "http://127.3.0.1/", "phases": {"dns_ms": 0.0, "connect_ms": 0.1,
                "tls_ms": null, "first_byte_ms": 0.2, "total_ms": 0.5}}});
        roundtrip(&http, true, Some(0.5));
        let push = json!({"target": "push://t", "kind": "push", "up": true, "warning": null,
            "latency_ms": null, "error": null, "resolved": null});
        assert_eq!(roundtrip(&push, true, None).detail, None, "nothing left");
    }

    #[test]
    fn values_the_columns_do_not_match_stay_in_the_json() {
        let v = json!({"target": "tcp://a:1", "kind": "tcp", "up": true, "warning": null,
            "latency_ms": 5, "error": null, "resolved": null});
        // An integer latency, or one that differs from the column, is kept as written.
        let s = roundtrip(&v, true, Some(5.0));
        assert!(s.detail.unwrap().contains("\"latency_ms\":5"));
        roundtrip(&v, false, Some(7.0));
        roundtrip(&v, true, None);
    }

    /// A typed result packed straight from its fields reads back as its `to_value`, and keeps
    /// the same keys as packing that value would.
    fn typed_roundtrip(r: &ProbeResult) -> ProbeSplit {
        let s = split_probe(r);
        let back = join(
            Some(s.kind.to_owned()),
            Some(r.target.clone()),
            s.detail.as_deref(),
            r.up,
            r.latency_ms,
        );
        let value = serde_json::to_value(r).unwrap();
        assert_eq!(back, value, "split {s:?}");
        assert_eq!(
            probe_cells(r),
            (s.kind, cells::encode(r.latency_ms, s.detail.as_deref())),
            "the cells written straight from the result are those of its detail text"
        );
        assert_eq!(back.to_string(), value.to_string(), "same text");
        let via_value = split(&value, r.up, r.latency_ms);
        assert_eq!(
            s.detail
                .as_deref()
                .map(|d| serde_json::from_str::<Value>(d).unwrap()),
            via_value
                .detail
                .as_deref()
                .map(|d| serde_json::from_str::<Value>(d).unwrap()),
            "the same detail as packing the value"
        );
        s
    }

    #[test]
    fn typed_results_pack_like_their_json() {
        use linkpulse_probe::{
            ErrorKind, HttpDetail, HttpPhases, IcmpDetail, ProbeKind, TlsDetail, UnreachableDetail,
        };
        let mut tcp = ProbeResult::empty("tcp://127.1.0.1:8080", ProbeKind::Tcp);
        tcp.up = true;
        tcp.latency_ms = Some(0.123);
        tcp.resolved = Some("127.1.0.1".parse().unwrap());
        let s = typed_roundtrip(&tcp);
        assert_eq!(s.kind, "tcp");
        assert_eq!(s.detail.as_deref(), Some(r#"{"resolved":"127.1.0.1"}"#));

        let refused = ProbeResult::empty("tcp://[::1]:1", ProbeKind::Tcp)
            .fail(ErrorKind::Refused, "connection refused by [::1]:1");
        typed_roundtrip(&refused);

        let mut https = ProbeResult::empty("https://127.3.0.1/x", ProbeKind::Http);
        https.up = true;
        https.warning = Some("certificate expires in 3 days".to_owned());
        https.latency_ms = Some(4.5);
        https.http = Some(Box::new(HttpDetail {
            status: Some(200),
            version: Some("HTTP/2".to_owned()),
            body_bytes: Some(2),
            content_length: Some(2),
            last_modified: None,
            redirects: 1,
            final_url: "https://127.3.0.1/y".to_owned(),
            phases: HttpPhases {
                dns_ms: Some(0.0),
                connect_ms: Some(0.1),
                tls_ms: Some(1.5),
                first_byte_ms: None,
                total_ms: Some(4.5),
            },
            redirect_phases: Some(HttpPhases::default()),
        }));
        https.tls = Some(Box::new(TlsDetail {
            version: Some("TLSv1.3".to_owned()),
            alpn: None,
            cert_days_left: Some(3),
            earliest_expiry: Some(1_800_000_000),
            subject: Some("CN=x".to_owned()),
            issuer: None,
            leaf_sha256: None,
            leaf_dns_names: vec!["x".to_owned()],
        }));
        typed_roundtrip(&https);

        let mut icmp = ProbeResult::empty("icmp://127.0.0.1", ProbeKind::Icmp)
            .fail(ErrorKind::Unreachable, "host unreachable");
        icmp.latency_ms = Some(f64::NAN);
        icmp.icmp = Some(Box::new(IcmpDetail {
            sent: 3,
            received: 0,
            loss: 100.0,
            unreachable: vec![UnreachableDetail {
                from: "127.0.0.2".parse().unwrap(),
                code: 1,
                meaning: "host unreachable".to_owned(),
            }],
            ..IcmpDetail::default()
        }));
        typed_roundtrip(&icmp);

        let mut bare = ProbeResult::empty("tcp://127.0.0.1:2", ProbeKind::Tcp);
        bare.up = true;
        assert_eq!(typed_roundtrip(&bare).detail, None, "nothing left");
    }

    #[test]
    fn anything_but_the_full_probe_shape_is_stored_verbatim() {
        for v in [
            json!({"target": "tcp://127.0.0.1:1", "up": true}),
            json!({"target": 5, "kind": "tcp", "up": true, "warning": null,
                "latency_ms": null, "error": null, "resolved": null}),
            json!([1, 2]),
            json!("text"),
            Value::Null,
        ] {
            let s = roundtrip(&v, true, None);
            assert_eq!((s.kind, s.target), (None, None), "{v}");
        }
        assert_eq!(join(None, None, Some("{not json"), true, None), Value::Null);
    }
}
