//! Additions, negation, and products by plaintexts and constants (no key needed).

use super::Evaluator;
use crate::ckks::ciphertext::Ciphertext;
use crate::ckks::plaintext::Plaintext;
use crate::error::{Result, RuntimeError};

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
