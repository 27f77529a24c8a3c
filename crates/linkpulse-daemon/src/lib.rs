//! linkpulse-daemon
