//! linkpulse-probe
