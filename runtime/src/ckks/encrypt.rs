//! Encryption (public or secret key) and decryption.

use super::ciphertext::Ciphertext;
use super::keys::{rlwe_body, small_eval, PublicKey, SecretKey};
use super::params::CkksParams;
use super::plaintext::Plaintext;
use crate::error::{Result, RuntimeError};
use crate::math::sampling::{gaussian, ternary, uniform};
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
                c0.mul_accumulate(&v, &pk.b, &basis);
                c1.mul_accumulate(&v, &pk.a, &basis);
                (c0, c1)
            }
            Key::Secret(sk) => {
                let a = uniform(n, &basis, rng);
                (rlwe_body(&a, sk, &basis, rng), a)
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
        // The key holds every prime; products read only its first `level + 1` limbs.
        acc.mul_accumulate(&ct.parts[1], &self.sk.eval, &basis);
        if let Some(c2) = ct.parts.get(2) {
            let mut s2 = self.sk.eval.clone();
            s2.truncate(basis.len());
            s2.mul_assign(&self.sk.eval, &basis);
            acc.mul_accumulate(c2, &s2, &basis);
        }
        Plaintext::new(acc, ct.level(), ct.scale())
    }
}
