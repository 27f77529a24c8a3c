//! Layered diagnosis (not built yet).
