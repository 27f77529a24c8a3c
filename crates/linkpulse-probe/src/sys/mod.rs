//! Platform code (placeholder until the ICMP branch is merged).

/// Placeholder.
pub(crate) fn unavailable() {}
