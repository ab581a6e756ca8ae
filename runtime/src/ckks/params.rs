//! CKKS parameters: a plain literal ([`CkksParamsSpec`]) turned into a checked, immutable,
//! shareable object ([`CkksParams`]) that carries every precomputed table.

use super::security::SecurityLevel;
use crate::error::{ParamsError, Result};
use crate::math::primes::{is_ntt_prime, PrimeGenerator};
use crate::math::rns::{BasisConverter, CrtReconstructor};
use crate::math::{Prime, RingContext};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Smallest and largest supported `log2(N)`.
pub const LOG_N_RANGE: std::ops::RangeInclusive<u32> = 12..=16;

/// A parameter set as plain data: what a circuit file stores and a user may write by hand.
///
/// `q` are the ciphertext primes `q_0 … q_L` (level `l` uses `q_0 … q_l`), `p` the special
/// primes of hybrid key switching, `dnum` the number of key-switching digits the `q` primes are
/// split into.
#[derive(Clone, Debug, PartialEq)]
pub struct CkksParamsSpec {
    /// log2 of the ring degree `N`.
    pub log_n: u32,
    /// Ciphertext primes, `q_0` first.
    pub q: Vec<u64>,
    /// Special primes for key switching.
    pub p: Vec<u64>,
    /// Number of key-switching digits (`1 ≤ dnum ≤ q.len()`).
    pub dnum: usize,
    /// Default scale is `2^log_scale`.
    pub log_scale: u32,
    /// Security level the chain must satisfy.
    pub security: SecurityLevel,
}

impl CkksParamsSpec {
    /// Generates the primes from bit sizes: `q_0` and the special primes are the largest
    /// NTT-friendly primes below `2^bits`; the other `q_i` whose size equals `log_scale`
    /// alternate just above and below `2^log_scale` so that rescaling keeps the scale close to
    /// the nominal one.
    pub fn from_bits(
        log_n: u32,
        q_bits: &[u32],
        p_bits: &[u32],
        dnum: usize,
        log_scale: u32,
        security: SecurityLevel,
    ) -> Result<Self> {
        if !LOG_N_RANGE.contains(&log_n) {
            return Err(ParamsError::RingDegree { log_n }.into());
        }
        let n = 1u64 << log_n;
        let mut chosen: Vec<u64> = Vec::new();
        let mut generators: std::collections::BTreeMap<(u32, bool), PrimeGenerator> =
            Default::default();
        let mut pick = |bits: u32, alternate: bool, chosen: &mut Vec<u64>| -> Result<u64> {
            let no_primes = ParamsError::NoPrimes {
                bits,
                count: chosen.len() + 1,
                log_n,
            };
            let generator = match generators.entry((bits, alternate)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(PrimeGenerator::new(bits, n).ok_or(no_primes.clone())?)
                }
            };
            let prime = if alternate {
                generator.next_alternating(chosen)
            } else {
                generator.next_below(chosen)
            }
            .ok_or(no_primes)?;
            chosen.push(prime);
            Ok(prime)
        };
        let mut q = Vec::with_capacity(q_bits.len());
        for (i, &bits) in q_bits.iter().enumerate() {
            let alternate = i > 0 && bits == log_scale;
            q.push(pick(bits, alternate, &mut chosen)?);
        }
        let mut p = Vec::with_capacity(p_bits.len());
        for &bits in p_bits {
            p.push(pick(bits, false, &mut chosen)?);
        }
        Ok(Self {
            log_n,
            q,
            p,
            dnum,
            log_scale,
            security,
        })
    }

    /// `log2(Q·P)`, the quantity the security table bounds.
    pub fn log_qp(&self) -> f64 {
        self.q
            .iter()
            .chain(&self.p)
            .map(|&x| (x as f64).log2())
            .sum()
    }

    /// Canonical bytes of the parameter set (the input of the fingerprint).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 8 * (self.q.len() + self.p.len()));
        out.extend_from_slice(&self.log_n.to_le_bytes());
        out.extend_from_slice(&(self.q.len() as u32).to_le_bytes());
        for q in &self.q {
            out.extend_from_slice(&q.to_le_bytes());
        }
        out.extend_from_slice(&(self.p.len() as u32).to_le_bytes());
        for p in &self.p {
            out.extend_from_slice(&p.to_le_bytes());
        }
        out.extend_from_slice(&(self.dnum as u32).to_le_bytes());
        out.extend_from_slice(&self.log_scale.to_le_bytes());
        out.extend_from_slice(&self.security.bits().to_le_bytes());
        out
    }

    fn validate(&self) -> Result<()> {
        if !LOG_N_RANGE.contains(&self.log_n) {
            return Err(ParamsError::RingDegree { log_n: self.log_n }.into());
        }
        let n = 1u64 << self.log_n;
        if self.q.is_empty() || self.p.is_empty() {
            return Err(ParamsError::Invalid(
                "need at least one ciphertext prime q and one special prime p".into(),
            )
            .into());
        }
        if self.dnum == 0 || self.dnum > self.q.len() {
            return Err(ParamsError::Invalid(format!(
                "dnum = {} key-switching digits, but there are {} ciphertext primes; use 1 ..= {}",
                self.dnum,
                self.q.len(),
                self.q.len()
            ))
            .into());
        }
        if !(10..=60).contains(&self.log_scale) {
            return Err(ParamsError::Invalid(format!(
                "log_scale = {} is outside 10 ..= 60",
                self.log_scale
            ))
            .into());
        }
        let all: Vec<u64> = self.q.iter().chain(&self.p).copied().collect();
        for (i, &x) in all.iter().enumerate() {
            if !is_ntt_prime(x, n) {
                return Err(ParamsError::BadPrime { q: x, two_n: 2 * n }.into());
            }
            if all[..i].contains(&x) {
                return Err(ParamsError::DuplicatePrime { q: x }.into());
            }
        }
        let bound = self
            .security
            .max_log_qp(self.log_n)
            .ok_or(ParamsError::RingDegree { log_n: self.log_n })?;
        let log_qp = self.log_qp();
        if log_qp > bound as f64 {
            return Err(ParamsError::Insecure {
                log_n: self.log_n,
                log_qp,
                bound,
                security: self.security.bits(),
            }
            .into());
        }
        Ok(())
    }
}

/// Precomputed key-switching tables of one level.
#[derive(Debug)]
pub(crate) struct LevelTables {
    /// Per digit present at this level: prime index range within `Q_l` and its ModUp converter
    /// to `(Q_l \ digit) ∪ P`.
    pub(crate) mod_up: Vec<(std::ops::Range<usize>, BasisConverter)>,
    /// ModDown converter `P -> Q_l`.
    pub(crate) mod_down: BasisConverter,
    /// `P^-1 mod q_i` for `i ≤ l`.
    pub(crate) p_inv: Vec<u64>,
    /// Mixed-radix reconstruction over `Q_l` (decoding).
    pub(crate) crt: CrtReconstructor,
    /// ModDown and rescale in one step (`None` at level 0, which cannot be rescaled).
    pub(crate) mod_down_rescale: Option<ModDownRescale>,
}

/// Tables to divide a key-switched polynomial by `P·q_l` at once (ModDown followed by a
/// rescale): the conversion `P ∪ {q_l} → Q_{l−1}` and the constants of the last step.
#[derive(Debug)]
pub(crate) struct ModDownRescale {
    /// Basis conversion from `p_0 … p_{k−1}, q_l` to `q_0 … q_{l−1}`.
    pub(crate) converter: BasisConverter,
    /// `P mod q_l`.
    pub(crate) p_mod_last: u64,
    /// `(P·q_l)^-1 mod q_i` for `i < l`.
    pub(crate) pq_inv: Vec<u64>,
    /// `q_l^-1 mod q_i` for `i < l`.
    pub(crate) q_last_inv: Vec<u64>,
}

struct Inner {
    spec: CkksParamsSpec,
    ring: RingContext,
    digit_size: usize,
    levels: Vec<LevelTables>,
    fingerprint: [u8; 16],
}

/// A validated CKKS parameter set with its ring and key-switching tables; cheap to clone.
#[derive(Clone)]
pub struct CkksParams(Arc<Inner>);

impl std::fmt::Debug for CkksParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksParams")
            .field("spec", &self.0.spec)
            .field("fingerprint", &self.fingerprint_hex())
            .finish()
    }
}

impl PartialEq for CkksParams {
    fn eq(&self, other: &Self) -> bool {
        self.0.fingerprint == other.0.fingerprint
    }
}

impl CkksParams {
    /// Validates a literal: primes `≡ 1 mod 2N`, distinct, below `2^61`; `1 ≤ dnum ≤ L+1`;
    /// `log2(QP)` within the security bound of `spec.security`.
    pub fn new(spec: CkksParamsSpec) -> Result<Self> {
        spec.validate()?;
        let n = 1usize << spec.log_n;
        let all: Vec<u64> = spec.q.iter().chain(&spec.p).copied().collect();
        let ring = RingContext::new(n, &all).map_err(|e| ParamsError::Invalid(format!("{e:?}")))?;
        let q_count = spec.q.len();
        let digit_size = q_count.div_ceil(spec.dnum);
        let primes = ring.primes();
        let p_primes: Vec<&Prime> = primes[q_count..].iter().collect();
        let mut levels = Vec::with_capacity(q_count);
        for level in 0..q_count {
            let q_primes: Vec<&Prime> = primes[..=level].iter().collect();
            let mut mod_up = Vec::new();
            for start in (0..=level).step_by(digit_size) {
                let end = (start + digit_size).min(level + 1);
                let from: Vec<&Prime> = q_primes[start..end].to_vec();
                let to: Vec<&Prime> = q_primes[..start]
                    .iter()
                    .chain(&q_primes[end..])
                    .chain(&p_primes)
                    .copied()
                    .collect();
                mod_up.push((start..end, BasisConverter::new(&from, &to)));
            }
            let mod_down = BasisConverter::new(&p_primes, &q_primes);
            let p_inv: Vec<u64> = q_primes
                .iter()
                .map(|qi| {
                    let m = qi.modulus();
                    let p_mod = p_primes
                        .iter()
                        .fold(1u64, |acc, p| m.mul(acc, m.reduce(p.value())));
                    m.inv(p_mod).unwrap_or(0)
                })
                .collect();
            let mod_down_rescale = (level > 0).then(|| {
                let last = q_primes[level];
                let below = &q_primes[..level];
                let from: Vec<&Prime> = p_primes.iter().copied().chain([last]).collect();
                let lm = last.modulus();
                let p_mod_last = p_primes
                    .iter()
                    .fold(1u64, |acc, p| lm.mul(acc, lm.reduce(p.value())));
                let q_last_inv: Vec<u64> = below
                    .iter()
                    .map(|qi| {
                        qi.modulus()
                            .inv(qi.modulus().reduce(last.value()))
                            .unwrap_or(0)
                    })
                    .collect();
                let pq_inv = below
                    .iter()
                    .zip(&p_inv)
                    .zip(&q_last_inv)
                    .map(|((qi, &p_inv), &q_inv)| qi.modulus().mul(p_inv, q_inv))
                    .collect();
                ModDownRescale {
                    converter: BasisConverter::new(&from, below),
                    p_mod_last,
                    pq_inv,
                    q_last_inv,
                }
            });
            levels.push(LevelTables {
                mod_up,
                mod_down,
                p_inv,
                crt: CrtReconstructor::new(&q_primes),
                mod_down_rescale,
            });
        }
        let digest = Sha256::digest(spec.canonical_bytes());
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&digest[..16]);
        Ok(Self(Arc::new(Inner {
            spec,
            ring,
            digit_size,
            levels,
            fingerprint,
        })))
    }

    /// The literal these parameters were built from.
    pub fn spec(&self) -> &CkksParamsSpec {
        &self.0.spec
    }

    /// Ring degree `N`.
    pub fn n(&self) -> usize {
        self.0.ring.n()
    }

    /// Number of complex slots, `N/2`.
    pub fn slots(&self) -> usize {
        self.n() / 2
    }

    /// Highest level `L` (fresh ciphertexts have `L + 1` primes).
    pub fn max_level(&self) -> usize {
        self.0.spec.q.len() - 1
    }

    /// The default scale `2^log_scale`.
    pub fn default_scale(&self) -> f64 {
        (self.0.spec.log_scale as f64).exp2()
    }

    /// Number of key-switching digits.
    pub fn dnum(&self) -> usize {
        self.0.spec.dnum
    }

    /// `log2(QP)`.
    pub fn log_qp(&self) -> f64 {
        self.0.spec.log_qp()
    }

    /// `log2(Q)` at the top level.
    pub fn log_q(&self) -> f64 {
        self.0.spec.q.iter().map(|&x| (x as f64).log2()).sum()
    }

    /// The ciphertext prime `q_level` (the one a rescale at that level divides by).
    pub fn q(&self, level: usize) -> u64 {
        self.0.spec.q[level]
    }

    /// A 128-bit fingerprint (SHA-256 prefix of the canonical bytes) identifying the set.
    pub fn fingerprint(&self) -> [u8; 16] {
        self.0.fingerprint
    }

    /// The fingerprint in hexadecimal.
    pub fn fingerprint_hex(&self) -> String {
        super::serial::to_hex(&self.0.fingerprint)
    }

    pub(crate) fn ring(&self) -> &RingContext {
        &self.0.ring
    }

    /// Primes `q_0 … q_level`.
    pub(crate) fn q_basis(&self, level: usize) -> Vec<&Prime> {
        self.0.ring.primes()[..=level].iter().collect()
    }

    /// Special primes `P`.
    pub(crate) fn p_basis(&self) -> Vec<&Prime> {
        self.0.ring.primes()[self.0.spec.q.len()..].iter().collect()
    }

    /// Primes `q_0 … q_level` followed by the special primes.
    pub(crate) fn qp_basis(&self, level: usize) -> Vec<&Prime> {
        let mut b = self.q_basis(level);
        b.extend(self.p_basis());
        b
    }

    /// Every prime, `Q_L ∪ P` (the basis of keys).
    pub(crate) fn full_basis(&self) -> Vec<&Prime> {
        self.0.ring.primes().iter().collect()
    }

    pub(crate) fn digit_size(&self) -> usize {
        self.0.digit_size
    }

    pub(crate) fn level_tables(&self, level: usize) -> &LevelTables {
        &self.0.levels[level]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RuntimeError;

    #[test]
    fn default_like_chain_is_accepted() {
        let spec = CkksParamsSpec::from_bits(
            14,
            &[50, 40, 40, 40, 40, 40, 40, 40],
            &[50, 50],
            4,
            40,
            SecurityLevel::Classical128,
        )
        .unwrap();
        let params = CkksParams::new(spec).unwrap();
        assert_eq!(params.max_level(), 7);
        assert!(params.log_qp() <= 438.0);
        let drift: f64 = (1..=7).map(|i| (params.q(i) as f64).log2() - 40.0).sum();
        assert!(
            drift.abs() < 1e-3,
            "scale primes should stay close to 2^40: {drift}"
        );
    }

    #[test]
    fn oversized_chain_is_refused_with_numbers() {
        let spec = CkksParamsSpec::from_bits(
            13,
            &[60, 40, 40, 40, 40],
            &[60],
            1,
            40,
            SecurityLevel::Classical128,
        )
        .unwrap();
        let err = CkksParams::new(spec).unwrap_err();
        assert!(matches!(
            err,
            RuntimeError::Params(ParamsError::Insecure {
                log_n: 13,
                bound: 218,
                ..
            })
        ));
        let msg = err.to_string();
        assert!(msg.contains("N = 2^13 allows log2(QP) <= 218"), "{msg}");
        assert!(msg.contains("log2(QP) = 280.0"), "{msg}");
    }

    #[test]
    fn bad_primes_and_digits_are_refused() {
        let mut spec =
            CkksParamsSpec::from_bits(12, &[40, 30], &[35], 1, 30, SecurityLevel::Classical128)
                .unwrap();
        let good = spec.clone();
        spec.q[1] = spec.q[0];
        assert!(matches!(
            CkksParams::new(spec.clone()),
            Err(RuntimeError::Params(ParamsError::DuplicatePrime { .. }))
        ));
        spec.q[1] = 1_099_511_627_791;
        assert!(matches!(
            CkksParams::new(spec),
            Err(RuntimeError::Params(ParamsError::BadPrime { .. }))
        ));
        let mut spec = good;
        spec.dnum = 3;
        assert!(CkksParams::new(spec)
            .unwrap_err()
            .to_string()
            .contains("dnum = 3"));
    }
}
