//! Building [`Polynomial`]s: Chebyshev interpolation of a function, the exact Chebyshev form
//! of a monomial-basis polynomial, and the measured maximum error of an approximation.

use super::{series, Polynomial};
use std::f64::consts::PI;

/// The degree-`degree` polynomial interpolating `f` at the `degree + 1` Chebyshev nodes of the
/// first kind of `interval` (`lo < hi`, both finite), in the Chebyshev basis of that interval.
///
/// Interpolation at these nodes is near-minimax: its maximum error is within a factor
/// `2 + (2/π)·ln(degree + 1)` of the best possible (the Lebesgue constant), and in practice
/// within about 2× for smooth functions. It needs only `degree + 1` evaluations of `f` and no
/// iteration, so it never fails. [`approximate`](super::approximate) refines it with Remez
/// exchanges where that pays. `approximates` is `"function"`: set it to what `f` stands for.
pub fn chebyshev_interpolant(
    f: impl Fn(f64) -> f64,
    interval: (f64, f64),
    degree: usize,
) -> Polynomial {
    let (lo, hi) = interval;
    let n = degree + 1;
    let nf = n as f64;
    let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
    let angles: Vec<f64> = (0..n).map(|k| PI * (k as f64 + 0.5) / nf).collect();
    let values: Vec<f64> = angles.iter().map(|a| f(mid + half * a.cos())).collect();
    let coeffs = (0..n)
        .map(|j| {
            let s: f64 = angles
                .iter()
                .zip(&values)
                .map(|(a, v)| v * (j as f64 * a).cos())
                .sum();
            let c = 2.0 * s / nf;
            if j == 0 {
                0.5 * c
            } else {
                c
            }
        })
        .collect();
    Polynomial {
        coeffs,
        interval,
        approximates: "function".into(),
    }
}

/// The exact Chebyshev form, on `interval`, of the monomial-basis polynomial
/// `Σ coeffs[i]·xⁱ`, so that polynomial activations of the network itself (`0.125x² + 0.5x +
/// 0.25`) are [`Polynomial`]s like the approximated ones. Exact up to rounding, on the whole
/// real line (the interval only fixes the basis: pick the range of `x` so that `t ∈ [-1, 1]`
/// when the polynomial is evaluated homomorphically).
///
/// Computed by Horner's scheme in the Chebyshev basis (`x = m + h·t`), never through a
/// change-of-basis matrix. `approximates` is `"polynomial"`.
pub fn from_monomial(coeffs: &[f64], interval: (f64, f64)) -> Polynomial {
    let x = series::variable(interval);
    let mut acc: Vec<f64> = Vec::new();
    for &a in coeffs.iter().rev() {
        acc = series::add(&series::mul(&acc, &x), &[a]);
    }
    if acc.is_empty() {
        acc.push(0.0);
    }
    Polynomial {
        coeffs: acc,
        interval,
        approximates: "polynomial".into(),
    }
}

/// `max |poly(x) − f(x)|` over `samples` evenly spaced points of `interval`, both ends
/// included (at least the two ends): how well `poly` stands in for `f` there.
pub fn max_error(
    poly: &Polynomial,
    f: impl Fn(f64) -> f64,
    interval: (f64, f64),
    samples: usize,
) -> f64 {
    let (lo, hi) = interval;
    let n = samples.max(2);
    let step = (hi - lo) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            let x = if i + 1 == n { hi } else { lo + step * i as f64 };
            (poly.eval(x) - f(x)).abs()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_monomial_is_exact() {
        let c = [0.25, 0.5, 0.125];
        let p = from_monomial(&c, (-7.0, 9.0));
        assert_eq!(p.degree(), 2);
        for k in 0..=1600 {
            let x = -7.0 + 0.01 * f64::from(k);
            let want = 0.125 * x * x + 0.5 * x + 0.25;
            assert!(
                (p.eval(x) - want).abs() <= 1e-12 * want.abs().max(1.0),
                "x = {x}"
            );
        }
        // Exact outside the interval too (only the basis depends on it).
        let x = 20.0;
        assert!((p.eval(x) - (0.125 * x * x + 0.5 * x + 0.25)).abs() < 1e-11);
    }

    #[test]
    fn from_monomial_of_higher_degree_and_edge_cases() {
        let c = [1.0, -2.0, 0.0, 0.5, 0.0, -0.01];
        let p = from_monomial(&c, (-3.0, 2.0));
        assert_eq!(p.degree(), 5);
        for k in 0..=50 {
            let x = -3.0 + 0.1 * f64::from(k);
            let want: f64 = c.iter().rev().fold(0.0, |acc, a| acc * x + a);
            assert!((p.eval(x) - want).abs() < 1e-12, "x = {x}");
        }
        assert_eq!(from_monomial(&[], (0.0, 1.0)).coeffs, vec![0.0]);
        assert_eq!(from_monomial(&[3.0], (0.0, 1.0)).eval(0.7), 3.0);
    }

    #[test]
    fn interpolant_is_exact_on_polynomials_and_converges_on_smooth_functions() {
        let cubic = |x: f64| x * x * x - 2.0 * x + 1.0;
        let p = chebyshev_interpolant(cubic, (-2.0, 3.0), 3);
        assert!(max_error(&p, cubic, (-2.0, 3.0), 501) < 1e-12);
        // |exp − p_10| ≤ e / (2^10 · 11!) ≈ 6.7e-11.
        let e10 = max_error(
            &chebyshev_interpolant(f64::exp, (-1.0, 1.0), 10),
            f64::exp,
            (-1.0, 1.0),
            1001,
        );
        assert!(e10 < 7e-11, "{e10}");
    }
}
