//! Who is in the cluster: member rows with leases that the database server's clock dates.

/// One member's row as the database returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's unique name (`cluster.node`).
    pub name: String,
    /// Its vantage label (`cluster.vantage`), e.g. `eu`.
    pub vantage: String,
    /// When its lease runs out, in milliseconds of the database server's clock.
    pub lease_expires_ms: i64,
}

/// The live members, as of one reading of the member table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    live: Vec<Member>,
}

impl Membership {
    /// The members whose lease runs past `db_now_ms` (the database server's clock when the rows
    /// were read), sorted by name; a member listed twice keeps its latest lease.
    pub fn from_rows(rows: impl IntoIterator<Item = Member>, db_now_ms: i64) -> Self {
        let mut live: Vec<Member> = rows
            .into_iter()
            .filter(|m| m.lease_expires_ms > db_now_ms)
            .collect();
        live.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(b.lease_expires_ms.cmp(&a.lease_expires_ms))
        });
        live.dedup_by(|later, earlier| later.name == earlier.name);
        Self { live }
    }

    /// The live members, sorted by name.
    pub fn live(&self) -> &[Member] {
        &self.live
    }

    /// Whether `name` is a live member.
    pub fn contains(&self, name: &str) -> bool {
        self.live.iter().any(|m| m.name == name)
    }

    /// The live members' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.live.iter().map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, exp: i64) -> Member {
        Member {
            name: name.into(),
            vantage: "eu".into(),
            lease_expires_ms: exp,
        }
    }

    #[test]
    fn a_lease_that_ran_out_by_the_servers_clock_is_gone() {
        let view = Membership::from_rows([m("b", 1_000), m("a", 2_000), m("c", 999)], 1_000);
        assert_eq!(view.names().collect::<Vec<_>>(), ["a"]);
        assert!(!view.contains("b"), "expiry equal to now is expired");
    }

    #[test]
    fn a_member_listed_twice_counts_once() {
        let view = Membership::from_rows([m("a", 2_000), m("a", 3_000)], 0);
        assert_eq!(view.live().len(), 1);
        assert_eq!(view.live()[0].lease_expires_ms, 3_000);
    }
}
