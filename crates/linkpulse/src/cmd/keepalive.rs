//! `linkpulse keepalive`: this machine's kernel TCP keepalive settings and the worst-case time
//! each takes to notice a dead peer, and the same for a profile given as flags.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use linkpulse_net::keepalive::{HumanDuration, KeepaliveProfile, KernelDefaults};
use serde_json::json;

use super::output::StreamOutput as Output;

/// Arguments of `linkpulse keepalive`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Profile to evaluate: idle time before the first probe (TCP_KEEPIDLE), e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle: Option<Duration>,
    /// Profile to evaluate: time between probes (TCP_KEEPINTVL), e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Profile to evaluate: unanswered probes before the kernel gives up (TCP_KEEPCNT).
    #[arg(long)]
    count: Option<u32>,
    /// Profile to evaluate: TCP_USER_TIMEOUT, e.g. `5s` (unset: the kernel's tcp_retries2).
    #[arg(long, value_parser = humantime::parse_duration)]
    user_timeout: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

impl Args {
    /// The profile described by the flags, missing ones taken from the kernel; `None` when no
    /// profile flag was given.
    fn profile(&self, kernel: &KernelDefaults) -> anyhow::Result<Option<KeepaliveProfile>> {
        if self.idle.is_none()
            && self.interval.is_none()
            && self.count.is_none()
            && self.user_timeout.is_none()
        {
            return Ok(None);
        }
        let base = kernel.profile();
        let profile = KeepaliveProfile {
            idle: self.idle.unwrap_or(base.idle),
            interval: self.interval.unwrap_or(base.interval),
            count: self.count.unwrap_or(base.count),
            user_timeout: self.user_timeout,
        };
        profile.validate().context("the profile given as flags")?;
        Ok(Some(profile))
    }
}

/// Runs `linkpulse keepalive`.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kernel = KernelDefaults::read().context("reading the kernel's TCP settings")?;
    let profile = args.profile(&kernel)?;
    let text = match args.output {
        Output::Text => human(&kernel, profile.as_ref()),
        Output::Json => format!("{}\n", json_report(&kernel, profile.as_ref())),
    };
    super::output::print(text)?;
    Ok(ExitCode::SUCCESS)
}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `7875 s (2 h 11 min 15 s)`, or just `4 s` when both spellings agree.
fn both(d: Duration) -> String {
    let (s, h) = (secs(d), HumanDuration(d).to_string());
    if s == h { s } else { format!("{s} ({h})") }
}

fn human(kernel: &KernelDefaults, profile: Option<&KeepaliveProfile>) -> String {
    let mut lines = vec![
        "Kernel defaults (/proc/sys/net/ipv4):".to_owned(),
        format!("  tcp_keepalive_time    {}", secs(kernel.keepalive_time)),
        format!("  tcp_keepalive_intvl   {}", secs(kernel.keepalive_intvl)),
        format!("  tcp_keepalive_probes  {}", kernel.keepalive_probes),
        format!("  tcp_retries2          {}", kernel.tcp_retries2),
        "Worst-case time to notice a dead peer with these defaults:".to_owned(),
        format!(
            "  idle connection, SO_KEEPALIVE on   {}  = {} + {} × {}",
            both(kernel.idle_detection()),
            secs(kernel.keepalive_time),
            kernel.keepalive_probes,
            secs(kernel.keepalive_intvl),
        ),
        format!(
            "  unacknowledged data in flight      {}  (tcp_retries2 = {} backoffs from 200 ms)",
            both(kernel.retransmission_detection()),
            kernel.tcp_retries2,
        ),
        "  idle connection, SO_KEEPALIVE off  never (the socket default)".to_owned(),
    ];
    if let Some(p) = profile {
        lines.push(format!("Profile: {p}"));
        lines.push(match p.user_timeout {
            None => format!(
                "  idle connection                    {}  = {} + {} × {}",
                both(p.idle_detection()),
                secs(p.idle),
                p.count,
                secs(p.interval),
            ),
            Some(ut) => format!(
                "  idle connection                    {}  (TCP_USER_TIMEOUT {} overrides the count of {})",
                both(p.idle_detection()),
                secs(ut),
                p.count,
            ),
        });
        let source = if p.user_timeout.is_some() {
            "TCP_USER_TIMEOUT"
        } else {
            "tcp_retries2"
        };
        lines.push(format!(
            "  unacknowledged data in flight      {}  ({source})",
            both(p.retransmission_detection(kernel)),
        ));
        if p.user_timeout.is_some() {
            lines.push("  note: TCP_USER_TIMEOUT also aborts a live peer that stopped reading (zero window);".to_owned());
            lines.push("        keep it above the heartbeat's dead deadline.".to_owned());
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn json_report(kernel: &KernelDefaults, profile: Option<&KeepaliveProfile>) -> serde_json::Value {
    let profile = profile.map(|p| {
        json!({
            "idle_ms": ms(p.idle),
            "interval_ms": ms(p.interval),
            "count": p.count,
            "user_timeout_ms": p.user_timeout.map(ms),
            "idle_detection_ms": ms(p.idle_detection()),
            "idle_detection": HumanDuration(p.idle_detection()).to_string(),
            "retransmission_detection_ms": ms(p.retransmission_detection(kernel)),
            "retransmission_detection": HumanDuration(p.retransmission_detection(kernel)).to_string(),
        })
    });
    json!({
        "kernel": {
            "tcp_keepalive_time_s": kernel.keepalive_time.as_secs(),
            "tcp_keepalive_intvl_s": kernel.keepalive_intvl.as_secs(),
            "tcp_keepalive_probes": kernel.keepalive_probes,
            "tcp_retries2": kernel.tcp_retries2,
            "idle_detection_ms": ms(kernel.idle_detection()),
            "idle_detection": HumanDuration(kernel.idle_detection()).to_string(),
            "retransmission_detection_ms": ms(kernel.retransmission_detection()),
            "retransmission_detection": HumanDuration(kernel.retransmission_detection()).to_string(),
        },
        "profile": profile,
    })
}
