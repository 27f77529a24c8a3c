//! The typed cells of a stored result (SQLite schema 4, PostgreSQL schema 2), sans-IO.
//!
//! [`compact`](super::compact) leaves, per result, a short JSON text (`detail`) beside `up`,
//! `latency_ms` and `error_kind`. Stored as text, that JSON was most of a row: the HTTP timings
//! change on every result, while everything else in it (keys, resolved address, status line,
//! URL, error message) repeats from one result of a check to the next. So a result is stored
//! as integers only:
//!
//! - `latency_us`: the latency in whole microseconds (what the probes measure: they round to
//!   µs), which the hourly aggregates read;
//! - `shape`: the id of an interned text (table `texts`), the detail JSON with every number
//!   replaced by `#` — repeated results of a check share one shape;
//! - `nums`: the numbers cut out of the detail, in order, as varints (below);
//! - `error`: the id of the interned error kind.
//!
//! [`encode`] and [`decode`] are exact: the detail comes back as the identical text (numbers
//! included: each is kept as its decimal text, not as a float), and the latency as the
//! identical `f64`. A latency that is not a whole number of microseconds keeps its exact
//! value as the first number, flagged by a leading `~` in the shape; a detail that is not a
//! JSON text this can cut into numbers is kept whole, flagged by `=`.
//!
//! A number is one varint (LEB128): `zigzag(m) << 3 | d` for the decimal `m / 10^d` written
//! with exactly `d` decimals (`d ≤ 6`, no exponent, not `-0`), or `len << 3 | 7` followed by
//! the `len` bytes of its text for anything else (`1e300`, `33.333333333333336`).

/// Marks a shape whose first number is the exact latency (not a whole number of µs).
const EXACT_LATENCY: char = '~';
/// Marks a shape that is the detail text itself (nothing cut out).
const LITERAL: char = '=';
/// Stands for one number in a shape.
const NUMBER: char = '#';
/// Most decimals a number keeps in the compact form.
const MAX_DECIMALS: u32 = 6;
/// The tag of a number kept as text.
const TEXT_TAG: u64 = 7;

/// The stored cells of one result, beside its series, time, `up` and error kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cells {
    /// Latency in µs (rounded, saturated to `i32`), `None` without a finite latency.
    pub(crate) latency_us: Option<i32>,
    /// The shape text to intern, `None` when there is no detail and the latency is exact.
    pub(crate) shape: Option<String>,
    /// The numbers of the shape, `None` when there are none.
    pub(crate) nums: Option<Vec<u8>>,
}

/// The stored cells of a result with latency `latency_ms` and detail JSON text `detail`.
pub(crate) fn encode(latency_ms: Option<f64>, detail: Option<&str>) -> Cells {
    let (latency_us, mut shape, mut nums) = latency_cells(latency_ms);
    if let Some(d) = detail {
        let start = shape.len();
        let before = nums.len();
        if d.is_empty() || !cut_numbers(d, &mut shape, &mut nums) {
            shape.truncate(start);
            nums.truncate(before);
            shape.push(LITERAL);
            shape.push_str(d);
        }
    }
    Cells {
        latency_us,
        shape: (!shape.is_empty()).then_some(shape),
        nums: (!nums.is_empty()).then_some(nums),
    }
}

/// `latency_us`, and the shape and numbers begun with the exact latency when `latency_ms` is
/// not a whole number of µs.
fn latency_cells(latency_ms: Option<f64>) -> (Option<i32>, String, Vec<u8>) {
    let latency = latency_ms.filter(|l| l.is_finite());
    let latency_us = latency.map(|l| {
        let us = (l * 1000.0).round();
        // `as` saturates; a latency beyond ±35 minutes keeps its exact value in the shape.
        us as i32
    });
    let exact = match (latency, latency_us) {
        (Some(l), Some(us)) => (f64::from(us) / 1000.0).to_bits() == l.to_bits(),
        _ => true,
    };
    let mut shape = String::new();
    let mut nums = Vec::new();
    if !exact && let Some(l) = latency {
        shape.push(EXACT_LATENCY);
        put_number(&mut nums, &serde_json::to_string(&l).unwrap_or_default());
    }
    (latency_us, shape, nums)
}

/// [`encode`] of `detail`'s JSON text (`None`: no detail) without writing that text: the
/// serializer writes the shape itself, each number outside strings as [`NUMBER`] and its text
/// into the numbers. The cells are the same as `encode(latency_ms, Some(&to_string(detail)))`;
/// a detail that does not serialize is stored as `null`, as the text path stores it.
pub(crate) fn encode_value<T: serde::Serialize + ?Sized>(
    latency_ms: Option<f64>,
    detail: Option<&T>,
) -> Cells {
    let Some(detail) = detail else {
        return encode(latency_ms, None);
    };
    let (latency_us, shape, mut nums) = latency_cells(latency_ms);
    let f = ShapeFormatter {
        nums: &mut nums,
        in_string: false,
        scratch: Vec::new(),
    };
    let mut out = shape.into_bytes();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, f);
    if detail.serialize(&mut ser).is_err() {
        return encode(latency_ms, Some("null"));
    }
    let Ok(shape) = String::from_utf8(out) else {
        return encode(latency_ms, Some("null"));
    };
    Cells {
        latency_us,
        shape: (!shape.is_empty()).then_some(shape),
        nums: (!nums.is_empty()).then_some(nums),
    }
}

/// serde_json's compact output with each number outside strings written as [`NUMBER`] and
/// its text (as serde_json writes it) put into `nums`: what [`cut_numbers`] makes of the
/// compact text.
struct ShapeFormatter<'a> {
    nums: &'a mut Vec<u8>,
    /// Inside a string (a number map key is written as a string, and stays in the shape).
    in_string: bool,
    /// One number's text.
    scratch: Vec<u8>,
}

impl ShapeFormatter<'_> {
    /// Writes a number: `write` writes its text as serde_json does.
    fn number<W: ?Sized + std::io::Write>(
        &mut self,
        out: &mut W,
        write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.scratch.clear();
        write(&mut self.scratch)?;
        if self.in_string {
            return out.write_all(&self.scratch);
        }
        let text = std::str::from_utf8(&self.scratch).map_err(std::io::Error::other)?;
        put_number(self.nums, text);
        out.write_all(NUMBER.encode_utf8(&mut [0; 4]).as_bytes())
    }
}

/// Forwards one number method to [`ShapeFormatter::number`].
macro_rules! shape_number {
    ($($method:ident: $t:ty),* $(,)?) => {
        $(
            fn $method<W: ?Sized + std::io::Write>(&mut self, out: &mut W, v: $t) -> std::io::Result<()> {
                self.number(out, |b| serde_json::ser::CompactFormatter.$method(b, v))
            }
        )*
    };
}

impl serde_json::ser::Formatter for ShapeFormatter<'_> {
    shape_number!(
        write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64, write_i128: i128,
        write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64, write_u128: u128,
        write_f32: f32, write_f64: f64,
    );

    fn write_number_str<W: ?Sized + std::io::Write>(
        &mut self,
        out: &mut W,
        v: &str,
    ) -> std::io::Result<()> {
        self.number(out, |b| {
            serde_json::ser::CompactFormatter.write_number_str(b, v)
        })
    }

    fn begin_string<W: ?Sized + std::io::Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.in_string = true;
        out.write_all(b"\"")
    }

    fn end_string<W: ?Sized + std::io::Write>(&mut self, out: &mut W) -> std::io::Result<()> {
        self.in_string = false;
        out.write_all(b"\"")
    }
}

/// The latency and detail text [`encode`] was given (a non-finite latency reads as `None`).
/// Cells this build did not write (a damaged row) give back what can be read.
pub(crate) fn decode(
    latency_us: Option<i64>,
    shape: Option<&str>,
    nums: Option<&[u8]>,
) -> (Option<f64>, Option<String>) {
    let mut latency = latency_us.map(|us| us as f64 / 1000.0);
    let Some(mut shape) = shape else {
        return (latency, None);
    };
    let mut nums = nums.unwrap_or_default();
    let mut text = String::new();
    if let Some(rest) = shape.strip_prefix(EXACT_LATENCY) {
        shape = rest;
        if take_number(&mut nums, &mut text).is_some() {
            latency = text.parse().ok().or(latency);
        }
        text.clear();
    }
    if let Some(literal) = shape.strip_prefix(LITERAL) {
        return (latency, Some(literal.to_owned()));
    }
    if shape.is_empty() {
        return (latency, None);
    }
    let mut in_string = false;
    let mut escaped = false;
    for c in shape.chars() {
        if in_string {
            text.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == NUMBER {
            if take_number(&mut nums, &mut text).is_none() {
                text.push('0');
            }
        } else {
            in_string = c == '"';
            text.push(c);
        }
    }
    (latency, Some(text))
}

/// Copies `json` into `shape` with each number outside strings replaced by [`NUMBER`] and
/// appended to `nums`. `false` when the text has a character [`decode`] would misread (then
/// nothing it appended is meaningful).
fn cut_numbers(json: &str, shape: &mut String, nums: &mut Vec<u8>) -> bool {
    if json.starts_with([EXACT_LATENCY, LITERAL]) {
        return false;
    }
    let bytes = json.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut copied = 0; // bytes of `json` up to here are in `shape`
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = bytes[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .map_or(bytes.len(), |n| i + n);
            shape.push_str(&json[copied..i]);
            shape.push(NUMBER);
            put_number(nums, &json[i..end]);
            copied = end;
            i = end;
        } else if b == b'#' {
            return false;
        } else {
            in_string = b == b'"';
            i += 1;
        }
    }
    shape.push_str(&json[copied..]);
    true
}

/// Appends the number written as `text` (see the module docs).
fn put_number(out: &mut Vec<u8>, text: &str) {
    match compact_number(text) {
        Some((m, d)) => put_varint(out, (zigzag(m) << 3) | u64::from(d)),
        None => {
            put_varint(out, ((text.len() as u64) << 3) | TEXT_TAG);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// `(m, d)` with `text` = `m / 10^d` written with `d` decimals, when that writes it back.
fn compact_number(text: &str) -> Option<(i64, u32)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let canonical_int = int == "0" || (!int.is_empty() && !int.starts_with('0'));
    let decimals = u32::try_from(frac.len()).ok()?;
    if !plain(int)
        || !plain(frac)
        || !canonical_int
        || decimals > MAX_DECIMALS
        || (digits.contains('.') && frac.is_empty())
    {
        return None;
    }
    let mut m: i64 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    if negative {
        if m == 0 {
            return None; // `-0` would come back as `0`
        }
        m = -m;
    }
    // Room for the three tag bits.
    (zigzag(m) < 1 << 60).then_some((m, decimals))
}

/// Reads one number into `out`; `None` at the end or on a damaged encoding.
fn take_number(inp: &mut &[u8], out: &mut String) -> Option<()> {
    let v = take_varint(inp)?;
    if v & 7 == TEXT_TAG {
        let len = usize::try_from(v >> 3).ok()?;
        let text = inp.get(..len)?;
        out.push_str(std::str::from_utf8(text).ok()?);
        *inp = &inp[len..];
        return Some(());
    }
    let d = (v & 7) as usize;
    let m = unzigzag(v >> 3);
    if m < 0 {
        out.push('-');
    }
    let digits = m.unsigned_abs().to_string();
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    out.push_str(int);
    if d > 0 {
        out.push('.');
        out.push_str(frac);
    }
    Some(())
}

fn zigzag(m: i64) -> u64 {
    ((m << 1) ^ (m >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// LEB128: seven bits a byte, low first, the high bit set on every byte but the last.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(inp: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, b) in inp.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *inp = &inp[i + 1..];
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(latency: Option<f64>, detail: Option<&str>) -> Cells {
        let c = encode(latency, detail);
        let (l, d) = decode(
            c.latency_us.map(i64::from),
            c.shape.as_deref(),
            c.nums.as_deref(),
        );
        assert_eq!(
            l.map(f64::to_bits),
            latency.filter(|l| l.is_finite()).map(f64::to_bits),
            "latency of {c:?}"
        );
        assert_eq!(d.as_deref(), detail, "detail of {c:?}");
        c
    }

    #[test]
    fn an_http_detail_keeps_its_text_and_moves_its_numbers_out() {
        let d = r#"{"http":{"status":200,"version":"HTTP/1.1","body_bytes":2,"redirects":0,"final_url":"http://127.3.0.1:8/c/1","phases":{"dns_ms":0.0,"connect_ms":0.061,"tls_ms":null,"first_byte_ms":0.25,"total_ms":12.5}},"resolved":"127.3.0.1"}"#;
        let c = roundtrip(Some(0.321), Some(d));
        assert_eq!(c.latency_us, Some(321));
        let shape = c.shape.unwrap();
        assert!(
            !shape.contains("0.061") && shape.contains(r#""total_ms":#"#),
            "{shape}"
        );
        assert_eq!(c.nums.unwrap().len(), 11, "seven numbers in 11 bytes");
        // Another result of the same check has the same shape.
        let d2 = d.replace("0.061", "0.07").replace("12.5", "9.875");
        assert_eq!(encode(Some(1.0), Some(&d2)).shape.unwrap(), shape);
    }

    #[test]
    fn numbers_in_strings_and_every_number_form_come_back_identical() {
        for d in [
            r#"{"resolved":"127.1.0.1"}"#,
            r##"{"error":{"kind":"timeout","message":"no answer in 5000 ms from 10.0.0.1:80 \"#1\""}}"##,
            r#"{"icmp":{"sent":3,"received":2,"loss":33.333333333333336,"rtt":[-0.0,-0,-1.5,1e300,2E-7,0.0000001,123456789012345678901234567890]}}"#,
            r#"[1,"two",null,-17,0.5,10.25]"#,
            r##"{"odd #":"~=#"}"##,
            "",
            "~starts like a flag",
            "=starts like a flag",
            "{not json # at all",
            "\"unterminated",
            "12",
        ] {
            roundtrip(Some(1.5), Some(d));
            roundtrip(Some(0.1234567), Some(d));
            roundtrip(None, Some(d));
        }
    }

    #[test]
    fn cells_written_from_a_value_are_those_of_its_text() {
        let details = [
            r#"{"http":{"status":200,"version":"HTTP/1.1","body_bytes":2,"redirects":0,"final_url":"http://127.3.0.1:8/c/1","phases":{"dns_ms":0.0,"connect_ms":0.061,"tls_ms":null,"first_byte_ms":0.25,"total_ms":12.5}},"resolved":"127.3.0.1"}"#,
            r##"{"error":{"kind":"timeout","message":"no answer in 5000 ms from 10.0.0.1:80 \"#1\""}}"##,
            r#"{"icmp":{"sent":3,"received":2,"loss":33.333333333333336,"rtt":[-0.0,-1.5,1e300,2E-7,0.0000001,18446744073709551615,-9223372036854775808]}}"#,
            r#"[1,"two",null,-17,0.5,10.25,true,{}]"#,
            r##"{"odd #":"~=#","":[]}"##,
            r#""a string""#,
            "12",
        ];
        for text in details {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            for l in [Some(1.5), Some(0.1234567), None, Some(f64::NAN)] {
                let direct = encode_value(l, Some(&v));
                assert_eq!(direct, encode(l, Some(&v.to_string())), "{text} at {l:?}");
            }
        }
        // Number map keys are strings in the text: they stay in the shape.
        let keys = std::collections::BTreeMap::from([(7u32, 0.5f32), (12, -3.25)]);
        let direct = encode_value(Some(2.0), Some(&keys));
        assert_eq!(
            direct,
            encode(Some(2.0), Some(&serde_json::to_string(&keys).unwrap()))
        );
        assert_eq!(direct.shape.as_deref(), Some(r#"{"7":#,"12":#}"#));
        assert_eq!(encode_value::<()>(Some(2.0), None), encode(Some(2.0), None));
    }

    #[test]
    fn latencies_are_exact_whatever_their_precision() {
        for l in [
            0.0, -0.0, 0.001, 0.123, 4.5, 1e-9, 0.1234567, 1e12, -3.0, 2.0e9,
        ] {
            let c = roundtrip(Some(l), None);
            let whole_us =
                (l == 0.0 && l.is_sign_positive()) || [0.001, 0.123, 4.5, -3.0].contains(&l);
            assert_eq!(c.shape.is_none(), whole_us, "{l}: {c:?}");
        }
        assert_eq!(
            roundtrip(None, None),
            Cells {
                latency_us: None,
                shape: None,
                nums: None
            }
        );
        let nan = encode(Some(f64::NAN), None);
        assert_eq!(
            (nan.latency_us, nan.shape),
            (None, None),
            "stored as no latency"
        );
    }

    #[test]
    fn damaged_cells_read_as_far_as_they_can() {
        assert_eq!(
            decode(Some(5), Some(r#"{"a":#,"b":#}"#), Some(&[32])),
            (Some(0.005), Some(r#"{"a":2,"b":0}"#.to_owned()))
        );
        assert_eq!(decode(None, Some("~"), Some(&[0xff])), (None, None));
    }
}
