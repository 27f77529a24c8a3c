//! Hosts behind one router, each on its own veth link, and the faults a router can inject.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};

use super::cmd::{self, NetnsError};
use super::namespace::Namespace;

/// Most hosts one topology holds: each link is a /30 inside the topology's 10.A.B.0/24.
pub const MAX_HOSTS: usize = 64;

/// Per-process counter that makes namespace names and subnets unique.
static NEXT_TOPOLOGY: AtomicU32 = AtomicU32::new(0);

/// Addressing of one topology: a 10.A.B.0/24 and fd00:6c70:AB::/48, `A.B` derived from
/// the process id and a counter so topologies of parallel tests do not share subnets.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// `A.B` above, as one 16-bit number.
    net: u16,
}

impl Plan {
    fn v4(self, link: usize, last: u8) -> Ipv4Addr {
        let [a, b] = self.net.to_be_bytes();
        // link < MAX_HOSTS = 64, so 4 * link + last (last ≤ 3) ≤ 255.
        let base = u8::try_from(link * 4).unwrap_or(252);
        Ipv4Addr::new(10, a, b, base + last)
    }

    fn v6(self, link: usize, last: u16) -> Ipv6Addr {
        let link = u16::try_from(link).unwrap_or(u16::MAX);
        Ipv6Addr::new(0xfd00, 0x6c70, self.net, link, 0, 0, 0, last)
    }
}

/// A machine in the topology: one namespace with an interface `eth0` linked to the router,
/// an IPv4 and an IPv6 address, and default routes through the router.
///
/// Dereferences to its [`Namespace`] for `exec`, `spawn`, `block_on`, `kill_sockets` …
#[derive(Debug)]
pub struct Host {
    ns: Namespace,
    link: usize,
    plan: Plan,
}

impl Host {
    /// The host's IPv4 address (10.A.B.4k+2).
    pub fn addr_v4(&self) -> Ipv4Addr {
        self.plan.v4(self.link, 2)
    }

    /// The host's IPv6 address (fd00:6c70:AB:k::2).
    pub fn addr_v6(&self) -> Ipv6Addr {
        self.plan.v6(self.link, 2)
    }

    /// The router's IPv4 address on this host's link (the host's gateway).
    pub fn gateway_v4(&self) -> Ipv4Addr {
        self.plan.v4(self.link, 1)
    }

    /// The router's IPv6 address on this host's link.
    pub fn gateway_v6(&self) -> Ipv6Addr {
        self.plan.v6(self.link, 1)
    }

    /// The router-side interface name of this host's link (`h0`, `h1` …).
    pub fn router_interface(&self) -> String {
        format!("h{}", self.link)
    }

    /// Takes this host's `eth0` down (`false`) or up (`true`): a pulled cable, seen from the
    /// host itself. Bringing it up restores the default routes the kernel removed with it.
    pub fn set_link(&self, up: bool) -> Result<(), NetnsError> {
        if !up {
            return self.ns.ip(&["link", "set", "eth0", "down"]).map(drop);
        }
        self.ns.ip(&["link", "set", "eth0", "up"])?;
        let (gw4, gw6) = (self.gateway_v4().to_string(), self.gateway_v6().to_string());
        self.ns.ip(&["route", "replace", "default", "via", &gw4])?;
        self.ns
            .ip(&["-6", "route", "replace", "default", "via", &gw6])
            .map(drop)
    }

    /// Lets every group open unprivileged ICMP datagram sockets here
    /// (`net.ipv4.ping_group_range = 0 2147483647`).
    pub fn allow_unprivileged_ping(&self) -> Result<(), NetnsError> {
        self.ns
            .sysctl(&[("net.ipv4.ping_group_range", "0 2147483647")])
    }
}

impl Deref for Host {
    type Target = Namespace;
    fn deref(&self) -> &Namespace {
        &self.ns
    }
}

/// The namespace in the middle: forwards between hosts, and is where faults are injected.
///
/// Dereferences to its [`Namespace`].
#[derive(Debug)]
pub struct Router {
    ns: Namespace,
    plan: Plan,
}

impl Router {
    /// The router's IPv4 address on the first host's link.
    pub fn addr_v4(&self) -> Ipv4Addr {
        self.plan.v4(0, 1)
    }

    /// The router's IPv6 address on the first host's link.
    pub fn addr_v6(&self) -> Ipv6Addr {
        self.plan.v6(0, 1)
    }

    /// Silently drops everything the router would forward to `dst`
    /// (`ip route replace blackhole DST`): a crashed host or a cut cable, seen from afar.
    pub fn blackhole(&self, dst: IpAddr) -> Result<(), NetnsError> {
        self.route_replace("blackhole", dst)
    }

    /// Makes the router answer packets for `dst` with ICMP destination unreachable
    /// (`ip route replace unreachable DST`): host unreachable (code 1) for IPv4,
    /// no route (code 0) for IPv6.
    pub fn unreachable(&self, dst: IpAddr) -> Result<(), NetnsError> {
        self.route_replace("unreachable", dst)
    }

    /// Makes the router answer packets for `dst` with ICMP administratively prohibited
    /// (`ip route replace prohibit DST`): code 13 for IPv4, code 1 for IPv6.
    pub fn prohibit(&self, dst: IpAddr) -> Result<(), NetnsError> {
        self.route_replace("prohibit", dst)
    }

    /// Removes a fault set by [`Router::blackhole`], [`Router::unreachable`] or
    /// [`Router::prohibit`]; traffic to `dst` flows again.
    pub fn restore(&self, dst: IpAddr) -> Result<(), NetnsError> {
        let prefix = host_prefix(dst);
        self.ns
            .ip(&[family(dst), "route", "del", &prefix])
            .map(drop)
    }

    /// Drops ICMP echo requests forwarded to `dst` (nftables), while TCP and everything else
    /// still pass: a host behind a firewall that blocks ping.
    pub fn block_ping(&self, dst: IpAddr) -> Result<(), NetnsError> {
        let rule = match dst {
            IpAddr::V4(v4) => format!("ip daddr {v4} icmp type echo-request drop"),
            IpAddr::V6(v6) => format!("ip6 daddr {v6} icmpv6 type echo-request drop"),
        };
        self.add_filter(&rule)
    }

    /// Silently drops TCP segments forwarded to `dst` port `port` (nftables), while ping and
    /// other ports still pass: a firewalled or wedged service on a live host.
    pub fn drop_tcp_port(&self, dst: IpAddr, port: u16) -> Result<(), NetnsError> {
        let rule = match dst {
            IpAddr::V4(v4) => format!("ip daddr {v4} tcp dport {port} drop"),
            IpAddr::V6(v6) => format!("ip6 daddr {v6} tcp dport {port} drop"),
        };
        self.add_filter(&rule)
    }

    /// Silently drops every packet forwarded from `src` to `dst` (nftables), while both still
    /// reach every other host: one host's path to one other host (or subnet) cut, e.g. one
    /// member of a cluster cut from a target while its database stays reachable.
    pub fn drop_between(&self, src: IpAddr, dst: IpAddr) -> Result<(), NetnsError> {
        let rule = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => format!("ip saddr {s} ip daddr {d} drop"),
            (IpAddr::V6(s), IpAddr::V6(d)) => format!("ip6 saddr {s} ip6 daddr {d} drop"),
            _ => return Err(NetnsError::MixedFamilies { src, dst }),
        };
        self.add_filter(&rule)
    }

    /// Removes every filter added by [`Router::block_ping`], [`Router::drop_tcp_port`] and
    /// [`Router::drop_between`].
    pub fn clear_filters(&self) -> Result<(), NetnsError> {
        self.ensure_filter_chain()?;
        self.ns
            .exec(&["nft", "flush chain inet linkpulse_test forward"])
            .map(drop)
    }

    fn add_filter(&self, rule: &str) -> Result<(), NetnsError> {
        self.ensure_filter_chain()?;
        let command = format!("add rule inet linkpulse_test forward {rule}");
        self.ns.exec(&["nft", &command]).map(drop)
    }

    /// Creates (idempotently) the nftables forward chain the filters go into.
    fn ensure_filter_chain(&self) -> Result<(), NetnsError> {
        self.ns.exec(&["nft", "add table inet linkpulse_test"])?;
        self.ns
            .exec(&[
                "nft",
                "add chain inet linkpulse_test forward \
                 { type filter hook forward priority 0; policy accept; }",
            ])
            .map(drop)
    }

    fn route_replace(&self, kind: &str, dst: IpAddr) -> Result<(), NetnsError> {
        let prefix = host_prefix(dst);
        self.ns
            .ip(&[family(dst), "route", "replace", kind, &prefix])
            .map(drop)
    }
}

impl Deref for Router {
    type Target = Namespace;
    fn deref(&self) -> &Namespace {
        &self.ns
    }
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "-4" } else { "-6" }
}

fn host_prefix(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => format!("{v4}/32"),
        IpAddr::V6(v6) => format!("{v6}/128"),
    }
}

/// A router namespace with any number of host namespaces behind it. Needs root.
///
/// Names are `lp<pid>n<counter>r` (router) and `lp<pid>n<counter>h<k>` (hosts), so parallel
/// tests never collide; every namespace is deleted when its handle drops. Namespaces left
/// behind by a killed test process are removed when the next topology is built.
#[derive(Debug)]
pub struct Topology {
    /// The router in the middle.
    pub router: Router,
    /// The hosts, in the order they were added.
    pub hosts: Vec<Host>,
    prefix: String,
}

/// The common three-namespace shape: `client` ⇄ `router` ⇄ `server`.
#[derive(Debug)]
pub struct ClientRouterServer {
    /// Where the prober runs.
    pub client: Host,
    /// Where faults are injected.
    pub router: Router,
    /// Where the probed services run.
    pub server: Host,
}

impl Topology {
    /// A router with no hosts yet (IPv4 and IPv6 forwarding on, ICMP error rate limits off).
    pub fn new() -> Result<Self, NetnsError> {
        remove_stale_namespaces();
        let counter = NEXT_TOPOLOGY.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let net = u16::try_from((pid.wrapping_mul(16).wrapping_add(counter)) & 0xffff)
            .unwrap_or_default();
        let prefix = format!("lp{pid}n{counter}");
        let ns = Namespace::create(format!("{prefix}r"))?;
        ns.sysctl(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.icmp_ratelimit", "0"),
            ("net.ipv4.icmp_ratemask", "0"),
            ("net.ipv6.icmp.ratelimit", "0"),
        ])?;
        // Newer kernels only; without it the per-destination limit above already is off.
        let _ = ns.sysctl(&[("net.ipv6.icmp.ratemask", "")]);
        Ok(Self {
            router: Router {
                ns,
                plan: Plan { net },
            },
            hosts: Vec::new(),
            prefix,
        })
    }

    /// A router with `n` hosts behind it.
    pub fn with_hosts(n: usize) -> Result<Self, NetnsError> {
        let mut topology = Self::new()?;
        for _ in 0..n {
            topology.add_host()?;
        }
        Ok(topology)
    }

    /// `client` (host 0) ⇄ `router` ⇄ `server` (host 1).
    pub fn client_router_server() -> Result<ClientRouterServer, NetnsError> {
        let Self {
            router, mut hosts, ..
        } = Self::with_hosts(2)?;
        let server = hosts.pop();
        let client = hosts.pop();
        match (client, server) {
            (Some(client), Some(server)) => Ok(ClientRouterServer {
                client,
                router,
                server,
            }),
            // with_hosts(2) returned Ok, so both exist.
            _ => Err(NetnsError::TooManyHosts { max: MAX_HOSTS }),
        }
    }

    /// Adds a host on a new veth link to the router and returns it.
    pub fn add_host(&mut self) -> Result<&Host, NetnsError> {
        let link = self.hosts.len();
        if link >= MAX_HOSTS {
            return Err(NetnsError::TooManyHosts { max: MAX_HOSTS });
        }
        let plan = self.router.plan;
        let ns = Namespace::create(format!("{}h{link}", self.prefix))?;
        let router_if = format!("h{link}");
        cmd::run(&[
            "ip",
            "link",
            "add",
            &router_if,
            "netns",
            self.router.name(),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns.name(),
        ])?;
        let cidr = |addr: String, len: u8| format!("{addr}/{len}");
        let r4 = cidr(plan.v4(link, 1).to_string(), 30);
        let h4 = cidr(plan.v4(link, 2).to_string(), 30);
        let r6 = cidr(plan.v6(link, 1).to_string(), 64);
        let h6 = cidr(plan.v6(link, 2).to_string(), 64);
        let router = &self.router.ns;
        router.ip(&["addr", "add", &r4, "dev", &router_if])?;
        router.ip(&["-6", "addr", "add", &r6, "dev", &router_if, "nodad"])?;
        router.ip(&["link", "set", &router_if, "up"])?;
        ns.ip(&["addr", "add", &h4, "dev", "eth0"])?;
        ns.ip(&["-6", "addr", "add", &h6, "dev", "eth0", "nodad"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        ns.ip(&[
            "route",
            "add",
            "default",
            "via",
            &plan.v4(link, 1).to_string(),
        ])?;
        ns.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &plan.v6(link, 1).to_string(),
        ])?;
        self.hosts.push(Host { ns, link, plan });
        Ok(&self.hosts[link])
    }
}

/// Deletes `lp<pid>n…` namespaces whose process no longer exists (a test killed by a
/// timeout cannot run its destructors). Runs once per process.
fn remove_stale_namespaces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = stale_owner(&name) else {
                continue;
            };
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = cmd::output(&["ip", "netns", "del", &name]);
            }
        }
    });
}

/// The pid encoded in a namespace name made by [`Topology`], if it is one.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("lp")?;
    let (pid, tail) = rest.split_once('n')?;
    let counter_and_role = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    let role_ok = counter_and_role == "r"
        || counter_and_role
            .strip_prefix('h')
            .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()));
    if !role_ok {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_owner_reads_only_our_names() {
        assert_eq!(stale_owner("lp123n4r"), Some(123));
        assert_eq!(stale_owner("lp123n4h17"), Some(123));
        assert_eq!(stale_owner("lp123n4x"), None);
        assert_eq!(stale_owner("lp123n4h"), None);
        assert_eq!(stale_owner("other"), None);
    }

    #[test]
    fn plan_addresses_stay_inside_the_topology_subnet() {
        let plan = Plan { net: 0x0102 };
        assert_eq!(plan.v4(0, 1), Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(plan.v4(63, 2), Ipv4Addr::new(10, 1, 2, 254));
        assert_eq!(
            plan.v6(3, 2),
            "fd00:6c70:102:3::2".parse::<Ipv6Addr>().unwrap()
        );
    }
}
