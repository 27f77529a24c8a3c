//! linkpulse-testsupport
