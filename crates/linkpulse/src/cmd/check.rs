//! `linkpulse check`: one-shot probes of one target (`tcp`, `http`, `icmp`, `dns`, `grpc`,
//! `postgres`, `redis`, `mysql`) or of a file of targets, printed as human text, JSON lines or
//! Nagios plugin lines, with Nagios exit codes.
// The clap help texts below write target forms like `dns://SERVER[:PORT]`: brackets that
// rustdoc would take for links; this binary's docs are its --help, not rustdoc.
#![allow(rustdoc::broken_intra_doc_links)]

mod data_args;
mod output;
mod sweep;
mod targets;
mod tcp_args;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use linkpulse_probe::{
    HttpOptions, IcmpOptions, IpFamily, ProbeOptions, StatusSet, Target, defaults,
};

pub(crate) use super::output::Output;
pub(crate) use output::{describe, exit_code};

use data_args::{DataArgs, DataTlsArgs};
use tcp_args::TcpArgs;

/// Arguments of `linkpulse check`: a kind and its target (`check tcp|http|icmp …`, each with
/// only its own flags), or `--targets FILE` with every kind's flags (a file may mix kinds).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    kind: Option<Kind>,
    /// Probe every target in FILE: one URL per line (tcp://HOST:PORT, http://…, https://…,
    /// icmp://HOST, dns://SERVER[:PORT]/NAME?type=T, grpc://HOST:PORT[/SERVICE], grpcs://…,
    /// postgres://USER@HOST/DB, redis://HOST:PORT, rediss://…, mysql://…); `#` comments and
    /// blank lines are allowed.
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
    /// TCP connect to HOST:PORT (IPv6 as [ADDR]:PORT); with --tls and --expect/--send/
    /// --starttls steps, a dialogue (SMTP, IMAP, SSH banners…).
    Tcp {
        /// HOST:PORT, or tcp://HOST:PORT.
        target: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        tcp: Box<TcpArgs>,
    },
    /// HTTP(S) request to URL.
    Http {
        /// An http:// or https:// URL.
        url: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        http: Box<HttpArgs>,
    },
    /// ICMP echo to HOST; Ctrl-C prints what was seen so far, as ping does.
    Icmp {
        /// A host name or IP address.
        host: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        icmp: IcmpArgs,
    },
    /// DNS query of NAME to a server (UDP, TCP when the answer is truncated).
    Dns {
        /// The name to ask for, or dns://SERVER[:PORT]/NAME?type=T.
        name: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        dns: Box<DnsArgs>,
    },
    /// gRPC health check (grpc.health.v1.Health/Check) of HOST:PORT.
    Grpc {
        /// HOST:PORT, or grpc://HOST:PORT[/SERVICE] (grpcs:// for TLS).
        target: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        grpc: GrpcArgs,
    },
    /// PostgreSQL: connect, authenticate and run `SELECT 1` (or --query).
    Postgres {
        /// postgres://USER@HOST[:PORT]/DB (add ?sslmode=require for TLS).
        url: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        tls: DataTlsArgs,
    },
    /// MySQL / MariaDB: handshake, authenticate and run `SELECT 1` (or --query).
    Mysql {
        /// mysql://USER@HOST[:PORT]/DB.
        url: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Redis: AUTH (with a password), then PING, which must answer PONG.
    Redis {
        /// redis://HOST[:PORT][/DB], or rediss://… for TLS.
        url: String,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        tls: DataTlsArgs,
    },
}

impl Kind {
    fn common(&self) -> &CommonArgs {
        match self {
            Kind::Tcp { common, .. }
            | Kind::Http { common, .. }
            | Kind::Icmp { common, .. }
            | Kind::Dns { common, .. }
            | Kind::Grpc { common, .. }
            | Kind::Postgres { common, .. }
            | Kind::Mysql { common, .. }
            | Kind::Redis { common, .. } => common,
        }
    }

    /// The library options of this kind's flags; checks the CA file so a bad one is exit 3.
    fn options(&self) -> anyhow::Result<ProbeOptions> {
        match self {
            Kind::Tcp { common, tcp, .. } => {
                tcp.apply(common.options(ProbeOptions::default()), std::env::args_os())
            }
            Kind::Postgres {
                common, data, tls, ..
            }
            | Kind::Redis {
                common, data, tls, ..
            } => data.apply(common.options(ProbeOptions::default()), tls.options()?),
            Kind::Mysql { common, data, .. } => data.apply(
                common.options(ProbeOptions::default()),
                linkpulse_probe::TlsOptions::default(),
            ),
            Kind::Http { common, http, .. } => {
                let opts = common.options(ProbeOptions::default());
                http.apply(opts)
            }
            Kind::Icmp { common, icmp, .. } => {
                Ok(icmp.apply(common.options(ProbeOptions::default())))
            }
            Kind::Dns { common, dns, .. } => Ok(dns.apply(common.options(ProbeOptions::default()))),
            Kind::Grpc { common, grpc, .. } => grpc.apply(common.options(ProbeOptions::default())),
        }
    }
}

/// Flags of DNS probes.
#[derive(Debug, clap::Args)]
pub(crate) struct DnsArgs {
    /// The DNS server to ask: ADDR or ADDR:PORT (IPv6 as [ADDR]:PORT); port 53 unless given.
    #[arg(long, value_name = "ADDR")]
    server: Option<String>,
    /// Record type: A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, PTR or ANY.
    #[arg(long = "type", value_name = "TYPE", default_value = "A", value_parser = parse_dns_type)]
    record_type: linkpulse_probe::DnsType,
    /// Ask over TCP only (by default UDP, and TCP when the answer is truncated).
    #[arg(long)]
    tcp: bool,
    /// Response codes that count as up, e.g. NOERROR,NXDOMAIN.
    #[arg(long, value_name = "RCODES", default_value = "NOERROR", value_delimiter = ',', value_parser = parse_rcode)]
    expect_rcode: Vec<linkpulse_probe::Rcode>,
    /// Some answer record must match the regular expression RE (repeatable; records are
    /// matched as `name<TAB>ttl<TAB>IN<TAB>type<TAB>data`).
    #[arg(long, value_name = "RE", value_parser = parse_regex)]
    answer_regex: Vec<regex::Regex>,
    /// No answer record may match the regular expression RE (repeatable).
    #[arg(long, value_name = "RE", value_parser = parse_regex)]
    answer_reject: Vec<regex::Regex>,
    /// Do not set the RD (recursion desired) bit.
    #[arg(long)]
    no_recursion: bool,
}

impl DnsArgs {
    fn apply(&self, mut opts: ProbeOptions) -> ProbeOptions {
        opts.dns = linkpulse_probe::DnsOptions {
            valid_rcodes: self.expect_rcode.clone(),
            recursion_desired: !self.no_recursion,
            answer: linkpulse_probe::RrRules {
                fail_if_matches: self.answer_reject.clone(),
                fail_if_none_matches: self.answer_regex.clone(),
                ..linkpulse_probe::RrRules::default()
            },
            ..linkpulse_probe::DnsOptions::default()
        };
        opts
    }

    /// The target: a dns:// URL as NAME, or NAME with `--server` (and `--type`, `--tcp`).
    fn target(&self, name: &str) -> Result<Target, String> {
        if name.contains("://") {
            return parse_kind(name, linkpulse_probe::ProbeKind::Dns, |_| {
                unreachable!("a URL is parsed as one")
            });
        }
        let Some(server) = &self.server else {
            return Err("no server: give --server ADDR[:PORT] or a dns://SERVER/NAME URL".into());
        };
        Target::dns_from_parts(server, name, self.record_type, self.tcp).map_err(|e| e.to_string())
    }
}

/// Flags of gRPC health probes.
#[derive(Debug, clap::Args)]
pub(crate) struct GrpcArgs {
    /// The service to ask about (empty: the server as a whole).
    #[arg(long, value_name = "NAME", default_value = "")]
    service: String,
    /// Speak TLS (as a grpcs:// URL does).
    #[arg(long)]
    tls: bool,
    /// PEM file of CA certificates to trust in addition to the system ones.
    #[arg(long = "ca", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates.
    #[arg(long)]
    insecure: bool,
}

impl GrpcArgs {
    fn apply(&self, mut opts: ProbeOptions) -> anyhow::Result<ProbeOptions> {
        if let Some(path) = &self.ca_file {
            linkpulse_probe::load_ca_file(path).context("invalid --ca")?;
        }
        opts.grpc = linkpulse_probe::GrpcOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        };
        Ok(opts)
    }

    /// The target: a grpc(s):// URL, or HOST:PORT with `--service` and `--tls`.
    fn target(&self, text: &str) -> Result<Target, String> {
        if text.contains("://") {
            return parse_kind(text, linkpulse_probe::ProbeKind::Grpc, |_| {
                unreachable!("a URL is parsed as one")
            });
        }
        Target::grpc_from_host_port(text, &self.service, self.tls).map_err(|e| e.to_string())
    }
}

fn parse_dns_type(s: &str) -> Result<linkpulse_probe::DnsType, String> {
    s.parse()
        .map_err(|e: linkpulse_probe::UnknownDnsType| e.to_string())
}

fn parse_rcode(s: &str) -> Result<linkpulse_probe::Rcode, String> {
    s.parse()
        .map_err(|e: linkpulse_probe::UnknownRcode| e.to_string())
}

/// Flags every probe kind has. Defaults and limits come from `linkpulse_probe::defaults`,
/// shared with the daemon's config.
#[derive(Debug, clap::Args)]
pub(crate) struct CommonArgs {
    /// Network budget of each probe (connect, TLS, request, each echo reply), e.g. 500ms, 2s.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_TIMEOUT.as_str(), value_parser = parse_timeout)]
    timeout: Duration,
    /// Budget for resolving a host name.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_TIMEOUT.as_str(), value_parser = parse_timeout)]
    dns_timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
}

impl CommonArgs {
    fn options(&self, base: ProbeOptions) -> ProbeOptions {
        ProbeOptions {
            timeout: self.timeout,
            dns_timeout: self.dns_timeout,
            family: match (self.ipv4, self.ipv6) {
                (true, _) => IpFamily::V4,
                (_, true) => IpFamily::V6,
                _ => IpFamily::Any,
            },
            ..base
        }
    }
}

/// Flags of HTTP probes.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    /// HTTP method: GET, HEAD, POST, PUT, DELETE, OPTIONS or PATCH.
    #[arg(long, value_name = "METHOD", default_value = "GET", value_parser = parse_method)]
    method: http::Method,
    /// Status codes that count as up: codes and ranges, e.g. 200-299,301.
    #[arg(long, value_name = "CODES", default_value = defaults::EXPECT_STATUS)]
    expect_status: StatusSet,
    /// The body must contain TEXT.
    #[arg(long, value_name = "TEXT")]
    body_contains: Option<String>,
    /// The body must match the regular expression RE.
    #[arg(long, value_name = "RE", value_parser = parse_regex)]
    body_regex: Option<regex::Regex>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// A condition the answer must meet (repeatable), e.g. 'status == 200',
    /// 'body.status == "UP"', 'body.items.length > 0', 'response_time < 300ms',
    /// 'cert_expiry > 7d', 'header.content-type contains json'.
    #[arg(long = "condition", value_name = "CONDITION", value_parser = parse_condition)]
    conditions: Vec<linkpulse_probe::conditions::Condition>,
    /// Request body to send (e.g. with --method POST).
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// Read at most BYTES of the body; a longer body fails the check.
    #[arg(long, value_name = "BYTES")]
    body_size_limit: Option<u64>,
    /// Do not follow redirects (by default up to 10 are followed, as the daemon does).
    #[arg(long)]
    no_follow: bool,
    /// PEM file of CA certificates to trust in addition to the system ones.
    #[arg(long = "ca", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Do not verify TLS certificates (expiry is still reported).
    #[arg(long)]
    insecure: bool,
    /// Warn when a TLS certificate expires in fewer than DAYS days.
    #[arg(long, value_name = "DAYS")]
    cert_warn: Option<u32>,
}

impl HttpArgs {
    fn apply(&self, mut opts: ProbeOptions) -> anyhow::Result<ProbeOptions> {
        if let Some(path) = &self.ca_file {
            linkpulse_probe::load_ca_file(path).context("invalid --ca")?;
        }
        opts.http = HttpOptions {
            method: self.method.clone(),
            expect_status: self.expect_status.clone(),
            body_contains: self.body_contains.clone(),
            body_regex: self.body_regex.clone(),
            headers: self.headers.clone(),
            follow_redirects: !self.no_follow,
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            body: self.body.clone().map(Into::into),
            conditions: self.conditions.clone(),
            body_size_limit: self.body_size_limit,
            compression: None,
            proxy: None,
        };
        opts.cert_warn_days = self.cert_warn;
        Ok(opts)
    }
}

/// Flags of ICMP probes.
#[derive(Debug, clap::Args)]
pub(crate) struct IcmpArgs {
    /// ICMP echo requests per target.
    #[arg(long, value_name = "N", default_value_t = defaults::ICMP_COUNT, value_parser = parse_count)]
    count: u32,
    /// Delay between ICMP echo requests.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_ICMP_INTERVAL.as_str(), value_parser = parse_interval)]
    interval: Duration,
    /// Hop limit (IPv4 TTL) of the echo requests, 1-255.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    ttl: Option<u8>,
    /// Bytes of payload in each echo request (at least 16 are sent).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(0..=65_000))]
    payload_size: Option<u16>,
    /// Forbid fragmentation: a request larger than the path MTU fails instead.
    #[arg(long)]
    dont_fragment: bool,
}

impl IcmpArgs {
    fn apply(&self, mut opts: ProbeOptions) -> ProbeOptions {
        opts.icmp = IcmpOptions {
            count: self.count,
            interval: self.interval,
            tuning: linkpulse_probe::icmp::SocketTuning {
                ttl: self.ttl,
                dont_fragment: self.dont_fragment,
                payload_size: self.payload_size.map_or(0, usize::from),
            },
        };
        opts
    }
}

/// Every kind's flags: for `check --targets FILE` (a file may mix kinds) and `diagnose`
/// (which probes several layers).
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(flatten, next_help_heading = "HTTP(S) targets")]
    http: HttpArgs,
    #[command(flatten, next_help_heading = "ICMP targets")]
    icmp: IcmpArgs,
    #[command(flatten, next_help_heading = "Database targets")]
    data: DataArgs,
}

impl ProbeArgs {
    /// The library options these flags describe; checks the CA file so a bad one is exit 3.
    /// gRPC targets over TLS (`grpcs://`) trust the same `--ca` and honour `--insecure`.
    pub(crate) fn options(&self) -> anyhow::Result<ProbeOptions> {
        let opts = self.common.options(ProbeOptions::default());
        let mut opts = self.icmp.apply(self.http.apply(opts)?);
        opts.grpc = linkpulse_probe::GrpcOptions {
            ca_file: self.http.ca_file.clone(),
            insecure: self.http.insecure,
        };
        // Database targets of a file use the HTTP flags' CA file and --insecure.
        let tls = linkpulse_probe::TlsOptions {
            ca_file: self.http.ca_file.clone(),
            insecure: self.http.insecure,
            server_name: None,
        };
        self.data.apply(opts, tls)
    }
}

/// `defaults::TIMEOUT` as the flag's default text (`5s`).
static DEFAULT_TIMEOUT: LazyLock<String> =
    LazyLock::new(|| humantime::format_duration(defaults::TIMEOUT).to_string());

/// `defaults::ICMP_INTERVAL` as the flag's default text (`200ms`).
static DEFAULT_ICMP_INTERVAL: LazyLock<String> =
    LazyLock::new(|| humantime::format_duration(defaults::ICMP_INTERVAL).to_string());

fn parse_human_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 500ms or 2s ({e})"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    defaults::check_timeout(parse_human_duration(s)?).map_err(|e| e.to_string())
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    defaults::check_icmp_interval(parse_human_duration(s)?).map_err(|e| e.to_string())
}

fn parse_count(s: &str) -> Result<u32, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    defaults::check_icmp_count(n).map_err(|e| e.to_string())
}

fn parse_method(s: &str) -> Result<http::Method, String> {
    defaults::parse_method(s).map_err(|e| e.to_string())
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s).map_err(|e| format!("invalid regular expression: {e}"))
}

/// A condition, or its error with the caret line under the bad token.
fn parse_condition(s: &str) -> Result<linkpulse_probe::conditions::Condition, String> {
    s.parse()
        .map_err(|e: linkpulse_probe::conditions::ConditionError| e.to_string())
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
        Kind::Tcp { target, .. } => (
            "TCP target",
            target,
            parse_kind(
                target,
                linkpulse_probe::ProbeKind::Tcp,
                Target::tcp_from_host_port,
            ),
        ),
        Kind::Http { url, .. } => (
            "URL",
            url,
            parse_kind(url, linkpulse_probe::ProbeKind::Http, Target::http_from_url),
        ),
        Kind::Icmp { host, .. } => (
            "ICMP host",
            host,
            parse_kind(
                host,
                linkpulse_probe::ProbeKind::Icmp,
                Target::icmp_from_host,
            ),
        ),
        Kind::Dns { name, dns, .. } => ("DNS query", name, dns.target(name)),
        Kind::Grpc { target, grpc, .. } => ("gRPC target", target, grpc.target(target)),
        Kind::Postgres { url, .. } => (
            "PostgreSQL URL",
            url,
            parse_kind(url, linkpulse_probe::ProbeKind::Postgres, no_bare_form),
        ),
        Kind::Mysql { url, .. } => (
            "MySQL URL",
            url,
            parse_kind(url, linkpulse_probe::ProbeKind::Mysql, no_bare_form),
        ),
        Kind::Redis { url, .. } => (
            "Redis URL",
            url,
            parse_kind(url, linkpulse_probe::ProbeKind::Redis, no_bare_form),
        ),
    };
    let shown = linkpulse_probe::redact::Redactor::default()
        .url(text.trim())
        .into_owned();
    let target = parsed.map_err(|e| anyhow::anyhow!("invalid {what} `{shown}`: {e}"))?;
    Ok(Job {
        label: job_label(text.trim(), &target),
        target,
    })
}

/// The label of a target as the user wrote it; a database URL's password masked.
pub(crate) fn job_label(text: &str, target: &Target) -> String {
    match target {
        Target::Data(d) => d.to_string(),
        _ => text.to_owned(),
    }
}

/// Database targets are URLs only.
fn no_bare_form(_: &str) -> Result<Target, linkpulse_probe::TargetError> {
    Err(linkpulse_probe::TargetError::MissingScheme)
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
    if let Some(kind) = &args.kind {
        return run_one(kind).await;
    }
    let Some(path) = &args.targets else {
        bail!(
            "nothing to check: give `tcp HOST:PORT`, `http URL`, `icmp HOST`, \
             `dns NAME --server ADDR`, `grpc HOST:PORT`, `postgres URL`, `redis URL`, `mysql URL` \
             or `--targets FILE`"
        )
    };
    let jobs = match targets::read(path)? {
        Ok(jobs) => jobs,
        Err(problems) => {
            for problem in problems {
                eprintln!("linkpulse: {problem}");
            }
            return Ok(ExitCode::from(crate::EXIT_UNKNOWN));
        }
    };
    let opts = args.probe.options()?;
    let format = args.probe.common.output;
    let started = Instant::now();
    let stdout = std::io::stdout();
    let concurrency = args.concurrency as usize;
    let results = if format == Output::Json {
        // JSON lines go out as the sweep runs, in the targets' order.
        let mut lines = sweep::JsonLines::new(stdout.lock(), stdout.is_terminal());
        sweep::probe_all(jobs, opts, concurrency, true, Some(&mut lines)).await?
    } else {
        // Text and Nagios output need every result first (column width, summary line).
        let results =
            sweep::probe_all::<std::io::Stdout>(jobs, opts, concurrency, true, None).await?;
        print_results(format, &results, true, started.elapsed())?;
        results
    };
    Ok(ExitCode::from(exit_code(&results)))
}

/// Probes the one target of `check tcp|http|icmp`. An ICMP probe stops at Ctrl-C (SIGINT)
/// and prints what it saw so far, as ping and fping do; the exit code is that of the result.
async fn run_one(kind: &Kind) -> anyhow::Result<ExitCode> {
    let job = single(kind)?;
    let opts = kind.options()?;
    let format = kind.common().output;
    let started = Instant::now();
    let prober = linkpulse_probe::Prober::new();
    let result = if matches!(kind, Kind::Icmp { .. }) {
        // Installed before the first echo request, so an early Ctrl-C is seen too.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("installing the SIGINT handler")?;
        let interrupted = std::cell::Cell::new(false);
        let stop = async {
            if interrupt.recv().await.is_some() {
                interrupted.set(true);
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = prober.probe_until(&job.target, &opts, stop).await;
        if interrupted.get()
            && let Some(icmp) = result.as_ref().and_then(|r| r.icmp.as_ref())
        {
            eprintln!(
                "linkpulse: interrupted after {} of {} echo requests",
                icmp.sent, opts.icmp.count
            );
        }
        result
    } else {
        Some(prober.probe(&job.target, &opts).await)
    };
    let Some(mut result) = result else {
        bail!("interrupted before a result")
    };
    result.target = job.label;
    let results = [result];
    print_results(format, &results, false, started.elapsed())?;
    Ok(ExitCode::from(exit_code(&results)))
}

/// Prints results once all are known; a reader that went away is not an error.
fn print_results(
    format: Output,
    results: &[linkpulse_probe::ProbeResult],
    many: bool,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let mut text = Vec::new();
    output::print(&mut text, format, results, many, elapsed)?;
    super::output::print(String::from_utf8_lossy(&text))?;
    Ok(())
}
