//! Polynomials in RNS form, limb by limb, with their domain in the type.
//!
//! A `RnsPoly<D>` stores `limbs × n` residues contiguously (limb-major). The basis is not stored:
//! every operation receives the primes it works over, so a polynomial over `Q_l` or over
//! `Q_l ∪ P` is the same type and dropping levels is a truncation.

use super::ring::{Prime, RingContext};
use rayon::prelude::*;
use std::marker::PhantomData;

/// Coefficient domain marker.
#[derive(Clone, Copy, Debug)]
pub struct Coeff;
/// Evaluation (NTT) domain marker.
#[derive(Clone, Copy, Debug)]
pub struct Eval;

/// A polynomial of `Z[X]/(X^n + 1)` in RNS form, in domain `D` ([`Coeff`] or [`Eval`]).
pub struct RnsPoly<D> {
    n: usize,
    data: Vec<u64>,
    domain: PhantomData<D>,
}

impl<D> Clone for RnsPoly<D> {
    fn clone(&self) -> Self {
        Self {
            n: self.n,
            data: self.data.clone(),
            domain: PhantomData,
        }
    }
}

impl<D> std::fmt::Debug for RnsPoly<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RnsPoly")
            .field("n", &self.n)
            .field("limbs", &(self.data.len() / self.n.max(1)))
            .finish()
    }
}

impl<D> PartialEq for RnsPoly<D> {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n && self.data == other.data
    }
}

impl<D> Eq for RnsPoly<D> {}

impl<D> zeroize::Zeroize for RnsPoly<D> {
    fn zeroize(&mut self) {
        self.data.zeroize();
    }
}

impl<D: Send + Sync> RnsPoly<D> {
    /// The zero polynomial with `limbs` residues per coefficient.
    pub fn zero(n: usize, limbs: usize) -> Self {
        Self {
            n,
            data: vec![0; n * limbs],
            domain: PhantomData,
        }
    }

    /// Wraps raw residues (`limbs × n`, limb-major); `None` if the length is not a multiple of `n`.
    pub fn from_raw(n: usize, data: Vec<u64>) -> Option<Self> {
        (n > 0 && data.len().is_multiple_of(n)).then_some(Self {
            n,
            data,
            domain: PhantomData,
        })
    }

    /// The ring degree.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of RNS limbs.
    #[inline]
    pub fn limbs(&self) -> usize {
        self.data.len() / self.n
    }

    /// Residues modulo the `i`-th prime of the basis.
    #[inline]
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// Mutable residues modulo the `i`-th prime of the basis.
    #[inline]
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    /// All residues, limb-major.
    pub fn as_raw(&self) -> &[u64] {
        &self.data
    }

    /// Iterates over limbs in parallel.
    pub fn par_limbs_mut(&mut self) -> rayon::slice::ChunksMut<'_, u64> {
        self.data.par_chunks_mut(self.n)
    }

    /// Iterates over mutable limbs.
    pub fn limbs_mut_iter(&mut self) -> std::slice::ChunksMut<'_, u64> {
        self.data.chunks_mut(self.n)
    }

    /// Iterates over limbs.
    pub fn limbs_iter(&self) -> std::slice::Chunks<'_, u64> {
        self.data.chunks(self.n)
    }

    /// Keeps the first `limbs` limbs (drops the rest of the basis).
    pub fn truncate(&mut self, limbs: usize) {
        self.data.truncate(limbs * self.n);
    }

    /// A copy of the limbs `range` (e.g. the `P` part of a `Q_l ∪ P` polynomial).
    pub fn slice_limbs(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            n: self.n,
            data: self.data[range.start * self.n..range.end * self.n].to_vec(),
            domain: PhantomData,
        }
    }

    /// Appends the limbs of `other` (basis concatenation).
    pub fn append(&mut self, other: &Self) {
        self.data.extend_from_slice(&other.data);
    }

    /// `self += other` over `basis` (the first `basis.len()` limbs of both).
    pub fn add_assign(&mut self, other: &Self, basis: &[&Prime]) {
        self.zip_limbs(other, basis, |m, a, b| {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = m.add(*x, y);
            }
        });
    }

    /// `self -= other` over `basis`.
    pub fn sub_assign(&mut self, other: &Self, basis: &[&Prime]) {
        self.zip_limbs(other, basis, |m, a, b| {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = m.sub(*x, y);
            }
        });
    }

    /// `self = -self` over `basis`.
    pub fn neg_assign(&mut self, basis: &[&Prime]) {
        let n = self.n;
        self.data[..basis.len() * n]
            .par_chunks_mut(n)
            .zip(basis.par_iter())
            .for_each(|(a, p)| {
                let m = p.modulus();
                a.iter_mut().for_each(|x| *x = m.neg(*x));
            });
    }

    /// Multiplies limb `i` by the constant `scalars[i]` (each already reduced modulo its prime).
    pub fn mul_scalar_assign(&mut self, scalars: &[u64], basis: &[&Prime]) {
        let n = self.n;
        self.data[..basis.len() * n]
            .par_chunks_mut(n)
            .zip(basis.par_iter().zip(scalars.par_iter()))
            .for_each(|(a, (p, &w))| {
                let m = p.modulus();
                let w_shoup = m.shoup(w);
                a.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, w_shoup));
            });
    }

    /// Adds the constant `scalars[i]` to every residue of limb `i`. In the evaluation domain
    /// this adds a constant polynomial; in the coefficient domain, only to coefficient 0.
    pub fn add_scalar_to_all_assign(&mut self, scalars: &[u64], basis: &[&Prime]) {
        let n = self.n;
        self.data[..basis.len() * n]
            .par_chunks_mut(n)
            .zip(basis.par_iter().zip(scalars.par_iter()))
            .for_each(|(a, (p, &w))| {
                let m = p.modulus();
                a.iter_mut().for_each(|x| *x = m.add(*x, w));
            });
    }

    fn zip_limbs(
        &mut self,
        other: &Self,
        basis: &[&Prime],
        f: impl Fn(&crate::math::Modulus, &mut [u64], &[u64]) + Sync,
    ) {
        let n = self.n;
        let k = basis.len();
        debug_assert!(self.limbs() >= k && other.limbs() >= k);
        self.data[..k * n]
            .par_chunks_mut(n)
            .zip(other.data[..k * n].par_chunks(n))
            .zip(basis.par_iter())
            .for_each(|((a, b), p)| f(p.modulus(), a, b));
    }
}

impl RnsPoly<Coeff> {
    /// Reduces signed integer coefficients modulo every prime of `basis`.
    pub fn from_signed(n: usize, coeffs: &[i64], basis: &[&Prime]) -> Self {
        let mut poly = Self::zero(n, basis.len());
        poly.par_limbs_mut()
            .zip(basis.par_iter())
            .for_each(|(limb, p)| {
                let m = p.modulus();
                for (x, &c) in limb.iter_mut().zip(coeffs) {
                    *x = m.reduce_i64(c);
                }
            });
        poly
    }

    /// Forward NTT of every limb.
    pub fn into_eval(mut self, basis: &[&Prime]) -> RnsPoly<Eval> {
        let n = self.n;
        self.data[..basis.len() * n]
            .par_chunks_mut(n)
            .zip(basis.par_iter())
            .for_each(|(a, p)| p.ntt().forward(a));
        RnsPoly {
            n: self.n,
            data: self.data,
            domain: PhantomData,
        }
    }

    /// The automorphism `X -> X^g` (`g` odd) in the coefficient domain.
    pub fn automorphism(&self, g: u64, basis: &[&Prime]) -> Self {
        let n = self.n;
        let two_n = 2 * n as u64;
        let mut out = Self::zero(n, basis.len());
        out.par_limbs_mut()
            .zip(self.data.par_chunks(n))
            .zip(basis.par_iter())
            .for_each(|((dst, src), p)| {
                let m = p.modulus();
                for (i, &c) in src.iter().enumerate() {
                    let j = (i as u64 * g) % two_n;
                    if j < n as u64 {
                        dst[j as usize] = c;
                    } else {
                        dst[(j - n as u64) as usize] = m.neg(c);
                    }
                }
            });
        out
    }
}

impl RnsPoly<Eval> {
    /// Inverse NTT of every limb.
    pub fn into_coeff(mut self, basis: &[&Prime]) -> RnsPoly<Coeff> {
        let n = self.n;
        self.data[..basis.len() * n]
            .par_chunks_mut(n)
            .zip(basis.par_iter())
            .for_each(|(a, p)| p.ntt().inverse(a));
        RnsPoly {
            n: self.n,
            data: self.data,
            domain: PhantomData,
        }
    }

    /// `self *= other` pointwise over `basis` (a ring product in the evaluation domain).
    pub fn mul_assign(&mut self, other: &Self, basis: &[&Prime]) {
        const CHUNK: usize = 1024;
        let n = self.n;
        let k = basis.len();
        self.data[..k * n]
            .par_chunks_mut(n)
            .zip(other.data[..k * n].par_chunks(n))
            .zip(basis.par_iter())
            .for_each(|((a, b), p)| {
                // The NTT library's vectorised multiply-accumulate into a zeroed scratch.
                let mut scratch = [0u64; CHUNK];
                for (a, b) in a.chunks_mut(CHUNK).zip(b.chunks(CHUNK)) {
                    let s = &mut scratch[..a.len()];
                    s.fill(0);
                    p.ntt().mul_accumulate(s, a, b);
                    a.copy_from_slice(s);
                }
            });
    }

    /// `self += a * b` pointwise over `basis`.
    pub fn mul_accumulate(&mut self, a: &Self, b: &Self, basis: &[&Prime]) {
        let n = self.n;
        let k = basis.len();
        self.data[..k * n]
            .par_chunks_mut(n)
            .zip(a.data[..k * n].par_chunks(n))
            .zip(b.data[..k * n].par_chunks(n))
            .zip(basis.par_iter())
            .for_each(|(((acc, x), y), p)| p.ntt().mul_accumulate(acc, x, y));
    }

    /// The automorphism `X -> X^g` in the evaluation domain (a permutation of each limb).
    pub fn automorphism(&self, g: u64, ring: &RingContext) -> Self {
        let map = ring.galois_map(g);
        let n = self.n;
        let mut out = Self::zero(n, self.limbs());
        out.par_limbs_mut()
            .zip(self.data.par_chunks(n))
            .for_each(|(dst, src)| {
                for (d, &k) in dst.iter_mut().zip(map.iter()) {
                    *d = src[k as usize];
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;

    fn ring(n: usize, count: usize) -> RingContext {
        let mut g = PrimeGenerator::new(50, n as u64).unwrap();
        let primes: Vec<u64> = (0..count).map(|_| g.next_below(&[]).unwrap()).collect();
        RingContext::new(n, &primes).unwrap()
    }

    #[test]
    fn automorphism_commutes_with_ntt() {
        let n = 1 << 8;
        let ring = ring(n, 2);
        let basis: Vec<&Prime> = ring.primes().iter().collect();
        let coeffs: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 1001 - 500).collect();
        let a = RnsPoly::from_signed(n, &coeffs, &basis);
        for g in [5u64, 25, 2 * n as u64 - 1, 3] {
            let via_coeff = a.automorphism(g, &basis).into_eval(&basis);
            let via_eval = a.clone().into_eval(&basis).automorphism(g, &ring);
            assert_eq!(via_coeff, via_eval, "g = {g}");
        }
    }

    #[test]
    fn ntt_round_trip_and_product() {
        let n = 1 << 6;
        let ring = ring(n, 3);
        let basis: Vec<&Prime> = ring.primes().iter().collect();
        let a: Vec<i64> = (0..n as i64).map(|i| i - 30).collect();
        let mut x_pow = vec![0i64; n];
        x_pow[1] = 1;
        let pa = RnsPoly::from_signed(n, &a, &basis);
        let mut prod = pa.clone().into_eval(&basis);
        prod.mul_assign(
            &RnsPoly::from_signed(n, &x_pow, &basis).into_eval(&basis),
            &basis,
        );
        let back = prod.into_coeff(&basis);
        // a * X shifts coefficients and negates the one that wraps.
        let mut expect = vec![0i64; n];
        expect[0] = -a[n - 1];
        expect[1..].copy_from_slice(&a[..n - 1]);
        assert_eq!(back, RnsPoly::from_signed(n, &expect, &basis));
    }
}
