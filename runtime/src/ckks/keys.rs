//! Keys: the ternary secret key, the public key, and the switching keys of hybrid key switching
//! (relinearization and rotations), with their generator.
//!
//! Every uniform polynomial `a` of a key is expanded from a 32-byte seed, so that serialized
//! keys carry only `b` and the seed (half the size).

use super::params::CkksParams;
use crate::error::{Result, RuntimeError};
use crate::math::sampling::{gaussian, ternary, uniform};
use crate::math::{Coeff, Eval, Prime, RnsPoly};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use zeroize::Zeroize;

/// A ChaCha20 generator seeded from the operating system's entropy source.
pub fn os_rng() -> Result<ChaCha20Rng> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| RuntimeError::Randomness(e.to_string()))?;
    let rng = ChaCha20Rng::from_seed(seed);
    seed.zeroize();
    Ok(rng)
}

/// The Galois element of a slot rotation by `step` (positive: to the left, slot `j` receives
/// slot `j + step`).
pub fn galois_element_for_rotation(step: i64, params: &CkksParams) -> u64 {
    let slots = params.slots() as i64;
    let k = step.rem_euclid(slots) as u64;
    let two_n = 2 * params.n() as u64;
    let mut g = 1u64;
    let mut base = 5u64;
    let mut e = k;
    while e > 0 {
        if e & 1 == 1 {
            g = g * base % two_n;
        }
        base = base * base % two_n;
        e >>= 1;
    }
    g
}

/// The Galois element of complex conjugation, `2N − 1`.
pub fn galois_element_for_conjugation(params: &CkksParams) -> u64 {
    2 * params.n() as u64 - 1
}

/// A small integer polynomial (secret, error) in the evaluation domain over `basis`.
pub(crate) fn small_eval(n: usize, coeffs: &[i64], basis: &[&Prime]) -> RnsPoly<Eval> {
    RnsPoly::<Coeff>::from_signed(n, coeffs, basis).into_eval(basis)
}

/// The RLWE body `−a·s + e` over `basis` with a fresh Gaussian `e`, computed as `−(a·s − e)` in
/// one multiply-accumulate pass (keys, and secret-key encryption).
pub(crate) fn rlwe_body<R: RngCore + CryptoRng>(
    a: &RnsPoly<Eval>,
    sk: &SecretKey,
    basis: &[&Prime],
    rng: &mut R,
) -> RnsPoly<Eval> {
    let n = a.n();
    let mut b = small_eval(n, &gaussian(n, rng), basis);
    b.neg_assign(basis);
    b.mul_accumulate(a, &sk.eval, basis);
    b.neg_assign(basis);
    b
}

/// The secret key `s`, a ternary polynomial. Zeroed when dropped; never printed.
pub struct SecretKey {
    pub(crate) coeffs: Vec<i64>,
    /// `s` in the evaluation domain over every prime `Q_L ∪ P`.
    pub(crate) eval: RnsPoly<Eval>,
    pub(crate) fingerprint: [u8; 16],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.coeffs.zeroize();
        self.eval.zeroize();
    }
}

impl SecretKey {
    pub(crate) fn from_coeffs(params: &CkksParams, coeffs: Vec<i64>) -> Self {
        let basis = params.full_basis();
        let eval = RnsPoly::<Coeff>::from_signed(params.n(), &coeffs, &basis).into_eval(&basis);
        Self {
            coeffs,
            eval,
            fingerprint: params.fingerprint(),
        }
    }
}

/// The public key `(b, a) = (−a·s + e, a)` over `Q_L`.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly<Eval>,
    pub(crate) a: RnsPoly<Eval>,
    pub(crate) seed: [u8; 32],
    pub(crate) fingerprint: [u8; 16],
}

/// A hybrid key-switching key from `s'` to `s`: per digit `j`, `(b_j, a_j)` over `Q_L ∪ P` with
/// `b_j = −a_j·s + e_j + P·[Q/Q_j · (Q/Q_j)^-1 mod Q_j]·s'` (the gadget is `P` on the primes of
/// digit `j` and `0` elsewhere).
///
/// A key switch at level `l` reads only the residues modulo `q_0 … q_l` and `P` of the digits
/// that meet `q_0 … q_l`. A key made for ciphertexts up to level `level` keeps only those
/// (over `Q_level ∪ P`): the same key, smaller, and unable to serve a higher level.
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchingKey {
    pub(crate) b: Vec<RnsPoly<Eval>>,
    pub(crate) a: Vec<RnsPoly<Eval>>,
    pub(crate) seed: [u8; 32],
    pub(crate) level: usize,
}

impl SwitchingKey {
    /// Expands the `a_j` of a key from its seed, restricted to `level` (see [`Self::digits`]).
    pub(crate) fn expand_a(
        params: &CkksParams,
        seed: [u8; 32],
        level: usize,
    ) -> Vec<RnsPoly<Eval>> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let basis = params.full_basis();
        (0..params.dnum())
            .map(|_| uniform(params.n(), &basis, &mut rng))
            .take(Self::digits(params, level))
            .map(|a| Self::restrict_poly(&a, params.max_level(), level))
            .collect()
    }

    /// The digits a key switch at `level` uses: those meeting `q_0 … q_level`.
    pub(crate) fn digits(params: &CkksParams, level: usize) -> usize {
        level / params.digit_size() + 1
    }

    /// The residues modulo `q_0 … q_level` and `P` of a polynomial over `Q_from ∪ P`.
    fn restrict_poly(poly: &RnsPoly<Eval>, from: usize, level: usize) -> RnsPoly<Eval> {
        if level == from {
            return poly.clone();
        }
        let mut out = poly.slice_limbs(0..level + 1);
        out.append(&poly.slice_limbs(from + 1..poly.limbs()));
        out
    }

    /// The key restricted to ciphertexts up to `level` (at most its own level).
    pub(crate) fn restricted(&self, params: &CkksParams, level: usize) -> Self {
        let level = level.min(self.level);
        let digits = Self::digits(params, level);
        let restrict = |polys: &[RnsPoly<Eval>]| -> Vec<RnsPoly<Eval>> {
            polys[..digits]
                .iter()
                .map(|p| Self::restrict_poly(p, self.level, level))
                .collect()
        };
        Self {
            b: restrict(&self.b),
            a: restrict(&self.a),
            seed: self.seed,
            level,
        }
    }

    /// The highest ciphertext level the key can switch.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Size in bytes of the residues in memory.
    pub fn size_bytes(&self) -> usize {
        self.b
            .iter()
            .chain(&self.a)
            .map(|p| p.as_raw().len() * 8)
            .sum()
    }
}

/// What a server needs to evaluate a circuit: the relinearization key and the rotation keys
/// the circuit uses. Contains no secret.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalKeys {
    pub(crate) relin: Option<SwitchingKey>,
    pub(crate) galois: BTreeMap<u64, SwitchingKey>,
    pub(crate) fingerprint: [u8; 16],
}

impl EvalKeys {
    /// Whether a relinearization key is present.
    pub fn has_relin(&self) -> bool {
        self.relin.is_some()
    }

    /// The Galois elements for which a key is present.
    pub fn galois_elements(&self) -> impl Iterator<Item = u64> + '_ {
        self.galois.keys().copied()
    }

    /// Size in bytes of all keys held in memory.
    pub fn size_bytes(&self) -> usize {
        self.relin
            .iter()
            .map(SwitchingKey::size_bytes)
            .sum::<usize>()
            + self
                .galois
                .values()
                .map(SwitchingKey::size_bytes)
                .sum::<usize>()
    }

    /// The parameter fingerprint the keys were made for.
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }
}

/// Generates keys for one parameter set.
#[derive(Debug, Clone)]
pub struct KeyGenerator {
    params: CkksParams,
}

impl KeyGenerator {
    /// A generator for `params`.
    pub fn new(params: &CkksParams) -> Self {
        Self {
            params: params.clone(),
        }
    }

    /// A fresh uniformly random ternary secret key.
    pub fn secret_key<R: RngCore + CryptoRng>(&self, rng: &mut R) -> SecretKey {
        SecretKey::from_coeffs(&self.params, ternary(self.params.n(), rng))
    }

    /// The public key of `sk`.
    pub fn public_key<R: RngCore + CryptoRng>(&self, sk: &SecretKey, rng: &mut R) -> PublicKey {
        let level = self.params.max_level();
        let basis = self.params.q_basis(level);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let a = uniform(self.params.n(), &basis, &mut ChaCha20Rng::from_seed(seed));
        let b = rlwe_body(&a, sk, &basis, rng);
        PublicKey {
            b,
            a,
            seed,
            fingerprint: self.params.fingerprint(),
        }
    }

    /// A key switching from `s_from` (evaluation domain over all primes) to `sk`.
    fn switching_key<R: RngCore + CryptoRng>(
        &self,
        sk: &SecretKey,
        s_from: &RnsPoly<Eval>,
        rng: &mut R,
    ) -> SwitchingKey {
        let params = &self.params;
        let basis = params.full_basis();
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let a = SwitchingKey::expand_a(params, seed, params.max_level());
        let q_count = params.max_level() + 1;
        let alpha = params.digit_size();
        let p_mod_q: Vec<u64> = params
            .q_basis(params.max_level())
            .iter()
            .map(|qi| {
                let m = qi.modulus();
                params
                    .p_basis()
                    .iter()
                    .fold(1u64, |acc, p| m.mul(acc, m.reduce(p.value())))
            })
            .collect();
        let b = a
            .iter()
            .enumerate()
            .map(|(j, aj)| {
                let mut bj = rlwe_body(aj, sk, &basis, rng);
                for i in (j * alpha)..((j + 1) * alpha).min(q_count) {
                    let m = basis[i].modulus();
                    let w = p_mod_q[i];
                    let w_shoup = m.shoup(w);
                    let src = s_from.limb(i);
                    for (x, &s) in bj.limb_mut(i).iter_mut().zip(src) {
                        *x = m.add(*x, m.mul_shoup(s, w, w_shoup));
                    }
                }
                bj
            })
            .collect();
        SwitchingKey {
            b,
            a,
            seed,
            level: params.max_level(),
        }
    }

    /// The relinearization key (switches `s²` to `s`).
    pub fn relin_key<R: RngCore + CryptoRng>(&self, sk: &SecretKey, rng: &mut R) -> SwitchingKey {
        let basis = self.params.full_basis();
        let mut s2 = sk.eval.clone();
        s2.mul_assign(&sk.eval, &basis);
        self.switching_key(sk, &s2, rng)
    }

    /// The key for the automorphism `X -> X^g` (switches `s(X^g)` to `s`).
    pub fn galois_key<R: RngCore + CryptoRng>(
        &self,
        sk: &SecretKey,
        galois_element: u64,
        rng: &mut R,
    ) -> SwitchingKey {
        let s_g = sk.eval.automorphism(galois_element, self.params.ring());
        self.switching_key(sk, &s_g, rng)
    }

    /// Evaluation keys: relinearization (if `relin`), one key per distinct rotation step
    /// (steps equivalent modulo the slot count share a key; step 0 needs none), and the
    /// conjugation key if `conjugation`; every key serves every level.
    pub fn eval_keys<R: RngCore + CryptoRng>(
        &self,
        sk: &SecretKey,
        relin: bool,
        rotations: &[i64],
        conjugation: bool,
        rng: &mut R,
    ) -> EvalKeys {
        let top = self.params.max_level();
        let rotations: Vec<(i64, usize)> = rotations.iter().map(|&k| (k, top)).collect();
        self.eval_keys_at_levels(
            sk,
            relin.then_some(top),
            &rotations,
            conjugation.then_some(top),
            rng,
        )
    }

    /// [`Self::eval_keys`] with each key restricted to the highest ciphertext level it must
    /// serve: `relin` and `conjugation` give that level for their key (`None`: no key), and
    /// `rotations` pairs each step with it (steps sharing a key get the highest of their
    /// levels). A circuit that rotates or multiplies at low levels only needs a fraction of the
    /// full keys (`runtime::exec::key_levels`).
    pub fn eval_keys_at_levels<R: RngCore + CryptoRng>(
        &self,
        sk: &SecretKey,
        relin: Option<usize>,
        rotations: &[(i64, usize)],
        conjugation: Option<usize>,
        rng: &mut R,
    ) -> EvalKeys {
        let top = self.params.max_level();
        let relin = relin.map(|level| self.relin_key(sk, rng).restricted(&self.params, level));
        let mut levels: BTreeMap<u64, usize> = BTreeMap::new();
        let elements = rotations
            .iter()
            .map(|&(k, level)| (galois_element_for_rotation(k, &self.params), level))
            .filter(|&(g, _)| g != 1)
            .chain(conjugation.map(|level| (galois_element_for_conjugation(&self.params), level)));
        for (g, level) in elements {
            let entry = levels.entry(g).or_insert(0);
            *entry = (*entry).max(level.min(top));
        }
        let galois = levels
            .into_iter()
            .map(|(g, level)| {
                let key = self.galois_key(sk, g, rng).restricted(&self.params, level);
                (g, key)
            })
            .collect();
        EvalKeys {
            relin,
            galois,
            fingerprint: self.params.fingerprint(),
        }
    }
}
