//! Ciphertext products and relinearization.

use super::Evaluator;
use crate::ckks::ciphertext::Ciphertext;
use crate::ckks::keys::SwitchingKey;
use crate::ckks::keyswitch::{
    apply_key, apply_key_extended, decompose, mod_down_rescale, Decomposition,
};
use crate::error::{Result, RuntimeError};
use crate::math::{Eval, RnsPoly};

impl Evaluator {
    /// The tensor product `(a_0 b_0, a_0 b_1 + a_1 b_0, a_1 b_1)`: a 3-part ciphertext under
    /// `(1, s, s²)` whose scale is the product of the scales. Relinearize, then rescale.
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.tensor_sum(&[(a, b)])
    }

    /// `Σ a_i ⊗ b_i`, the tensor products of at least one pair accumulated in one 3-part
    /// ciphertext (every operand at one level, every product at one scale).
    fn tensor_sum(&self, pairs: &[(&Ciphertext, &Ciphertext)]) -> Result<Ciphertext> {
        let Some(&(first, first_b)) = pairs.first() else {
            return Err(RuntimeError::ShapeMismatch {
                detail: "a sum of products needs at least one product".into(),
            });
        };
        let (level, scale) = (first.level, first.scale * first_b.scale);
        for &(a, b) in pairs {
            self.relinearized(a, "mul")?;
            self.relinearized(b, "mul")?;
            self.same_level(level, a.level)?;
            self.same_level(level, b.level)?;
            self.same_scale(scale, a.scale * b.scale)?;
        }
        let basis = self.params.q_basis(level);
        let n = self.params.n();
        let accumulate = |f: &dyn Fn(&mut RnsPoly<Eval>, &Ciphertext, &Ciphertext)| {
            let mut acc = RnsPoly::<Eval>::zero(n, basis.len());
            for &(a, b) in pairs {
                f(&mut acc, a, b);
            }
            acc
        };
        let ((d0, d2), d1) = rayon::join(
            || {
                rayon::join(
                    || {
                        accumulate(&|acc, a, b| {
                            acc.mul_accumulate(&a.parts[0], &b.parts[0], &basis)
                        })
                    },
                    || {
                        accumulate(&|acc, a, b| {
                            acc.mul_accumulate(&a.parts[1], &b.parts[1], &basis)
                        })
                    },
                )
            },
            || {
                accumulate(&|acc, a, b| {
                    acc.mul_accumulate(&a.parts[0], &b.parts[1], &basis);
                    acc.mul_accumulate(&a.parts[1], &b.parts[0], &basis);
                })
            },
        );
        Ok(Ciphertext::new(vec![d0, d1, d2], level, scale))
    }

    /// Switches the `s²` part of a 3-part ciphertext back under `s`.
    pub fn relinearize(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        if ct.parts.len() == 2 {
            return Ok(ct.clone());
        }
        let (key, dec) = self.decompose_s2(ct)?;
        let [k0, k1] = apply_key(&self.params, &dec, key, None);
        let basis = self.params.q_basis(ct.level);
        let mut c0 = ct.parts[0].clone();
        let mut c1 = ct.parts[1].clone();
        c0.add_assign(&k0, &basis);
        c1.add_assign(&k1, &basis);
        Ok(Ciphertext::new(vec![c0, c1], ct.level, ct.scale))
    }

    /// `(Σ a_i ⊙ b_i + linear + constant) / q_l`: products accumulated as 3-part tensors that
    /// share one key switch (lazy relinearization), which is fused with the rescale
    /// ([`Self::relinearize_rescale`]), where a sum of [`Self::mul_relin_rescale`]s pays a key
    /// switch and a rescale per product. Every operand must be at one level, every product at
    /// one scale, and `linear` (a 2-part ciphertext) at that scale; `constant` is encoded at it.
    pub fn mul_sum_rescale(
        &self,
        pairs: &[(&Ciphertext, &Ciphertext)],
        linear: Option<&Ciphertext>,
        constant: f64,
    ) -> Result<Ciphertext> {
        let mut sum = self.tensor_sum(pairs)?;
        if let Some(linear) = linear {
            self.relinearized(linear, "add to a sum of products")?;
            self.add_assign(&mut sum, linear)?;
        }
        if constant != 0.0 {
            sum = self.add_const(&sum, constant)?;
        }
        self.relinearize_rescale(&sum)
    }

    /// `rescale(relinearize(ct))` with one ModDown by `P·q_l` instead of a ModDown by `P` and a
    /// rescale by `q_l` (the same value up to rounding, with one rounding error fewer).
    pub fn relinearize_rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        if ct.parts.len() == 2 || ct.level == 0 {
            return self.rescale(&self.relinearize(ct)?);
        }
        let (key, dec) = self.decompose_s2(ct)?;
        let [k0, k1] = apply_key_extended(&self.params, &dec, key, None);
        let level = ct.level;
        let (c0, c1) = rayon::join(
            || mod_down_rescale(&self.params, k0, &ct.parts[0], level),
            || mod_down_rescale(&self.params, k1, &ct.parts[1], level),
        );
        let (Some(c0), Some(c1)) = (c0, c1) else {
            return Err(RuntimeError::LevelTooLow {
                op: "rescale",
                needed: 1,
                found: 0,
            });
        };
        Ok(Ciphertext::new(
            vec![c0, c1],
            level - 1,
            ct.scale / self.params.q(level) as f64,
        ))
    }

    /// The relinearization key of a 3-part ciphertext and its `s²` part decomposed for it.
    fn decompose_s2(&self, ct: &Ciphertext) -> Result<(&SwitchingKey, Decomposition)> {
        if ct.parts.len() != 3 {
            return Err(RuntimeError::NotRelinearized {
                op: "relinearize",
                parts: ct.parts.len(),
            });
        }
        let key = self.relin_key(ct.level)?;
        Ok((key, decompose(&self.params, &ct.parts[2], ct.level)))
    }

    /// The relinearization key, checked to serve ciphertexts at `level`.
    fn relin_key(&self, level: usize) -> Result<&SwitchingKey> {
        let key = self
            .keys
            .as_ref()
            .and_then(|k| k.relin.as_ref())
            .ok_or(RuntimeError::MissingRelinKey)?;
        if key.level < level {
            return Err(RuntimeError::KeyLevelTooLow {
                what: "relinearization".into(),
                key_level: key.level,
                level,
            });
        }
        Ok(key)
    }

    /// `relinearize(mul(a, b))`.
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize(&self.mul(a, b)?)
    }

    /// `rescale(relinearize(mul(a, b)))`: the usual product of two values at the same scale.
    pub fn mul_relin_rescale(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize_rescale(&self.mul(a, b)?)
    }
}
