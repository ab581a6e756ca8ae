//! The CKKS encoder: complex vectors of up to `N/2` slots to plaintext polynomials and back,
//! through the canonical embedding.
//!
//! Slot `j` holds the evaluation `m(ζ^{5^j})` with `ζ = e^{iπ/N}`, so rotating slots by `k` is
//! the automorphism `X -> X^{5^k}` and complex conjugation is `X -> X^{-1}`. Because every
//! `5^j ≡ 1 mod 4`, writing `w_k = m_k + i·m_{k+N/2}` turns decoding into a plain DFT of size
//! `N/2` of `w_k ζ^k`, evaluated at `ζ^{4t}`, `t = (5^j − 1)/4`: one complex FFT each way.

use super::params::CkksParams;
use super::plaintext::Plaintext;
use crate::error::{Result, RuntimeError};
use crate::math::{Coeff, RnsPoly};
use num_complex::Complex64;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Encodes and decodes slot vectors for one parameter set.
pub struct Encoder {
    params: CkksParams,
    /// `slot_index[j] = (5^j mod 2N − 1) / 4`: the DFT output holding slot `j`.
    slot_index: Vec<usize>,
    /// `ζ^k` for `k < N/2`.
    twist: Vec<Complex64>,
    fft: Arc<dyn Fft<f64>>,
    ifft: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("slots", &self.slot_index.len())
            .finish()
    }
}

impl Encoder {
    /// Precomputes the FFT plans and slot ordering of `params`.
    pub fn new(params: &CkksParams) -> Self {
        let n = params.n();
        let slots = n / 2;
        let two_n = 2 * n as u64;
        let mut slot_index = Vec::with_capacity(slots);
        let mut g = 1u64;
        for _ in 0..slots {
            slot_index.push(((g - 1) / 4) as usize);
            g = (g * 5) % two_n;
        }
        let twist = (0..slots)
            .map(|k| Complex64::from_polar(1.0, std::f64::consts::PI * k as f64 / n as f64))
            .collect();
        let mut planner = FftPlanner::new();
        Self {
            params: params.clone(),
            slot_index,
            twist,
            fft: planner.plan_fft_forward(slots),
            ifft: planner.plan_fft_inverse(slots),
        }
    }

    /// Number of slots, `N/2`.
    pub fn slots(&self) -> usize {
        self.slot_index.len()
    }

    /// Encodes real values (missing slots are zero) at `level` and `scale`.
    pub fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        let complex: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode_complex(&complex, level, scale)
    }

    /// Encodes complex values (missing slots are zero) at `level` and `scale`.
    pub fn encode_complex(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        let coeffs = self.embed_inverse(values, scale)?;
        self.encode_coefficients(&coeffs, level, scale)
    }

    /// Encodes the same real constant in every slot: the constant polynomial `round(c·scale)`.
    pub fn encode_constant(&self, c: f64, level: usize, scale: f64) -> Result<Plaintext> {
        let mut coeffs = vec![0.0; self.params.n()];
        coeffs[0] = (c * scale).round();
        self.encode_coefficients(&coeffs, level, scale)
    }

    /// Residues of the integer `round(c·scale)` modulo each `q_i`, `i ≤ level` (how constants
    /// enter ciphertext arithmetic).
    pub fn constant_residues(&self, c: f64, level: usize, scale: f64) -> Result<Vec<u64>> {
        let v = (c * scale).round();
        self.check_value(v, c, scale, level)?;
        Ok(self
            .params
            .q_basis(level)
            .iter()
            .map(|p| reduce_f64(p.modulus(), v))
            .collect())
    }

    /// Canonical-embedding inverse: slot values to scaled real coefficients (not yet rounded).
    fn embed_inverse(&self, values: &[Complex64], scale: f64) -> Result<Vec<f64>> {
        let slots = self.slots();
        if values.len() > slots {
            return Err(RuntimeError::TooManyValues {
                given: values.len(),
                slots,
            });
        }
        if let Some(bad) = values
            .iter()
            .find(|z| !z.re.is_finite() || !z.im.is_finite())
        {
            return Err(RuntimeError::Encode {
                value: if bad.re.is_finite() { bad.im } else { bad.re },
                scale,
                reason: "the value is not finite",
            });
        }
        let mut spectrum = vec![Complex64::new(0.0, 0.0); slots];
        for (j, &z) in values.iter().enumerate() {
            spectrum[self.slot_index[j]] = z;
        }
        self.fft.process(&mut spectrum);
        let inv_slots = 1.0 / slots as f64;
        let mut coeffs = vec![0.0; 2 * slots];
        for (k, u) in spectrum.iter().enumerate() {
            let w = u * self.twist[k].conj() * inv_slots;
            coeffs[k] = w.re * scale;
            coeffs[k + slots] = w.im * scale;
        }
        Ok(coeffs)
    }

    fn check_value(&self, v: f64, original: f64, scale: f64, level: usize) -> Result<()> {
        let log_q = self
            .params
            .q_basis(level)
            .iter()
            .map(|p| (p.value() as f64).log2())
            .sum::<f64>();
        if !v.is_finite() || (v != 0.0 && v.abs().log2() >= log_q - 1.0) {
            return Err(RuntimeError::Encode {
                value: original,
                scale,
                reason: "value times scale exceeds the modulus at this level; lower the scale or the value",
            });
        }
        Ok(())
    }

    fn encode_coefficients(&self, coeffs: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        if level > self.params.max_level() {
            return Err(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.params.max_level(),
            });
        }
        let rounded: Vec<f64> = coeffs.iter().map(|c| c.round()).collect();
        let max = rounded.iter().fold(0.0f64, |m, &c| m.max(c.abs()));
        self.check_value(max, max / scale, scale, level)?;
        let basis = self.params.q_basis(level);
        let n = self.params.n();
        let mut poly = RnsPoly::<Coeff>::zero(n, basis.len());
        if max < I64_EXACT {
            // The usual case: every coefficient is an i64, converted once for all primes.
            let ints: Vec<i64> = rounded.iter().map(|&c| c as i64).collect();
            reduce_into(&mut poly, &basis, &ints, |m, c| m.reduce_i64(c));
        } else {
            reduce_into(&mut poly, &basis, &rounded, reduce_f64);
        }
        Ok(Plaintext::new(poly.into_eval(&basis), level, scale))
    }

    /// Decodes a plaintext to complex slot values.
    pub fn decode_complex(&self, pt: &Plaintext) -> Vec<Complex64> {
        let level = pt.level();
        let basis = self.params.q_basis(level);
        let coeff = pt.poly().clone().into_coeff(&basis);
        let crt = &self.params.level_tables(level).crt;
        let slots = self.slots();
        let inv_scale = 1.0 / pt.scale();
        let mut spectrum: Vec<Complex64> = (0..slots)
            .into_par_iter()
            .map(|k| {
                let re = crt.centered_f64(&coeff, k) * inv_scale;
                let im = crt.centered_f64(&coeff, k + slots) * inv_scale;
                Complex64::new(re, im) * self.twist[k]
            })
            .collect();
        self.ifft.process(&mut spectrum);
        self.slot_index.iter().map(|&t| spectrum[t]).collect()
    }

    /// Decodes a plaintext to the real parts of its slots.
    pub fn decode(&self, pt: &Plaintext) -> Vec<f64> {
        self.decode_complex(pt).iter().map(|z| z.re).collect()
    }
}

/// Integral `f64` values below this magnitude convert to `i64` exactly.
const I64_EXACT: f64 = 9.2e18;

/// Reduces an integral `f64` (any magnitude) modulo `q`, exactly.
/// Fills limb `i` of `poly` with `reduce(q_i, c)` for every coefficient `c`, in parallel over the
/// primes.
fn reduce_into<T: Copy + Sync>(
    poly: &mut RnsPoly<Coeff>,
    basis: &[&crate::math::Prime],
    coeffs: &[T],
    reduce: impl Fn(&crate::math::Modulus, T) -> u64 + Sync,
) {
    poly.par_limbs_mut()
        .zip(basis.par_iter())
        .for_each(|(limb, p)| {
            let m = p.modulus();
            for (x, &c) in limb.iter_mut().zip(coeffs) {
                *x = reduce(m, c);
            }
        });
}

fn reduce_f64(m: &crate::math::Modulus, v: f64) -> u64 {
    if v.abs() < I64_EXACT {
        return m.reduce_i64(v as i64);
    }
    // v = mantissa · 2^exponent with an integral mantissa below 2^53.
    let bits = v.abs().to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let r = m.mul(m.reduce(mantissa), m.pow(2, exponent as u64));
    if v < 0.0 {
        m.neg(r)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::params::CkksParamsSpec;
    use crate::ckks::security::SecurityLevel;
    use proptest::prelude::*;

    fn params() -> CkksParams {
        let spec =
            CkksParamsSpec::from_bits(12, &[50, 30], &[29], 1, 30, SecurityLevel::Classical128)
                .unwrap();
        CkksParams::new(spec).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn encode_decode_round_trip(
            values in proptest::collection::vec(-100.0f64..100.0, 1..2048),
        ) {
            let params = params();
            let enc = Encoder::new(&params);
            let pt = enc.encode(&values, 1, 2f64.powi(40)).unwrap();
            let back = enc.decode(&pt);
            for (i, v) in values.iter().enumerate() {
                prop_assert!((back[i] - v).abs() < 1e-7, "slot {}: {} vs {}", i, back[i], v);
            }
            for b in &back[values.len()..] {
                prop_assert!(b.abs() < 1e-7);
            }
        }
    }

    #[test]
    fn huge_scale_constants_reduce_exactly() {
        let params = params();
        let m = params.q_basis(1)[1].modulus();
        let v = 2f64.powi(70) * 3.0;
        let expect = m.mul(3, m.pow(2, 70));
        assert_eq!(reduce_f64(m, v), expect);
        assert_eq!(reduce_f64(m, -v), m.neg(expect));
    }

    #[test]
    fn refuses_too_many_values_and_overflow() {
        let params = params();
        let enc = Encoder::new(&params);
        let err = enc.encode(&vec![1.0; 2049], 0, 1e9).unwrap_err();
        assert_eq!(err.to_string(), "2049 values do not fit in 2048 slots");
        let err = enc.encode(&[1e12], 0, 2f64.powi(40)).unwrap_err();
        assert!(err.to_string().contains("exceeds the modulus"), "{err}");
        assert!(enc.encode(&[f64::NAN], 0, 1.0).is_err());
    }
}
