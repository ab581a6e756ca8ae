//! Polynomial approximation of activation functions.
//!
//! Non-polynomial activations (ReLU, sigmoid, tanh) cannot be evaluated on ciphertexts; the
//! compiler replaces each by a [`Polynomial`] in the Chebyshev basis of the interval observed in
//! calibration. The Chebyshev basis keeps coefficients small and evaluation stable, and is the
//! basis the runtime's baby-step giant-step evaluator works in.
//!
//! - [`chebyshev_interpolant`]: near-minimax interpolation of any function;
//! - [`from_monomial`]: the exact Chebyshev form of a polynomial given by monomial coefficients;
//! - [`approximate`]: the minimax polynomial of an [`Activation`] (errors tabulated in
//!   its documentation);
//! - [`max_error`]: the measured error of a polynomial against a function.

mod activation;
mod interpolate;
mod remez;
pub(crate) mod series;

pub use activation::{approximate, Activation};
pub use interpolate::{chebyshev_interpolant, from_monomial, max_error};

use std::fmt;

/// `p(x) = Σ c_i T_i(t)` with `t = (2x − lo − hi) / (hi − lo)`: a polynomial in the Chebyshev
/// basis of `[lo, hi]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    /// Chebyshev coefficients `c_0 … c_d`.
    pub coeffs: Vec<f64>,
    /// The interval `[lo, hi]` (`lo < hi`) mapped onto `[-1, 1]`.
    pub interval: (f64, f64),
    /// What the polynomial stands for: `relu`, `sigmoid`, `tanh`, or `polynomial` when it is
    /// exact (a polynomial activation of the network itself).
    pub approximates: String,
}

impl Polynomial {
    /// Degree (index of the last non-zero coefficient; 0 for a constant).
    pub fn degree(&self) -> usize {
        self.coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0)
    }

    /// Maps `x` from `[lo, hi]` onto `[-1, 1]`.
    pub fn to_unit(&self, x: f64) -> f64 {
        let (lo, hi) = self.interval;
        (2.0 * x - lo - hi) / (hi - lo)
    }

    /// `p(x)`, by Clenshaw's recurrence (stable for `x` inside the interval).
    pub fn eval(&self, x: f64) -> f64 {
        chebyshev_eval(&self.coeffs, self.to_unit(x))
    }
}

/// `Σ c_i T_i(t)` by Clenshaw's recurrence.
pub fn chebyshev_eval(coeffs: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in coeffs.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + c;
        b2 = b1;
        b1 = b0;
    }
    coeffs.first().copied().unwrap_or(0.0) + t * b1 - b2
}

impl fmt::Display for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ~ chebyshev degree {} on [{:.4}, {:.4}]",
            self.approximates,
            self.degree(),
            self.interval.0,
            self.interval.1
        )
    }
}
