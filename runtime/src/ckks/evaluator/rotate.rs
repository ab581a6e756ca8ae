//! Slot rotations and complex conjugation (automorphisms followed by key switching), including
//! hoisted rotations that share one decomposition.

use super::Evaluator;
use crate::ckks::ciphertext::Ciphertext;
use crate::ckks::keys::{
    galois_element_for_conjugation, galois_element_for_rotation, SwitchingKey,
};
use crate::ckks::keyswitch::{apply_key, apply_key_extended, decompose, mod_down, Decomposition};
use crate::error::{Result, RuntimeError};
use crate::math::{Eval, Prime, RnsPoly};
use rayon::prelude::*;

/// A partial sum of rotated ciphertexts: the parts over `Q_l` (automorphisms of `c_0`, and
/// terms that needed no key switch), and the key-switched parts kept over `Q_l ∪ P`.
struct RotationSum {
    c0: RnsPoly<Eval>,
    c1: Option<RnsPoly<Eval>>,
    extended: Option<[RnsPoly<Eval>; 2]>,
}

impl RotationSum {
    fn merge(mut self, other: Self, q: &[&Prime], qp: &[&Prime]) -> Self {
        self.c0.add_assign(&other.c0, q);
        self.c1 = match (self.c1, other.c1) {
            (Some(mut a), Some(b)) => {
                a.add_assign(&b, q);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.extended = match (self.extended, other.extended) {
            (Some([mut b0, mut a0]), Some([b1, a1])) => {
                b0.add_assign(&b1, qp);
                a0.add_assign(&a1, qp);
                Some([b0, a0])
            }
            (a, b) => a.or(b),
        };
        self
    }
}

impl Evaluator {
    /// The key of Galois element `g`, checked to serve ciphertexts at `level`.
    fn galois_key(
        &self,
        g: u64,
        level: usize,
        what: impl FnOnce() -> String,
    ) -> Result<&SwitchingKey> {
        let Some(key) = self.keys.as_ref().and_then(|k| k.galois.get(&g)) else {
            return Err(RuntimeError::MissingGaloisKey {
                what: what(),
                element: g,
            });
        };
        if key.level < level {
            return Err(RuntimeError::KeyLevelTooLow {
                what: what(),
                key_level: key.level,
                level,
            });
        }
        Ok(key)
    }

    /// Rotates slots left by `step` (slot `j` receives slot `j + step`); negative steps rotate
    /// right. Needs the rotation key for `step`.
    pub fn rotate(&self, ct: &Ciphertext, step: i64) -> Result<Ciphertext> {
        let g = galois_element_for_rotation(step, &self.params);
        if g == 1 {
            return Ok(ct.clone());
        }
        self.apply_galois(ct, g, || format!("rotation by {step}"))
    }

    /// Complex conjugation of every slot. Needs the conjugation key.
    pub fn conjugate(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        let g = galois_element_for_conjugation(&self.params);
        self.apply_galois(ct, g, || "conjugation".to_string())
    }

    fn apply_galois(
        &self,
        ct: &Ciphertext,
        g: u64,
        what: impl FnOnce() -> String,
    ) -> Result<Ciphertext> {
        self.relinearized(ct, "rotate")?;
        let key = self.galois_key(g, ct.level, what)?;
        let ring = self.params.ring();
        let c1 = ct.parts[1].automorphism(g, ring);
        let dec = decompose(&self.params, &c1, ct.level);
        Ok(self.finish_rotation(ct, g, &dec, key, None))
    }

    fn finish_rotation(
        &self,
        ct: &Ciphertext,
        g: u64,
        dec: &Decomposition,
        key: &SwitchingKey,
        galois_map: Option<&[u32]>,
    ) -> Ciphertext {
        let [k0, k1] = apply_key(&self.params, dec, key, galois_map);
        let basis = self.params.q_basis(ct.level);
        let mut c0 = ct.parts[0].automorphism(g, self.params.ring());
        c0.add_assign(&k0, &basis);
        Ciphertext::new(vec![c0, k1], ct.level, ct.scale)
    }

    /// `Σ_i rot(ct_i, step_i)` with one ModDown for the whole sum instead of one per rotation:
    /// each key switch stays over `Q_l ∪ P` until the sum is complete (the giant steps of a
    /// baby-step giant-step transform). Every ciphertext must be at the same level and scale;
    /// the result differs from summing [`Self::rotate`]s by rounding noise only (less of it).
    pub fn rotate_sum(&self, terms: &[(&Ciphertext, i64)]) -> Result<Ciphertext> {
        let Some(&(first, _)) = terms.first() else {
            return Err(RuntimeError::ShapeMismatch {
                detail: "a sum of rotations needs at least one term".into(),
            });
        };
        let (level, scale) = (first.level, first.scale);
        let mut keys = Vec::with_capacity(terms.len());
        for &(ct, step) in terms {
            self.relinearized(ct, "rotate")?;
            self.same_level(level, ct.level)?;
            self.same_scale(scale, ct.scale)?;
            let g = galois_element_for_rotation(step, &self.params);
            let key = if g == 1 {
                None
            } else {
                Some(self.galois_key(g, level, || format!("rotation by {step}"))?)
            };
            keys.push((g, key));
        }
        let q = self.params.q_basis(level);
        let qp = self.params.qp_basis(level);
        let ring = self.params.ring();
        let sum = terms
            .par_iter()
            .zip(keys.par_iter())
            .map(|(&(ct, _), &(g, key))| match key {
                None => RotationSum {
                    c0: ct.parts[0].clone(),
                    c1: Some(ct.parts[1].clone()),
                    extended: None,
                },
                Some(key) => {
                    let c1 = ct.parts[1].automorphism(g, ring);
                    let dec = decompose(&self.params, &c1, level);
                    RotationSum {
                        c0: ct.parts[0].automorphism(g, ring),
                        c1: None,
                        extended: Some(apply_key_extended(&self.params, &dec, key, None)),
                    }
                }
            })
            .reduce_with(|a, b| a.merge(b, &q, &qp))
            .ok_or_else(|| RuntimeError::ShapeMismatch {
                detail: "a sum of rotations needs at least one term".into(),
            })?;
        let RotationSum {
            mut c0,
            c1,
            extended,
        } = sum;
        let mut c1 = c1.unwrap_or_else(|| RnsPoly::zero(self.params.n(), q.len()));
        if let Some([b, a]) = extended {
            let (b, a) = rayon::join(
                || mod_down(&self.params, b, level),
                || mod_down(&self.params, a, level),
            );
            c0.add_assign(&b, &q);
            c1.add_assign(&a, &q);
        }
        Ok(Ciphertext::new(vec![c0, c1], level, scale))
    }

    /// Rotations of one ciphertext by several steps, sharing one key-switching decomposition
    /// (the baby steps of a baby-step giant-step linear transform). The result is in the order
    /// of `steps`; a step of 0 returns a copy.
    pub fn rotate_hoisted(&self, ct: &Ciphertext, steps: &[i64]) -> Result<Vec<Ciphertext>> {
        self.relinearized(ct, "rotate")?;
        let elements: Vec<u64> = steps
            .iter()
            .map(|&s| galois_element_for_rotation(s, &self.params))
            .collect();
        let keys: Vec<Option<&SwitchingKey>> = elements
            .iter()
            .zip(steps)
            .map(|(&g, &s)| {
                if g == 1 {
                    Ok(None)
                } else {
                    self.galois_key(g, ct.level, || format!("rotation by {s}"))
                        .map(Some)
                }
            })
            .collect::<Result<_>>()?;
        let dec = decompose(&self.params, &ct.parts[1], ct.level);
        Ok(elements
            .par_iter()
            .zip(keys.par_iter())
            .map(|(&g, key)| match key {
                None => ct.clone(),
                Some(key) => {
                    let map = self.params.ring().galois_map(g);
                    self.finish_rotation(ct, g, &dec, key, Some(&map))
                }
            })
            .collect())
    }
}
