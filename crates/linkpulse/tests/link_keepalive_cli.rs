//! `linkpulse keepalive`: the kernel's settings and the worst-case detection times it prints.

use std::process::Command;

fn linkpulse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_linkpulse"))
        .args(args)
        .output()
        .expect("run linkpulse")
}

fn proc_u64(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .expect("read /proc/sys")
        .trim()
        .parse()
        .expect("integer in /proc/sys")
}

#[test]
fn json_reports_this_machines_defaults_and_their_worst_case() {
    let out = linkpulse(&["keepalive", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let k = &v["kernel"];
    let (time, intvl, probes) = (
        proc_u64("tcp_keepalive_time"),
        proc_u64("tcp_keepalive_intvl"),
        proc_u64("tcp_keepalive_probes"),
    );
    assert_eq!(k["tcp_keepalive_time_s"], time);
    assert_eq!(k["tcp_keepalive_intvl_s"], intvl);
    assert_eq!(k["tcp_keepalive_probes"], probes);
    assert_eq!(k["tcp_retries2"], proc_u64("tcp_retries2"));
    assert_eq!(k["idle_detection_ms"], (time + intvl * probes) * 1000);
    assert!(v["profile"].is_null());
}

#[test]
fn human_output_spells_out_the_default_two_hours() {
    let out = linkpulse(&["keepalive"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    if proc_u64("tcp_keepalive_time") == 7200
        && proc_u64("tcp_keepalive_intvl") == 75
        && proc_u64("tcp_keepalive_probes") == 9
    {
        assert!(text.contains("7875 s (2 h 11 min 15 s)"), "{text}");
    }
    assert!(text.contains("tcp_retries2"), "{text}");
}

#[test]
fn a_profile_from_flags_is_evaluated_and_user_timeout_overrides_the_count() {
    let out = linkpulse(&[
        "keepalive",
        "--idle",
        "1s",
        "--interval",
        "1s",
        "--count",
        "3",
        "--output",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["profile"]["idle_detection_ms"], 4000);
    assert!(v["profile"]["user_timeout_ms"].is_null());

    let out = linkpulse(&[
        "keepalive",
        "--idle",
        "1s",
        "--interval",
        "1s",
        "--count",
        "3",
        "--user-timeout",
        "5s",
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["profile"]["idle_detection_ms"], 5000);
    assert_eq!(v["profile"]["retransmission_detection_ms"], 5000);

    let out = linkpulse(&[
        "keepalive",
        "--idle",
        "1s",
        "--interval",
        "1s",
        "--count",
        "3",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Profile: idle 1 s, interval 1 s, count 3"),
        "{text}"
    );
    assert!(text.contains("4 s  = 1 s + 3 × 1 s"), "{text}");
}

#[test]
fn a_bad_profile_value_is_named() {
    let out = linkpulse(&["keepalive", "--idle", "1500ms"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("idle = 1.5 s"), "{err}");
    let out = linkpulse(&["keepalive", "--count", "0"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("count = 0"));
}
