//! `linkpulse check icmp` through the real binary, to loopback. Where the process may open an
//! ICMP socket the replies are reported; where it may not, the result is `permission` with a
//! message giving both fixes and exit code 3 (unknown).

const BIN: &str = env!("CARGO_BIN_EXE_linkpulse");

#[test]
fn icmp_to_loopback_reports_replies_or_says_how_to_fix_permission() {
    for host in ["127.0.0.1", "::1"] {
        let o = std::process::Command::new(BIN)
            .args([
                "check",
                "icmp",
                host,
                "--count",
                "2",
                "--interval",
                "10ms",
                "--output",
                "json",
            ])
            .output()
            .expect("run linkpulse");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        assert_eq!(v["target"], host);
        assert_eq!(v["kind"], "icmp");
        if v["up"] == true {
            assert_eq!(o.status.code(), Some(0));
            assert_eq!(v["icmp"]["sent"], 2);
            assert_eq!(v["icmp"]["received"], 2);
            assert_eq!(v["icmp"]["loss"], 0.0);
            assert!(v["icmp"]["rtt_avg_ms"].is_number());
            assert!(v["latency_ms"].is_number());
        } else {
            assert_eq!(o.status.code(), Some(3), "{v}");
            assert_eq!(v["error"]["kind"], "permission", "{v}");
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(
                msg.contains("ping_group_range") && msg.contains("CAP_NET_RAW"),
                "{msg}"
            );
        }
    }
}
