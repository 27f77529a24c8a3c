//! Frame encoding and strict decoding: every malformed input gets an error naming the problem.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use linkpulse_proto::{
    Codec, DecodeError, EncodeError, ErrorCode, ErrorFrame, Frame, FrameType, Goodbye,
    GoodbyeReason, Health, Hello, Incarnation, Ping, Pong, Status, Welcome,
};

fn hello() -> Hello {
    Hello {
        min_version: 1,
        max_version: 1,
        node_name: "agent-1".into(),
        labels: vec![
            ("zone".into(), "eu-1".into()),
            ("role".into(), "worker".into()),
        ],
        incarnation: Incarnation::new([0xab; 16], 42),
        interval: Duration::from_millis(100),
        auth_proof: Bytes::from_static(b"proof"),
        advertise: Some("10.0.0.5:9000".into()),
    }
}

fn all_frames() -> Vec<Frame> {
    vec![
        Frame::Hello(hello()),
        Frame::Hello(Hello {
            labels: vec![],
            auth_proof: Bytes::new(),
            advertise: None,
            ..hello()
        }),
        Frame::Welcome(Welcome {
            version: 1,
            node_name: "hub".into(),
            incarnation: Incarnation::new([1; 16], 2),
            interval: Duration::from_millis(250),
            server_nonce: Bytes::from_static(b"n"),
        }),
        Frame::Ping(Ping {
            seq: u64::MAX,
            timestamp_us: 5,
        }),
        Frame::Pong(Pong {
            seq: 3,
            echo_timestamp_us: 4,
            timestamp_us: 5,
        }),
        Frame::Status(Status {
            health: Health::Degraded,
            detail: "disk 91% full — ünïcode".into(),
            gauges: vec![("load".into(), 1.5), ("queue".into(), -3.0)],
        }),
        Frame::Goodbye(Goodbye {
            reason: GoodbyeReason::Unknown(200),
            text: "bye".into(),
        }),
        Frame::Data(Bytes::from_static(b"\x00\x01app")),
        Frame::Data(Bytes::new()),
        Frame::Error(ErrorFrame {
            code: ErrorCode::AuthFailed,
            text: "nope".into(),
        }),
        Frame::Challenge(Bytes::from_static(&[9; 32])),
    ]
}

fn decode_err(bytes: &[u8]) -> String {
    match Frame::decode(bytes, 65_536) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn header(ty: u8, len: u32) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_slice(b"LP");
    b.put_u8(1);
    b.put_u8(ty);
    b.put_u32(len);
    b
}

#[test]
fn every_frame_round_trips_whole_and_byte_by_byte() {
    let mut stream = BytesMut::new();
    for f in all_frames() {
        let bytes = f.to_bytes().unwrap_or_else(|e| panic!("{e}"));
        let (back, used) = Frame::decode(&bytes, 65_536)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("incomplete"));
        assert_eq!(back, f);
        assert_eq!(used, bytes.len());
        stream.extend_from_slice(&bytes);
    }
    let mut codec = Codec::new();
    let mut got = Vec::new();
    for b in stream.iter() {
        codec.push(&[*b]);
        while let Some(f) = codec.next_frame().unwrap_or_else(|e| panic!("{e}")) {
            got.push(f);
        }
    }
    assert_eq!(got, all_frames());
    assert_eq!(codec.buffered(), 0);
}

#[test]
fn header_layout_is_as_documented() {
    let bytes = Frame::Ping(Ping {
        seq: 1,
        timestamp_us: 2,
    })
    .to_bytes()
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&bytes[..8], b"LP\x01\x03\x00\x00\x00\x10");
    assert_eq!(bytes.len(), 8 + 16);
}

#[test]
fn oversized_frame_is_rejected_from_the_header_alone() {
    let b = header(0x07, 70_000 - 8);
    assert_eq!(
        decode_err(&b),
        "frame of 70000 bytes exceeds the 65536-byte limit"
    );
    // A lower configured limit applies to the codec.
    let mut codec = Codec::with_max_frame_size(2048);
    codec.push(&header(0x07, 3000));
    assert_eq!(
        codec.next_frame().map_err(|e| e.to_string()),
        Err("frame of 3008 bytes exceeds the 2048-byte limit".to_string())
    );
    // And to encoding.
    let big = Frame::Data(Bytes::from(vec![0u8; 3000]));
    let mut dst = BytesMut::new();
    assert_eq!(
        codec.encode(&big, &mut dst),
        Err(EncodeError::FrameTooLarge {
            size: 3008,
            limit: 2048
        })
    );
    assert!(
        dst.is_empty(),
        "a failed encode leaves the buffer unchanged"
    );
}

#[test]
fn unknown_type_bad_magic_and_version() {
    assert_eq!(decode_err(&header(0x17, 0)), "unknown frame type 0x17");
    assert_eq!(decode_err(&header(0x00, 0)[..4]), "unknown frame type 0x00");
    assert_eq!(
        decode_err(b"GET / HTTP/1.1\r\n"),
        "bad magic bytes 0x4745 (expected 0x4c50, \"LP\"): not a linkpulse peer"
    );
    assert_eq!(
        decode_err(b"LP\x02\x03"),
        "unsupported wire version 2 (this side speaks version 1)"
    );
    // Incomplete but valid so far: not an error.
    assert_eq!(Frame::decode(b"LP\x01", 65_536), Ok(None));
}

#[test]
fn truncated_and_trailing_payloads() {
    let mut b = header(0x03, 15);
    b.put_slice(&[0u8; 15]);
    assert_eq!(
        decode_err(&b),
        "PING payload ends inside field `timestamp_us`"
    );
    let mut b = header(0x03, 17);
    b.put_slice(&[0u8; 17]);
    assert_eq!(
        decode_err(&b),
        "PING payload has 1 trailing byte(s) after the last field"
    );
}

#[test]
fn bad_field_values() {
    // STATUS with a 300-byte detail.
    let mut p = BytesMut::new();
    p.put_u8(0);
    p.put_u16(300);
    p.put_slice(&[b'x'; 300]);
    p.put_u8(0);
    let mut b = header(0x05, p.len() as u32);
    b.put_slice(&p);
    assert_eq!(
        decode_err(&b),
        "STATUS field `detail` is 300 bytes long, the limit is 256"
    );

    // STATUS with health 7.
    let mut b = header(0x05, 4);
    b.put_slice(&[7, 0, 0, 0]);
    assert_eq!(decode_err(&b), "STATUS field `health` has invalid value 7");

    // STATUS with a NaN gauge.
    let mut p = BytesMut::new();
    p.put_u8(0);
    p.put_u16(0);
    p.put_u8(1);
    p.put_u8(1);
    p.put_slice(b"g");
    p.put_f64(f64::NAN);
    let mut b = header(0x05, p.len() as u32);
    b.put_slice(&p);
    assert_eq!(
        decode_err(&b),
        "STATUS field `gauge.value` has invalid value g=NaN"
    );

    // HELLO whose node name is not UTF-8.
    let good = Frame::Hello(hello())
        .to_bytes()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut bad = good.to_vec();
    // node_name starts after min,max (2) + incarnation (24) + interval (4) + len (1).
    let name_at = 8 + 2 + 24 + 4 + 1;
    bad[name_at] = 0xff;
    assert_eq!(
        decode_err(&bad),
        "HELLO field `node_name` is not valid UTF-8"
    );

    // HELLO with a zero interval.
    let mut bad = good.to_vec();
    bad[8 + 2 + 24..8 + 2 + 24 + 4].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        decode_err(&bad),
        "HELLO field `interval_us` has invalid value 0"
    );

    // HELLO announcing 17 labels.
    let labels_at = 8 + 2 + 24 + 4 + 1 + "agent-1".len();
    let mut bad = good.to_vec();
    bad[labels_at] = 17;
    assert_eq!(
        decode_err(&bad),
        "HELLO field `labels` has 17 entries, the limit is 16"
    );
}

#[test]
fn encoder_refuses_what_the_decoder_would_reject() {
    let long = Frame::Status(Status {
        health: Health::Ok,
        detail: "x".repeat(300),
        gauges: vec![],
    });
    assert_eq!(
        long.to_bytes().map_err(|e| e.to_string()),
        Err("STATUS field `detail` is 300 bytes long, the limit is 256".to_string())
    );
    let labels = Frame::Hello(Hello {
        labels: (0..17).map(|i| (format!("k{i}"), "v".into())).collect(),
        ..hello()
    });
    assert!(matches!(
        labels.to_bytes(),
        Err(EncodeError::TooMany {
            frame: FrameType::Hello,
            field: "labels",
            count: 17,
            limit: 16
        })
    ));
    let nan = Frame::Status(Status {
        health: Health::Ok,
        detail: String::new(),
        gauges: vec![("x".into(), f64::INFINITY)],
    });
    assert!(nan.to_bytes().is_err());
}

#[test]
fn decode_error_variants_are_matchable() {
    assert!(matches!(
        Frame::decode(&header(0x17, 0), 65_536),
        Err(DecodeError::UnknownType { ty: 0x17 })
    ));
}
