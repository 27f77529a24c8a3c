//! ICMP echo packets: building requests and parsing whatever comes back (sans-IO).
//!
//! Every parser here takes untrusted bytes and returns `Err(Malformed)` instead of panicking;
//! slices are only ever taken through `get`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ICMPv4 echo reply type.
pub(crate) const V4_ECHO_REPLY: u8 = 0;
/// ICMPv4 destination unreachable type.
pub(crate) const V4_DEST_UNREACH: u8 = 3;
/// ICMPv4 echo request type.
pub(crate) const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv4 time exceeded type.
pub(crate) const V4_TIME_EXCEEDED: u8 = 11;
/// ICMPv6 destination unreachable type.
pub(crate) const V6_DEST_UNREACH: u8 = 1;
/// ICMPv6 packet too big type.
pub(crate) const V6_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 time exceeded type.
pub(crate) const V6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 echo request type.
pub(crate) const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply type.
pub(crate) const V6_ECHO_REPLY: u8 = 129;

/// Marker after the nonce in every payload we send, so our own packets are recognisable.
const MAGIC: [u8; 8] = *b"lnkpulse";
/// Bytes of echo payload: an 8-byte per-probe nonce followed by [`MAGIC`].
pub(crate) const PAYLOAD_LEN: usize = 16;
/// Bytes of a whole echo request: 8-byte ICMP header plus payload.
pub(crate) const ECHO_LEN: usize = 8 + PAYLOAD_LEN;

/// IP version of an ICMP socket; ICMPv4 and ICMPv6 differ in type numbers and framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Version {
    /// ICMP over IPv4.
    V4,
    /// ICMPv6 over IPv6.
    V6,
}

/// Why a received packet was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Fewer bytes than the headers need.
    Truncated,
    /// The IPv4 header is not IPv4, has a bad header length, or does not carry ICMP.
    BadIpHeader,
    /// The ICMPv4 checksum does not add up.
    BadChecksum,
}

/// What a received ICMP message means to the pinger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// An echo reply.
    EchoReply(Echo<'a>),
    /// A destination unreachable / time exceeded / too big message quoting one of our requests.
    Error {
        /// ICMP type of the error message.
        icmp_type: u8,
        /// ICMP code of the error message.
        code: u8,
        /// The echo request the error quotes.
        quoted: Quoted,
    },
    /// Anything else (echo requests looped back, errors about other traffic, …).
    Other,
}

/// The identifier, sequence and payload of an echo request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Echo<'a> {
    /// ICMP identifier (rewritten to the local port by the kernel on datagram sockets).
    pub(crate) ident: u16,
    /// ICMP sequence number.
    pub(crate) seq: u16,
    /// Echo payload.
    pub(crate) payload: &'a [u8],
}

/// The part of our own echo request quoted inside an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quoted {
    /// Destination of the original request.
    pub(crate) dst: IpAddr,
    /// Identifier of the original request.
    pub(crate) ident: u16,
    /// Sequence of the original request.
    pub(crate) seq: u16,
    /// The nonce, when the router quoted enough of the payload to include it.
    pub(crate) nonce: Option<u64>,
}

/// A parsed packet and the source address its IP header names (raw IPv4 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// Source from the IPv4 header, when the packet came with one.
    pub(crate) src: Option<IpAddr>,
    /// TTL from the IPv4 header, when the packet came with one.
    pub(crate) ttl: Option<u8>,
    /// The ICMP message.
    pub(crate) message: Message<'a>,
}

/// The RFC 1071 Internet checksum of `data`.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an echo request with our payload (`nonce` then the magic marker).
///
/// The ICMPv4 checksum is filled in; for ICMPv6 the kernel computes it (it covers a
/// pseudo-header we do not know the source of), so the field is left zero.
pub(crate) fn build_echo(version: Version, ident: u16, seq: u16, nonce: u64) -> [u8; ECHO_LEN] {
    let mut buf = [0u8; ECHO_LEN];
    buf[0] = match version {
        Version::V4 => V4_ECHO_REQUEST,
        Version::V6 => V6_ECHO_REQUEST,
    };
    buf[4..6].copy_from_slice(&ident.to_be_bytes());
    buf[6..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..16].copy_from_slice(&nonce.to_be_bytes());
    buf[16..24].copy_from_slice(&MAGIC);
    if version == Version::V4 {
        let sum = checksum(&buf);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    buf
}

/// Like [`build_echo`], with `payload` bytes of payload (at least [`PAYLOAD_LEN`]): the nonce,
/// the marker, then zeros.
pub(crate) fn build_echo_sized(
    version: Version,
    ident: u16,
    seq: u16,
    nonce: u64,
    payload: usize,
) -> Vec<u8> {
    let mut buf = build_echo(version, ident, seq, nonce).to_vec();
    buf.resize(8 + payload.max(PAYLOAD_LEN), 0);
    if version == Version::V4 {
        buf[2..4].fill(0);
        let sum = checksum(&buf);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    buf
}

/// The nonce carried in one of our payloads, or `None` if the payload is not ours.
pub(crate) fn payload_nonce(payload: &[u8]) -> Option<u64> {
    let nonce = payload.get(0..8)?;
    if payload.get(8..16)? != MAGIC {
        return None;
    }
    Some(u64::from_be_bytes(nonce.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Result<u16, Malformed> {
    match b.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(Malformed::Truncated),
    }
}

/// Splits an IPv4 header off `packet`: returns (protocol, src, dst, rest).
fn split_ipv4(packet: &[u8]) -> Result<(u8, Ipv4Addr, Ipv4Addr, &[u8]), Malformed> {
    let first = *packet.first().ok_or(Malformed::Truncated)?;
    if first >> 4 != 4 {
        return Err(Malformed::BadIpHeader);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return Err(Malformed::BadIpHeader);
    }
    let header = packet.get(..ihl).ok_or(Malformed::Truncated)?;
    let rest = packet.get(ihl..).ok_or(Malformed::Truncated)?;
    let ip4 = |at: usize| -> Result<Ipv4Addr, Malformed> {
        let b: [u8; 4] = header
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(Malformed::Truncated)?;
        Ok(Ipv4Addr::from(b))
    };
    Ok((header[9], ip4(12)?, ip4(16)?, rest))
}

/// Parses the echo request quoted after the 8-byte header of an ICMP error message.
fn parse_quoted(version: Version, quote: &[u8]) -> Result<Option<Quoted>, Malformed> {
    let (dst, echo) = match version {
        Version::V4 => {
            let (proto, _src, dst, rest) = split_ipv4(quote)?;
            if proto != 1 {
                return Ok(None);
            }
            (IpAddr::V4(dst), rest)
        }
        Version::V6 => {
            let header = quote.get(..40).ok_or(Malformed::Truncated)?;
            if header[0] >> 4 != 6 {
                return Err(Malformed::BadIpHeader);
            }
            // Only a directly following ICMPv6 header is ours (we never add extension headers).
            if header[6] != 58 {
                return Ok(None);
            }
            let dst: [u8; 16] = header
                .get(24..40)
                .and_then(|s| s.try_into().ok())
                .ok_or(Malformed::Truncated)?;
            (
                IpAddr::V6(Ipv6Addr::from(dst)),
                quote.get(40..).ok_or(Malformed::Truncated)?,
            )
        }
    };
    Ok(
        parse_own_echo(version, echo)?.map(|(ident, seq, nonce)| Quoted {
            dst,
            ident,
            seq,
            nonce,
        }),
    )
}

/// Parses one of our own echo requests (as quoted in an error, or as returned on a datagram
/// socket's error queue): (identifier, sequence, nonce if present).
pub(crate) fn parse_own_echo(
    version: Version,
    echo: &[u8],
) -> Result<Option<(u16, u16, Option<u64>)>, Malformed> {
    let request = match version {
        Version::V4 => V4_ECHO_REQUEST,
        Version::V6 => V6_ECHO_REQUEST,
    };
    let kind = *echo.first().ok_or(Malformed::Truncated)?;
    if kind != request {
        return Ok(None);
    }
    let ident = be16(echo, 4)?;
    let seq = be16(echo, 6)?;
    Ok(Some((ident, seq, echo.get(8..).and_then(payload_nonce))))
}

/// Parses a packet read from an ICMP socket.
///
/// `with_ip_header` is true for IPv4 raw sockets, whose reads start with the IP header; IPv6
/// raw sockets and datagram sockets deliver the ICMP message alone.
pub(crate) fn parse(
    version: Version,
    with_ip_header: bool,
    packet: &[u8],
) -> Result<Parsed<'_>, Malformed> {
    let (src, ttl, icmp) = if with_ip_header && version == Version::V4 {
        let (proto, src, _dst, rest) = split_ipv4(packet)?;
        if proto != 1 {
            return Err(Malformed::BadIpHeader);
        }
        (Some(IpAddr::V4(src)), packet.get(8).copied(), rest)
    } else {
        (None, None, packet)
    };
    if icmp.len() < 8 {
        return Err(Malformed::Truncated);
    }
    if version == Version::V4 && checksum(icmp) != 0 {
        return Err(Malformed::BadChecksum);
    }
    let (icmp_type, code) = (icmp[0], icmp[1]);
    let message = match (version, icmp_type) {
        (Version::V4, V4_ECHO_REPLY) | (Version::V6, V6_ECHO_REPLY) => Message::EchoReply(Echo {
            ident: be16(icmp, 4)?,
            seq: be16(icmp, 6)?,
            payload: icmp.get(8..).unwrap_or_default(),
        }),
        (Version::V4, V4_DEST_UNREACH | V4_TIME_EXCEEDED)
        | (Version::V6, V6_DEST_UNREACH | V6_PACKET_TOO_BIG | V6_TIME_EXCEEDED) => {
            match parse_quoted(version, icmp.get(8..).unwrap_or_default())? {
                Some(quoted) => Message::Error {
                    icmp_type,
                    code,
                    quoted,
                },
                None => Message::Other,
            }
        }
        _ => Message::Other,
    };
    Ok(Parsed { src, ttl, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_header(proto: u8, src: [u8; 4], dst: [u8; 4], payload_len: usize) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        let total = u16::try_from(20 + payload_len).unwrap_or(u16::MAX);
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let sum = checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    fn v4_reply_of(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = V4_ECHO_REPLY;
        r[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&r);
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    fn v4_error(icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
        let mut e = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
        e.extend_from_slice(quoted);
        let sum = checksum(&e);
        e[2..4].copy_from_slice(&sum.to_be_bytes());
        e
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example bytes: sum 0xddf2, checksum is its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        // Odd length pads with a zero byte.
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn built_v4_request_has_valid_checksum_and_fields() {
        let req = build_echo(Version::V4, 0x1234, 0xbeef, 42);
        assert_eq!(
            checksum(&req),
            0,
            "checksum over a valid packet folds to zero"
        );
        assert_eq!(req[0], V4_ECHO_REQUEST);
        assert_eq!(
            parse_own_echo(Version::V4, &req),
            Ok(Some((0x1234, 0xbeef, Some(42))))
        );
    }

    #[test]
    fn v6_request_leaves_checksum_to_kernel() {
        let req = build_echo(Version::V6, 1, 2, 3);
        assert_eq!(req[0], V6_ECHO_REQUEST);
        assert_eq!(&req[2..4], &[0, 0]);
    }

    #[test]
    fn parses_raw_v4_echo_reply_with_ip_header() {
        let reply = v4_reply_of(&build_echo(Version::V4, 7, 9, 0xdead_beef));
        let mut pkt = ipv4_header(1, [127, 0, 3, 4], [127, 0, 0, 1], reply.len());
        pkt.extend_from_slice(&reply);
        let parsed = parse(Version::V4, true, &pkt).expect("valid");
        assert_eq!(parsed.src, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 3, 4))));
        assert_eq!(parsed.ttl, Some(64));
        let Message::EchoReply(echo) = parsed.message else {
            panic!("not a reply: {parsed:?}")
        };
        assert_eq!((echo.ident, echo.seq), (7, 9));
        assert_eq!(payload_nonce(echo.payload), Some(0xdead_beef));
    }

    #[test]
    fn parses_ip_header_with_options() {
        let reply = v4_reply_of(&build_echo(Version::V4, 7, 9, 1));
        let mut pkt = ipv4_header(1, [10, 0, 0, 1], [10, 0, 0, 2], reply.len());
        pkt[0] = 0x46; // IHL 6: four option bytes follow the fixed header
        pkt.extend_from_slice(&[1, 1, 1, 1]);
        pkt.extend_from_slice(&reply);
        let parsed = parse(Version::V4, true, &pkt).expect("valid");
        assert!(matches!(
            parsed.message,
            Message::EchoReply(Echo { seq: 9, .. })
        ));
    }

    #[test]
    fn rejects_bad_checksum_and_bad_headers() {
        let mut reply = v4_reply_of(&build_echo(Version::V4, 7, 9, 1));
        reply[10] ^= 0xff;
        assert_eq!(
            parse(Version::V4, false, &reply),
            Err(Malformed::BadChecksum)
        );
        let mut pkt = ipv4_header(17, [1, 1, 1, 1], [2, 2, 2, 2], 8);
        pkt.extend_from_slice(&[0; 8]);
        assert_eq!(parse(Version::V4, true, &pkt), Err(Malformed::BadIpHeader));
        assert_eq!(
            parse(Version::V4, true, &[0x44; 30]),
            Err(Malformed::BadIpHeader)
        );
        assert_eq!(
            parse(Version::V4, true, &[0x60; 30]),
            Err(Malformed::BadIpHeader)
        );
        assert_eq!(
            parse(Version::V4, true, &[0x4f; 30]),
            Err(Malformed::Truncated)
        );
    }

    #[test]
    fn parses_v4_unreachable_quoting_our_request() {
        let req = build_echo(Version::V4, 0x4242, 17, 99);
        let mut quoted = ipv4_header(1, [10, 0, 0, 1], [10, 9, 9, 9], req.len());
        quoted.extend_from_slice(&req);
        let err = v4_error(V4_DEST_UNREACH, 1, &quoted);
        let parsed = parse(Version::V4, false, &err).expect("valid");
        let want = Quoted {
            dst: IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)),
            ident: 0x4242,
            seq: 17,
            nonce: Some(99),
        };
        assert_eq!(
            parsed.message,
            Message::Error {
                icmp_type: 3,
                code: 1,
                quoted: want
            }
        );
    }

    #[test]
    fn minimal_quote_without_payload_has_no_nonce() {
        let req = build_echo(Version::V4, 1, 2, 3);
        let mut quoted = ipv4_header(1, [10, 0, 0, 1], [10, 9, 9, 9], 8);
        quoted.extend_from_slice(&req[..8]);
        let err = v4_error(V4_TIME_EXCEEDED, 0, &quoted);
        let Message::Error { quoted, .. } = parse(Version::V4, false, &err).expect("valid").message
        else {
            panic!("not an error")
        };
        assert_eq!((quoted.seq, quoted.nonce), (2, None));
    }

    #[test]
    fn errors_about_other_protocols_are_ignored() {
        let mut quoted = ipv4_header(6, [10, 0, 0, 1], [10, 9, 9, 9], 8);
        quoted.extend_from_slice(&[0; 8]);
        let err = v4_error(V4_DEST_UNREACH, 3, &quoted);
        assert_eq!(
            parse(Version::V4, false, &err).map(|p| p.message),
            Ok(Message::Other)
        );
    }

    #[test]
    fn parses_v6_reply_and_unreachable() {
        let mut reply = build_echo(Version::V6, 5, 6, 7).to_vec();
        reply[0] = V6_ECHO_REPLY;
        let parsed = parse(Version::V6, false, &reply).expect("valid");
        assert!(matches!(
            parsed.message,
            Message::EchoReply(Echo {
                ident: 5,
                seq: 6,
                ..
            })
        ));

        let mut ip6 = vec![0x60, 0, 0, 0, 0, 24, 58, 64];
        ip6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9);
        ip6.extend_from_slice(&dst.octets());
        let mut err = vec![V6_DEST_UNREACH, 3, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&ip6);
        err.extend_from_slice(&build_echo(Version::V6, 5, 6, 7));
        let want = Quoted {
            dst: IpAddr::V6(dst),
            ident: 5,
            seq: 6,
            nonce: Some(7),
        };
        assert_eq!(
            parse(Version::V6, false, &err).map(|p| p.message),
            Ok(Message::Error {
                icmp_type: 1,
                code: 3,
                quoted: want
            })
        );
    }

    #[test]
    fn foreign_payload_has_no_nonce() {
        assert_eq!(payload_nonce(b"0123456789abcdef"), None);
        assert_eq!(payload_nonce(b"short"), None);
    }

    #[test]
    fn every_prefix_of_valid_packets_parses_without_panic() {
        let req = build_echo(Version::V4, 1, 2, 3);
        let mut quoted = ipv4_header(1, [10, 0, 0, 1], [10, 9, 9, 9], req.len());
        quoted.extend_from_slice(&req);
        let err = v4_error(V4_DEST_UNREACH, 1, &quoted);
        let mut framed = ipv4_header(1, [10, 0, 0, 2], [10, 0, 0, 1], err.len());
        framed.extend_from_slice(&err);
        for cut in 0..=framed.len() {
            for v in [Version::V4, Version::V6] {
                let _ = parse(v, true, &framed[..cut]);
                let _ = parse(v, false, &framed[..cut]);
                let _ = parse_own_echo(v, &framed[..cut]);
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                for v in [Version::V4, Version::V6] {
                    let _ = parse(v, true, &bytes);
                    let _ = parse(v, false, &bytes);
                    let _ = parse_own_echo(v, &bytes);
                }
                let _ = payload_nonce(&bytes);
            }

            #[test]
            fn mutated_error_packets_never_panic(
                flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..8),
                cut in 0usize..80,
            ) {
                let req = build_echo(Version::V4, 1, 2, 3);
                let mut quoted = ipv4_header(1, [10, 0, 0, 1], [10, 9, 9, 9], req.len());
                quoted.extend_from_slice(&req);
                let mut framed = ipv4_header(1, [10, 0, 0, 2], [10, 0, 0, 1], 8 + quoted.len());
                framed.extend_from_slice(&v4_error(V4_DEST_UNREACH, 1, &quoted));
                for (at, byte) in flips {
                    if let Some(b) = framed.get_mut(at) {
                        *b = byte;
                    }
                }
                framed.truncate(cut);
                let _ = parse(Version::V4, true, &framed);
            }

            #[test]
            fn v4_reply_round_trips(ident: u16, seq: u16, nonce: u64) {
                let req = build_echo(Version::V4, ident, seq, nonce);
                prop_assert_eq!(checksum(&req), 0);
                let reply = v4_reply_of(&req);
                let parsed = parse(Version::V4, false, &reply).map(|p| p.message);
                let Ok(Message::EchoReply(echo)) = parsed else {
                    return Err(TestCaseError::fail(format!("not a reply: {parsed:?}")));
                };
                prop_assert_eq!((echo.ident, echo.seq), (ident, seq));
                prop_assert_eq!(payload_nonce(echo.payload), Some(nonce));
            }

            #[test]
            fn v4_error_quote_round_trips(ident: u16, seq: u16, nonce: u64, dst: [u8; 4], code in 0u8..16) {
                let req = build_echo(Version::V4, ident, seq, nonce);
                let mut quoted = ipv4_header(1, [10, 0, 0, 1], dst, req.len());
                quoted.extend_from_slice(&req);
                let err = v4_error(V4_DEST_UNREACH, code, &quoted);
                let want = Quoted { dst: IpAddr::V4(Ipv4Addr::from(dst)), ident, seq, nonce: Some(nonce) };
                prop_assert_eq!(
                    parse(Version::V4, false, &err).map(|p| p.message),
                    Ok(Message::Error { icmp_type: V4_DEST_UNREACH, code, quoted: want })
                );
            }
        }
    }
}
