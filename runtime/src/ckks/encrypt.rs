//! Encryption (public or secret key) and decryption.

use super::ciphertext::Ciphertext;
use super::keys::{PublicKey, SecretKey};
use super::params::CkksParams;
use super::plaintext::Plaintext;
use crate::error::{Result, RuntimeError};
use crate::math::sampling::{gaussian, ternary, uniform};
use crate::math::{Coeff, Eval, Prime, RnsPoly};
use rand_core::{CryptoRng, RngCore};

enum Key<'k> {
    Public(&'k PublicKey),
    Secret(&'k SecretKey),
}

/// Encrypts plaintexts with a public key (anyone) or with the secret key (the owner; same
/// security, slightly less noise).
pub struct Encryptor<'k> {
    params: CkksParams,
    key: Key<'k>,
}

pub(crate) fn ensure_fingerprint(
    params: &CkksParams,
    found: [u8; 16],
    what: &'static str,
) -> Result<()> {
    if found != params.fingerprint() {
        return Err(RuntimeError::ParamsMismatch {
            what,
            expected: params.fingerprint_hex(),
            found: found.iter().map(|b| format!("{b:02x}")).collect(),
        });
    }
    Ok(())
}

fn small_eval(n: usize, coeffs: &[i64], basis: &[&Prime]) -> RnsPoly<Eval> {
    RnsPoly::<Coeff>::from_signed(n, coeffs, basis).into_eval(basis)
}

impl<'k> Encryptor<'k> {
    /// An encryptor with the public key.
    pub fn with_public_key(params: &CkksParams, pk: &'k PublicKey) -> Result<Self> {
        ensure_fingerprint(params, pk.fingerprint, "public key")?;
        Ok(Self {
            params: params.clone(),
            key: Key::Public(pk),
        })
    }

    /// An encryptor with the secret key.
    pub fn with_secret_key(params: &CkksParams, sk: &'k SecretKey) -> Result<Self> {
        ensure_fingerprint(params, sk.fingerprint, "secret key")?;
        Ok(Self {
            params: params.clone(),
            key: Key::Secret(sk),
        })
    }

    /// Encrypts `pt` at its level and scale.
    pub fn encrypt<R: RngCore + CryptoRng>(&self, pt: &Plaintext, rng: &mut R) -> Ciphertext {
        let level = pt.level();
        let basis = self.params.q_basis(level);
        let n = self.params.n();
        let (mut c0, c1) = match self.key {
            Key::Public(pk) => {
                let v = small_eval(n, &ternary(n, rng), &basis);
                let mut c0 = small_eval(n, &gaussian(n, rng), &basis);
                let mut c1 = small_eval(n, &gaussian(n, rng), &basis);
                let mut vb = v.clone();
                vb.mul_assign(&pk.b, &basis);
                c0.add_assign(&vb, &basis);
                let mut va = v;
                va.mul_assign(&pk.a, &basis);
                c1.add_assign(&va, &basis);
                (c0, c1)
            }
            Key::Secret(sk) => {
                let a = uniform(n, &basis, rng);
                let mut c0 = small_eval(n, &gaussian(n, rng), &basis);
                let mut a_s = a.clone();
                a_s.mul_assign(&sk.eval, &basis);
                c0.sub_assign(&a_s, &basis);
                (c0, a)
            }
        };
        c0.add_assign(pt.poly(), &basis);
        Ciphertext::new(vec![c0, c1], level, pt.scale())
    }
}

/// Decrypts ciphertexts with the secret key.
pub struct Decryptor<'k> {
    params: CkksParams,
    sk: &'k SecretKey,
}

impl<'k> Decryptor<'k> {
    /// A decryptor for `sk`.
    pub fn new(params: &CkksParams, sk: &'k SecretKey) -> Result<Self> {
        ensure_fingerprint(params, sk.fingerprint, "secret key")?;
        Ok(Self {
            params: params.clone(),
            sk,
        })
    }

    /// `c_0 + c_1·s (+ c_2·s²)`, at the ciphertext's level and scale.
    pub fn decrypt(&self, ct: &Ciphertext) -> Plaintext {
        let basis = self.params.q_basis(ct.level());
        let mut acc = ct.parts[0].clone();
        let mut s_power = self.sk.eval.clone();
        s_power.truncate(basis.len());
        let s = s_power.clone();
        for (i, part) in ct.parts.iter().enumerate().skip(1) {
            if i > 1 {
                s_power.mul_assign(&s, &basis);
            }
            let mut term = part.clone();
            term.mul_assign(&s_power, &basis);
            acc.add_assign(&term, &basis);
        }
        Plaintext::new(acc, ct.level(), ct.scale())
    }
}
