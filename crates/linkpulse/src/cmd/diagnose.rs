//! `linkpulse diagnose TARGET`: the layered verdict (DNS → ICMP → TCP → application) and
//! where it broke.

use std::io::Write;
use std::process::ExitCode;

use linkpulse_probe::diagnose::{Diagnosis, Verdict, diagnose};
use linkpulse_probe::{ProbeResult, Prober, Target};

use super::check::{Output, ProbeArgs, describe};

/// Arguments of `linkpulse diagnose`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The target: tcp://HOST:PORT, http(s)://…, icmp://HOST, or a bare HOST:PORT (TCP) or
    /// HOST (ICMP).
    target: String,
    #[command(flatten)]
    probe: Box<ProbeArgs>,
}

fn parse(text: &str) -> anyhow::Result<Target> {
    let parsed = if text.contains("://") {
        text.parse()
    } else if text.contains(':') && text.parse::<std::net::Ipv6Addr>().is_err() {
        Target::tcp_from_host_port(text)
    } else {
        Target::icmp_from_host(text)
    };
    parsed.map_err(|e| anyhow::anyhow!("invalid target `{text}`: {e}"))
}

/// Runs `linkpulse diagnose`: exit 0 when the verdict is ok, 2 otherwise.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let target = parse(&args.target)?;
    let opts = args.probe.options()?;
    let diagnosis = diagnose(&Prober::new(), &target, &opts).await;
    let text = match args.probe.common.output {
        Output::Json => format!("{}\n", serde_json::to_string(&diagnosis)?),
        Output::Nagios => format!(
            "LINKPULSE DIAGNOSE {} - {} {}\n",
            if diagnosis.verdict == Verdict::Ok {
                "OK"
            } else {
                "CRITICAL"
            },
            args.target,
            diagnosis.summary
        ),
        Output::Text => {
            let mut out = Vec::new();
            human(&mut out, &args.target, &diagnosis)?;
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    super::output::print(text)?;
    Ok(ExitCode::from(if diagnosis.verdict == Verdict::Ok {
        0
    } else {
        2
    }))
}

fn human(out: &mut impl Write, given: &str, d: &Diagnosis) -> std::io::Result<()> {
    writeln!(out, "{given}: {}", d.summary)?;
    let dns = &d.layers.dns;
    let dns_line = match &dns.error {
        Some(e) => format!("DOWN  {}: {}", e.kind, e.message),
        None => format!(
            "UP    {} -> {}",
            dns.host,
            dns.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    writeln!(out, "  dns     {dns_line}")?;
    let layer = |out: &mut dyn Write, name: &str, r: &Option<ProbeResult>| match r {
        None => writeln!(out, "  {name:<7} -     not probed"),
        Some(r) => writeln!(
            out,
            "  {name:<7} {:<5} {}",
            if r.up { "UP" } else { "DOWN" },
            describe(r)
        ),
    };
    layer(out, "icmp", &d.layers.icmp)?;
    layer(out, "tcp", &d.layers.tcp)?;
    layer(out, "target", &d.layers.target)?;
    Ok(())
}
