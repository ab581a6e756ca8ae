//! Random polynomials for key generation and encryption. Every sampler takes the random number
//! generator explicitly; callers pass a ChaCha20 generator seeded from the operating system.

use super::poly::{Eval, RnsPoly};
use super::ring::Prime;
use rand_core::{CryptoRng, RngCore};

/// Standard deviation of the error distribution (HomomorphicEncryption.org standard).
pub const ERROR_STD_DEV: f64 = 3.2;
/// Errors are cut at six standard deviations (the tail beyond has probability below 2^-30 per
/// coefficient and is resampled).
pub const ERROR_BOUND: f64 = 6.0 * ERROR_STD_DEV;

/// `n` coefficients uniform in `{-1, 0, 1}`.
pub fn ternary<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            // 255 is rejected so that the three outcomes are exactly equally likely.
            if b < 255 && out.len() < n {
                out.push((b % 3) as i64 - 1);
            }
        }
    }
    out
}

/// `n` coefficients from the rounded Gaussian of standard deviation [`ERROR_STD_DEV`],
/// truncated at [`ERROR_BOUND`].
pub fn gaussian<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        // Box–Muller: two independent normals from two uniforms in (0, 1].
        let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt() * ERROR_STD_DEV;
        let theta = 2.0 * std::f64::consts::PI * u2;
        for z in [r * theta.cos(), r * theta.sin()] {
            if z.abs() <= ERROR_BOUND && out.len() < n {
                out.push(z.round() as i64);
            }
        }
    }
    out
}

/// A polynomial with every residue uniform modulo its prime, directly in the evaluation
/// domain (the NTT is a bijection, so this is the same distribution as uniform coefficients).
pub fn uniform<R: RngCore>(n: usize, basis: &[&Prime], rng: &mut R) -> RnsPoly<Eval> {
    let mut poly = RnsPoly::<Eval>::zero(n, basis.len());
    for (i, p) in basis.iter().enumerate() {
        let q = p.value();
        let mask = u64::MAX >> q.leading_zeros();
        for x in poly.limb_mut(i).iter_mut() {
            *x = loop {
                let v = rng.next_u64() & mask;
                if v < q {
                    break v;
                }
            };
        }
    }
    poly
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn ternary_is_balanced() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let s = ternary(30_000, &mut rng);
        for v in -1..=1 {
            let count = s.iter().filter(|&&x| x == v).count();
            assert!((9_000..11_000).contains(&count), "value {v}: {count}");
        }
    }

    #[test]
    fn gaussian_has_the_standard_deviation() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let e = gaussian(100_000, &mut rng);
        let mean = e.iter().sum::<i64>() as f64 / e.len() as f64;
        let var = e.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / e.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        // Rounding adds 1/12 to the variance.
        assert!((var.sqrt() - (ERROR_STD_DEV.powi(2) + 1.0 / 12.0).sqrt()).abs() < 0.05);
        assert!(e.iter().all(|&x| (x as f64).abs() <= ERROR_BOUND));
    }
}
