//! Property tests: the decoder never panics on arbitrary bytes, and every valid frame survives
//! a round trip however the stream is split.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use bytes::Bytes;
use linkpulse_proto::{
    Codec, ErrorCode, ErrorFrame, Frame, Goodbye, GoodbyeReason, Health, Hello, Incarnation, Ping,
    Pong, Status, Welcome,
};
use proptest::prelude::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(".{{0,{}}}", max / 4)).unwrap_or_else(|e| panic!("{e}"))
}

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9.-]{1,40}").unwrap_or_else(|e| panic!("{e}"))
}

fn incarnation() -> impl Strategy<Value = Incarnation> {
    (any::<[u8; 16]>(), any::<u64>()).prop_map(|(b, n)| Incarnation::new(b, n))
}

fn interval() -> impl Strategy<Value = Duration> {
    (1u64..=u64::from(u32::MAX)).prop_map(Duration::from_micros)
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            name(),
            prop::collection::vec((name(), text(255)), 0..4),
            incarnation(),
            interval(),
            prop::collection::vec(any::<u8>(), 0..64),
            prop::option::of(name()),
        )
            .prop_map(|(n, labels, inc, iv, proof, adv)| Frame::Hello(Hello {
                min_version: 1,
                max_version: 3,
                node_name: n,
                labels,
                incarnation: inc,
                interval: iv,
                auth_proof: Bytes::from(proof),
                advertise: adv,
            })),
        (
            name(),
            incarnation(),
            interval(),
            prop::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(n, inc, iv, nonce)| Frame::Welcome(Welcome {
                version: 1,
                node_name: n,
                incarnation: inc,
                interval: iv,
                server_nonce: Bytes::from(nonce),
            })),
        (any::<u64>(), any::<u64>()).prop_map(|(s, t)| Frame::Ping(Ping {
            seq: s,
            timestamp_us: t
        })),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(s, e, t)| Frame::Pong(Pong {
            seq: s,
            echo_timestamp_us: e,
            timestamp_us: t
        })),
        (
            prop_oneof![
                Just(Health::Ok),
                Just(Health::Degraded),
                Just(Health::Draining)
            ],
            text(256),
            prop::collection::vec((name(), -1e300f64..1e300), 0..16),
        )
            .prop_map(|(h, d, g)| Frame::Status(Status {
                health: h,
                detail: d,
                gauges: g
            })),
        (any::<u8>(), text(256)).prop_map(|(r, t)| Frame::Goodbye(Goodbye {
            reason: GoodbyeReason::from_code(r),
            text: t
        })),
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(|d| Frame::Data(Bytes::from(d))),
        (any::<u16>(), text(256)).prop_map(|(c, t)| Frame::Error(ErrorFrame {
            code: ErrorCode::from_code(c),
            text: t
        })),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|n| Frame::Challenge(Bytes::from(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes, fed in arbitrary chunks: never a panic, and every outcome is either a
    /// frame, "need more bytes" or an error.
    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..64,
        limit in 0usize..70_000,
    ) {
        let _ = Frame::decode(&data, limit);
        let mut codec = Codec::with_max_frame_size(limit);
        for piece in data.chunks(chunk) {
            codec.push(piece);
            while let Ok(Some(_)) = codec.next_frame() {}
        }
    }

    /// Valid-looking headers with random payloads exercise the payload decoders.
    #[test]
    fn decoder_never_panics_on_random_payloads(
        ty in 0u8..12,
        payload in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut data = b"LP\x01".to_vec();
        data.push(ty);
        data.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        data.extend_from_slice(&payload);
        // Whatever the decoder accepts re-encodes to exactly the same bytes (canonical form).
        if let Ok(Some((frame, used))) = Frame::decode(&data, 65_536) {
            prop_assert_eq!(used, data.len());
            let again = frame.to_bytes().map(|b| b.to_vec());
            prop_assert_eq!(again, Ok(data));
        }
    }

    /// Mutating one byte of a valid frame never panics the decoder.
    #[test]
    fn decoder_never_panics_on_mutated_frames(f in frame(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = f.to_bytes().unwrap_or_else(|e| panic!("{e}")).to_vec();
        let i = at % bytes.len();
        bytes[i] = byte;
        if let Ok(Some((frame, used))) = Frame::decode(&bytes, 65_536) {
            let again = frame.to_bytes().map(|b| b.to_vec());
            prop_assert_eq!(again, Ok(bytes[..used].to_vec()));
        }
    }

    /// Every valid frame decodes back to itself, whatever the split points.
    #[test]
    fn frames_round_trip_through_split_stream(
        frames in prop::collection::vec(frame(), 1..8),
        chunk in 1usize..300,
    ) {
        let mut stream = Vec::new();
        for f in &frames {
            stream.extend_from_slice(&f.to_bytes().unwrap_or_else(|e| panic!("{e}")));
        }
        let mut codec = Codec::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            codec.push(piece);
            while let Some(f) = codec.next_frame().unwrap_or_else(|e| panic!("{e}")) {
                got.push(f);
            }
        }
        prop_assert_eq!(got, frames);
    }
}
