//! The compact stored form of a result (schema version 2), sans-IO.
//!
//! A result in the probe JSON shape repeats what the row already says: the check's target and
//! kind (the same in every row of a check), `up` and `latency_ms` (columns), and `null` for
//! `warning`, `error` and `resolved` on most rows. [`split`] moves target and kind to the
//! row's *series* and drops every key the row can give back exactly; [`join`] rebuilds the
//! identical JSON. A value that is not the full probe shape is stored verbatim.

use serde_json::{Map, Value};

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
