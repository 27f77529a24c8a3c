//! Errors at the edges of the protocol crate: decoding, encoding, configuration, sending.

use std::time::Duration;

use crate::FrameType;

/// Why a byte stream is not a valid sequence of frames. Each variant names what was wrong.
///
/// An incomplete frame is *not* an error: [`Codec::next_frame`](crate::Codec::next_frame)
/// returns `Ok(None)` and waits for more bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first two bytes are not `LP`: the peer does not speak this protocol.
    #[error(
        "bad magic bytes 0x{:02x}{:02x} (expected 0x4c50, \"LP\"): not a linkpulse peer",
        found[0],
        found[1]
    )]
    BadMagic {
        /// The two bytes received.
        found: [u8; 2],
    },
    /// The header carries a wire version this implementation does not speak.
    #[error("unsupported wire version {version} (this side speaks version {supported})")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
        /// The version this implementation speaks.
        supported: u8,
    },
    /// The type byte is not a known frame type.
    #[error("unknown frame type 0x{ty:02x}")]
    UnknownType {
        /// The type byte received.
        ty: u8,
    },
    /// The header announces a frame larger than the limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// Announced frame size (header + payload) in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The payload ended in the middle of a field.
    #[error("{frame} payload ends inside field `{field}`")]
    Truncated {
        /// The frame being decoded.
        frame: FrameType,
        /// The field that was cut short.
        field: &'static str,
    },
    /// The payload has bytes left after the last field.
    #[error("{frame} payload has {count} trailing byte(s) after the last field")]
    TrailingBytes {
        /// The frame being decoded.
        frame: FrameType,
        /// How many bytes were left.
        count: usize,
    },
    /// A string or byte field is longer than its limit.
    #[error("{frame} field `{field}` is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// The frame being decoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A list has more entries than its limit.
    #[error("{frame} field `{field}` has {count} entries, the limit is {limit}")]
    TooMany {
        /// The frame being decoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// The announced count.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A string field is not valid UTF-8.
    #[error("{frame} field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The frame being decoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
    },
    /// A field holds a value outside its allowed set (an enum code, a flag, a zero interval,
    /// a non-finite gauge).
    #[error("{frame} field `{field}` has invalid value {value}")]
    InvalidValue {
        /// The frame being decoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// The value received, formatted.
        value: String,
    },
}

/// A frame that cannot be encoded because a field exceeds a protocol limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string or byte field is longer than its limit.
    #[error("{frame} field `{field}` is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// The frame being encoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A list has more entries than its limit.
    #[error("{frame} field `{field}` has {count} entries, the limit is {limit}")]
    TooMany {
        /// The frame being encoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// The count.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A field holds a value the decoder would reject (e.g. a zero interval, a NaN gauge).
    #[error("{frame} field `{field}` has invalid value {value}")]
    InvalidValue {
        /// The frame being encoded.
        frame: FrameType,
        /// The field.
        field: &'static str,
        /// The value, formatted.
        value: String,
    },
    /// The encoded frame is larger than the limit.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// Encoded size (header + payload).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
}

/// A [`SessionConfig`](crate::SessionConfig) that cannot work. Each variant names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The detector parameters are invalid.
    #[error("detector: {0}")]
    Detector(#[from] linkpulse_detector::ConfigError),
    /// A duration must be greater than zero.
    #[error("{field} must be greater than 0, got {value:?}")]
    ZeroDuration {
        /// The field.
        field: &'static str,
        /// The value.
        value: Duration,
    },
    /// A count must be at least 1.
    #[error("{field} must be at least 1, got 0")]
    ZeroCount {
        /// The field.
        field: &'static str,
    },
    /// `min_interval` must not exceed `max_interval`.
    #[error("min_interval ({min:?}) must not exceed max_interval ({max:?})")]
    IntervalRange {
        /// The lower bound.
        min: Duration,
        /// The upper bound.
        max: Duration,
    },
    /// `max_frame_size` is outside the allowed range.
    #[error("max_frame_size must be between {min} and {max} bytes, got {value}")]
    FrameLimit {
        /// The value.
        value: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// `node_name` must be 1 to 255 bytes.
    #[error("node_name must be 1 to 255 bytes of UTF-8, got {len} bytes")]
    NodeName {
        /// Its length.
        len: usize,
    },
    /// This side's HELLO or WELCOME could not be encoded (a label too long, too many labels…).
    #[error("handshake frame: {0}")]
    Handshake(#[from] EncodeError),
    /// Server-side authentication needs a non-empty challenge nonce.
    #[error("challenge must be 1 to {limit} bytes when an authenticator is set, got {len}")]
    Challenge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Why [`Session::send_data`](crate::Session::send_data) or
/// [`Session::send_status`](crate::Session::send_status) refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not completed yet.
    #[error("the session is not established yet")]
    NotEstablished,
    /// The session has ended.
    #[error("the session has ended")]
    Closed,
    /// The message does not fit the frame limits.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}
