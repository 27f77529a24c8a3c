//! The complementary error function and the normal tail, computed without underflow.
//!
//! `std` has no `erfc`, so this module implements W. J. Cody's rational Chebyshev
//! approximations: W. J. Cody, "Rational Chebyshev approximations for the error function",
//! *Mathematics of Computation* 23 (1969) 631–637, as published in Cody's SPECFUN package
//! (routine `CALERF`, netlib `specfun/erf`, 1990). The three intervals are
//! `|x| ≤ 0.46875` (erf series form), `0.46875 < |x| ≤ 4` and `|x| > 4` (asymptotic form in
//! `1/x²`); the relative error of `erfc` is below about 1e-15 in the first interval and
//! 1e-14 elsewhere, well inside the 1e-12 this crate needs.
//!
//! For the phi detector the important function is [`neg_log10_normal_tail`]: it computes
//! `−log10(Q(z))`, `Q(z) = 1 − Φ(z) = erfc(z/√2)/2`, from the *scaled* function
//! `erfcx(x) = exp(x²)·erfc(x)` in log space, so φ stays finite for any finite `z` (plain
//! `erfc` underflows to 0 near `x ≈ 27`, which would make φ infinite).

// The coefficients are quoted with Cody's published digits so they can be checked against
// the source; the compiler rounds them to the nearest f64.
#![allow(clippy::excessive_precision)]

use std::f64::consts::{LN_2, LN_10, SQRT_2};

const THRESH: f64 = 0.46875;
const A: [f64; 5] = [
    3.161_123_743_870_565_6e0,
    1.138_641_541_510_501_56e2,
    3.774_852_376_853_020_21e2,
    3.209_377_589_138_469_47e3,
    1.857_777_061_846_031_53e-1,
];
const B: [f64; 4] = [
    2.360_129_095_234_412_09e1,
    2.440_246_379_344_441_73e2,
    1.282_616_526_077_372_28e3,
    2.844_236_833_439_170_62e3,
];
const C: [f64; 9] = [
    5.641_884_969_886_700_89e-1,
    8.883_149_794_388_375_94e0,
    6.611_919_063_714_162_95e1,
    2.986_351_381_974_001_31e2,
    8.819_522_212_417_690_90e2,
    1.712_047_612_634_070_58e3,
    2.051_078_377_826_071_47e3,
    1.230_339_354_797_997_25e3,
    2.153_115_354_744_038_46e-8,
];
const D: [f64; 8] = [
    1.574_492_611_070_983_47e1,
    1.176_939_508_913_124_99e2,
    5.371_811_018_620_098_58e2,
    1.621_389_574_566_690_19e3,
    3.290_799_235_733_459_63e3,
    4.362_619_090_143_247_16e3,
    3.439_367_674_143_721_64e3,
    1.230_339_354_803_749_42e3,
];
const P: [f64; 6] = [
    3.053_266_349_612_323_44e-1,
    3.603_448_999_498_044_39e-1,
    1.257_817_261_112_292_46e-1,
    1.608_378_514_874_227_66e-2,
    6.587_491_615_298_378_03e-4,
    1.631_538_713_730_209_78e-2,
];
const Q: [f64; 5] = [
    2.568_520_192_289_822_42e0,
    1.872_952_849_923_460_47e0,
    5.279_051_029_514_284_12e-1,
    6.051_834_131_244_131_91e-2,
    2.335_204_976_268_691_85e-3,
];
/// 1/√π.
const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;

/// erf(x) for |x| ≤ 0.46875 (Cody's first interval).
fn erf_small(x: f64) -> f64 {
    let z = x * x;
    let mut num = A[4] * z;
    let mut den = z;
    for i in 0..3 {
        num = (num + A[i]) * z;
        den = (den + B[i]) * z;
    }
    x * (num + A[3]) / (den + B[3])
}

/// erfcx(y) = exp(y²)·erfc(y) for y > 0.46875 (Cody's second and third intervals).
fn erfcx_large(y: f64) -> f64 {
    if y <= 4.0 {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        (num + C[7]) / (den + D[7])
    } else {
        let z = 1.0 / (y * y);
        let mut num = P[5] * z;
        let mut den = z;
        for i in 0..4 {
            num = (num + P[i]) * z;
            den = (den + Q[i]) * z;
        }
        let r = z * (num + P[4]) / (den + Q[4]);
        (FRAC_1_SQRT_PI - r) / y
    }
}

/// exp(−y²) computed as Cody does, splitting y² so the rounding of y² does not cost accuracy.
fn exp_neg_sq(y: f64) -> f64 {
    let head = (y * 16.0).trunc() / 16.0;
    let del = (y - head) * (y + head);
    (-head * head).exp() * (-del).exp()
}

/// The complementary error function `erfc(x) = 1 − erf(x)`.
///
/// Returns `NaN` for `NaN`, `0` for `+∞` and `2` for `−∞`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    if y <= THRESH {
        return 1.0 - erf_small(x);
    }
    let positive = if y >= 27.3 {
        0.0
    } else {
        exp_neg_sq(y) * erfcx_large(y)
    };
    if x < 0.0 { 2.0 - positive } else { positive }
}

/// The natural logarithm of `erfc(x)`, finite for every finite `x` (no underflow for large `x`).
pub fn ln_erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= THRESH {
        return erfc(x).ln();
    }
    if x.is_infinite() {
        return f64::NEG_INFINITY;
    }
    // erfc(x) = exp(−x²)·erfcx(x); keep the exponent in log space.
    let head = (x * 16.0).trunc() / 16.0;
    let del = (x - head) * (x + head);
    erfcx_large(x).ln() - head * head - del
}

/// `−log10(Q(z))` where `Q(z) = 1 − Φ(z)` is the upper tail of the standard normal
/// distribution. This is φ for a standardised silence `z = (Δt − μ)/σ`.
///
/// Finite for every finite `z`; tends to 0 as `z → −∞` and grows like `z²/(2 ln 10)` for
/// large `z`.
pub fn neg_log10_normal_tail(z: f64) -> f64 {
    // Q(z) = erfc(z/√2)/2  ⇒  −log10 Q = (ln 2 − ln erfc(z/√2)) / ln 10.
    let v = (LN_2 - ln_erfc(z / SQRT_2)) / LN_10;
    // Q ≤ 1 only up to rounding; φ is never negative.
    v.max(0.0)
}

/// The standardised silence `z` at which [`neg_log10_normal_tail`] reaches `phi`
/// (the inverse function), found by bisection on the monotone function.
///
/// Returns `None` when `phi` is not a finite positive number.
pub fn normal_tail_z_for(phi: f64) -> Option<f64> {
    if !phi.is_finite() || phi <= 0.0 {
        return None;
    }
    // φ(−40) ≈ 0 and φ(z) ≥ z²/(2 ln 10) − ... so an upper bracket of 2·√(2 ln10 φ) + 10 works.
    let mut lo = -40.0_f64;
    let mut hi = 2.0 * (2.0 * LN_10 * phi).sqrt() + 10.0;
    while neg_log10_normal_tail(hi) < phi {
        hi *= 2.0;
        if !hi.is_finite() {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if neg_log10_normal_tail(mid) < phi {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // `hi` is the smallest representable z found with φ(z) ≥ phi.
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_known_values() {
        // Reference values from Abramowitz & Stegun table 7.1 / high-precision computation.
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715_1),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_034_8e-12),
            (10.0, 2.088_487_583_762_545e-45),
            (-1.0, 1.842_700_792_949_714_9),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            let rel = ((got - want) / want).abs();
            assert!(rel < 1e-13, "erfc({x}) = {got}, want {want}, rel err {rel}");
        }
    }

    #[test]
    fn ln_erfc_does_not_underflow() {
        // erfc(30) ≈ 2.56e-393 underflows an f64; its log does not.
        let v = ln_erfc(30.0);
        assert!(v.is_finite());
        // ln erfc(x) ≈ −x² − ln(x√π) for large x.
        let approx = -900.0 - (30.0 * std::f64::consts::PI.sqrt()).ln();
        assert!((v - approx).abs() < 1e-3, "{v} vs {approx}");
        assert!(neg_log10_normal_tail(60.0).is_finite());
    }

    #[test]
    fn tail_matches_known_quantiles() {
        // Q(1.959963984540054) = 0.025, Q(3.090232306167813) = 0.001.
        let phi = neg_log10_normal_tail(1.959_963_984_540_054);
        assert!((phi - (-(0.025_f64).log10())).abs() < 1e-12, "{phi}");
        let phi = neg_log10_normal_tail(3.090_232_306_167_813);
        assert!((phi - 3.0).abs() < 1e-11, "{phi}");
    }

    #[test]
    fn inverse_round_trip() {
        for phi in [0.01, 0.5, 1.0, 3.0, 8.0, 16.0, 100.0, 300.0] {
            let z = normal_tail_z_for(phi).unwrap_or(f64::NAN);
            let back = neg_log10_normal_tail(z);
            assert!(
                (back - phi).abs() < 1e-9 * phi.max(1.0),
                "phi {phi} → z {z} → {back}"
            );
            assert!(back >= phi);
        }
        assert_eq!(normal_tail_z_for(0.0), None);
        assert_eq!(normal_tail_z_for(f64::NAN), None);
    }
}
