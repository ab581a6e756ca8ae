//! CKKS noise estimation: the executor over cleartext slot vectors that also carry, per slot,
//! the variance of the error a real CKKS execution of the same circuit would add.
//!
//! Every value holds its exact cleartext slots `x`, the variance `v` of its error in the same
//! units (the decrypted slot is `x + e`, `Var(e) = v`), its scale and its level. The error
//! terms are the standard average-case (central limit) estimates of RNS-CKKS, as in
//! Costache–Curtis–Hales–Murphy–Ogilvie–Player ("On the precision loss in approximate
//! homomorphic encryption", 2023) and the noise estimates of Lattigo and OpenFHE. A polynomial
//! whose `N` coefficients are independent with variance `c` has, in each decoded real slot, an
//! error of variance `N·c/2` (the real part of a sum of `N` unit-modulus terms); dividing by the
//! value's scale `Δ` gives the error in slot units. With `σ = 3.2` (the error of the samplers) and
//! a uniform ternary secret (`Var(s_i) = 2/3`):
//!
//! | source | coefficient variance | where |
//! | --- | --- | --- |
//! | encoding rounding | `1/12` | every encode (inputs, diagonals, plaintext additions) |
//! | secret-key encryption | `σ²` | the input (the client encrypts with its secret key) |
//! | public-key encryption | `σ²·(4N/3) + σ²` | the input, with [`Encryption::PublicKey`] |
//! | rescale by `q_l` | `(1 + 2N/3)/12` | every rescale, at the scale after it |
//! | key switch at level `l` | `Σ_j N·σ²·Q_j²/(12·P²) + (1 + 2N/3)/12` | rotations and relinearizations, at the value's scale |
//!
//! where `Q_j` is the product of the primes of key-switching digit `j` at level `l` (centred
//! digits are uniform in `±Q_j/2`) and `P` the product of the special primes. Products
//! propagate the errors as `(x + e)(y + f) = xy + x·f + y·e + e·f`; a plaintext product adds the
//! rounding of the encoded plaintext times the slot value (`Var = x²·(N/24)/Δ_p²`); a constant
//! product adds the exact rounding of `round(c·Δ_c)/Δ_c − c` times the value. The two factors of
//! a ciphertext product are treated as fully correlated (`(|y|·σ_e + |x|·σ_f)²`), which is
//! exact for squares and an upper estimate otherwise; additions treat their operands as
//! independent, except a value added to itself (`T_{2k} = 2·T_k² − 1`), whose error doubles.
//! Rotations move the variances with the slots and add one key switch.
//!
//! The estimate is a standard deviation per slot. The error of a slot is close to a Laplace
//! law rather than a Gaussian: the rescaling and key-switching terms are, slot by slot, products
//! of the secret key's canonical embedding and a Gaussian, so their variance differs from slot to
//! slot around the estimate (kurtosis about 6). The largest of `n` slot errors is then about
//! `ln(n)/√2` standard deviations (6 to 7.5 over thousands of slots). The estimate matches the
//! measured precision of the runtime (`docs/ckks.md`) within a fraction of a bit, and the
//! root-mean-square error of Chebyshev polynomials within a factor 1.5
//! (`runtime/tests/noise_estimate.rs`).

use super::{scale_ladder, Backend, Executor};
use crate::circuit::Circuit;
use crate::ckks::CkksParamsSpec;
use crate::error::{Result, RuntimeError};
use crate::math::sampling::ERROR_STD_DEV;

/// How the input is encrypted (the fresh noise differs by a factor of about `N`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// With the secret key (what the client does): error `e`.
    #[default]
    SecretKey,
    /// With the public key: error `v·e_pk + e_0 + e_1·s`.
    PublicKey,
}

/// A value with its per-slot error variance.
#[derive(Clone, Debug, PartialEq)]
pub struct Noisy {
    /// The exact cleartext slots.
    pub values: Vec<f64>,
    /// Per slot, the variance of the CKKS error in slot units.
    pub variance: Vec<f64>,
    /// The scale of the underlying ciphertext.
    pub scale: f64,
    /// The level of the underlying ciphertext.
    pub level: usize,
}

/// An encoded plaintext: its slots and the scale it was encoded at.
#[derive(Clone, Debug, PartialEq)]
pub struct NoisyPlain {
    values: Vec<f64>,
    scale: f64,
}

/// [`Backend`] that computes cleartext slots and estimates the CKKS error of every value.
#[derive(Clone, Debug)]
pub struct NoiseBackend {
    slots: usize,
    n: f64,
    ladder: Vec<f64>,
    q: Vec<f64>,
    /// Per level, `log2(Q_l / 2)`: a value whose `|x|·scale` reaches it wraps around.
    log_half_q: Vec<f64>,
    /// Per level, the variance (in coefficient units) a key switch adds.
    key_switch: Vec<f64>,
    encryption: Encryption,
}

/// Coefficient variance of rounding both parts of a ciphertext `c_0 + c_1·s`.
fn rounding_variance(n: f64) -> f64 {
    (1.0 + 2.0 * n / 3.0) / 12.0
}

impl NoiseBackend {
    /// The estimator of `params` for a circuit whose input is at level `top`.
    pub fn new(params: &CkksParamsSpec, top: usize, encryption: Encryption) -> Result<Self> {
        if params.q.is_empty() || params.dnum == 0 || !(1..=30).contains(&params.log_n) {
            return Err(RuntimeError::InvalidCircuit {
                detail: "a parameter set without primes, digits or ring degree".into(),
            });
        }
        let n = f64::from(1u32 << params.log_n);
        let q: Vec<f64> = params.q.iter().map(|&p| p as f64).collect();
        let log_p: f64 = params.p.iter().map(|&p| (p as f64).log2()).sum();
        let alpha = params.q.len().div_ceil(params.dnum);
        let sigma2 = ERROR_STD_DEV * ERROR_STD_DEV;
        let key_switch = (0..q.len())
            .map(|level| {
                let digits: f64 = (0..=level)
                    .step_by(alpha)
                    .map(|start| {
                        let end = (start + alpha).min(level + 1);
                        let log_qj: f64 = q[start..end].iter().map(|p| p.log2()).sum();
                        (2.0 * (log_qj - log_p)).exp2()
                    })
                    .sum();
                n * sigma2 * digits / 12.0 + rounding_variance(n)
            })
            .collect();
        let log_half_q = q
            .iter()
            .scan(-1.0, |acc, p| {
                *acc += p.log2();
                Some(*acc)
            })
            .collect();
        Ok(Self {
            slots: 1usize << (params.log_n - 1),
            n,
            ladder: scale_ladder(params, top),
            q,
            log_half_q,
            key_switch,
            encryption,
        })
    }

    /// Slot variance of a polynomial with coefficient variance `c`, at scale `scale`.
    fn slot_variance(&self, c: f64, scale: f64) -> f64 {
        self.n * c / 2.0 / (scale * scale)
    }

    /// Variance of the rounding of an encoded plaintext at `scale`, in slot units.
    fn encode_variance(&self, scale: f64) -> f64 {
        self.slot_variance(1.0 / 12.0, scale)
    }

    /// A fresh encryption of `values` at `level` with the ladder's scale.
    pub fn encrypt(&self, values: &[f64], level: usize) -> Result<Noisy> {
        self.check(values)?;
        let scale = self.scale(level)?;
        let sigma2 = ERROR_STD_DEV * ERROR_STD_DEV;
        let coeff = match self.encryption {
            Encryption::SecretKey => sigma2,
            Encryption::PublicKey => sigma2 * (4.0 * self.n / 3.0 + 1.0),
        } + 1.0 / 12.0;
        let v = self.slot_variance(coeff, scale);
        Ok(self.guard(Noisy {
            values: values.to_vec(),
            variance: vec![v; values.len()],
            scale,
            level,
        }))
    }

    /// Marks the error of `v` infinite when its message `|x|·scale` no longer fits the modulus
    /// of its level (decryption would wrap around), or its scale is not finite.
    fn guard(&self, mut v: Noisy) -> Noisy {
        let largest = v.values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let limit = self
            .log_half_q
            .get(v.level)
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
        let fits = v.scale.is_finite()
            && v.scale > 0.0
            && (largest == 0.0 || largest.log2() + v.scale.log2() < limit);
        if !fits {
            v.variance.fill(f64::INFINITY);
        }
        v
    }

    fn check(&self, v: &[f64]) -> Result<()> {
        if v.len() != self.slots {
            return Err(RuntimeError::ShapeMismatch {
                detail: format!(
                    "a slot vector of {} values where {} slots are expected",
                    v.len(),
                    self.slots
                ),
            });
        }
        Ok(())
    }

    fn same(&self, a: &Noisy, b: &Noisy) -> Result<()> {
        self.check(&a.values)?;
        self.check(&b.values)?;
        if a.level != b.level {
            return Err(RuntimeError::LevelMismatch {
                lhs: a.level,
                rhs: b.level,
            });
        }
        Ok(())
    }

    /// `a ⊙ b` before relinearization: the error of a tensor product.
    fn product(&self, a: &Noisy, b: &Noisy) -> Result<Noisy> {
        self.same(a, b)?;
        let mut out = a.clone();
        for (i, (x, v)) in out.values.iter_mut().zip(&mut out.variance).enumerate() {
            let (y, w) = (b.values[i], b.variance[i]);
            let linear = y.abs() * v.sqrt() + x.abs() * w.sqrt();
            *v = linear * linear + *v * w;
            *x *= y;
        }
        out.scale = a.scale * b.scale;
        Ok(out)
    }

    fn key_switch_variance(&self, level: usize, scale: f64) -> Result<f64> {
        let c = self
            .key_switch
            .get(level)
            .copied()
            .ok_or(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.key_switch.len().saturating_sub(1),
            })?;
        Ok(self.slot_variance(c, scale))
    }
}

impl Backend for NoiseBackend {
    type Value = Noisy;
    type Plain = NoisyPlain;

    fn slots(&self) -> usize {
        self.slots
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
        self.q
            .get(level)
            .copied()
            .ok_or(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.q.len().saturating_sub(1),
            })
    }

    fn encode(&self, values: &[f64], _level: usize, scale: f64) -> Result<NoisyPlain> {
        self.check(values)?;
        Ok(NoisyPlain {
            values: values.to_vec(),
            scale,
        })
    }

    fn add(&self, a: &Noisy, b: &Noisy) -> Result<Noisy> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    fn add_assign(&self, a: &mut Noisy, b: &Noisy) -> Result<()> {
        self.same(a, b)?;
        for (x, y) in a.values.iter_mut().zip(&b.values) {
            *x += y;
        }
        for (x, y) in a.variance.iter_mut().zip(&b.variance) {
            *x += y;
        }
        Ok(())
    }

    fn double(&self, a: &Noisy) -> Result<Noisy> {
        let mut out = a.clone();
        for x in &mut out.values {
            *x *= 2.0;
        }
        for v in &mut out.variance {
            *v *= 4.0;
        }
        Ok(out)
    }

    fn sub(&self, a: &Noisy, b: &Noisy) -> Result<Noisy> {
        self.same(a, b)?;
        let mut out = a.clone();
        for (x, y) in out.values.iter_mut().zip(&b.values) {
            *x -= y;
        }
        for (x, y) in out.variance.iter_mut().zip(&b.variance) {
            *x += y;
        }
        Ok(out)
    }

    fn neg(&self, a: &Noisy) -> Result<Noisy> {
        let mut out = a.clone();
        for x in &mut out.values {
            *x = -*x;
        }
        Ok(out)
    }

    fn mul_plain(&self, a: &Noisy, p: &NoisyPlain) -> Result<Noisy> {
        self.check(&a.values)?;
        self.check(&p.values)?;
        let rounding = self.encode_variance(p.scale);
        let mut out = a.clone();
        for ((x, v), &m) in out.values.iter_mut().zip(&mut out.variance).zip(&p.values) {
            *v = m * m * *v + *x * *x * rounding;
            *x *= m;
        }
        out.scale = a.scale * p.scale;
        Ok(self.guard(out))
    }

    fn add_plain(&self, a: &Noisy, p: &NoisyPlain) -> Result<Noisy> {
        self.check(&a.values)?;
        self.check(&p.values)?;
        let rounding = self.encode_variance(p.scale);
        let mut out = a.clone();
        for ((x, v), &m) in out.values.iter_mut().zip(&mut out.variance).zip(&p.values) {
            *x += m;
            *v += rounding;
        }
        Ok(out)
    }

    fn mul_const(&self, a: &Noisy, c: f64, const_scale: f64) -> Result<Noisy> {
        self.check(&a.values)?;
        let encoded = (c * const_scale).round() / const_scale;
        let delta = encoded - c;
        let mut out = a.clone();
        for (x, v) in out.values.iter_mut().zip(&mut out.variance) {
            let err = *x * delta;
            *v = encoded * encoded * *v + err * err;
            *x *= c;
        }
        out.scale = a.scale * const_scale;
        Ok(self.guard(out))
    }

    fn add_const(&self, a: &Noisy, c: f64) -> Result<Noisy> {
        self.check(&a.values)?;
        // The constant is rounded to a multiple of 1/scale: at most half of it, in every slot.
        let half = 0.5 / a.scale;
        let mut out = a.clone();
        for (x, v) in out.values.iter_mut().zip(&mut out.variance) {
            *x += c;
            *v += half * half / 3.0;
        }
        Ok(out)
    }

    fn mul(&self, a: &Noisy, b: &Noisy) -> Result<Noisy> {
        let mut out = self.product(a, b)?;
        let relin = self.key_switch_variance(out.level, out.scale)?;
        for v in &mut out.variance {
            *v += relin;
        }
        Ok(self.guard(out))
    }

    fn mul_sum_rescale(
        &self,
        pairs: &[(&Noisy, &Noisy)],
        linear: Option<&Noisy>,
        constant: f64,
    ) -> Result<Noisy> {
        let mut acc: Option<Noisy> = linear.cloned();
        for &(a, b) in pairs {
            let product = self.product(a, b)?;
            match &mut acc {
                None => acc = Some(product),
                Some(acc) => self.add_assign(acc, &product)?,
            }
        }
        let mut out = acc.ok_or_else(|| RuntimeError::InvalidCircuit {
            detail: "a sum of products without terms (executor bug)".into(),
        })?;
        if constant != 0.0 {
            out = self.add_const(&out, constant)?;
        }
        // One relinearization for the whole sum, then the rescale.
        let relin = self.key_switch_variance(out.level, out.scale)?;
        for v in &mut out.variance {
            *v += relin;
        }
        self.rescale(&self.guard(out))
    }

    fn rescale(&self, a: &Noisy) -> Result<Noisy> {
        self.check(&a.values)?;
        let level = a.level.checked_sub(1).ok_or(RuntimeError::LevelTooLow {
            op: "rescale",
            needed: 1,
            found: 0,
        })?;
        let scale = a.scale / self.modulus(a.level)?;
        let rounding = self.slot_variance(rounding_variance(self.n), scale);
        let mut out = a.clone();
        for v in &mut out.variance {
            *v += rounding;
        }
        out.scale = scale;
        out.level = level;
        Ok(self.guard(out))
    }

    fn drop_to(&self, a: &Noisy, level: usize) -> Result<Noisy> {
        if level > a.level {
            return Err(RuntimeError::LevelOutOfRange {
                from: a.level,
                to: level,
                max: a.level,
            });
        }
        let mut out = a.clone();
        out.level = level;
        Ok(self.guard(out))
    }

    fn rotate(&self, a: &Noisy, step: u32) -> Result<Noisy> {
        self.check(&a.values)?;
        let ks = self.key_switch_variance(a.level, a.scale)?;
        let mut out = a.clone();
        let k = step as usize % self.slots.max(1);
        out.values.rotate_left(k);
        out.variance.rotate_left(k);
        if k != 0 {
            for v in &mut out.variance {
                *v += ks;
            }
        }
        Ok(out)
    }

    fn rotate_hoisted(&self, a: &Noisy, steps: &[u32]) -> Result<Vec<Noisy>> {
        steps.iter().map(|&s| self.rotate(a, s)).collect()
    }
}

/// The estimated outputs of one input: the cleartext outputs and, per output element, the
/// standard deviation of its CKKS error.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseEstimate {
    /// The flat output tensor (what the slot simulator computes).
    pub outputs: Vec<f64>,
    /// Per output element, the estimated standard deviation of the CKKS error.
    pub std_dev: Vec<f64>,
}

impl NoiseEstimate {
    /// The largest standard deviation over the outputs (infinite when an estimate is not a
    /// number: the error overflowed).
    pub fn max_std_dev(&self) -> f64 {
        self.std_dev.iter().fold(
            0.0,
            |m, &s| if s.is_nan() { f64::INFINITY } else { m.max(s) },
        )
    }
}

/// A circuit bound to the noise estimator, reused across many inputs (`&self`, so callers may
/// run inputs in parallel).
#[derive(Debug)]
pub struct NoiseEstimator {
    executor: Executor<NoiseBackend>,
}

impl NoiseEstimator {
    /// Validates the circuit and prepares the estimator for its parameters.
    pub fn new(circuit: &Circuit, encryption: Encryption) -> Result<Self> {
        let backend = NoiseBackend::new(&circuit.params, circuit.input.level, encryption)?;
        Ok(Self {
            executor: Executor::new(circuit, backend)?,
        })
    }

    /// The executor (circuit, summary, backend).
    pub fn executor(&self) -> &Executor<NoiseBackend> {
        &self.executor
    }

    /// The outputs of the circuit on the flat input tensor, with their estimated errors.
    pub fn run(&self, tensor: &[f64]) -> Result<NoiseEstimate> {
        let circuit = self.executor.circuit();
        let backend = self.executor.backend();
        let level = circuit.input.level;
        let inputs = circuit
            .input
            .pack(tensor, circuit.slots())?
            .iter()
            .map(|v| backend.encrypt(v, level))
            .collect::<Result<Vec<_>>>()?;
        let outputs = self.executor.run(inputs)?;
        let values: Vec<Vec<f64>> = outputs.iter().map(|o| o.values.clone()).collect();
        let variances: Vec<Vec<f64>> = outputs.iter().map(|o| o.variance.clone()).collect();
        Ok(NoiseEstimate {
            outputs: circuit.output.unpack(&values)?,
            std_dev: circuit
                .output
                .unpack(&variances)?
                .into_iter()
                .map(|v| v.max(0.0).sqrt())
                .collect(),
        })
    }
}
