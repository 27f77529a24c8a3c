//! A byte accumulator that yields complete frames.

use bytes::{Buf, BytesMut};

use crate::{DecodeError, EncodeError, Frame, MAX_FRAME_SIZE, MIN_FRAME_SIZE_LIMIT};

/// Accumulates bytes from a stream and yields complete frames.
///
/// Feed whatever the transport delivered with [`push`](Self::push), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)` (need more bytes). An error
/// means the stream is broken; the codec should not be used afterwards.
///
/// ```
/// use linkpulse_proto::{Codec, Frame, Ping};
///
/// let bytes = Frame::Ping(Ping { seq: 7, timestamp_us: 42 }).to_bytes()?;
/// let mut codec = Codec::new();
/// codec.push(&bytes[..5]);
/// assert_eq!(codec.next_frame()?, None); // incomplete is not an error
/// codec.push(&bytes[5..]);
/// assert_eq!(codec.next_frame()?, Some(Frame::Ping(Ping { seq: 7, timestamp_us: 42 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Codec {
    buf: BytesMut,
    max_frame_size: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    /// A codec with the default limit, [`MAX_FRAME_SIZE`].
    pub fn new() -> Self {
        Codec {
            buf: BytesMut::new(),
            max_frame_size: MAX_FRAME_SIZE,
        }
    }

    /// A codec rejecting frames larger than `max_frame_size` (clamped to
    /// [`MIN_FRAME_SIZE_LIMIT`]..=[`MAX_FRAME_SIZE`]).
    pub fn with_max_frame_size(max_frame_size: usize) -> Self {
        Codec {
            buf: BytesMut::new(),
            max_frame_size: max_frame_size.clamp(MIN_FRAME_SIZE_LIMIT, MAX_FRAME_SIZE),
        }
    }

    /// The frame-size limit in force.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Appends bytes received from the transport.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Frees the buffer's memory if it holds no bytes (a codec of an idle connection then
    /// costs nothing beyond its own size).
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the decoding error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        match Frame::decode(&self.buf, self.max_frame_size)? {
            None => Ok(None),
            Some((frame, used)) => {
                self.buf.advance(used);
                Ok(Some(frame))
            }
        }
    }

    /// Encodes `frame` onto `dst` under this codec's limit.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        frame.encode(dst, self.max_frame_size)
    }
}
