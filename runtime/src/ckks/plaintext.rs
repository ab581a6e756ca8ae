//! Encoded (not encrypted) values: one polynomial in the evaluation domain with its level and
//! scale.

use crate::math::{Eval, RnsPoly};

/// A plaintext polynomial over `q_0 … q_level`, evaluation domain, at an exact scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    poly: RnsPoly<Eval>,
    level: usize,
    scale: f64,
}

impl Plaintext {
    pub(crate) fn new(poly: RnsPoly<Eval>, level: usize, scale: f64) -> Self {
        Self { poly, level, scale }
    }

    /// The level (number of primes minus one).
    pub fn level(&self) -> usize {
        self.level
    }

    /// The exact scale the values were multiplied by.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub(crate) fn poly(&self) -> &RnsPoly<Eval> {
        &self.poly
    }
}
