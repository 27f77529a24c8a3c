//! linkpulse-detector
