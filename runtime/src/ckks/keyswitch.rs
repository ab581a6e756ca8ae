//! Hybrid key switching (Han–Ki): digit decomposition with ModUp to `Q_l ∪ P`, inner product with
//! the key, ModDown back to `Q_l`.
//!
//! Decomposition is separate from the key product so that several rotations of one ciphertext
//! share it (hoisting): the automorphism commutes with ModUp, so rotated digits are a
//! permutation of the decomposed ones.

use super::keys::SwitchingKey;
use super::params::CkksParams;
use crate::math::{Eval, RnsPoly};
use rayon::prelude::*;

/// A polynomial split into key-switching digits, each raised to `Q_l ∪ P` (evaluation domain).
#[derive(Clone, Debug)]
pub struct Decomposition {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly<Eval>>,
}

impl Decomposition {
    /// The same decomposition after the automorphism `X -> X^g`.
    pub(crate) fn automorphism(&self, g: u64, params: &CkksParams) -> Self {
        Self {
            level: self.level,
            digits: self
                .digits
                .iter()
                .map(|d| d.automorphism(g, params.ring()))
                .collect(),
        }
    }
}

/// Splits `c` (evaluation domain over `Q_level`) into digits and raises each to `Q_level ∪ P`.
pub(crate) fn decompose(params: &CkksParams, c: &RnsPoly<Eval>, level: usize) -> Decomposition {
    let q_basis = params.q_basis(level);
    let p_basis = params.p_basis();
    let q_count = level + 1;
    let mut c_trunc = c.clone();
    c_trunc.truncate(q_count);
    let c_coeff = c_trunc.into_coeff(&q_basis);
    let tables = params.level_tables(level);
    let digits = tables
        .mod_up
        .par_iter()
        .map(|(range, converter)| {
            let from = c_coeff.slice_limbs(range.clone());
            let target: Vec<_> = q_basis[..range.start]
                .iter()
                .chain(&q_basis[range.end..])
                .chain(&p_basis)
                .copied()
                .collect();
            let raised = converter.convert(&from).into_eval(&target);
            let mut out = RnsPoly::<Eval>::zero(c.n(), q_count + p_basis.len());
            let width = range.len();
            for i in 0..q_count + p_basis.len() {
                let src = if range.contains(&i) {
                    c.limb(i)
                } else if i < range.start {
                    raised.limb(i)
                } else {
                    raised.limb(i - width)
                };
                out.limb_mut(i).copy_from_slice(src);
            }
            out
        })
        .collect();
    Decomposition { level, digits }
}

/// `Σ_j digit_j · (b_j, a_j)` over `Q_l ∪ P`, then ModDown: the key-switched pair over `Q_l`.
pub(crate) fn apply_key(
    params: &CkksParams,
    dec: &Decomposition,
    key: &SwitchingKey,
) -> [RnsPoly<Eval>; 2] {
    let level = dec.level;
    let q_count = level + 1;
    let top = params.max_level() + 1;
    let qp = params.qp_basis(level);
    let n = params.n();
    let key_limb = |t: usize| if t < q_count { t } else { top + (t - q_count) };
    let product = |key_part: &Vec<RnsPoly<Eval>>| {
        let mut acc = RnsPoly::<Eval>::zero(n, qp.len());
        acc.par_limbs_mut().enumerate().for_each(|(t, out)| {
            let ntt = qp[t].ntt();
            for (digit, k) in dec.digits.iter().zip(key_part.iter()) {
                ntt.mul_accumulate(out, digit.limb(t), k.limb(key_limb(t)));
            }
        });
        mod_down(params, acc, level)
    };
    let (b, a) = rayon::join(|| product(&key.b), || product(&key.a));
    [b, a]
}

/// Divides a polynomial over `Q_l ∪ P` by `P`, rounding to the nearest integer, and returns it
/// over `Q_l`: `(x − [x]_P) / P` with `[x]_P` the centred remainder (exact basis conversion).
pub(crate) fn mod_down(params: &CkksParams, mut x: RnsPoly<Eval>, level: usize) -> RnsPoly<Eval> {
    let q_count = level + 1;
    let q_basis = params.q_basis(level);
    let p_basis = params.p_basis();
    let tables = params.level_tables(level);
    let p_part = x
        .slice_limbs(q_count..q_count + p_basis.len())
        .into_coeff(&p_basis);
    let correction = tables.mod_down.convert(&p_part).into_eval(&q_basis);
    x.truncate(q_count);
    x.par_limbs_mut()
        .zip(correction.limbs_iter().collect::<Vec<_>>().par_iter())
        .zip(q_basis.par_iter().zip(tables.p_inv.par_iter()))
        .for_each(|((xi, ci), (p, &inv))| {
            let m = p.modulus();
            let inv_shoup = m.shoup(inv);
            for (v, &c) in xi.iter_mut().zip(ci.iter()) {
                *v = m.mul_shoup(m.sub(*v, c), inv, inv_shoup);
            }
        });
    x
}
