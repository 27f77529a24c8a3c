//! Primitive field readers and writers shared by every frame (big-endian, length-prefixed).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{DecodeError, EncodeError, FrameType};

/// Reads the fields of one frame's payload, naming the frame and field in every error.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    frame: FrameType,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], frame: FrameType) -> Self {
        Reader { buf, frame }
    }

    pub(crate) fn frame(&self) -> FrameType {
        self.frame
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                frame: self.frame,
                field,
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn f64(&mut self, field: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn fixed<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.array(field)
    }

    fn check_len(&self, field: &'static str, len: usize, limit: usize) -> Result<(), DecodeError> {
        if len > limit {
            return Err(DecodeError::TooLong {
                frame: self.frame,
                field,
                len,
                limit,
            });
        }
        Ok(())
    }

    fn utf8(&self, field: &'static str, raw: &[u8]) -> Result<String, DecodeError> {
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 {
                frame: self.frame,
                field,
            })
    }

    /// A string with a 1-byte length prefix.
    pub(crate) fn str8(
        &mut self,
        field: &'static str,
        limit: usize,
    ) -> Result<String, DecodeError> {
        let len = usize::from(self.u8(field)?);
        self.check_len(field, len, limit)?;
        let raw = self.take(len, field)?;
        self.utf8(field, raw)
    }

    /// A string with a 2-byte length prefix.
    pub(crate) fn str16(
        &mut self,
        field: &'static str,
        limit: usize,
    ) -> Result<String, DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.check_len(field, len, limit)?;
        let raw = self.take(len, field)?;
        self.utf8(field, raw)
    }

    /// Bytes with a 2-byte length prefix.
    pub(crate) fn bytes16(
        &mut self,
        field: &'static str,
        limit: usize,
    ) -> Result<Bytes, DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.check_len(field, len, limit)?;
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Fails if bytes remain.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                frame: self.frame,
                count: self.buf.len(),
            })
        }
    }

    pub(crate) fn invalid(&self, field: &'static str, value: impl ToString) -> DecodeError {
        DecodeError::InvalidValue {
            frame: self.frame,
            field,
            value: value.to_string(),
        }
    }
}

/// Writes the fields of one frame's payload, checking limits.
pub(crate) struct Writer<'a> {
    pub(crate) dst: &'a mut BytesMut,
    frame: FrameType,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(dst: &'a mut BytesMut, frame: FrameType) -> Self {
        Writer { dst, frame }
    }

    fn check_len(&self, field: &'static str, len: usize, limit: usize) -> Result<(), EncodeError> {
        if len > limit {
            return Err(EncodeError::TooLong {
                frame: self.frame,
                field,
                len,
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn check_count(
        &self,
        field: &'static str,
        count: usize,
        limit: usize,
    ) -> Result<(), EncodeError> {
        if count > limit {
            return Err(EncodeError::TooMany {
                frame: self.frame,
                field,
                count,
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn invalid(&self, field: &'static str, value: impl ToString) -> EncodeError {
        EncodeError::InvalidValue {
            frame: self.frame,
            field,
            value: value.to_string(),
        }
    }

    pub(crate) fn str8(
        &mut self,
        field: &'static str,
        s: &str,
        limit: usize,
    ) -> Result<(), EncodeError> {
        let limit = limit.min(usize::from(u8::MAX));
        self.check_len(field, s.len(), limit)?;
        self.dst.put_u8(s.len() as u8);
        self.dst.put_slice(s.as_bytes());
        Ok(())
    }

    pub(crate) fn str16(
        &mut self,
        field: &'static str,
        s: &str,
        limit: usize,
    ) -> Result<(), EncodeError> {
        self.bytes16(field, s.as_bytes(), limit)
    }

    pub(crate) fn bytes16(
        &mut self,
        field: &'static str,
        b: &[u8],
        limit: usize,
    ) -> Result<(), EncodeError> {
        let limit = limit.min(usize::from(u16::MAX));
        self.check_len(field, b.len(), limit)?;
        self.dst.put_u16(b.len() as u16);
        self.dst.put_slice(b);
        Ok(())
    }
}
