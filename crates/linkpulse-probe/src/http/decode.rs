//! Response body compression (blackbox_exporter's `compression`): the request asks for one
//! encoding, and the body is decoded as that encoding whatever the response says — a body that
//! does not decode fails the probe, as the exporter's does.

use std::io::Read;

/// An encoding a probe asks for and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: raw DEFLATE (RFC 1951), as blackbox_exporter reads it.
    Deflate,
    /// `br` (Brotli, RFC 7932).
    Brotli,
    /// `identity`: asked for explicitly, nothing to decode.
    Identity,
}

impl Compression {
    /// Parses the names blackbox_exporter accepts: `gzip`, `deflate`, `br`, `identity`.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "deflate" => Some(Compression::Deflate),
            "br" => Some(Compression::Brotli),
            "identity" => Some(Compression::Identity),
            _ => None,
        }
    }

    /// The `Accept-Encoding` token.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Deflate => "deflate",
            Compression::Brotli => "br",
            Compression::Identity => "identity",
        }
    }
}

/// What decoding gave: the first `keep_max` bytes and the decoded length.
pub(crate) struct Decoded {
    pub(crate) kept: Vec<u8>,
    pub(crate) total: u64,
    /// The decoded body was longer than the limit (reading stopped there).
    pub(crate) over_limit: bool,
}

/// Decodes `raw` as `encoding`, keeping the first `keep_max` bytes and stopping after
/// `limit` decoded bytes.
pub(crate) fn decode(
    encoding: Compression,
    raw: &[u8],
    keep_max: usize,
    limit: Option<u64>,
) -> Result<Decoded, String> {
    let mut reader: Box<dyn Read + '_> = match encoding {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(raw)),
        Compression::Deflate => Box::new(flate2::read::DeflateDecoder::new(raw)),
        Compression::Brotli => Box::new(brotli_decompressor::Decompressor::new(raw, 4096)),
        Compression::Identity => Box::new(raw),
    };
    let mut out = Decoded {
        kept: Vec::new(),
        total: 0,
        over_limit: false,
    };
    let mut buf = [0u8; 8192];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("{} body does not decode: {e}", encoding.name())),
        };
        out.total += n as u64;
        if out.kept.len() < keep_max {
            let room = keep_max - out.kept.len();
            out.kept.extend_from_slice(&buf[..n.min(room)]);
        }
        if let Some(limit) = limit
            && out.total > limit
        {
            out.total = limit;
            out.over_limit = true;
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn each_encoding_decodes_and_a_bad_body_is_named() {
        let text = b"hello hello hello hello".repeat(10);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let d = decode(Compression::Gzip, &gz, 5, None).unwrap();
        assert_eq!(
            (d.kept.as_slice(), d.total),
            (&b"hello"[..], text.len() as u64)
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&text).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(
            decode(Compression::Deflate, &raw, 1 << 20, None)
                .unwrap()
                .kept,
            text
        );
        let d = decode(Compression::Gzip, &gz, 1 << 20, Some(10)).unwrap();
        assert!(d.over_limit && d.total == 10);
        let e = decode(Compression::Gzip, b"not gzip", 10, None)
            .err()
            .unwrap();
        assert!(e.starts_with("gzip body does not decode"), "{e}");
        // "hello" as one uncompressed Brotli meta-block.
        let br = [0x0b, 0x02, 0x80, b'h', b'e', b'l', b'l', b'o', 0x03];
        assert_eq!(
            decode(Compression::Brotli, &br, 64, None).unwrap().kept,
            b"hello"
        );
        assert_eq!(Compression::from_name("BR"), Some(Compression::Brotli));
        assert_eq!(Compression::from_name("zstd"), None);
    }
}
