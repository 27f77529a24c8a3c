//! A silence: alerts of the matching checks are held from `starts_ms` until `ends_ms`.

use serde::{Deserialize, Serialize};

use super::Matcher;
use crate::time::Millis;

/// One silence, as created through the API and stored in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Its id (given by the daemon).
    pub id: String,
    /// The checks it covers.
    #[serde(flatten)]
    pub matcher: Matcher,
    /// When it starts (ms since the epoch).
    pub starts_ms: Millis,
    /// When it ends; expiring a silence sets this to the time of expiry.
    pub ends_ms: Millis,
    /// Why.
    pub comment: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_ms: Millis,
}

impl Silence {
    /// Whether it holds alerts at `now`.
    pub fn active(&self, now: Millis) -> bool {
        self.starts_ms <= now && now < self.ends_ms
    }
}
