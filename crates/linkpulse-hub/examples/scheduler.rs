//! The scheduler example moved to `examples/scheduler.rs` at the repository root (built as
//! `cargo run -p linkpulse-hub --example scheduler`). This file only forwards to it, for code
//! that includes the example by this path (`crates/linkpulse/tests/hub_scheduler.rs`).

#[path = "../../../examples/scheduler.rs"]
mod moved;

pub use moved::*;
