//! Fuzz the frame decoder: never panic, and every frame it accepts re-encodes to exactly the
//! bytes it was decoded from (the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkpulse_proto::{Codec, Frame, MAX_FRAME_SIZE};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = Frame::decode(data, MAX_FRAME_SIZE) {
        let again = frame.to_bytes();
        assert_eq!(again.as_deref().ok(), Some(&data[..used]), "{frame:?}");
    }
    // The same bytes through the accumulating codec, split at an input-chosen point.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut codec = Codec::new();
    codec.push(&data[..split]);
    while let Ok(Some(_)) = codec.next_frame() {}
    codec.push(&data[split..]);
    while let Ok(Some(_)) = codec.next_frame() {}
});
