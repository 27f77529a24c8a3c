//! linkpulse-proto
