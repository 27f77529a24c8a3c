//! The member table in PostgreSQL: renew this member's lease and read every member back,
//! dated by the server's clock.

use std::time::Duration;

use postgres::Client;
use serde::Serialize;

use linkpulse_cluster::Member;

/// One member as `GET /api/v1/cluster` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    /// The member's name (`cluster.node`).
    pub name: String,
    /// Its vantage.
    pub vantage: String,
    /// Where its API is reached.
    pub address: Option<String>,
    /// Whether its lease runs (by the database server's clock).
    pub live: bool,
    /// When its lease runs out (ms since the epoch, the server's clock).
    pub lease_expires_ms: i64,
    /// When it last renewed its lease.
    pub last_renewal_ms: i64,
    /// When it (re)joined.
    pub joined_ms: i64,
    /// How many checks it ran at its last renewal.
    pub checks_owned: i64,
}

/// What a renewal reads back.
pub(crate) struct Renewed {
    /// Every member row, for the coordinator.
    pub rows: Vec<Member>,
    /// The same rows for the API.
    pub status: Vec<MemberStatus>,
    /// The server's clock when they were read.
    pub db_now_ms: i64,
}

/// Renews `name`'s lease for `lease` from the server's `now()` (joining if it is new or its
/// lease had lapsed) and reads every member, in one transaction.
pub(crate) fn renew(
    c: &mut Client,
    name: &str,
    vantage: &str,
    address: &str,
    lease: Duration,
    owned: i64,
) -> Result<Renewed, postgres::Error> {
    let mut tx = c.transaction()?;
    tx.execute(
        "INSERT INTO cluster_members
             (name, vantage, address, joined_at, renewed_at, lease_expires, checks_owned)
         VALUES ($1, $2, $3, now(), now(), now() + make_interval(secs => $4), $5)
         ON CONFLICT (name) DO UPDATE SET
             vantage = EXCLUDED.vantage,
             address = EXCLUDED.address,
             joined_at = CASE WHEN cluster_members.lease_expires <= now() THEN now()
                              ELSE cluster_members.joined_at END,
             renewed_at = now(),
             lease_expires = EXCLUDED.lease_expires,
             checks_owned = EXCLUDED.checks_owned",
        &[
            &name,
            &vantage,
            &address,
            &lease.as_secs_f64(),
            &i32::try_from(owned).unwrap_or(i32::MAX),
        ],
    )?;
    // Members gone for a day are forgotten (a restarted member rejoins under its name).
    tx.execute(
        "DELETE FROM cluster_members WHERE lease_expires < now() - interval '1 day'",
        &[],
    )?;
    let ms = |col: &str| format!("(extract(epoch FROM {col}) * 1000)::bigint");
    let sql = format!(
        "SELECT name, vantage, address, {}, {}, {}, checks_owned, {} FROM cluster_members
         ORDER BY name",
        ms("lease_expires"),
        ms("renewed_at"),
        ms("joined_at"),
        ms("now()")
    );
    let found = tx.query(&sql, &[])?;
    tx.commit()?;
    let mut out = Renewed {
        rows: Vec::with_capacity(found.len()),
        status: Vec::with_capacity(found.len()),
        db_now_ms: 0,
    };
    for r in found {
        let m = MemberStatus {
            name: r.try_get(0)?,
            vantage: r.try_get(1)?,
            address: r.try_get(2)?,
            lease_expires_ms: r.try_get(3)?,
            last_renewal_ms: r.try_get(4)?,
            joined_ms: r.try_get(5)?,
            checks_owned: i64::from(r.try_get::<_, i32>(6)?),
            live: false,
        };
        out.db_now_ms = r.try_get(7)?;
        out.rows.push(Member {
            name: m.name.clone(),
            vantage: m.vantage.clone(),
            lease_expires_ms: m.lease_expires_ms,
        });
        out.status.push(m);
    }
    for m in &mut out.status {
        m.live = m.lease_expires_ms > out.db_now_ms;
    }
    Ok(out)
}

/// Deletes `name`'s row: it leaves, and the others take its checks at their next renewal.
pub(crate) fn deregister(c: &mut Client, name: &str) -> Result<(), postgres::Error> {
    c.execute("DELETE FROM cluster_members WHERE name = $1", &[&name])?;
    Ok(())
}
