//! The linkpulse daemon: config, scheduler, check state, storage, alerts, HTTP API, metrics.
//!
//! Every check — an active probe or a push — feeds the same [`state`] machine, [`storage`]
//! history, availability figures and alerts.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod alerts;
pub mod api;
pub mod availability;
pub mod blackbox;
pub mod checks;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod engine;
pub mod health;
pub mod https;
pub mod hub;
pub mod maintenance;
pub mod metrics;
pub mod probe;
pub mod push;
pub mod routing;
pub mod server;
pub mod silences;
pub mod storage;

pub use checks::{schedule, state};
