//! `linkpulse check`: one-shot probes of one target (`tcp`, `http`, `icmp`) or of a file of
//! targets, printed as human text, JSON lines or Nagios plugin lines, with Nagios exit codes.

mod output;
mod sweep;
mod targets;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use linkpulse_probe::{HttpOptions, IcmpOptions, IpFamily, ProbeOptions, StatusSet, Target};

pub(crate) use output::{Output, describe, exit_code};

/// Arguments of `linkpulse check`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    kind: Option<Kind>,
    /// Probe every target in FILE: one URL per line (tcp://HOST:PORT, http://…, https://…,
    /// icmp://HOST); `#` comments and blank lines are allowed.
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// How many targets of a targets file are probed at the same time.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: u32,
    #[command(flatten)]
    probe: Box<ProbeArgs>,
}

/// What to probe, for a single target.
#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// TCP connect to HOST:PORT (IPv6 as [ADDR]:PORT).
    Tcp {
        /// HOST:PORT, or tcp://HOST:PORT.
        target: String,
    },
    /// HTTP(S) request to URL.
    Http {
        /// An http:// or https:// URL.
        url: String,
    },
    /// ICMP echo to HOST.
    Icmp {
        /// A host name or IP address.
        host: String,
    },
}

/// Probe options shared by `check` and `diagnose`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// Network budget of each probe (connect, TLS, request, replies), e.g. 500ms, 2s.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration, global = true)]
    timeout: Duration,
    /// Budget for resolving a host name.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration, global = true)]
    dns_timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human, global = true)]
    pub(crate) output: Output,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6", global = true)]
    ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6', global = true)]
    ipv6: bool,
    /// HTTP method (GET or HEAD).
    #[arg(long, value_name = "METHOD", default_value = "GET", value_parser = parse_method, global = true)]
    method: http::Method,
    /// Status codes that count as up: codes and ranges, e.g. 200-299,301.
    #[arg(long, value_name = "CODES", default_value = "200-299", global = true)]
    expect_status: StatusSet,
    /// The body must contain TEXT.
    #[arg(long, value_name = "TEXT", global = true)]
    body_contains: Option<String>,
    /// The body must match the regular expression RE.
    #[arg(long, value_name = "RE", value_parser = parse_regex, global = true)]
    body_regex: Option<regex::Regex>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header, global = true)]
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Do not follow redirects (by default up to 10 are followed).
    #[arg(long, global = true)]
    no_follow: bool,
    /// PEM file of CA certificates to trust in addition to the system ones.
    #[arg(long = "ca", value_name = "FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates (expiry is still reported).
    #[arg(long, global = true)]
    insecure: bool,
    /// Warn when a TLS certificate expires in fewer than DAYS days.
    #[arg(long, value_name = "DAYS", global = true)]
    cert_warn: Option<u32>,
    /// ICMP echo requests per target.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    count: u32,
    /// Delay between ICMP echo requests.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_interval, global = true)]
    interval: Duration,
}

impl ProbeArgs {
    /// The library options these flags describe; checks the CA file so a bad one is exit 3.
    pub(crate) fn options(&self) -> anyhow::Result<ProbeOptions> {
        if let Some(path) = &self.ca_file {
            linkpulse_probe::load_ca_file(path)?;
        }
        Ok(ProbeOptions {
            timeout: self.timeout,
            dns_timeout: self.dns_timeout,
            family: match (self.ipv4, self.ipv6) {
                (true, _) => IpFamily::V4,
                (_, true) => IpFamily::V6,
                _ => IpFamily::Any,
            },
            http: HttpOptions {
                method: self.method.clone(),
                expect_status: self.expect_status.clone(),
                body_contains: self.body_contains.clone(),
                body_regex: self.body_regex.clone(),
                headers: self.headers.clone(),
                follow_redirects: !self.no_follow,
                ca_file: self.ca_file.clone(),
                insecure: self.insecure,
            },
            icmp: IcmpOptions {
                count: self.count,
                interval: self.interval,
            },
            cert_warn_days: self.cert_warn,
        })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 500ms or 2s ({e})"))?;
    if d.is_zero() {
        return Err("must be more than 0".to_owned());
    }
    if d > Duration::from_secs(3600) {
        return Err("must be at most 1h".to_owned());
    }
    Ok(d)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 200ms or 1s ({e})"))?;
    if d > Duration::from_secs(60) {
        return Err("must be at most 60s".to_owned());
    }
    Ok(d)
}

fn parse_method(s: &str) -> Result<http::Method, String> {
    let upper = s.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "HEAD" => upper
            .parse()
            .map_err(|_| format!("`{s}` is not an HTTP method")),
        _ => Err(format!("`{s}` is not supported: use GET or HEAD")),
    }
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| format!("invalid regular expression: {e}"))
}

fn parse_header(s: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let Some((name, value)) = s.split_once(':') else {
        return Err(format!("`{s}` is not 'Name: value'"));
    };
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a valid header name", name.trim()))?;
    let value = http::HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of header `{name}` has characters a header cannot hold"))?;
    Ok((name, value))
}

/// One target to probe, with the text the user wrote for it.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The target as given.
    pub(crate) label: String,
    /// The parsed target.
    pub(crate) target: Target,
}

/// Parses the single target of `check tcp|http|icmp`, accepting the bare and the URL form.
fn single(kind: &Kind) -> anyhow::Result<Job> {
    let (what, text, parsed) = match kind {
        Kind::Tcp { target } => (
            "TCP target",
            target,
            parse_kind(
                target,
                linkpulse_probe::ProbeKind::Tcp,
                Target::tcp_from_host_port,
            ),
        ),
        Kind::Http { url } => (
            "URL",
            url,
            parse_kind(url, linkpulse_probe::ProbeKind::Http, Target::http_from_url),
        ),
        Kind::Icmp { host } => (
            "ICMP host",
            host,
            parse_kind(
                host,
                linkpulse_probe::ProbeKind::Icmp,
                Target::icmp_from_host,
            ),
        ),
    };
    let target = parsed.map_err(|e| anyhow::anyhow!("invalid {what} `{text}`: {e}"))?;
    Ok(Job {
        label: text.trim().to_owned(),
        target,
    })
}

fn parse_kind(
    text: &str,
    kind: linkpulse_probe::ProbeKind,
    bare: fn(&str) -> Result<Target, linkpulse_probe::TargetError>,
) -> Result<Target, String> {
    if text.contains("://") {
        let target: Target = text
            .parse()
            .map_err(|e: linkpulse_probe::TargetError| e.to_string())?;
        if target.kind() != kind {
            return Err(format!(
                "this is a {} target, not a {kind} one",
                target.kind()
            ));
        }
        return Ok(target);
    }
    bare(text).map_err(|e| e.to_string())
}

/// Runs `linkpulse check`.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let jobs = match (&args.kind, &args.targets) {
        (Some(kind), _) => vec![single(kind)?],
        (None, Some(path)) => match targets::read(path)? {
            Ok(jobs) => jobs,
            Err(problems) => {
                for problem in problems {
                    eprintln!("linkpulse: {problem}");
                }
                return Ok(ExitCode::from(crate::EXIT_UNKNOWN));
            }
        },
        (None, None) => {
            bail!(
                "nothing to check: give `tcp HOST:PORT`, `http URL`, `icmp HOST` or `--targets FILE`"
            )
        }
    };
    let opts = args.probe.options().context("invalid --ca")?;
    let many = args.targets.is_some();
    let started = Instant::now();
    let stdout = std::io::stdout();
    let concurrency = args.concurrency as usize;
    let results = if args.probe.output == Output::Json {
        // JSON lines go out as the sweep runs, in the targets' order.
        let mut lines = sweep::JsonLines::new(stdout.lock(), stdout.is_terminal());
        sweep::probe_all(jobs, opts, concurrency, many, Some(&mut lines)).await?
    } else {
        // Human and Nagios output need every result first (column width, summary line).
        let results =
            sweep::probe_all::<std::io::Stdout>(jobs, opts, concurrency, many, None).await?;
        let elapsed = started.elapsed();
        let mut out = std::io::BufWriter::new(stdout.lock());
        output::print(&mut out, args.probe.output, &results, many, elapsed)?;
        out.flush()?;
        results
    };
    Ok(ExitCode::from(exit_code(&results)))
}
