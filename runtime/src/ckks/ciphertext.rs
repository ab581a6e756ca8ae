//! Ciphertexts: two (or, right after a multiplication, three) polynomials in the evaluation
//! domain, with their level and exact scale.

use crate::math::{Eval, RnsPoly};

/// An RLWE ciphertext `(c_0, c_1[, c_2])` decrypting to `c_0 + c_1·s (+ c_2·s²)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) parts: Vec<RnsPoly<Eval>>,
    pub(crate) level: usize,
    pub(crate) scale: f64,
}

impl Ciphertext {
    pub(crate) fn new(parts: Vec<RnsPoly<Eval>>, level: usize, scale: f64) -> Self {
        Self {
            parts,
            level,
            scale,
        }
    }

    /// The level: the ciphertext lives modulo `q_0 ⋯ q_level`.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The exact scale of the encrypted values.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Number of polynomials: 2, or 3 after a multiplication without relinearization.
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Overrides the tracked scale (for callers that know the exact value, e.g. after a
    /// multiplication by a constant of known integer factor).
    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
    }

    /// Size in bytes of the residues held in memory.
    pub fn size_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.as_raw().len() * 8).sum()
    }
}
