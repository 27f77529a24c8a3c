//! `cluster:` — this daemon is one member of a cluster that shares its checks through the
//! PostgreSQL database (see [`crate::cluster`]).
//!
//! ```yaml
//! database: postgres://linkpulse@db.example/linkpulse
//! cluster: { node: probe-eu-1, vantage: eu, lease: 10s }
//! ```
//!
//! Every key is optional: `node` defaults to the host name, `vantage` to `default`, `lease`
//! to 10 s. The members share one configuration file (each check is run by one member), so
//! only `cluster.node` (and `vantage`) differ between them, e.g. through `${NODE}` variables.

use std::time::Duration;

use serde::Deserialize;

use super::spanned::S;

/// The lease when `cluster.lease` is not set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The shortest lease: renewals come every third of it, each one a database round trip.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// The longest lease: a dead member's checks wait this long for a new owner.
pub const MAX_LEASE: Duration = Duration::from_secs(600);

/// A validated `cluster:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This member's unique name.
    pub node: String,
    /// Its vantage label (where it probes from).
    pub vantage: String,
    /// How long a renewed lease lasts.
    pub lease: Duration,
    /// The address other members and operators reach this member's API on (shown in
    /// `/api/v1/cluster`); `listen` when not set.
    pub address: Option<String>,
}

/// `cluster:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    node: Option<S<String>>,
    vantage: Option<S<String>>,
    lease: Option<S<String>>,
    address: Option<S<String>>,
}

/// One problem: line, key path, message.
pub(crate) type Problem = (u64, String, String);

/// Validates `cluster:` (at `line`): names, the lease, and that the database is PostgreSQL
/// (`postgres` false: SQLite is one machine's file). Push checks are allowed: a push that
/// reaches a member which does not own its check is relayed to the owner through the database
/// (`crate::cluster::push_relay`).
pub(crate) fn validate(
    raw: &RawCluster,
    line: u64,
    postgres: bool,
) -> Result<ClusterConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    if !postgres {
        problems.push((
            line,
            "cluster".to_owned(),
            "cluster mode needs a PostgreSQL `database:` (postgres://…): the members share \
             their checks through it; a SQLite file belongs to one machine"
                .to_owned(),
        ));
    }
    let node = match &raw.node {
        Some(n) => name(n, "cluster.node", &mut problems),
        None => host_name(),
    };
    let vantage = match &raw.vantage {
        Some(v) => name(v, "cluster.vantage", &mut problems),
        None => "default".to_owned(),
    };
    let lease = match &raw.lease {
        None => DEFAULT_LEASE,
        Some(s) => match humantime::parse_duration(s.value.trim()) {
            Ok(d) if (MIN_LEASE..=MAX_LEASE).contains(&d) => d,
            Ok(_) => {
                problems.push((
                    s.referenced.line(),
                    "cluster.lease".to_owned(),
                    format!(
                        "lease {:?} out of range: between {} and {}",
                        s.value,
                        humantime::format_duration(MIN_LEASE),
                        humantime::format_duration(MAX_LEASE)
                    ),
                ));
                DEFAULT_LEASE
            }
            Err(_) => {
                problems.push((
                    s.referenced.line(),
                    "cluster.lease".to_owned(),
                    format!(
                        "invalid duration {:?} (use a number with a unit: 5s, 10s, 1m)",
                        s.value
                    ),
                ));
                DEFAULT_LEASE
            }
        },
    };
    let address = raw.address.as_ref().map(|a| a.value.trim().to_owned());
    if problems.is_empty() {
        Ok(ClusterConfig {
            node,
            vantage,
            lease,
            address,
        })
    } else {
        Err(problems)
    }
}

/// A member or vantage name: 1–64 characters of letters, digits, `.`, `_`, `-`.
fn name(s: &S<String>, path: &str, problems: &mut Vec<Problem>) -> String {
    let v = s.value.trim();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        problems.push((
            s.referenced.line(),
            path.to_owned(),
            format!(
                "invalid name {:?}: 1 to 64 letters, digits, '.', '_' or '-'",
                s.value
            ),
        ));
    }
    v.to_owned()
}

/// This machine's host name (the default member name), `linkpulse` if it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "linkpulse".to_owned())
}
