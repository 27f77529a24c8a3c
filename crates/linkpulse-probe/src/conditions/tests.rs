use std::time::Duration;

use super::*;

const BODY: &[u8] = br#"{"status":"UP","items":[{"id":1,"name":"web-1"},{"id":2,"name":"db"}],"version":"1.4.2","load":0.25,"ok":true,"error":null,"tags":["a","b"]}"#;

fn headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    h.insert("content-length", "143".parse().unwrap());
    h
}

/// Evaluates one condition against a fixed answer: 200, the JSON above, 120 ms, 30 days.
fn judge(text: &str) -> Result<(), String> {
    let c = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let h = headers();
    let answer = Answer {
        status: Some(200),
        headers: Some(&h),
        body: BODY,
        response_time: Duration::from_millis(120),
        cert_expiry: Some(30.0 * 86_400.0),
        connected: true,
    };
    evaluate(&[c], &answer).map_err(|f| f.to_string())
}

fn up(text: &str) {
    if let Err(e) = judge(text) {
        panic!("{text} should hold: {e}");
    }
}

fn down(text: &str, message: &str) {
    match judge(text) {
        Ok(()) => panic!("{text} should fail"),
        Err(e) => assert_eq!(e, message, "{text}"),
    }
}

#[test]
fn equality_on_status_body_fields_headers_and_connected() {
    up("status == 200");
    down("status == 503", "condition failed: status == 503 (saw 200)");
    up("status != 503");
    down("status != 200", "condition failed: status != 200 (saw 200)");
    up("body.status == \"UP\"");
    up("body.status == UP");
    up("[BODY].status == 'UP'");
    down(
        "body.status == \"DOWN\"",
        "condition failed: body.status == \"DOWN\" (saw \"UP\")",
    );
    up("body.items[1].name == \"db\"");
    up("body.items[0].id == 1");
    up("body.items[0].id == \"1\"");
    up("body.ok == true");
    down(
        "body.ok == false",
        "condition failed: body.ok == false (saw true)",
    );
    up("body.error == null");
    up("body.missing == null");
    down(
        "body.missing == 1",
        "condition failed: body.missing == 1 (saw nothing at body.missing)",
    );
    up("connected == true");
    down(
        "connected == false",
        "condition failed: connected == false (saw true)",
    );
    up("[STATUS] == 200");
}

#[test]
fn ordering_on_numbers_lengths_durations_and_header_numbers() {
    up("body.items.length > 0");
    up("body.items.length >= 2");
    down(
        "body.items.length > 2",
        "condition failed: body.items.length > 2 (saw 2)",
    );
    up("body.tags.length <= 2");
    up("body.status.length == 2");
    up("body.load < 0.5");
    down(
        "body.load < 0.1",
        "condition failed: body.load < 0.1 (saw 0.25)",
    );
    up("status < 300");
    down("status >= 300", "condition failed: status >= 300 (saw 200)");
    up("response_time < 300ms");
    down(
        "response_time < 100ms",
        "condition failed: response_time < 100ms (saw 120ms)",
    );
    up("response_time <= 1s");
    up("cert_expiry > 7d");
    down(
        "cert_expiry > 60d",
        "condition failed: cert_expiry > 60d (saw 30days)",
    );
    up("[CERTIFICATE_EXPIRATION] > 168h");
    up("header.content-length > 100");
    down(
        "header.content-length < 100",
        "condition failed: header.content-length < 100 (saw \"143\")",
    );
}

#[test]
fn contains_matches_any_and_pat() {
    up("header.content-type contains json");
    up("header.Content-Type contains \"json\"");
    down(
        "header.content-type contains xml",
        "condition failed: header.content-type contains xml (saw \"application/json; charset=utf-8\")",
    );
    up("header.content-type not contains xml");
    down(
        "header.content-type not contains json",
        "condition failed: header.content-type not contains json (saw \"application/json; charset=utf-8\")",
    );
    down(
        "header.x-version == \"2\"",
        "condition failed: header.x-version == \"2\" (saw no header x-version)",
    );
    up("header.x-version not contains \"2\"");
    up("body contains \"web-1\"");
    down(
        "body not contains \"web-1\"",
        &format!(
            "condition failed: body not contains \"web-1\" (saw {:?}…)",
            String::from_utf8_lossy(&BODY[..80])
        ),
    );
    up("body.tags contains \"b\"");
    down(
        "body.tags contains \"c\"",
        "condition failed: body.tags contains \"c\" (saw [\"a\",\"b\"])",
    );
    up("body.version matches \"^1\\\\.4\\\\.\"");
    down(
        "body.version matches \"^2\"",
        "condition failed: body.version matches \"^2\" (saw \"1.4.2\")",
    );
    up("body.version not matches \"^2\"");
    up("status matches \"^2..$\"");
    up("body.status == any(\"UP\", \"DEGRADED\")");
    down(
        "status == any(201, 204)",
        "condition failed: status == any(201, 204) (saw 200)",
    );
    up("status != any(500, 503)");
    up("body.items[0].name == pat(\"web-*\")");
    down(
        "body.items[1].name == pat(\"web-*\")",
        "condition failed: body.items[1].name == pat(\"web-*\") (saw \"db\")",
    );
}

#[test]
fn missing_answers_say_what_was_missing() {
    let c: Vec<Condition> = ["status == 200", "cert_expiry > 7d", "body.status == UP"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let none = Answer::default();
    let f = evaluate(&c[..1], &none).unwrap_err();
    assert_eq!(f.saw, "no response");
    let f = evaluate(&c[1..2], &none).unwrap_err();
    assert_eq!(f.saw, "no TLS certificate");
    let html = Answer {
        body: b"<html>",
        ..Answer::default()
    };
    let f = evaluate(&c[2..], &html).unwrap_err();
    assert!(f.saw.starts_with("a body that is not JSON"), "{}", f.saw);
    // The first unmet condition is the one reported.
    let ok = Answer {
        status: Some(200),
        body: br#"{"status":"UP"}"#,
        ..Answer::default()
    };
    let f = evaluate(&c, &ok).unwrap_err();
    assert_eq!(f.condition, "cert_expiry > 7d");
}

/// The error's message, and the caret line under the bad token.
fn bad(text: &str, message: &str, caret: &str) {
    let e = Condition::parse(text).expect_err(text);
    assert_eq!(e.message, message, "{text}");
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[1], format!("  {text}"), "{shown}");
    assert_eq!(lines[2], format!("  {caret}"), "{shown}");
}

#[test]
fn type_and_syntax_errors_point_at_the_token() {
    bad(
        "response_time < 300",
        "response_time is a duration: write the value with a unit, e.g. 300ms or 2s",
        "                ^^^",
    );
    bad(
        "status contains \"2\"",
        "status is a number: use ==, !=, <, <=, >, >= or matches",
        "       ^^^^^^^^",
    );
    bad(
        "stauts == 200",
        "unknown operand `stauts` (expected status, body, body.PATH, header.NAME, response_time, cert_expiry or connected)",
        "^^^^^^",
    );
    bad(
        "status == \"UP\"",
        "status is a number, but the value is text",
        "          ^^^^",
    );
    bad(
        "body.status =~ UP",
        "unknown operator `=~` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)",
        "            ^^",
    );
    bad(
        "body.items[x] == 1",
        "`[x]` is not an index: write [0], [1], … (keys as .name)",
        "          ^^^",
    );
    bad(
        "body matches \"(\"",
        "invalid regular expression: unclosed group",
        "             ^^^",
    );
    bad(
        "connected > true",
        "connected is true or false: use == or !=",
        "          ^",
    );
    bad(
        "body.name == \"web",
        "unterminated string: add the closing quote",
        "             ^^^^",
    );
    bad(
        "status == 200 300",
        "unexpected `300` after the value",
        "              ^^^",
    );
    bad(
        "body > \"a\"",
        "<, <=, >, >= compare numbers or durations, not text",
        "       ^^^",
    );
    bad(
        "status ==",
        "expected a value after the operator",
        "         ^",
    );
    bad(
        "status === 200",
        "unknown operator `===` (expected ==, !=, <, <=, >, >=, contains, not contains, matches)",
        "       ^^^",
    );
    bad(
        "cert_expiry > 7x",
        "`7x` is neither a number nor a duration like 300ms, 2s, 7d",
        "              ^^",
    );
}

#[test]
fn display_is_the_text_as_written() {
    let c: Condition = "  body.status == \"UP\" ".parse().unwrap();
    assert_eq!(c.to_string(), "body.status == \"UP\"");
    assert!(c.needs_body());
    assert!(!c.needs_headers());
}

proptest::proptest! {
    /// Any text parses or is an error with a caret inside it: never a panic.
    #[test]
    fn any_text_parses_or_is_a_clear_error(text in "[a-z.\\[\\]0-9 =!<>\"'(),é_-]{0,30}") {
        if let Err(e) = Condition::parse(&text) {
            proptest::prop_assert!(e.span.end <= e.text.len());
            proptest::prop_assert_eq!(e.to_string().lines().count(), 3 + e.message.lines().count() - 1);
        }
    }

    /// Gatus placeholders followed by anything.
    #[test]
    fn placeholders_with_any_tail_never_panic(tail in "\\PC{0,12}") {
        for head in ["[BODY]", "[STATUS]", "header.", "body"] {
            let _ = Condition::parse(&format!("{head}{tail} == 1"));
        }
    }
}
