//! hub-capacity: how many agent sessions one hub holds, at what CPU and memory cost, whether
//! any is falsely suspected, and how fast 1,000 silent agents are noticed — side by side with
//! mosquitto holding the same number of MQTT clients pinging at the same keep-alive.
//!
//! Modes (the orchestrator `run` starts the others as child processes):
//!   hub-capacity run [--sessions 5000,18000] [--duration 60] [--per-process 5000] [--drop 1000]
//!   hub-capacity hub                      a hub (1 s interval, fixed 3 s timeout) + its API
//!                                         (HUB_CAPACITY_RTT_SAMPLE_EVERY=N overrides the
//!                                         hub's `rtt_sample_every`, for A/B runs)
//!   hub-capacity agents ADDR N OFFSET     N linkpulse agent sessions from 127.x.y.z sources
//!   hub-capacity mqtt ADDR N OFFSET       N MQTT 3.1.1 clients, keep-alive 1 s, PINGREQ each second
//!
//! Source addresses are spread over 127.0.0.0/8 (session i binds 127.(1+i/62500).(i/250%250).(1+i%250))
//! so no 4-tuple space runs out; the generator is split over several processes because each
//! process may hold at most 20,000 open files here.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use linkpulse_hub::{ChangeKind, Hub, HubConfig, WatchClient, routes};
use linkpulse_net::{Connection, ConnectionConfig, local_incarnation};
use linkpulse_proto::{DetectorPolicy, Event, Role, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

type Error = Box<dyn std::error::Error + Send + Sync>;

const INTERVAL: Duration = Duration::from_secs(1);
const HUB_TIMEOUT: Duration = Duration::from_secs(3);

fn source_ip(i: usize) -> IpAddr {
    let a = 1 + (i / 62_500) % 250;
    let b = (i / 250) % 250;
    let c = 1 + i % 250;
    IpAddr::V4(Ipv4Addr::new(127, a as u8, b as u8, c as u8))
}

async fn bound_stream(i: usize, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(source_ip(i), 0))?;
    s.connect(to).await
}

// ----- hub ------------------------------------------------------------------------------

async fn hub_mode() -> Result<(), Error> {
    let mut config = HubConfig::new("127.0.0.1:0".parse()?);
    config.interval = INTERVAL;
    config.timeout = HUB_TIMEOUT;
    config.handshake_rate = 10_000;
    config.max_sessions = 19_500;
    // A/B switch for the hub's sparse PINGs (default: the hub's own default, 8).
    if let Ok(v) = std::env::var("HUB_CAPACITY_RTT_SAMPLE_EVERY") {
        config.rtt_sample_every = v.parse()?;
    }
    let hub = Hub::new(config)?;
    let agents = hub.bind().await?;
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "hub agents={} api=http://{}",
        agents.local_addr()?,
        api.local_addr()?
    );
    let app = routes(hub.clone());
    tokio::spawn(async move { axum::serve(api, app).await });
    hub.run(agents, std::future::pending()).await?;
    Ok(())
}

// ----- linkpulse agents -------------------------------------------------------------------

async fn agents_mode(hub: SocketAddr, n: usize, offset: usize) -> Result<(), Error> {
    let inc = local_incarnation();
    let up = Arc::new(AtomicUsize::new(0));
    let lost = Arc::new(AtomicUsize::new(0));
    let pid = std::process::id();
    for i in 0..n {
        let idx = offset + i;
        let up = Arc::clone(&up);
        let lost = Arc::clone(&lost);
        tokio::spawn(async move {
            let mut s = SessionConfig::new(format!("g{pid}-{idx}"), inc);
            s.interval = INTERVAL;
            s.detector = DetectorPolicy::FixedIntervals {
                dead_after_intervals: 5,
            };
            s.handshake_timeout = Duration::from_secs(30);
            let mut cc = ConnectionConfig::new(s);
            cc.event_capacity = 4;
            // Retry until established (the hub may close over-rate connects).
            let mut conn = loop {
                if let Ok(stream) = bound_stream(idx, hub).await
                    && let Ok(mut c) = Connection::from_tcp(stream, Role::Client, cc.clone())
                {
                    if let Some(Event::Up { .. }) = c.next_event().await {
                        break c;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            up.fetch_add(1, Ordering::Relaxed);
            while let Some(ev) = conn.next_event().await {
                if matches!(ev, Event::Dead { .. }) {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        if i % 1000 == 999 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    report_ready(&up, &lost, n).await;
    Ok(())
}

async fn report_ready(up: &AtomicUsize, lost: &AtomicUsize, n: usize) {
    while up.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ready {n} pid={}", std::process::id());
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        eprintln!("lost {}", lost.load(Ordering::Relaxed));
    }
}

// ----- MQTT clients -------------------------------------------------------------------------

fn mqtt_connect_packet(client_id: &str, keepalive: u16) -> Vec<u8> {
    let mut var = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02];
    var.extend_from_slice(&keepalive.to_be_bytes());
    var.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    var.extend_from_slice(client_id.as_bytes());
    let mut p = vec![0x10];
    let mut len = var.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        p.push(byte);
        if len == 0 {
            break;
        }
    }
    p.extend(var);
    p
}

async fn mqtt_mode(broker: SocketAddr, n: usize, offset: usize) -> Result<(), Error> {
    let up = Arc::new(AtomicUsize::new(0));
    let lost = Arc::new(AtomicUsize::new(0));
    let pid = std::process::id();
    for i in 0..n {
        let idx = offset + i;
        let up = Arc::clone(&up);
        let lost = Arc::clone(&lost);
        tokio::spawn(async move {
            let id = format!("m{pid}-{idx}");
            let mut s = loop {
                if let Ok(mut s) = bound_stream(idx, broker).await {
                    let _ = s.set_nodelay(true);
                    let mut ack = [0u8; 4];
                    if s.write_all(&mqtt_connect_packet(&id, 1)).await.is_ok()
                        && s.read_exact(&mut ack).await.is_ok()
                        && ack == [0x20, 0x02, 0x00, 0x00]
                    {
                        break s;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            up.fetch_add(1, Ordering::Relaxed);
            let mut tick = tokio::time::interval(INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let mut resp = [0u8; 2];
                if s.write_all(&[0xC0, 0x00]).await.is_err()
                    || s.read_exact(&mut resp).await.is_err()
                    || resp != [0xD0, 0x00]
                {
                    lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        });
        if i % 1000 == 999 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    report_ready(&up, &lost, n).await;
    Ok(())
}

// ----- orchestrator ------------------------------------------------------------------------

struct Proc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Result<Proc, Error> {
        let exe = std::env::current_exe()?;
        Self::spawn(Command::new(exe).args(args))
    }

    fn spawn(cmd: &mut Command) -> Result<Proc, Error> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(Proc { child, lines })
    }

    fn line(&self, budget: Duration, pred: impl Fn(&str) -> bool) -> Result<String, Error> {
        let end = Instant::now() + budget;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let l = self
                .lines
                .recv_timeout(left)
                .map_err(|_| "process did not report in time")?;
            if pred(&l) {
                return Ok(l);
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let tck = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / tck)
        })
        .unwrap_or(0.0)
}

/// Resident memory of `pid` in KiB: `VmRSS` (all of it) and `RssAnon` (anonymous pages: heap,
/// stacks; without the executable's and libraries' code pages, which are file-backed, shared,
/// clean, and do not grow with the number of sessions — but do fault in when a code path runs
/// for the first time, e.g. the hub's HTTP and watch path, ~1 MB of the hub binary).
fn rss(pid: u32) -> (f64, f64) {
    (status_kib(pid, "VmRSS:"), status_kib(pid, "RssAnon:"))
}

fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

fn split(n: usize, per: usize, last: usize) -> Vec<usize> {
    // The last generator holds exactly `last` sessions (the ones dropped at once).
    let mut parts = Vec::new();
    let mut rest = n.saturating_sub(last);
    while rest > 0 {
        let p = rest.min(per);
        parts.push(p);
        rest -= p;
    }
    parts.push(last.min(n));
    parts
}

fn start_generators(
    mode: &str,
    target: &str,
    n: usize,
    per: usize,
    drop: usize,
) -> Result<Vec<Proc>, Error> {
    let mut gens = Vec::new();
    let mut offset = 0;
    for part in split(n, per, drop) {
        gens.push(Proc::start(&[
            mode,
            target,
            &part.to_string(),
            &offset.to_string(),
        ])?);
        offset += part;
    }
    for g in &gens {
        g.line(Duration::from_secs(300), |l| l.starts_with("ready"))?;
    }
    Ok(gens)
}

/// Sessions opened before the baseline is read. The first sessions fault in code and
/// allocator state that every later session shares (the join, handshake and watch paths of
/// the hub binary, mosquitto's client paths): a fixed cost, not a per-session one. Both
/// servers get the same warm-up, and the report gives the figure from an empty server too.
const WARM_UP: usize = 200;

/// Starts `WARM_UP` sessions (source addresses after the `n` measured ones) and lets them
/// settle; the returned generator must stay alive for the whole measurement.
async fn warm_up(mode: &str, target: &str, n: usize) -> Result<Proc, Error> {
    let g = Proc::start(&[mode, target, &WARM_UP.to_string(), &n.to_string()])?;
    g.line(Duration::from_secs(60), |l| l.starts_with("ready"))?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(g)
}

/// RSS per session: from the empty server (warm-up sessions included), and marginal (after
/// the warm-up); anonymous pages marginal.
fn per_session(empty: (f64, f64), warm: (f64, f64), loaded: (f64, f64), n: usize) -> [f64; 3] {
    [
        (loaded.0 - empty.0) / (n + WARM_UP) as f64,
        (loaded.0 - warm.0) / n as f64,
        (loaded.1 - warm.1) / n as f64,
    ]
}

struct Row {
    n: usize,
    cpu_pct: f64,
    cpu_per_hb_us: f64,
    /// VmRSS from empty, VmRSS marginal, anonymous marginal (KiB per session).
    rss_kib: [f64; 3],
    false_suspect: usize,
    false_dead: usize,
    drop_first_ms: Option<f64>,
    drop_all_ms: Option<f64>,
}

async fn measure_hub(n: usize, secs: u64, per: usize, drop: usize) -> Result<Row, Error> {
    let hub = Proc::start(&["hub"])?;
    let line = hub.line(Duration::from_secs(30), |l| l.starts_with("hub "))?;
    let agents = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("agents="))
        .ok_or("no agents address")?
        .to_owned();
    let api = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api="))
        .ok_or("no api")?
        .to_owned();
    let empty_rss = rss(hub.pid());
    let watch = WatchClient::connect(&api).await?;
    let _warm = warm_up("agents", &agents, n).await?;
    let base_rss = rss(hub.pid());
    let gens = start_generators("agents", &agents, n, per, drop)?;
    eprintln!("[hub-capacity] {n} linkpulse sessions up; settling");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut changes = watch.subscribe();
    let cpu0 = cpu_seconds(hub.pid());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_seconds(hub.pid()) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let rss = rss(hub.pid());
    let (mut fs, mut fd) = (0, 0);
    loop {
        match changes.try_recv() {
            Ok(c) => match c.event {
                ChangeKind::Suspect => fs += 1,
                ChangeKind::Dead => fd += 1,
                _ => {}
            },
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                // Changes were lost: the counts would be too low. Say so loudly.
                eprintln!(
                    "[hub-capacity] WARNING: the watch view lagged by {n} changes; false suspect/dead counts are incomplete"
                );
            }
            Err(_) => break,
        }
    }
    // Drop the last generator's sessions at once, silently (SIGSTOP: the kernel still ACKs,
    // nothing is sent), and time how long the hub takes to declare every one dead.
    let victim = gens.last().ok_or("no generator")?;
    let prefix = format!("g{}-", victim.pid());
    let stopped = Instant::now();
    victim.signal("-STOP");
    let mut seen = HashSet::new();
    let (mut first, mut all) = (None, None);
    let deadline = stopped + Duration::from_secs(60);
    while Instant::now() < deadline && seen.len() < drop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, changes.recv()).await {
            Ok(Ok(c)) if c.event == ChangeKind::Dead && c.node.name.starts_with(&prefix) => {
                seen.insert(c.node.name);
                let ms = stopped.elapsed().as_secs_f64() * 1000.0;
                first.get_or_insert(ms);
                if seen.len() == drop {
                    all = Some(ms);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => break,
        }
    }
    victim.signal("-CONT");
    let heartbeats = n as f64 * wall / INTERVAL.as_secs_f64();
    Ok(Row {
        n,
        cpu_pct: cpu / wall * 100.0,
        cpu_per_hb_us: cpu / heartbeats * 1e6,
        rss_kib: per_session(empty_rss, base_rss, rss, n),
        false_suspect: fs,
        false_dead: fd,
        drop_first_ms: first,
        drop_all_ms: all,
    })
}

fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn measure_mosquitto(n: usize, secs: u64, per: usize) -> Result<Row, Error> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("hub-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\nuser root\npersistence false\nlog_dest none\n"
        ),
    )?;
    let broker = Proc::spawn(Command::new("mosquitto").arg("-c").arg(&conf))?;
    let addr = format!("127.0.0.1:{port}");
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let empty_rss = rss(broker.pid());
    let _warm = warm_up("mqtt", &addr, n).await?;
    let base_rss = rss(broker.pid());
    let _gens = start_generators("mqtt", &addr, n, per, 0)?;
    eprintln!("[hub-capacity] {n} MQTT clients up; settling");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu0 = cpu_seconds(broker.pid());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_seconds(broker.pid()) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let rss = rss(broker.pid());
    let pings = n as f64 * wall / INTERVAL.as_secs_f64();
    Ok(Row {
        n,
        cpu_pct: cpu / wall * 100.0,
        cpu_per_hb_us: cpu / pings * 1e6,
        rss_kib: per_session(empty_rss, base_rss, rss, n),
        false_suspect: 0,
        false_dead: 0,
        drop_first_ms: None,
        drop_all_ms: None,
    })
}

async fn run_mode(args: &[String]) -> Result<(), Error> {
    let mut sessions = vec![5_000usize, 18_000];
    let mut secs = 60u64;
    let mut per = 5_000usize;
    let mut drop = 1_000usize;
    let mut skip_mqtt = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sessions" => {
                sessions = it
                    .next()
                    .ok_or("--sessions needs a value")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--duration" => secs = it.next().ok_or("--duration needs a value")?.parse()?,
            "--per-process" => per = it.next().ok_or("--per-process needs a value")?.parse()?,
            "--drop" => drop = it.next().ok_or("--drop needs a value")?.parse()?,
            "--no-mosquitto" => skip_mqtt = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    println!(
        "| N | server | CPU % | CPU µs per heartbeat | RSS KiB per session from empty (incl. {WARM_UP} warm-up) | RSS KiB per session after warm-up | anon RSS KiB per session after warm-up | false suspect | false dead | {drop} dropped: first / all noticed (timeout {HUB_TIMEOUT:?}) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &sessions {
        let r = measure_hub(n, secs, per, drop.min(n)).await?;
        println!(
            "| {} | linkpulse hub | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} / {} ms |",
            r.n,
            r.cpu_pct,
            r.cpu_per_hb_us,
            r.rss_kib[0],
            r.rss_kib[1],
            r.rss_kib[2],
            r.false_suspect,
            r.false_dead,
            r.drop_first_ms.map_or("-".into(), |v| format!("{v:.0}")),
            r.drop_all_ms.map_or("-".into(), |v| format!("{v:.0}")),
        );
        if !skip_mqtt {
            let m = measure_mosquitto(n, secs, per).await?;
            println!(
                "| {} | mosquitto | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | - | - | - |",
                m.n, m.cpu_pct, m.cpu_per_hb_us, m.rss_kib[0], m.rss_kib[1], m.rss_kib[2]
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num =
        |i: usize| -> Result<usize, Error> { Ok(args.get(i).ok_or("missing argument")?.parse()?) };
    match args.first().map(String::as_str) {
        Some("hub") => hub_mode().await,
        Some("agents") => {
            let hub: SocketAddr = args.get(1).ok_or("missing hub")?.parse()?;
            agents_mode(hub, num(2)?, num(3)?).await
        }
        Some("mqtt") => {
            let broker: SocketAddr = args.get(1).ok_or("missing broker")?.parse()?;
            mqtt_mode(broker, num(2)?, num(3)?).await
        }
        Some("run") => run_mode(&args[1..]).await,
        _ => Err("usage: hub-capacity run|hub|agents|mqtt …".into()),
    }
}
