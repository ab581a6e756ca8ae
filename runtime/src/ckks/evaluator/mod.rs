//! Homomorphic operations on ciphertexts, split by family: additions and plaintext products
//! (`arith`), ciphertext products and relinearization (`mul`), rotations and conjugation
//! (`rotate`), and level management (here).
//!
//! Every ciphertext carries its level and exact scale; operands at different levels or scales
//! are refused with an error rather than combined into garbage.

mod arith;

pub(crate) use arith::{PlainResidues, Residues};
mod mul;
mod rotate;

use super::ciphertext::Ciphertext;
use super::encoder::Encoder;
use super::encrypt::ensure_fingerprint;
use super::keys::EvalKeys;
use super::params::CkksParams;
use crate::error::{Result, RuntimeError};
use crate::math::rns::divide_round_by_last;
use std::sync::Arc;

/// Relative tolerance under which two scales are considered equal.
const SCALE_TOLERANCE: f64 = 1e-9;

/// Evaluates homomorphic operations for one parameter set, with the evaluation keys the server
/// was given (none are needed for additions and plaintext products).
#[derive(Clone)]
pub struct Evaluator {
    params: CkksParams,
    encoder: Arc<Encoder>,
    keys: Option<Arc<EvalKeys>>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("params", &self.params.fingerprint_hex())
            .field("has_keys", &self.keys.is_some())
            .finish()
    }
}

impl Evaluator {
    /// An evaluator without keys: additions, plaintext products, rescaling.
    pub fn new(params: &CkksParams) -> Self {
        Self {
            params: params.clone(),
            encoder: Arc::new(Encoder::new(params)),
            keys: None,
        }
    }

    /// An evaluator with evaluation keys (relinearization, rotations), checked to belong to
    /// `params`.
    pub fn with_keys(params: &CkksParams, keys: Arc<EvalKeys>) -> Result<Self> {
        ensure_fingerprint(params, keys.fingerprint, "evaluation keys")?;
        Ok(Self {
            params: params.clone(),
            encoder: Arc::new(Encoder::new(params)),
            keys: Some(keys),
        })
    }

    /// The parameter set.
    pub fn params(&self) -> &CkksParams {
        &self.params
    }

    /// The encoder of the parameter set (for plaintext operands).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Divides by the last prime `q_level`: the level drops by one and the scale is divided by
    /// `q_level` exactly.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.rescale_assign(&mut out)?;
        Ok(out)
    }

    /// In-place [`Self::rescale`].
    pub fn rescale_assign(&self, ct: &mut Ciphertext) -> Result<()> {
        if ct.level == 0 {
            return Err(RuntimeError::LevelTooLow {
                op: "rescale",
                needed: 1,
                found: 0,
            });
        }
        let basis = self.params.q_basis(ct.level);
        let parts = std::mem::take(&mut ct.parts);
        ct.parts = parts
            .into_iter()
            .map(|p| divide_round_by_last(p, &basis))
            .collect();
        ct.scale /= self.params.q(ct.level) as f64;
        ct.level -= 1;
        Ok(())
    }

    /// Drops primes without dividing: same values and scale, at the lower `level`.
    pub fn drop_to_level(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext> {
        if level > ct.level {
            return Err(RuntimeError::LevelOutOfRange {
                from: ct.level,
                to: level,
                max: self.params.max_level(),
            });
        }
        let mut out = ct.clone();
        for p in &mut out.parts {
            p.truncate(level + 1);
        }
        out.level = level;
        Ok(out)
    }

    fn same_level(&self, a: usize, b: usize) -> Result<()> {
        if a != b {
            return Err(RuntimeError::LevelMismatch { lhs: a, rhs: b });
        }
        Ok(())
    }

    fn same_scale(&self, a: f64, b: f64) -> Result<()> {
        if ((a - b) / a).abs() > SCALE_TOLERANCE {
            return Err(RuntimeError::ScaleMismatch { lhs: a, rhs: b });
        }
        Ok(())
    }

    fn relinearized(&self, ct: &Ciphertext, op: &'static str) -> Result<()> {
        if ct.parts.len() != 2 {
            return Err(RuntimeError::NotRelinearized {
                op,
                parts: ct.parts.len(),
            });
        }
        Ok(())
    }
}
