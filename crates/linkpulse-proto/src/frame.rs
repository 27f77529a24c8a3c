//! Frames: the messages of the protocol, their byte layout, encoding and strict decoding.
//!
//! Every frame is an 8-byte header followed by a payload (all integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       2     magic "LP" (0x4c 0x50)
//! 2       1     wire version (1)
//! 3       1     frame type (see FrameType)
//! 4       4     payload length in bytes (u32)
//! 8       n     payload
//! ```
//!
//! The full layout of every payload is in `docs/protocol.md`.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Incarnation};

/// The two magic bytes that start every frame: `LP`.
pub const MAGIC: [u8; 2] = *b"LP";
/// The wire version carried in every header (and the only protocol version spoken).
pub const WIRE_VERSION: u8 = 1;
/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 8;
/// The largest frame (header + payload) ever accepted: 64 KiB.
pub const MAX_FRAME_SIZE: usize = 65_536;
/// The smallest frame-size limit a codec may be configured with.
pub const MIN_FRAME_SIZE_LIMIT: usize = 1_024;

/// Longest node name, in bytes (1-byte length prefix).
pub const MAX_NODE_NAME: usize = 255;
/// Most labels in a HELLO.
pub const MAX_LABELS: usize = 16;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY: usize = 63;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE: usize = 255;
/// Longest auth proof in a HELLO, in bytes.
pub const MAX_AUTH_PROOF: usize = 512;
/// Longest advertised address, in bytes.
pub const MAX_ADVERTISE: usize = 255;
/// Longest challenge or server nonce, in bytes.
pub const MAX_NONCE: usize = 256;
/// Longest STATUS detail, GOODBYE text or ERROR text, in bytes.
pub const MAX_TEXT: usize = 256;
/// Most gauges in a STATUS.
pub const MAX_GAUGES: usize = 16;
/// Longest gauge name, in bytes.
pub const MAX_GAUGE_NAME: usize = 63;

/// The type byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameType {
    /// 0x01: client → server, opens the handshake.
    Hello,
    /// 0x02: server → client, completes the handshake.
    Welcome,
    /// 0x03: heartbeat request, either direction.
    Ping,
    /// 0x04: heartbeat answer, either direction.
    Pong,
    /// 0x05: the sender's own health.
    Status,
    /// 0x06: graceful leave.
    Goodbye,
    /// 0x07: opaque application bytes.
    Data,
    /// 0x08: protocol error, sent just before closing.
    Error,
    /// 0x09: server → client authentication challenge, sent before HELLO.
    Challenge,
}

impl FrameType {
    /// The type byte.
    pub fn code(self) -> u8 {
        match self {
            FrameType::Hello => 0x01,
            FrameType::Welcome => 0x02,
            FrameType::Ping => 0x03,
            FrameType::Pong => 0x04,
            FrameType::Status => 0x05,
            FrameType::Goodbye => 0x06,
            FrameType::Data => 0x07,
            FrameType::Error => 0x08,
            FrameType::Challenge => 0x09,
        }
    }

    /// The frame type for a type byte, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x01 => FrameType::Hello,
            0x02 => FrameType::Welcome,
            0x03 => FrameType::Ping,
            0x04 => FrameType::Pong,
            0x05 => FrameType::Status,
            0x06 => FrameType::Goodbye,
            0x07 => FrameType::Data,
            0x08 => FrameType::Error,
            0x09 => FrameType::Challenge,
            _ => return None,
        })
    }

    /// Upper-case name as used in the docs: `HELLO`, `PING`, …
    pub fn name(self) -> &'static str {
        match self {
            FrameType::Hello => "HELLO",
            FrameType::Welcome => "WELCOME",
            FrameType::Ping => "PING",
            FrameType::Pong => "PONG",
            FrameType::Status => "STATUS",
            FrameType::Goodbye => "GOODBYE",
            FrameType::Data => "DATA",
            FrameType::Error => "ERROR",
            FrameType::Challenge => "CHALLENGE",
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HELLO: the client introduces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Lowest protocol version the client speaks.
    pub min_version: u8,
    /// Highest protocol version the client speaks.
    pub max_version: u8,
    /// The client's node name (1–255 bytes).
    pub node_name: String,
    /// Free-form labels (≤ 16; key ≤ 63 bytes, value ≤ 255 bytes).
    pub labels: Vec<(String, String)>,
    /// Who the client is this boot / this process.
    pub incarnation: Incarnation,
    /// The heartbeat interval the client asks for (1 µs to ~71 min, sent in µs).
    pub interval: Duration,
    /// Authentication proof (≤ 512 bytes; empty when the server asks for none).
    pub auth_proof: Bytes,
    /// An address where the client can be reached, e.g. `10.0.0.5:9000` (≤ 255 bytes).
    pub advertise: Option<String>,
}

/// WELCOME: the server accepts the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The protocol version both sides will speak.
    pub version: u8,
    /// The server's node name.
    pub node_name: String,
    /// Who the server is this boot / this process.
    pub incarnation: Incarnation,
    /// The heartbeat interval granted (the server may clamp the requested one).
    pub interval: Duration,
    /// A server nonce (≤ 256 bytes), reserved for mutual authentication; may be empty.
    pub server_nonce: Bytes,
}

/// PING: a heartbeat that asks for a PONG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Sequence number, increasing per sender.
    pub seq: u64,
    /// The sender's monotonic clock in µs since its session started.
    pub timestamp_us: u64,
}

/// PONG: the answer to a PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pong {
    /// The PING's sequence number.
    pub seq: u64,
    /// The PING's timestamp, echoed, so the pinger measures RTT on its own clock.
    pub echo_timestamp_us: u64,
    /// The answering side's own monotonic clock in µs.
    pub timestamp_us: u64,
}

/// The sender's own health, as reported in a STATUS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Code 0: fully working.
    Ok,
    /// Code 1: working with reduced capacity.
    Degraded,
    /// Code 2: finishing work, accepts nothing new.
    Draining,
}

impl Health {
    /// `ok`, `degraded` or `draining`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Draining => "draining",
        }
    }
}

/// STATUS: the sender's own health.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Ok, degraded or draining.
    pub health: Health,
    /// A short human-readable detail (≤ 256 bytes).
    pub detail: String,
    /// Numeric gauges, name → finite value (≤ 16; name ≤ 63 bytes).
    pub gauges: Vec<(String, f64)>,
}

/// Why a peer leaves gracefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoodbyeReason {
    /// Code 0: the process is shutting down.
    Shutdown,
    /// Code 1: the process is restarting and will be back.
    Restart,
    /// Code 2: the node is draining.
    Draining,
    /// Code 3: any other reason (see the text).
    Other,
    /// A code this implementation does not know; kept rather than rejected so that a newer
    /// peer's GOODBYE still ends the session gracefully.
    Unknown(u8),
}

impl GoodbyeReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            GoodbyeReason::Shutdown => 0,
            GoodbyeReason::Restart => 1,
            GoodbyeReason::Draining => 2,
            GoodbyeReason::Other => 3,
            GoodbyeReason::Unknown(c) => c,
        }
    }

    /// The reason for a wire code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => GoodbyeReason::Shutdown,
            1 => GoodbyeReason::Restart,
            2 => GoodbyeReason::Draining,
            3 => GoodbyeReason::Other,
            c => GoodbyeReason::Unknown(c),
        }
    }
}

/// GOODBYE: a graceful leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    /// Why.
    pub reason: GoodbyeReason,
    /// Free text (≤ 256 bytes).
    pub text: String,
}

/// The code carried by an ERROR frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: a frame could not be decoded.
    Malformed,
    /// 2: no common protocol version.
    UnsupportedVersion,
    /// 3: a valid frame arrived in a state where it is not allowed.
    UnexpectedFrame,
    /// 4: a frame exceeded the size limit.
    FrameTooLarge,
    /// 5: the handshake did not complete in time.
    HandshakeTimeout,
    /// 6: authentication failed.
    AuthFailed,
    /// A code this implementation does not know.
    Unknown(u16),
}

impl ErrorCode {
    /// The wire code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::UnsupportedVersion => 2,
            ErrorCode::UnexpectedFrame => 3,
            ErrorCode::FrameTooLarge => 4,
            ErrorCode::HandshakeTimeout => 5,
            ErrorCode::AuthFailed => 6,
            ErrorCode::Unknown(c) => c,
        }
    }

    /// The code for a wire value.
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::UnsupportedVersion,
            3 => ErrorCode::UnexpectedFrame,
            4 => ErrorCode::FrameTooLarge,
            5 => ErrorCode::HandshakeTimeout,
            6 => ErrorCode::AuthFailed,
            c => ErrorCode::Unknown(c),
        }
    }

    /// snake_case name: `malformed`, `unsupported_version`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnexpectedFrame => "unexpected_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::HandshakeTimeout => "handshake_timeout",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::Unknown(_) => "unknown",
        }
    }
}

impl From<&DecodeError> for ErrorCode {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            _ => ErrorCode::Malformed,
        }
    }
}

/// ERROR: what went wrong, sent just before the sender closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFrame {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable text (≤ 256 bytes).
    pub text: String,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Welcome`].
    Welcome(Welcome),
    /// See [`Ping`].
    Ping(Ping),
    /// See [`Pong`].
    Pong(Pong),
    /// See [`Status`].
    Status(Status),
    /// See [`Goodbye`].
    Goodbye(Goodbye),
    /// Opaque application bytes (up to the frame limit minus the header).
    Data(Bytes),
    /// See [`ErrorFrame`].
    Error(ErrorFrame),
    /// Server → client authentication challenge (nonce ≤ 256 bytes).
    Challenge(Bytes),
}

/// Truncates `s` to at most `max` bytes on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn interval_to_us(w: &Writer<'_>, d: Duration) -> Result<u32, EncodeError> {
    match u32::try_from(d.as_micros()) {
        Ok(0) | Err(_) => Err(w.invalid("interval", format!("{d:?}"))),
        Ok(us) => Ok(us),
    }
}

fn interval_from_us(r: &mut Reader<'_>) -> Result<Duration, DecodeError> {
    let us = r.u32("interval_us")?;
    if us == 0 {
        return Err(r.invalid("interval_us", 0));
    }
    Ok(Duration::from_micros(u64::from(us)))
}

fn put_incarnation(dst: &mut BytesMut, inc: &Incarnation) {
    dst.put_slice(&inc.boot_id);
    dst.put_u64(inc.nonce);
}

fn get_incarnation(r: &mut Reader<'_>) -> Result<Incarnation, DecodeError> {
    let boot_id = r.fixed::<16>("incarnation.boot_id")?;
    let nonce = r.u64("incarnation.nonce")?;
    Ok(Incarnation { boot_id, nonce })
}

fn node_name(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let name = r.str8("node_name", MAX_NODE_NAME)?;
    if name.is_empty() {
        return Err(r.invalid("node_name", "\"\" (empty)"));
    }
    Ok(name)
}

impl Frame {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Hello(_) => FrameType::Hello,
            Frame::Welcome(_) => FrameType::Welcome,
            Frame::Ping(_) => FrameType::Ping,
            Frame::Pong(_) => FrameType::Pong,
            Frame::Status(_) => FrameType::Status,
            Frame::Goodbye(_) => FrameType::Goodbye,
            Frame::Data(_) => FrameType::Data,
            Frame::Error(_) => FrameType::Error,
            Frame::Challenge(_) => FrameType::Challenge,
        }
    }

    /// Appends the encoded frame (header + payload) to `dst`, failing if a field exceeds its
    /// limit or the frame exceeds `max_frame_size`. On error `dst` is left unchanged.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: usize) -> Result<(), EncodeError> {
        let start = dst.len();
        let result = self.encode_inner(dst, max_frame_size.min(MAX_FRAME_SIZE));
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    /// Encodes into a new buffer with the default limit ([`MAX_FRAME_SIZE`]).
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst, MAX_FRAME_SIZE)?;
        Ok(dst.freeze())
    }

    fn encode_inner(&self, dst: &mut BytesMut, limit: usize) -> Result<(), EncodeError> {
        let start = dst.len();
        let ty = self.frame_type();
        dst.put_slice(&MAGIC);
        dst.put_u8(WIRE_VERSION);
        dst.put_u8(ty.code());
        dst.put_u32(0); // patched below
        let mut w = Writer::new(dst, ty);
        match self {
            Frame::Hello(h) => {
                if h.node_name.is_empty() {
                    return Err(w.invalid("node_name", "\"\" (empty)"));
                }
                w.dst.put_u8(h.min_version);
                w.dst.put_u8(h.max_version);
                put_incarnation(w.dst, &h.incarnation);
                let us = interval_to_us(&w, h.interval)?;
                w.dst.put_u32(us);
                w.str8("node_name", &h.node_name, MAX_NODE_NAME)?;
                w.check_count("labels", h.labels.len(), MAX_LABELS)?;
                w.dst.put_u8(h.labels.len() as u8);
                for (k, v) in &h.labels {
                    w.str8("label.key", k, MAX_LABEL_KEY)?;
                    w.str8("label.value", v, MAX_LABEL_VALUE)?;
                }
                w.bytes16("auth_proof", &h.auth_proof, MAX_AUTH_PROOF)?;
                match &h.advertise {
                    None => w.dst.put_u8(0),
                    Some(a) => {
                        w.dst.put_u8(1);
                        w.str8("advertise", a, MAX_ADVERTISE)?;
                    }
                }
            }
            Frame::Welcome(m) => {
                if m.node_name.is_empty() {
                    return Err(w.invalid("node_name", "\"\" (empty)"));
                }
                w.dst.put_u8(m.version);
                put_incarnation(w.dst, &m.incarnation);
                let us = interval_to_us(&w, m.interval)?;
                w.dst.put_u32(us);
                w.str8("node_name", &m.node_name, MAX_NODE_NAME)?;
                w.bytes16("server_nonce", &m.server_nonce, MAX_NONCE)?;
            }
            Frame::Ping(p) => {
                w.dst.put_u64(p.seq);
                w.dst.put_u64(p.timestamp_us);
            }
            Frame::Pong(p) => {
                w.dst.put_u64(p.seq);
                w.dst.put_u64(p.echo_timestamp_us);
                w.dst.put_u64(p.timestamp_us);
            }
            Frame::Status(s) => {
                w.dst.put_u8(match s.health {
                    Health::Ok => 0,
                    Health::Degraded => 1,
                    Health::Draining => 2,
                });
                w.str16("detail", &s.detail, MAX_TEXT)?;
                w.check_count("gauges", s.gauges.len(), MAX_GAUGES)?;
                w.dst.put_u8(s.gauges.len() as u8);
                for (name, value) in &s.gauges {
                    w.str8("gauge.name", name, MAX_GAUGE_NAME)?;
                    if !value.is_finite() {
                        return Err(w.invalid("gauge.value", format!("{name}={value}")));
                    }
                    w.dst.put_f64(*value);
                }
            }
            Frame::Goodbye(g) => {
                w.dst.put_u8(g.reason.code());
                w.str16("text", &g.text, MAX_TEXT)?;
            }
            Frame::Data(d) => {
                w.dst.put_slice(d);
            }
            Frame::Error(e) => {
                w.dst.put_u16(e.code.code());
                w.str16("text", &e.text, MAX_TEXT)?;
            }
            Frame::Challenge(nonce) => {
                w.bytes16("nonce", nonce, MAX_NONCE)?;
            }
        }
        let size = dst.len() - start;
        if size > limit {
            return Err(EncodeError::FrameTooLarge { size, limit });
        }
        let payload_len = (size - HEADER_LEN) as u32;
        dst[start + 4..start + 8].copy_from_slice(&payload_len.to_be_bytes());
        Ok(())
    }

    /// Decodes one frame from the front of `buf`.
    ///
    /// Returns `Ok(None)` if `buf` holds only part of a frame (and nothing seen so far is
    /// invalid), `Ok(Some((frame, consumed)))` for a complete frame, or an error naming what
    /// is wrong. The header is checked as soon as its bytes arrive, so garbage and oversized
    /// frames are rejected without waiting for the rest.
    pub fn decode(
        buf: &[u8],
        max_frame_size: usize,
    ) -> Result<Option<(Frame, usize)>, DecodeError> {
        let limit = max_frame_size.min(MAX_FRAME_SIZE);
        if buf.len() >= 2 && buf[..2] != MAGIC {
            return Err(DecodeError::BadMagic {
                found: [buf[0], buf[1]],
            });
        }
        if let Some(&version) = buf.get(2)
            && version != WIRE_VERSION
        {
            return Err(DecodeError::UnsupportedVersion {
                version,
                supported: WIRE_VERSION,
            });
        }
        let ty = match buf.get(3) {
            None => return Ok(None),
            Some(&code) => {
                FrameType::from_code(code).ok_or(DecodeError::UnknownType { ty: code })?
            }
        };
        let Some(len_bytes) = buf.get(4..8) else {
            return Ok(None);
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(len_bytes);
        let size = HEADER_LEN.saturating_add(u32::from_be_bytes(len) as usize);
        if size > limit {
            return Err(DecodeError::FrameTooLarge { size, limit });
        }
        let Some(payload) = buf.get(HEADER_LEN..size) else {
            return Ok(None);
        };
        let frame = Self::decode_payload(ty, payload)?;
        Ok(Some((frame, size)))
    }

    fn decode_payload(ty: FrameType, payload: &[u8]) -> Result<Frame, DecodeError> {
        let mut r = Reader::new(payload, ty);
        let frame = match ty {
            FrameType::Hello => {
                let min_version = r.u8("min_version")?;
                let max_version = r.u8("max_version")?;
                if min_version > max_version {
                    return Err(r.invalid(
                        "max_version",
                        format!("{max_version} (below min_version {min_version})"),
                    ));
                }
                let incarnation = get_incarnation(&mut r)?;
                let interval = interval_from_us(&mut r)?;
                let node_name = node_name(&mut r)?;
                let count = usize::from(r.u8("labels")?);
                if count > MAX_LABELS {
                    return Err(DecodeError::TooMany {
                        frame: r.frame(),
                        field: "labels",
                        count,
                        limit: MAX_LABELS,
                    });
                }
                let mut labels = Vec::with_capacity(count);
                for _ in 0..count {
                    let k = r.str8("label.key", MAX_LABEL_KEY)?;
                    let v = r.str8("label.value", MAX_LABEL_VALUE)?;
                    labels.push((k, v));
                }
                let auth_proof = r.bytes16("auth_proof", MAX_AUTH_PROOF)?;
                let advertise = match r.u8("advertise")? {
                    0 => None,
                    1 => Some(r.str8("advertise", MAX_ADVERTISE)?),
                    flag => return Err(r.invalid("advertise", format!("flag {flag}"))),
                };
                Frame::Hello(Hello {
                    min_version,
                    max_version,
                    node_name,
                    labels,
                    incarnation,
                    interval,
                    auth_proof,
                    advertise,
                })
            }
            FrameType::Welcome => {
                let version = r.u8("version")?;
                let incarnation = get_incarnation(&mut r)?;
                let interval = interval_from_us(&mut r)?;
                let node_name = node_name(&mut r)?;
                let server_nonce = r.bytes16("server_nonce", MAX_NONCE)?;
                Frame::Welcome(Welcome {
                    version,
                    node_name,
                    incarnation,
                    interval,
                    server_nonce,
                })
            }
            FrameType::Ping => Frame::Ping(Ping {
                seq: r.u64("seq")?,
                timestamp_us: r.u64("timestamp_us")?,
            }),
            FrameType::Pong => Frame::Pong(Pong {
                seq: r.u64("seq")?,
                echo_timestamp_us: r.u64("echo_timestamp_us")?,
                timestamp_us: r.u64("timestamp_us")?,
            }),
            FrameType::Status => {
                let health = match r.u8("health")? {
                    0 => Health::Ok,
                    1 => Health::Degraded,
                    2 => Health::Draining,
                    other => return Err(r.invalid("health", other)),
                };
                let detail = r.str16("detail", MAX_TEXT)?;
                let count = usize::from(r.u8("gauges")?);
                if count > MAX_GAUGES {
                    return Err(DecodeError::TooMany {
                        frame: r.frame(),
                        field: "gauges",
                        count,
                        limit: MAX_GAUGES,
                    });
                }
                let mut gauges = Vec::with_capacity(count);
                for _ in 0..count {
                    let name = r.str8("gauge.name", MAX_GAUGE_NAME)?;
                    let value = r.f64("gauge.value")?;
                    if !value.is_finite() {
                        return Err(r.invalid("gauge.value", format!("{name}={value}")));
                    }
                    gauges.push((name, value));
                }
                Frame::Status(Status {
                    health,
                    detail,
                    gauges,
                })
            }
            FrameType::Goodbye => Frame::Goodbye(Goodbye {
                reason: GoodbyeReason::from_code(r.u8("reason")?),
                text: r.str16("text", MAX_TEXT)?,
            }),
            FrameType::Data => Frame::Data(Bytes::copy_from_slice(r.rest())),
            FrameType::Error => Frame::Error(ErrorFrame {
                code: ErrorCode::from_code(r.u16("code")?),
                text: r.str16("text", MAX_TEXT)?,
            }),
            FrameType::Challenge => Frame::Challenge(r.bytes16("nonce", MAX_NONCE)?),
        };
        r.finish()?;
        Ok(frame)
    }
}
