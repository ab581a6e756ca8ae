//! Polynomial stand-ins for the activations CKKS cannot evaluate (ReLU, sigmoid, tanh).
//!
//! [`approximate`] returns the minimax (smallest maximum error) polynomial of the requested
//! degree, found by Remez exchanges and checked against Chebyshev interpolation (the
//! interpolant is kept if the exchange ever does worse).
//!
//! **ReLU** is approximated on a symmetric interval `[-B, B]`, `B = max(|lo|, |hi|)`, through
//! `relu(x) = (x + |x|) / 2`: the `x/2` part is exact and only `|x|` is approximated, by its
//! minimax *even* polynomial (the best approximation of an even function is even). The result
//! is the minimax approximation of ReLU itself (the two problems differ by the exact `x/2`),
//! 2 to 3.5 times as accurate as Chebyshev interpolation of ReLU at the same degree (table
//! below): for even `d` its error is `E_d(|x|)/2 ≈ 0.14·B/d` (Bernstein's constant
//! `β ≈ 0.2802` for `|x|`). Since the even part
//! has even degree, an odd degree `d` gives the same polynomial as `d − 1`: prefer even degrees
//! for ReLU when the depth allows (`2^k` costs one more level than `2^k − 1`).
//!
//! **Sigmoid and tanh** on a symmetric interval are odd up to their value at 0: the minimax
//! polynomial of the odd part is found on the odd basis (so an even degree `d` gives the
//! polynomial of degree `d − 1`). On an asymmetric interval the full basis is used.
//!
//! Maximum errors (measured on 20,001 evenly spaced points, checked by this module's tests;
//! ReLU errors scale with `B`; "interpolation" is Chebyshev interpolation of ReLU at the same
//! degree, for comparison; `2.2e-16` is the rounding floor):
//!
//! | degree | ReLU `[-1, 1]` | ReLU, interpolation | sigmoid `[-1, 1]` | tanh `[-1, 1]` | sigmoid `[-8, 8]` | tanh `[-4, 4]` |
//! |---:|---:|---:|---:|---:|---:|---:|
//! | 3   | 6.25e-2 | 1.35e-1 | 1.10e-4  | 4.55e-3 | 8.95e-2 | 1.79e-1 |
//! | 5   | 3.38e-2 | 8.63e-2 | 2.65e-6  | 3.85e-4 | 4.09e-2 | 8.17e-2 |
//! | 7   | 2.30e-2 | 6.37e-2 | 6.39e-8  | 3.27e-5 | 1.89e-2 | 3.78e-2 |
//! | 15  | 9.97e-3 | 3.14e-2 | 2.18e-14 | 1.69e-9 | 8.79e-4 | 1.76e-3 |
//! | 31  | 4.67e-3 | 1.56e-2 | 2.2e-16  | 4.4e-16 | 1.91e-6 | 3.82e-6 |
//! | 127 | 1.11e-3 | 3.91e-3 | 2.2e-16  | 4.4e-16 | 4.4e-16 | 4.4e-16 |
//!
//! Computing one approximation takes about 1 ms at degree 15 and 55 ms at degree 127.

use super::remez::minimax;
use super::{chebyshev_interpolant, max_error, Polynomial};
use std::fmt;

/// An activation function with no exact polynomial form, which the compiler replaces by a
/// [`Polynomial`] on the range its input takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl Activation {
    /// The lower-case name (`relu`, `sigmoid`, `tanh`), as in IR dumps and
    /// [`Polynomial::approximates`].
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    /// The activation of a [`name`](Self::name), as in [`Polynomial::approximates`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Activation::Relu, Activation::Sigmoid, Activation::Tanh]
            .into_iter()
            .find(|a| a.name() == name)
    }

    /// The function itself, the reference for approximation errors.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The minimax polynomial of degree at most `degree` approximating `activation` on `interval`
/// (`lo < hi`, finite), in the Chebyshev basis of the interval it is valid on; see the module
/// documentation for the method and the errors.
///
/// For ReLU that interval is `[-B, B]` with `B = max(|lo|, |hi|)` (symmetric, so that only
/// `|x|` is approximated); sigmoid and tanh use `interval` as given. Outside its interval a
/// polynomial diverges quickly: choose the interval with a margin over the calibrated range
/// (the `approximate-activations` pass does).
pub fn approximate(activation: Activation, interval: (f64, f64), degree: usize) -> Polynomial {
    match activation {
        Activation::Relu => relu(interval, degree),
        Activation::Sigmoid | Activation::Tanh => smooth(activation, interval, degree),
    }
}

/// `relu ≈ B/2 · (t + q(t))` with `q` the minimax even polynomial of `|t|` on `[-1, 1]`.
fn relu((lo, hi): (f64, f64), degree: usize) -> Polynomial {
    let b = lo.abs().max(hi.abs());
    let mut coeffs = vec![0.0; degree + 1];
    if degree == 0 {
        coeffs[0] = 0.5 * b;
    } else {
        let abs = abs_minimax(degree - degree % 2);
        for (k, c) in abs.iter().enumerate().step_by(2) {
            coeffs[k] = 0.5 * b * c;
        }
        coeffs[1] = 0.5 * b;
    }
    Polynomial {
        coeffs,
        interval: (-b, b),
        approximates: Activation::Relu.name().into(),
    }
}

/// The minimax even polynomial of `|t|` on `[-1, 1]` of even degree `degree` (Chebyshev
/// coefficients, the odd ones exactly zero), or the interpolant if the exchange fails.
fn abs_minimax(degree: usize) -> Vec<f64> {
    let ks: Vec<usize> = (0..=degree).step_by(2).collect();
    let mut interp = chebyshev_interpolant(f64::abs, (-1.0, 1.0), degree).coeffs;
    for c in interp.iter_mut().skip(1).step_by(2) {
        *c = 0.0;
    }
    let interp_error = max_error(&unit(interp.clone()), f64::abs, (-1.0, 1.0), 20_001);
    match minimax(&f64::abs, (0.0, 1.0), &ks) {
        Some(m) if m.error.is_finite() && m.error < interp_error => m.coeffs,
        _ => interp,
    }
}

/// Sigmoid or tanh on `interval`: the minimax polynomial (of the odd part on a symmetric
/// interval, where both functions are odd up to their value at 0), or the interpolant if the
/// exchange does worse.
fn smooth(activation: Activation, (lo, hi): (f64, f64), degree: usize) -> Polynomial {
    let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
    let g = move |t: f64| activation.eval(mid + half * t);
    let interp = chebyshev_interpolant(g, (-1.0, 1.0), degree).coeffs;
    let interp_error = max_error(&unit(interp.clone()), g, (-1.0, 1.0), 20_001);
    let symmetric = mid.abs() <= 1e-12 * half;
    let best = if symmetric && degree >= 1 {
        let g0 = g(0.0);
        let odd = move |t: f64| g(t) - g0;
        let ks: Vec<usize> = (1..=degree).step_by(2).collect();
        minimax(&odd, (0.0, 1.0), &ks).map(|mut m| {
            m.coeffs[0] = g0;
            m.coeffs.resize(degree + 1, 0.0);
            m
        })
    } else {
        let ks: Vec<usize> = (0..=degree).collect();
        minimax(&g, (-1.0, 1.0), &ks)
    };
    let coeffs = match best {
        Some(m) if m.error.is_finite() && m.error < interp_error => m.coeffs,
        _ => interp,
    };
    Polynomial {
        coeffs,
        interval: (lo, hi),
        approximates: activation.name().into(),
    }
}

fn unit(coeffs: Vec<f64>) -> Polynomial {
    Polynomial {
        coeffs,
        interval: (-1.0, 1.0),
        approximates: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of the module documentation: (degree, ReLU, ReLU interpolation, sigmoid,
    /// tanh on [-1, 1], sigmoid on [-8, 8], tanh on [-4, 4]).
    const TABLE: [(usize, [f64; 6]); 6] = [
        (3, [6.25e-2, 1.35e-1, 1.10e-4, 4.55e-3, 8.95e-2, 1.79e-1]),
        (5, [3.38e-2, 8.63e-2, 2.65e-6, 3.85e-4, 4.09e-2, 8.17e-2]),
        (7, [2.30e-2, 6.37e-2, 6.39e-8, 3.27e-5, 1.89e-2, 3.78e-2]),
        (15, [9.97e-3, 3.14e-2, 2.18e-14, 1.69e-9, 8.79e-4, 1.76e-3]),
        (31, [4.67e-3, 1.56e-2, 2.2e-16, 4.4e-16, 1.91e-6, 3.82e-6]),
        (127, [1.11e-3, 3.91e-3, 2.2e-16, 4.4e-16, 4.4e-16, 4.4e-16]),
    ];

    fn err_on(a: Activation, b: f64, degree: usize) -> f64 {
        let p = approximate(a, (-b, b), degree);
        max_error(&p, |x| a.eval(x), (-b, b), 20_001)
    }

    #[test]
    fn documented_errors_hold() {
        let relu = |x: f64| x.max(0.0);
        for (d, want) in TABLE {
            let interp = chebyshev_interpolant(relu, (-1.0, 1.0), d);
            let got = [
                err_on(Activation::Relu, 1.0, d),
                max_error(&interp, relu, (-1.0, 1.0), 20_001),
                err_on(Activation::Sigmoid, 1.0, d),
                err_on(Activation::Tanh, 1.0, d),
                err_on(Activation::Sigmoid, 8.0, d),
                err_on(Activation::Tanh, 4.0, d),
            ];
            for (g, w) in got.iter().zip(want) {
                let ok = if w < 1e-15 {
                    *g < 1e-15
                } else {
                    (g / w - 1.0).abs() < 0.01
                };
                assert!(ok, "degree {d}: measured {got:?}, documented {want:?}");
            }
        }
    }

    #[test]
    fn relu_error_decreases_with_degree_and_scales_with_the_interval() {
        let mut last = f64::INFINITY;
        for d in [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] {
            let e = err_on(Activation::Relu, 1.0, d);
            assert!(
                e < last || (d % 2 == 1 && e == last),
                "degree {d}: {e} vs {last}"
            );
            last = e;
        }
        let (e1, e5) = (
            err_on(Activation::Relu, 1.0, 15),
            err_on(Activation::Relu, 5.0, 15),
        );
        assert!((e5 / e1 - 5.0).abs() < 1e-6);
        // An asymmetric interval is made symmetric.
        let p = approximate(Activation::Relu, (-0.5, 3.0), 8);
        assert_eq!(p.interval, (-3.0, 3.0));
        assert_eq!((p.degree(), p.coeffs.len()), (8, 9));
        assert_eq!(approximate(Activation::Relu, (-1.0, 1.0), 9).degree(), 8);
    }

    #[test]
    fn minimax_never_loses_to_interpolation() {
        for a in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
            for (lo, hi) in [(-3.0, 3.0), (-1.0, 6.0)] {
                for d in [2, 5, 10, 21] {
                    let p = approximate(a, (lo, hi), d);
                    let (plo, phi) = p.interval;
                    let f = |x: f64| a.eval(x);
                    let i = chebyshev_interpolant(f, (plo, phi), d);
                    let (ep, ei) = (
                        max_error(&p, f, (plo, phi), 20_001),
                        max_error(&i, f, (plo, phi), 20_001),
                    );
                    assert!(
                        ep <= ei * (1.0 + 1e-6),
                        "{a} on [{lo}, {hi}], degree {d}: {ep} vs {ei}"
                    );
                    assert_eq!(p.approximates, a.name());
                }
            }
        }
    }
}
