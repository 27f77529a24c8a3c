//! Virtual-time simulations of the detectors: detection time as a function of the parameters,
//! no false Dead under bounded jitter and loss, and recovery from Suspect.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use linkpulse_detector::{DetectorConfig, FailureDetector, FixedTimeoutConfig, PhiConfig, Verdict};

/// Deterministic xorshift64* so runs are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Drives a detector like a real driver would: between heartbeats it sleeps until
/// `next_deadline` and records every verdict change. Returns the transitions seen.
fn drive(
    detector: &mut impl FailureDetector,
    t0: Instant,
    arrivals: &[Instant],
    end: Instant,
) -> Vec<(Instant, Verdict)> {
    let mut seen = Vec::new();
    let mut current = Verdict::Alive;
    let mut now = t0;
    let mut check = |at: Instant, d: &dyn FailureDetector, current: &mut Verdict| {
        let v = d.suspicion(at).verdict;
        if v != *current {
            seen.push((at, v));
            *current = v;
        }
    };
    for &arrival in arrivals.iter().chain(std::iter::once(&end)) {
        // Sleep through timer wake-ups that come before the next arrival.
        let mut guard = 0;
        while let Some(wake) = detector.next_deadline(now) {
            guard += 1;
            assert!(guard < 100, "detector keeps asking to be woken");
            if wake > arrival {
                break;
            }
            now = wake;
            check(now, detector, &mut current);
        }
        now = arrival;
        if arrival < end {
            detector.heartbeat(now);
            check(now, detector, &mut current);
        }
    }
    seen
}

fn regular_arrivals(t0: Instant, interval: Duration, count: u32) -> Vec<Instant> {
    (1..=count).map(|i| t0 + interval * i).collect()
}

#[test]
fn fixed_timeout_detects_exactly_at_dead_after() {
    let interval = Duration::from_millis(100);
    for dead_ms in [300u64, 500, 1000] {
        let t0 = Instant::now();
        let cfg = DetectorConfig::Fixed(FixedTimeoutConfig::with_dead_after(
            Duration::from_millis(dead_ms),
        ));
        let mut d = cfg.build(t0).unwrap_or_else(|e| panic!("{e}"));
        let arrivals = regular_arrivals(t0, interval, 20);
        let last = arrivals[arrivals.len() - 1];
        let seen = drive(&mut d, t0, &arrivals, last + Duration::from_secs(5));
        assert_eq!(
            seen,
            vec![
                (last + Duration::from_millis(dead_ms / 2), Verdict::Suspect),
                (last + Duration::from_millis(dead_ms), Verdict::Dead)
            ],
            "dead_after {dead_ms} ms"
        );
    }
}

/// Detection time of phi after a cut, for regular heartbeats: mean + pause + z(threshold)·σ,
/// so it grows with the threshold and with the acceptable pause, and stays under the ceiling.
#[test]
fn phi_detection_time_follows_parameters() {
    let interval = Duration::from_millis(100);
    let mut previous = Duration::ZERO;
    for threshold in [4.0, 8.0, 12.0, 16.0] {
        let t0 = Instant::now();
        let cfg = PhiConfig::for_interval(interval, threshold);
        let mut d = DetectorConfig::Phi(cfg.clone())
            .build(t0)
            .unwrap_or_else(|e| panic!("{e}"));
        let arrivals = regular_arrivals(t0, interval, 200);
        let last = arrivals[arrivals.len() - 1];
        let seen = drive(&mut d, t0, &arrivals, last + Duration::from_secs(10));
        let dead_at = seen
            .iter()
            .find(|(_, v)| *v == Verdict::Dead)
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("threshold {threshold}: never dead: {seen:?}"));
        let detection = dead_at - last;
        // Window is all 100 ms with σ = 0, so σ = min_std = 25 ms, μ = 100 ms + 100 ms pause.
        let z = linkpulse_detector::math::normal_tail_z_for(threshold).unwrap_or(f64::NAN);
        let expected = Duration::from_secs_f64(0.2 + z * 0.025);
        let diff = detection.abs_diff(expected);
        assert!(
            diff < Duration::from_micros(10),
            "threshold {threshold}: detected after {detection:?}, formula says {expected:?}"
        );
        assert!(detection > previous, "higher threshold must detect later");
        assert!(detection < cfg.max_silence);
        previous = detection;
        // Every transition is Alive→Suspect→Dead in order, nothing else.
        let verdicts: Vec<_> = seen.iter().map(|(_, v)| *v).collect();
        assert_eq!(verdicts, vec![Verdict::Suspect, Verdict::Dead]);
    }
}

/// The hard ceiling fires even when the statistics would allow a longer silence.
#[test]
fn phi_max_silence_is_a_hard_ceiling() {
    let t0 = Instant::now();
    let cfg = PhiConfig {
        max_silence: Duration::from_millis(700),
        acceptable_heartbeat_pause: Duration::from_secs(5),
        ..PhiConfig::for_interval(Duration::from_millis(100), 8.0)
    };
    let mut d = DetectorConfig::Phi(cfg)
        .build(t0)
        .unwrap_or_else(|e| panic!("{e}"));
    let arrivals = regular_arrivals(t0, Duration::from_millis(100), 10);
    let last = arrivals[arrivals.len() - 1];
    let seen = drive(&mut d, t0, &arrivals, last + Duration::from_secs(10));
    assert_eq!(
        seen,
        vec![(last + Duration::from_millis(700), Verdict::Dead)]
    );
}

/// Documented bound (see `PhiConfig::for_interval`): with heartbeats every I, jitter of ±30 %
/// and isolated single losses, every gap is below 2.6·I, while Dead needs a gap of at least
/// μ + I + 5.6·I/4 ≥ 2.9·I (μ ≥ 0.5·I). So no false Dead, over 20 000 heartbeats.
#[test]
fn no_false_dead_under_bounded_jitter_and_loss() {
    let interval = Duration::from_millis(100);
    for (name, cfg) in [
        ("phi", DetectorConfig::phi(interval, 8.0)),
        ("fixed", DetectorConfig::fixed(Duration::from_millis(300))),
    ] {
        let t0 = Instant::now();
        let mut d = cfg.build(t0).unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut arrivals = Vec::new();
        let mut t = t0;
        let mut lost_previous = false;
        for _ in 0..20_000 {
            let jitter = (rng.unit() - 0.5) * 0.6; // ±30 %
            let gap = interval.mul_f64(1.0 + jitter);
            t += gap;
            // 5 % loss, never two in a row.
            let lost = !lost_previous && rng.unit() < 0.05;
            lost_previous = lost;
            if !lost {
                arrivals.push(t);
            }
        }
        let end = arrivals[arrivals.len() - 1] + Duration::from_millis(1);
        let seen = drive(&mut d, t0, &arrivals, end);
        assert!(
            seen.iter().all(|(_, v)| *v != Verdict::Dead),
            "{name}: false dead: {:?}",
            seen.iter().find(|(_, v)| *v == Verdict::Dead)
        );
    }
}

/// A late heartbeat brings a Suspect peer back to Alive.
#[test]
fn suspect_then_late_heartbeat_is_alive_again() {
    let interval = Duration::from_millis(100);
    for cfg in [
        DetectorConfig::phi(interval, 8.0),
        DetectorConfig::fixed(Duration::from_millis(500)),
    ] {
        let t0 = Instant::now();
        let mut d = cfg.build(t0).unwrap_or_else(|e| panic!("{e}"));
        let mut arrivals = regular_arrivals(t0, interval, 50);
        let last = arrivals[arrivals.len() - 1];
        // Wait until Suspect, then a heartbeat arrives 1 ms later.
        let suspect_at = d_after(&cfg, t0, &arrivals);
        arrivals.push(suspect_at + Duration::from_millis(1));
        let seen = drive(&mut d, t0, &arrivals, suspect_at + Duration::from_millis(2));
        let kinds: Vec<_> = seen.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            kinds,
            vec![Verdict::Suspect, Verdict::Alive],
            "{}: {seen:?} (last regular beat at +{:?})",
            cfg.kind(),
            last - t0
        );
    }
}

/// When a detector fed `arrivals` turns Suspect.
fn d_after(cfg: &DetectorConfig, t0: Instant, arrivals: &[Instant]) -> Instant {
    let mut d = cfg.build(t0).unwrap_or_else(|e| panic!("{e}"));
    for &a in arrivals {
        d.heartbeat(a);
    }
    let last = arrivals[arrivals.len() - 1];
    let at = d.next_deadline(last).unwrap_or(last);
    assert_eq!(d.suspicion(at).verdict, Verdict::Suspect);
    at
}
