//! Hybrid key switching (Han–Ki): digit decomposition with ModUp to `Q_l ∪ P`, inner product with
//! the key, ModDown back to `Q_l`.
//!
//! Decomposition is separate from the key product so that several rotations of one ciphertext
//! share it (hoisting): the automorphism commutes with ModUp, so rotated digits are a
//! permutation of the decomposed ones.

use super::keys::SwitchingKey;
use super::params::CkksParams;
use crate::math::fma::{sub_scale_mod, F64_PRIME_BOUND};
use crate::math::{Eval, RnsPoly};
use rayon::prelude::*;

/// A polynomial split into key-switching digits, each raised to `Q_l ∪ P` (evaluation domain).
#[derive(Clone, Debug)]
pub struct Decomposition {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly<Eval>>,
}

/// Splits `c` (evaluation domain over `Q_level`) into digits and raises each to `Q_level ∪ P`.
pub(crate) fn decompose(params: &CkksParams, c: &RnsPoly<Eval>, level: usize) -> Decomposition {
    let qp_basis = params.qp_basis(level);
    let q_count = level + 1;
    let n = c.n();
    let mut c_coeff = c.clone();
    c_coeff.truncate(q_count);
    let c_coeff = c_coeff.into_coeff(&qp_basis[..q_count]);
    let tables = params.level_tables(level);
    let digits = tables
        .mod_up
        .par_iter()
        .map(|(range, converter)| {
            let mut out = RnsPoly::<Eval>::zero(n, qp_basis.len());
            let sources: Vec<&[u64]> = range.clone().map(|i| c_coeff.limb(i)).collect();
            let mut targets = Vec::with_capacity(qp_basis.len() - range.len());
            for (i, limb) in out.limbs_mut_iter().enumerate() {
                if range.contains(&i) {
                    // The digit's own primes keep the exact evaluation-domain residues.
                    limb.copy_from_slice(c.limb(i));
                } else {
                    targets.push(limb);
                }
            }
            converter.convert_into(&sources, targets);
            out.par_limbs_mut()
                .zip(qp_basis.par_iter())
                .enumerate()
                .filter(|(i, _)| !range.contains(i))
                .for_each(|(_, (limb, p))| p.ntt().forward(limb));
            out
        })
        .collect();
    Decomposition { level, digits }
}

/// `Σ_j digit_j · (b_j, a_j)` over `Q_l ∪ P`, then ModDown: the key-switched pair over `Q_l`.
///
/// With `galois_map`, the digits are read through the evaluation-domain permutation of an
/// automorphism (hoisted rotations), without materialising rotated copies.
pub(crate) fn apply_key(
    params: &CkksParams,
    dec: &Decomposition,
    key: &SwitchingKey,
    galois_map: Option<&[u32]>,
) -> [RnsPoly<Eval>; 2] {
    let [acc_b, acc_a] = apply_key_extended(params, dec, key, galois_map);
    let level = dec.level;
    let (b, a) = rayon::join(
        || mod_down(params, acc_b, level),
        || mod_down(params, acc_a, level),
    );
    [b, a]
}

/// [`apply_key`] without the ModDown: the pair over `Q_l ∪ P`, `P` times the key-switched
/// pair plus a small error. Sums of such pairs (the giant steps of a linear transform) need one
/// ModDown for the whole sum.
pub(crate) fn apply_key_extended(
    params: &CkksParams,
    dec: &Decomposition,
    key: &SwitchingKey,
    galois_map: Option<&[u32]>,
) -> [RnsPoly<Eval>; 2] {
    let level = dec.level;
    let q_count = level + 1;
    // The key holds `q_0 … q_key.level` then `P`; the evaluator checked `key.level >= level`.
    let top = key.level + 1;
    debug_assert!(key.level >= level && key.b.len() >= dec.digits.len());
    let qp = params.qp_basis(level);
    let n = params.n();
    let key_limb = |t: usize| if t < q_count { t } else { top + (t - q_count) };
    let mut acc_b = RnsPoly::<Eval>::zero(n, qp.len());
    let mut acc_a = RnsPoly::<Eval>::zero(n, qp.len());
    acc_b
        .par_limbs_mut()
        .zip(acc_a.par_limbs_mut())
        .enumerate()
        .for_each(|(t, (out_b, out_a))| {
            let ntt = qp[t].ntt();
            let kt = key_limb(t);
            let Some(map) = galois_map else {
                for (j, digit) in dec.digits.iter().enumerate() {
                    ntt.mul_accumulate(out_b, digit.limb(t), key.b[j].limb(kt));
                    ntt.mul_accumulate(out_a, digit.limb(t), key.a[j].limb(kt));
                }
                return;
            };
            // Rotated digits are read through the permutation a chunk at a time, into a buffer
            // that stays in L1 (no allocation per limb).
            const CHUNK: usize = 512;
            let mut scratch = [0u64; CHUNK];
            for (j, digit) in dec.digits.iter().enumerate() {
                let src = digit.limb(t);
                let (kb, ka) = (key.b[j].limb(kt), key.a[j].limb(kt));
                for start in (0..n).step_by(CHUNK) {
                    let end = (start + CHUNK).min(n);
                    let d = &mut scratch[..end - start];
                    for (x, &k) in d.iter_mut().zip(&map[start..end]) {
                        *x = src[k as usize];
                    }
                    ntt.mul_accumulate(&mut out_b[start..end], d, &kb[start..end]);
                    ntt.mul_accumulate(&mut out_a[start..end], d, &ka[start..end]);
                }
            }
        });
    [acc_b, acc_a]
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
            if m.value() < F64_PRIME_BOUND {
                sub_scale_mod(xi, ci, inv, m.value());
                return;
            }
            let inv_shoup = m.shoup(inv);
            for (v, &c) in xi.iter_mut().zip(ci.iter()) {
                *v = m.mul_shoup(m.sub(*v, c), inv, inv_shoup);
            }
        });
    x
}

/// `round((P·c + x) / (P·q_l))` over `Q_{l−1}`: a key-switched pair part `x` (over `Q_l ∪ P`,
/// from [`apply_key_extended`]) added to `c` (over `Q_l`), then rescaled, with one basis
/// conversion where ModDown followed by a rescale takes two (and `l` NTTs fewer per part).
/// `None` at level 0.
pub(crate) fn mod_down_rescale(
    params: &CkksParams,
    mut x: RnsPoly<Eval>,
    c: &RnsPoly<Eval>,
    level: usize,
) -> Option<RnsPoly<Eval>> {
    let tables = params.level_tables(level).mod_down_rescale.as_ref()?;
    let q_basis = params.q_basis(level);
    let p_basis = params.p_basis();
    let last = q_basis[level];
    // `P·c + x` on `q_l`; on the primes of `P` it is `x`.
    let mut sources = x.slice_limbs(level + 1..level + 1 + p_basis.len());
    let mut top = x.slice_limbs(level..level + 1);
    let lm = last.modulus();
    let p_shoup = lm.shoup(tables.p_mod_last);
    for (t, &ci) in top.limb_mut(0).iter_mut().zip(c.limb(level)) {
        *t = lm.add(*t, lm.mul_shoup(ci, tables.p_mod_last, p_shoup));
    }
    sources.append(&top);
    let from: Vec<&crate::math::Prime> = p_basis.iter().copied().chain([last]).collect();
    let below = &q_basis[..level];
    let correction = tables
        .converter
        .convert(&sources.into_coeff(&from))
        .into_eval(below);
    x.truncate(level);
    x.par_limbs_mut()
        .zip(correction.limbs_iter().collect::<Vec<_>>().par_iter())
        .zip(below.par_iter().zip(tables.pq_inv.par_iter()))
        .zip(
            c.limbs_iter()
                .collect::<Vec<_>>()
                .par_iter()
                .zip(tables.q_last_inv.par_iter()),
        )
        .for_each(|(((xi, corr), (p, &pq_inv)), (c, &q_inv))| {
            let m = p.modulus();
            if m.value() < F64_PRIME_BOUND {
                sub_scale_mod(xi, corr, pq_inv, m.value());
            } else {
                let w = m.shoup(pq_inv);
                for (v, &k) in xi.iter_mut().zip(corr.iter()) {
                    *v = m.mul_shoup(m.sub(*v, k), pq_inv, w);
                }
            }
            let w = m.shoup(q_inv);
            for (v, &ci) in xi.iter_mut().zip(c.iter()) {
                *v = m.add(*v, m.mul_shoup(ci, q_inv, w));
            }
        });
    Some(x)
}
