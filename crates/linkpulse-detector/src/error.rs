//! Configuration errors.

use std::time::Duration;

/// A detector configuration that cannot work. Each variant names the field and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric parameter must be a finite number greater than zero.
    #[error("{field} must be a finite number greater than 0, got {value}")]
    NotPositive {
        /// The field, e.g. `phi.threshold`.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A duration parameter must be greater than zero.
    #[error("{field} must be greater than 0, got {value:?}")]
    ZeroDuration {
        /// The field, e.g. `fixed.dead_after`.
        field: &'static str,
        /// The rejected value.
        value: Duration,
    },
    /// Two parameters must be strictly ordered (`lower` < `upper`).
    #[error("{lower} ({lower_value}) must be less than {upper} ({upper_value})")]
    Order {
        /// The field that must be smaller.
        lower: &'static str,
        /// Its value, formatted.
        lower_value: String,
        /// The field that must be larger.
        upper: &'static str,
        /// Its value, formatted.
        upper_value: String,
    },
    /// `phi.max_sample_size` must be at least 1.
    #[error("phi.max_sample_size must be at least 1, got {value}")]
    NoSamples {
        /// The rejected value.
        value: usize,
    },
}
