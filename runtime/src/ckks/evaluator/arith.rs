//! Additions, negation, and products by plaintexts and constants (no key needed).

use super::Evaluator;
use crate::ckks::ciphertext::Ciphertext;
use crate::ckks::plaintext::Plaintext;
use crate::error::{Result, RuntimeError};
use crate::math::{Eval, PackedLayout, RnsPoly};
use rayon::prelude::*;

/// One term of [`Evaluator::mul_plain_sum_residues`]: a ciphertext and a plaintext given by its
/// residues (evaluation domain), level and scale.
pub(crate) struct PlainResidues<'a> {
    pub(crate) ct: &'a Ciphertext,
    pub(crate) residues: Residues<'a>,
    pub(crate) level: usize,
    pub(crate) scale: f64,
}

/// The residues of a plaintext operand, limb-major: as `u64`, or packed in 32-bit words.
#[derive(Clone, Copy)]
pub(crate) enum Residues<'a> {
    /// `n` residues per limb.
    Full(&'a [u64]),
    /// A packed polynomial and its layout.
    Packed(&'a [u32], &'a PackedLayout),
}

impl Residues<'_> {
    /// Whether limbs `0..limbs` of degree `n` are all there.
    fn holds(&self, limbs: usize, n: usize) -> bool {
        match self {
            Residues::Full(r) => r.len() >= limbs * n,
            Residues::Packed(w, layout) => {
                layout.n() == n && layout.words(limbs).is_some_and(|need| w.len() >= need)
            }
        }
    }

    /// Coefficients `start..end` of limb `i` (degree `n`), unpacked into `scratch` if packed.
    fn chunk<'s>(
        &'s self,
        i: usize,
        n: usize,
        start: usize,
        end: usize,
        scratch: &'s mut [u64],
    ) -> &'s [u64] {
        match *self {
            Residues::Full(r) => &r[i * n + start..i * n + end],
            Residues::Packed(w, layout) => {
                let out = &mut scratch[..end - start];
                layout.unpack(w, i, start..end, out);
                out
            }
        }
    }
}

impl Evaluator {
    /// `a + b` (same level and scale).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a += b`.
    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.combine_assign(a, b, false)
    }

    /// `a - b` (same level and scale).
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let mut out = a.clone();
        self.sub_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.combine_assign(a, b, true)
    }

    fn combine_assign(&self, a: &mut Ciphertext, b: &Ciphertext, subtract: bool) -> Result<()> {
        self.same_level(a.level, b.level)?;
        self.same_scale(a.scale, b.scale)?;
        let basis = self.params.q_basis(a.level);
        let n = self.params.n();
        while a.parts.len() < b.parts.len() {
            a.parts.push(crate::math::RnsPoly::zero(n, basis.len()));
        }
        for (x, y) in a.parts.iter_mut().zip(&b.parts) {
            if subtract {
                x.sub_assign(y, &basis);
            } else {
                x.add_assign(y, &basis);
            }
        }
        Ok(())
    }

    /// `-a`.
    pub fn neg(&self, a: &Ciphertext) -> Ciphertext {
        let mut out = a.clone();
        let basis = self.params.q_basis(a.level);
        for p in &mut out.parts {
            p.neg_assign(&basis);
        }
        out
    }

    fn check_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<()> {
        if pt.level() < ct.level {
            return Err(RuntimeError::LevelMismatch {
                lhs: ct.level,
                rhs: pt.level(),
            });
        }
        Ok(())
    }

    /// `ct + pt` (the plaintext's level may be higher; its scale must equal the ciphertext's).
    pub fn add_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_plain(ct, pt)?;
        self.same_scale(ct.scale, pt.scale())?;
        let mut out = ct.clone();
        out.parts[0].add_assign(pt.poly(), &self.params.q_basis(ct.level));
        Ok(out)
    }

    /// `ct - pt`.
    pub fn sub_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_plain(ct, pt)?;
        self.same_scale(ct.scale, pt.scale())?;
        let mut out = ct.clone();
        out.parts[0].sub_assign(pt.poly(), &self.params.q_basis(ct.level));
        Ok(out)
    }

    /// `ct · pt` slot-wise; the scale becomes the product of the scales (rescale afterwards).
    pub fn mul_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.mul_plain_assign(&mut out, pt)?;
        Ok(out)
    }

    /// In-place [`Self::mul_plain`].
    pub fn mul_plain_assign(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<()> {
        self.check_plain(ct, pt)?;
        let basis = self.params.q_basis(ct.level);
        for p in &mut ct.parts {
            p.mul_assign(pt.poly(), &basis);
        }
        ct.scale *= pt.scale();
        Ok(())
    }

    /// `Σ ct_i · pt_i` slot-wise in one pass: each limb of the result accumulates every product
    /// while it is in cache, without a temporary ciphertext per term. The ciphertexts must share
    /// their level and number of parts, and every product its scale (the result's).
    pub fn mul_plain_sum(&self, terms: &[(&Ciphertext, &Plaintext)]) -> Result<Ciphertext> {
        let raw: Vec<PlainResidues<'_>> = terms
            .iter()
            .map(|&(ct, pt)| PlainResidues {
                ct,
                residues: Residues::Full(pt.poly().as_raw()),
                level: pt.level(),
                scale: pt.scale(),
            })
            .collect();
        self.mul_plain_sum_residues(&raw)
    }

    /// [`Self::mul_plain_sum`] over plaintexts given as residues (limb-major, evaluation
    /// domain, at least the ciphertext's level), e.g. kept in one contiguous store.
    pub(crate) fn mul_plain_sum_residues(&self, terms: &[PlainResidues<'_>]) -> Result<Ciphertext> {
        let Some(first) = terms.first() else {
            return Err(RuntimeError::ShapeMismatch {
                detail: "a plaintext product sum needs at least one term".into(),
            });
        };
        let level = first.ct.level;
        let parts = first.ct.parts.len();
        let scale = first.ct.scale * first.scale;
        let n = self.params.n();
        for t in terms {
            self.same_level(level, t.ct.level)?;
            if t.level < level || !t.residues.holds(level + 1, n) {
                return Err(RuntimeError::LevelMismatch {
                    lhs: level,
                    rhs: t.level,
                });
            }
            self.same_scale(scale, t.ct.scale * t.scale)?;
            if t.ct.parts.len() != parts {
                return Err(RuntimeError::NotRelinearized {
                    op: "mul_plain_sum",
                    parts: t.ct.parts.len(),
                });
            }
        }
        // One task per limb: every part of the result accumulates there, chunk by chunk, so each
        // plaintext chunk is read from memory once and used for all parts while in cache.
        const CHUNK: usize = 1024;
        let basis = self.params.q_basis(level);
        let mut out: Vec<RnsPoly<Eval>> =
            (0..parts).map(|_| RnsPoly::zero(n, basis.len())).collect();
        let mut by_limb: Vec<Vec<&mut [u64]>> = (0..basis.len()).map(|_| Vec::new()).collect();
        for poly in &mut out {
            for (i, limb) in poly.limbs_mut_iter().enumerate() {
                by_limb[i].push(limb);
            }
        }
        by_limb
            .into_par_iter()
            .zip(basis.par_iter())
            .enumerate()
            .for_each(|(i, (mut acc, prime))| {
                let ntt = prime.ntt();
                let mut scratch = [0u64; CHUNK];
                for start in (0..n).step_by(CHUNK) {
                    let end = (start + CHUNK).min(n);
                    for t in terms {
                        let plain = t.residues.chunk(i, n, start, end, &mut scratch);
                        for (dst, poly) in acc.iter_mut().zip(&t.ct.parts) {
                            ntt.mul_accumulate(
                                &mut dst[start..end],
                                &poly.limb(i)[start..end],
                                plain,
                            );
                        }
                    }
                }
            });
        Ok(Ciphertext::new(out, level, scale))
    }

    /// `ct + c` in every slot (`c` encoded at the ciphertext's scale).
    pub fn add_const(&self, ct: &Ciphertext, c: f64) -> Result<Ciphertext> {
        let residues = self.encoder.constant_residues(c, ct.level, ct.scale)?;
        let mut out = ct.clone();
        out.parts[0].add_scalar_to_all_assign(&residues, &self.params.q_basis(ct.level));
        Ok(out)
    }

    /// `ct · c` in every slot, `c` encoded as the integer `round(c · const_scale)`: the result's
    /// scale is `ct.scale() · const_scale`. With `const_scale = 1` and an integral `c` no
    /// rescale is needed.
    pub fn mul_const(&self, ct: &Ciphertext, c: f64, const_scale: f64) -> Result<Ciphertext> {
        let residues = self.encoder.constant_residues(c, ct.level, const_scale)?;
        let basis = self.params.q_basis(ct.level);
        let mut out = ct.clone();
        for p in &mut out.parts {
            p.mul_scalar_assign(&residues, &basis);
        }
        out.scale *= const_scale;
        Ok(out)
    }
}
