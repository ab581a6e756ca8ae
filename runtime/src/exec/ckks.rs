//! The CKKS backend: the executor's operations on real ciphertexts, with the evaluation keys a
//! client made for the circuit. It holds no secret.
//!
//! Plaintext operands (the pre-rotated diagonals of linear transforms, biases, plaintext
//! constants) depend on the circuit only. [`Backend::prepare`] encodes them once, in parallel,
//! when the executor is built, and every run reads them from memory: encoding is the larger part
//! of a plaintext product otherwise (a complex FFT, a reduction of every coefficient modulo every
//! prime, an NTT per prime). Each plaintext keeps only the primes of the level it is used at,
//! packed in 32 bits per residue where the prime is below `2^32` ([`PackedLayout`]: half the
//! memory at the usual 30–32-bit scale primes), and the plaintexts of one level share one
//! contiguous store (no allocator rounding per plaintext). The cache stays within a byte budget
//! ([`CkksBackend::with_plaintext_cache`], [`DEFAULT_PLAINTEXT_CACHE_BYTES`]); operands beyond
//! it are encoded at each use.

use super::{key_levels, scale_ladder, Backend, DenseFn, Executor, KeyLevels, PlainKey, PlainRef};
use crate::circuit::Circuit;
use crate::ckks::keys::galois_element_for_rotation;
use crate::ckks::{
    Ciphertext, CkksParams, EvalKeys, Evaluator, PlainResidues, Plaintext, Residues,
};
use crate::error::{Result, RuntimeError};
use crate::math::{PackedLayout, RnsPoly};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Default byte budget of a [`CkksBackend`]'s plaintext cache (320 MiB). It keeps every operand
/// of the MNIST-sized networks (`mnist_seed` 19 MB at `N = 2^13`, `mnist_poly` 263 MB at
/// `N = 2^14`), so that such a server stays under 1 GB. Larger circuits (`mnist_relu` 1.1 GB,
/// `cifar10_relu` 7.1 GB) run faster with a larger budget, [`CkksBackend::with_plaintext_cache`];
/// [`CkksBackend::plaintext_operands`] says how much keeps them all.
pub const DEFAULT_PLAINTEXT_CACHE_BYTES: usize = 320 << 20;

/// Runs circuit steps on ciphertexts. Built for one circuit: it checks at construction that the
/// keys belong to the circuit's parameter set and hold every rotation (and the relinearization
/// key) the circuit needs, so a run never stops half-way on a missing key.
#[derive(Clone, Debug)]
pub struct CkksBackend {
    eval: Evaluator,
    ladder: Vec<f64>,
    /// The rotation steps of the circuit (every one needs a key).
    rotations: Arc<[u32]>,
    /// Whether the circuit multiplies ciphertexts (needs the relinearization key).
    needs_relinearization: bool,
    /// The highest level at which the circuit uses each key.
    key_levels: Arc<KeyLevels>,
    cache_budget: usize,
    cache: Arc<PlainCache>,
    /// How kept plaintexts are packed (from the parameters' primes).
    layout: Arc<PackedLayout>,
}

/// A plaintext operand of the [`CkksBackend`]: encoded for one use, or kept in the backend's
/// cache (then only a reference into it, resolved by the backend that made it).
#[derive(Clone, Debug)]
pub enum CkksPlain {
    /// Encoded for this use.
    Encoded(Plaintext),
    /// Kept by the backend: `level + 1` packed limbs starting at word `offset` of that level's
    /// store.
    Kept {
        /// The level.
        level: usize,
        /// The scale.
        scale: f64,
        /// The first word in the store of the level.
        offset: usize,
    },
}

/// Plaintext operands encoded ahead of the runs: per level one contiguous store of packed
/// residues ([`PackedLayout`]: 32 bits per residue modulo a prime below `2^32`), and where each
/// operand lies in it.
#[derive(Default)]
struct PlainCache {
    stores: HashMap<usize, Vec<u32>>,
    index: HashMap<PlainKey, CkksPlain>,
    bytes: usize,
}

impl std::fmt::Debug for PlainCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCache")
            .field("plaintexts", &self.index.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Bytes of a kept plaintext over `q_0 … q_level`.
fn plain_bytes(layout: &PackedLayout, level: usize) -> usize {
    layout
        .words(level + 1)
        .map_or(usize::MAX, |w| w.saturating_mul(4))
}

impl CkksBackend {
    /// The backend of `circuit` with the client's evaluation keys.
    pub fn new(circuit: &Circuit, keys: Arc<EvalKeys>) -> Result<Self> {
        Self::without_keys(circuit)?.with_keys(keys)
    }

    /// The backend of `circuit` before any client's keys are known: it can prepare the
    /// plaintext operands (which depend on the circuit only), and [`CkksBackend::with_keys`]
    /// binds keys to it afterwards. Running a step that needs a key without them fails with
    /// [`RuntimeError::MissingGaloisKey`] or [`RuntimeError::MissingRelinKey`].
    pub fn without_keys(circuit: &Circuit) -> Result<Self> {
        let params = CkksParams::new(circuit.params.clone())?;
        let primes: Vec<u64> = (0..=params.max_level()).map(|l| params.q(l)).collect();
        Ok(Self {
            layout: Arc::new(PackedLayout::new(params.n(), &primes)),
            eval: Evaluator::new(&params),
            ladder: scale_ladder(&circuit.params, circuit.input.level),
            rotations: circuit.rotations.clone().into(),
            needs_relinearization: circuit.needs_relinearization(),
            key_levels: Arc::new(key_levels(circuit)?),
            cache_budget: DEFAULT_PLAINTEXT_CACHE_BYTES,
            cache: Arc::default(),
        })
    }

    /// The same backend (circuit, prepared plaintexts) with another client's evaluation keys,
    /// checked to belong to the parameter set and to hold every rotation and the
    /// relinearization key the circuit needs. The plaintext cache is shared, not copied: a
    /// server with many clients encodes the circuit's plaintexts once.
    pub fn with_keys(&self, keys: Arc<EvalKeys>) -> Result<Self> {
        let params = self.eval.params();
        let eval = Evaluator::with_keys(params, keys.clone())?;
        let missing: Vec<u32> = self
            .rotations
            .iter()
            .copied()
            .filter(|&r| {
                let g = galois_element_for_rotation(i64::from(r), params);
                g != 1 && !keys.galois.contains_key(&g)
            })
            .collect();
        if !missing.is_empty() {
            return Err(RuntimeError::MissingKeys {
                detail: format!(
                    "no rotation key for step{} {}",
                    if missing.len() == 1 { "" } else { "s" },
                    list(&missing)
                ),
            });
        }
        if self.needs_relinearization && !keys.has_relin() {
            return Err(RuntimeError::MissingKeys {
                detail: "no relinearization key, and the circuit multiplies ciphertexts".into(),
            });
        }
        self.check_key_levels(&keys)?;
        Ok(Self {
            eval,
            ..self.clone()
        })
    }

    /// Refuses keys restricted to lower levels than the circuit uses them at.
    fn check_key_levels(&self, keys: &EvalKeys) -> Result<()> {
        let params = self.eval.params();
        let too_low = |what: String, key_level: usize, needed: usize| RuntimeError::MissingKeys {
            detail: format!(
                "the {what} key serves ciphertexts up to level {key_level}, but the circuit uses \
                 it at level {needed}"
            ),
        };
        for &step in self.rotations.iter() {
            let g = galois_element_for_rotation(i64::from(step), params);
            let Some(key) = keys.galois.get(&g) else {
                continue;
            };
            let Some(needed) = self.key_levels.rotation(step) else {
                continue;
            };
            if key.level() < needed {
                return Err(too_low(format!("rotation by {step}"), key.level(), needed));
            }
        }
        if let (Some(needed), Some(key)) = (self.key_levels.relinearization, &keys.relin) {
            if key.level() < needed {
                return Err(too_low("relinearization".into(), key.level(), needed));
            }
        }
        Ok(())
    }

    /// Sets the byte budget of the plaintext cache that [`Backend::prepare`] fills (call it
    /// before building the executor); `0` keeps no plaintext and encodes every operand at each
    /// use. Operands are kept in the order the circuit uses them until the budget is spent.
    #[must_use]
    pub fn with_plaintext_cache(mut self, bytes: usize) -> Self {
        self.cache_budget = bytes;
        self
    }

    /// Number of plaintext operands one run of `circuit` uses, and the bytes they take when all
    /// are kept: the [`CkksBackend::with_plaintext_cache`] budget from which runs encode
    /// nothing.
    pub fn plaintext_operands(circuit: &Circuit) -> Result<(usize, usize)> {
        let backend = Self::without_keys(circuit)?;
        let keys = super::plain_keys(circuit, &backend, backend.slots())?;
        let bytes = keys.iter().fold(0usize, |sum, key| {
            sum.saturating_add(plain_bytes(&backend.layout, key.level))
        });
        Ok((keys.len(), bytes))
    }

    /// Number of plaintext operands kept, and the bytes of their residues.
    pub fn plaintext_cache(&self) -> (usize, usize) {
        (self.cache.index.len(), self.cache.bytes)
    }

    /// The residues of a plaintext operand (kept ones from the cache).
    fn residues<'a>(&'a self, p: &'a CkksPlain) -> Result<PlainView<'a>> {
        match p {
            CkksPlain::Encoded(pt) => Ok(PlainView {
                residues: Residues::Full(pt.poly().as_raw()),
                level: pt.level(),
                scale: pt.scale(),
            }),
            &CkksPlain::Kept {
                level,
                scale,
                offset,
            } => {
                let words = self
                    .layout
                    .words(level + 1)
                    .and_then(|len| self.cache.stores.get(&level)?.get(offset..offset + len))
                    .ok_or_else(|| RuntimeError::InvalidCircuit {
                        detail: "a kept plaintext of another backend (executor bug)".into(),
                    })?;
                Ok(PlainView {
                    residues: Residues::Packed(words, &self.layout),
                    level,
                    scale,
                })
            }
        }
    }

    /// The operand as an owned [`Plaintext`] (a copy for kept ones; for the rare operations
    /// other than fused product sums).
    fn plaintext<'a>(&'a self, p: &'a CkksPlain) -> Result<std::borrow::Cow<'a, Plaintext>> {
        match p {
            CkksPlain::Encoded(pt) => Ok(std::borrow::Cow::Borrowed(pt)),
            CkksPlain::Kept { .. } => {
                let view = self.residues(p)?;
                let n = self.eval.params().n();
                let raw = match view.residues {
                    Residues::Full(r) => r.to_vec(),
                    Residues::Packed(words, layout) => layout.unpack_all(words, view.level + 1),
                };
                let poly =
                    RnsPoly::from_raw(n, raw).ok_or_else(|| RuntimeError::InvalidCircuit {
                        detail: "an empty kept plaintext (executor bug)".into(),
                    })?;
                Ok(std::borrow::Cow::Owned(Plaintext::new(
                    poly, view.level, view.scale,
                )))
            }
        }
    }

    /// The evaluator (parameters and encoder).
    pub fn evaluator(&self) -> &Evaluator {
        &self.eval
    }
}

impl Executor<CkksBackend> {
    /// The same circuit with another client's evaluation keys ([`CkksBackend::with_keys`]):
    /// validation, liveness and the encoded plaintext operands are shared with `self`, so
    /// binding keys costs a key check, not a new preparation.
    pub fn with_keys(&self, keys: Arc<EvalKeys>) -> Result<Self> {
        Ok(Self {
            circuit: self.circuit.clone(),
            backend: self.backend.with_keys(keys)?,
            summary: self.summary.clone(),
            free_after: self.free_after.clone(),
        })
    }
}

/// A plaintext's residues, level and scale.
struct PlainView<'a> {
    residues: Residues<'a>,
    level: usize,
    scale: f64,
}

fn list(steps: &[u32]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = steps.iter().take(SHOWN).map(u32::to_string).collect();
    if steps.len() > SHOWN {
        s.push(format!("and {} more", steps.len() - SHOWN));
    }
    s.join(", ")
}

impl Backend for CkksBackend {
    type Value = Ciphertext;
    type Plain = CkksPlain;

    fn slots(&self) -> usize {
        self.eval.params().slots()
    }

    fn scale(&self, level: usize) -> Result<f64> {
        self.ladder
            .get(level)
            .copied()
            .ok_or(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.ladder.len().saturating_sub(1),
            })
    }

    fn modulus(&self, level: usize) -> Result<f64> {
        if level > self.eval.params().max_level() {
            return Err(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.eval.params().max_level(),
            });
        }
        Ok(self.eval.params().q(level) as f64)
    }

    fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<CkksPlain> {
        self.eval
            .encoder()
            .encode(values, level, scale)
            .map(CkksPlain::Encoded)
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.add(a, b)
    }

    fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.eval.add_assign(a, b)
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.sub(a, b)
    }

    fn neg(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.neg(a))
    }

    fn mul_plain(&self, a: &Ciphertext, p: &CkksPlain) -> Result<Ciphertext> {
        self.eval.mul_plain(a, &*self.plaintext(p)?)
    }

    fn add_plain(&self, a: &Ciphertext, p: &CkksPlain) -> Result<Ciphertext> {
        self.eval.add_plain(a, &*self.plaintext(p)?)
    }

    fn mul_const(&self, a: &Ciphertext, c: f64, const_scale: f64) -> Result<Ciphertext> {
        self.eval.mul_const(a, c, const_scale)
    }

    fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.eval.add_const(a, c)
    }

    fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.mul_relin(a, b)
    }

    fn mul_sum_rescale(
        &self,
        pairs: &[(&Ciphertext, &Ciphertext)],
        linear: Option<&Ciphertext>,
        constant: f64,
    ) -> Result<Ciphertext> {
        self.eval.mul_sum_rescale(pairs, linear, constant)
    }

    fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.eval.rescale(a)
    }

    fn drop_to(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.eval.drop_to_level(a, level)
    }

    fn rotate(&self, a: &Ciphertext, step: u32) -> Result<Ciphertext> {
        self.eval.rotate(a, i64::from(step))
    }

    fn rotate_hoisted(&self, a: &Ciphertext, steps: &[u32]) -> Result<Vec<Ciphertext>> {
        let steps: Vec<i64> = steps.iter().map(|&s| i64::from(s)).collect();
        self.eval.rotate_hoisted(a, &steps)
    }

    fn mul_plain_sum(&self, terms: &[(&Ciphertext, &CkksPlain)]) -> Result<Ciphertext> {
        let raw = terms
            .iter()
            .map(|&(ct, p)| {
                let view = self.residues(p)?;
                Ok(PlainResidues {
                    ct,
                    residues: view.residues,
                    level: view.level,
                    scale: view.scale,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.eval.mul_plain_sum_residues(&raw)
    }

    fn rotate_sum(&self, terms: &[(&Ciphertext, u32)]) -> Result<Ciphertext> {
        let terms: Vec<(&Ciphertext, i64)> =
            terms.iter().map(|&(ct, s)| (ct, i64::from(s))).collect();
        self.eval.rotate_sum(&terms)
    }

    fn prepare(&mut self, keys: &[PlainKey], dense: &DenseFn<'_>) -> Result<()> {
        let layout = &self.layout;
        // Operands in order of use until the budget is spent, grouped by level.
        let mut bytes = 0usize;
        let mut by_level: HashMap<usize, Vec<PlainKey>> = HashMap::new();
        for key in keys {
            bytes = bytes.saturating_add(plain_bytes(layout, key.level));
            if bytes > self.cache_budget {
                break;
            }
            by_level.entry(key.level).or_default().push(*key);
        }
        let encoder = self.eval.encoder();
        let mut cache = PlainCache::default();
        for (level, keys) in by_level {
            let words = layout
                .words(level + 1)
                .ok_or(RuntimeError::LevelOutOfRange {
                    from: level,
                    to: level,
                    max: self.eval.params().max_level(),
                })?;
            let mut store = vec![0u32; keys.len() * words];
            store
                .par_chunks_mut(words)
                .zip(keys.par_iter())
                .try_for_each(|(dst, key)| {
                    let pt = encoder.encode(&dense(key)?, level, key.scale())?;
                    layout.pack(pt.poly().as_raw(), dst);
                    Ok::<(), RuntimeError>(())
                })?;
            for (i, key) in keys.iter().enumerate() {
                let plain = CkksPlain::Kept {
                    level,
                    scale: key.scale(),
                    offset: i * words,
                };
                cache.index.insert(*key, plain);
            }
            cache.bytes += store.len() * 4;
            cache.stores.insert(level, store);
        }
        self.cache = Arc::new(cache);
        Ok(())
    }

    fn plain(
        &self,
        key: &PlainKey,
        dense: &dyn Fn() -> Result<Vec<f64>>,
    ) -> Result<PlainRef<'_, CkksPlain>> {
        match self.cache.index.get(key) {
            Some(p) => Ok(PlainRef::Held(p)),
            None => Ok(PlainRef::Fresh(self.encode(
                &dense()?,
                key.level,
                key.scale(),
            )?)),
        }
    }
}
