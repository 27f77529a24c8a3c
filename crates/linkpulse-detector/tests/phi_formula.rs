//! Property tests: the phi detector against an independent implementation of the formula.

// Tests take one real base instant; every other instant is derived from it.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use linkpulse_detector::{FailureDetector, Level, PhiAccrual, PhiConfig, Verdict};
use proptest::prelude::*;

/// Reference erfc, independent of the crate's Cody approximation: a positive-term series for
/// small x and a continued fraction (backward recurrence) for large x, in log space.
fn ref_ln_erfc_pos(x: f64) -> f64 {
    assert!(x >= 0.0);
    let sqrt_pi = std::f64::consts::PI.sqrt();
    if x < 2.5 {
        // erf(x) = 2/√π · e^{−x²} · Σ 2^n x^{2n+1} / (1·3·…·(2n+1))
        let mut term = x;
        let mut sum = x;
        for n in 1..400 {
            term *= 2.0 * x * x / (2 * n + 1) as f64;
            sum += term;
            if term < sum * 1e-18 {
                break;
            }
        }
        let erf = 2.0 / sqrt_pi * (-x * x).exp() * sum;
        (1.0 - erf).ln()
    } else {
        // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
        let mut t = x;
        for n in (1..=3000).rev() {
            t = x + (n as f64 / 2.0) / t;
        }
        -x * x - sqrt_pi.ln() - t.ln()
    }
}

/// Reference φ = −log10(Q(z)).
fn ref_phi(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let q = if x >= 0.0 {
        (ref_ln_erfc_pos(x) - std::f64::consts::LN_2).exp()
    } else {
        1.0 - (ref_ln_erfc_pos(-x) - std::f64::consts::LN_2).exp()
    };
    if x >= 0.0 {
        -(ref_ln_erfc_pos(x) - std::f64::consts::LN_2) / std::f64::consts::LN_10
    } else {
        -q.log10()
    }
}

fn config(max_samples: usize, min_std_ms: u64, pause_ms: u64, first_ms: u64) -> PhiConfig {
    PhiConfig {
        threshold: 8.0,
        suspect_threshold: 3.0,
        max_sample_size: max_samples,
        min_std_deviation: Duration::from_millis(min_std_ms),
        acceptable_heartbeat_pause: Duration::from_millis(pause_ms),
        first_heartbeat_estimate: Duration::from_millis(first_ms),
        max_silence: Duration::from_secs(3600),
    }
}

fn build(c: &PhiConfig, t0: Instant, intervals_us: &[u64]) -> (PhiAccrual, Instant) {
    let mut d = PhiAccrual::new(c.clone(), t0).unwrap_or_else(|e| panic!("{e}"));
    let mut t = t0 + Duration::from_millis(5);
    d.heartbeat(t);
    for &us in intervals_us {
        t += Duration::from_micros(us);
        d.heartbeat(t);
    }
    (d, t)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn phi_matches_reference_formula(
        intervals in prop::collection::vec(1_000u64..2_000_000, 0..120),
        max_samples in 1usize..64,
        min_std_ms in 1u64..200,
        pause_ms in 0u64..1000,
        first_ms in 4u64..2000,
        silence_us in 0u64..20_000_000,
    ) {
        let c = config(max_samples, min_std_ms, pause_ms, first_ms);
        let t0 = Instant::now();
        let (d, last) = build(&c, t0, &intervals);

        // Independent statistics: bootstrap samples, then the intervals, keep the newest N.
        let first_us = first_ms * 1000;
        let mut all = vec![first_us - first_us / 4, first_us + first_us / 4];
        all.extend(intervals.iter().copied());
        let kept = &all[all.len().saturating_sub(max_samples)..];
        let n = kept.len() as f64;
        let mean = kept.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = kept.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let sigma = var.sqrt().max(min_std_ms as f64 * 1000.0);
        let mu = mean + pause_ms as f64 * 1000.0;
        let z = (silence_us as f64 - mu) / sigma;
        let want = ref_phi(z).max(0.0);

        prop_assert!(d.window().len() <= max_samples, "window not bounded");
        let s = d.suspicion(last + Duration::from_micros(silence_us));
        let Level::Phi(got) = s.level else { panic!("phi detector reported {:?}", s.level) };
        let tol = 1e-9 * want.abs().max(1.0) + 1e-9;
        prop_assert!((got - want).abs() <= tol, "z={z}: got {got}, want {want}");
        let expected = if want >= 8.0 { Verdict::Dead } else if want >= 3.0 { Verdict::Suspect } else { Verdict::Alive };
        // Only compare away from the boundaries (rounding may flip an exact tie).
        if (want - 8.0).abs() > 1e-6 && (want - 3.0).abs() > 1e-6 {
            prop_assert_eq!(s.verdict, expected);
        }
    }

    #[test]
    fn phi_is_monotone_in_silence(
        intervals in prop::collection::vec(1_000u64..500_000, 0..60),
        a in 0u64..10_000_000,
        b in 0u64..10_000_000,
    ) {
        let c = config(32, 10, 50, 100);
        let t0 = Instant::now();
        let (d, last) = build(&c, t0, &intervals);
        let (lo, hi) = (a.min(b), a.max(b));
        let p_lo = d.phi_for(Duration::from_micros(lo));
        let p_hi = d.phi_for(Duration::from_micros(hi));
        prop_assert!(p_lo <= p_hi, "phi({lo}µs)={p_lo} > phi({hi}µs)={p_hi}");
        prop_assert!(p_hi.is_finite());
        let v_lo = d.suspicion(last + Duration::from_micros(lo)).verdict;
        let v_hi = d.suspicion(last + Duration::from_micros(hi)).verdict;
        prop_assert!(v_lo <= v_hi);
    }

    #[test]
    fn window_stays_bounded_and_mean_tracks_rate(
        max_samples in 1usize..50,
        n in 0usize..400,
    ) {
        let c = config(max_samples, 1, 0, 1000);
        let t0 = Instant::now();
        // 100 ms heartbeats: the 1 s bootstrap estimate must wash out once the window is full.
        let intervals = vec![100_000u64; n];
        let (d, _) = build(&c, t0, &intervals);
        prop_assert!(d.window().len() <= max_samples);
        if n >= max_samples {
            prop_assert_eq!(d.window().mean_us(), 100_000.0);
        }
    }

    #[test]
    fn next_deadline_is_exact(
        intervals in prop::collection::vec(10_000u64..300_000, 0..40),
        probe_us in 0u64..3_000_000,
    ) {
        let c = PhiConfig::for_interval(Duration::from_millis(100), 8.0);
        let t0 = Instant::now();
        let (d, last) = build(&c, t0, &intervals);
        let now = last + Duration::from_micros(probe_us);
        let before = d.suspicion(now).verdict;
        match d.next_deadline(now) {
            None => prop_assert_eq!(before, Verdict::Dead),
            Some(at) => {
                prop_assert!(at > now);
                prop_assert_ne!(d.suspicion(at).verdict, before);
                // 2 µs earlier nothing had changed yet (unless that is before `now`).
                let earlier = at - Duration::from_micros(2);
                if earlier > now {
                    prop_assert_eq!(d.suspicion(earlier).verdict, before);
                }
            }
        }
    }
}

#[test]
fn reference_is_sane() {
    // Q(0) = 0.5, Q(3.090232306167813) = 0.001
    assert!((ref_phi(0.0) - 0.5f64.log10().abs()).abs() < 1e-14);
    assert!((ref_phi(3.090_232_306_167_813) - 3.0).abs() < 1e-10);
}
