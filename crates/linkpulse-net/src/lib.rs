//! linkpulse-net
