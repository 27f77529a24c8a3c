//! linkpulse-probe

pub mod icmp;
mod sys;
