//! Fuzz a server Session with arbitrary peer bytes: never panic, and after any input the
//! session is either waiting, established or dead with a cause.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use linkpulse_proto::{Incarnation, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let Ok(mut s) = Session::server(SessionConfig::new("hub", Incarnation::default()), t0) else {
        return;
    };
    let mut now = t0;
    for chunk in data.chunks(37) {
        now += Duration::from_millis(7);
        s.handle_bytes(chunk, now);
        if let Some(t) = s.poll_timeout().filter(|t| *t <= now) {
            s.handle_timeout(t.max(now));
        }
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
    }
});
