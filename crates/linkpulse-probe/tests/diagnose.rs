//! Layered diagnosis against real loopback servers.

mod support;

use linkpulse_probe::diagnose::{Layer, Verdict, diagnose};
use linkpulse_probe::{ErrorKind, ProbeOptions, Prober, Target};

#[tokio::test]
async fn refused_port_is_process_down() {
    let addr = support::closed_port();
    let target: Target = format!("tcp://{addr}").parse().unwrap();
    let d = diagnose(&Prober::new(), &target, &ProbeOptions::default()).await;
    assert_eq!(d.verdict, Verdict::ProcessDown);
    assert_eq!(d.observations.tcp, Layer::Down(ErrorKind::Refused));
    assert!(
        d.summary.starts_with("process_down: ")
            && d.summary.contains(&format!("port {} refused", addr.port())),
        "{}",
        d.summary
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["verdict"], "process_down");
    assert_eq!(v["layers"]["tcp"]["error"]["kind"], "refused");
    assert_eq!(v["layers"]["dns"]["up"], true);
}

#[tokio::test]
async fn http_layers_ok_app_error_and_tls_error() {
    let server = support::http_server(None).await;
    let prober = Prober::new();
    let opts = ProbeOptions::default();

    let ok: Target = format!("http://{}/", server.addr).parse().unwrap();
    let d = diagnose(&prober, &ok, &opts).await;
    assert_eq!(d.verdict, Verdict::Ok, "{}", d.summary);

    let bad: Target = format!("http://{}/status/503", server.addr)
        .parse()
        .unwrap();
    let d = diagnose(&prober, &bad, &opts).await;
    assert_eq!(d.verdict, Verdict::AppError);
    assert_eq!(d.observations.tcp, Layer::Up);
    assert!(
        d.summary.contains("HTTP 503, expected 200-299"),
        "{}",
        d.summary
    );

    // A plain HTTP server spoken to with TLS: the port answers, TLS fails.
    let tls: Target = format!("https://{}/", server.addr).parse().unwrap();
    let d = diagnose(&prober, &tls, &opts).await;
    assert_eq!(d.verdict, Verdict::TlsError, "{}", d.summary);
}
