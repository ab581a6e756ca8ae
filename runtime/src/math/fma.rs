//! Modular arithmetic in `f64` fused multiply-add for primes below `2^51`. Residues and their
//! products are exact in `f64`: `a·b = h + l` with `h = fl(a·b)` and `l = fma(a, b, −h)`. Plain
//! `f64` loops vectorise (8 lanes with AVX-512), where 64×64→128-bit products cannot.
//!
//! The loops are a [`pulp::WithSimd`] implementation. `pulp::Arch::dispatch` compiles them for
//! the best instruction set the CPU offers and selects it at run time, in safe code.

/// Primes below this bound can use the `f64` kernel.
pub const F64_PRIME_BOUND: u64 = 1 << 51;

/// `2^52` as `f64`: adding it to an integer below `2^52` puts the integer in the mantissa bits.
const MAGIC: f64 = 4_503_599_627_370_496.0;

/// `x as f64` for `x < 2^52`, exactly, in two vector instructions (an `or` and a subtraction;
/// the general conversion does not vectorise everywhere).
#[inline(always)]
fn to_f64(x: u64) -> f64 {
    f64::from_bits(x | MAGIC.to_bits()) - MAGIC
}

/// `x as u64` for an integral `0 ≤ x < 2^52`, exactly (the saturating `as` cast is lowered to
/// scalar code with fix-ups, which made the kernels below scalar).
#[inline(always)]
pub(crate) fn to_u64(x: f64) -> u64 {
    (x + MAGIC).to_bits() - MAGIC.to_bits()
}

/// `a·b mod p` for integers `a, b < 2^51` held in `f64`; the result is in `[0, p)`.
#[inline(always)]
fn mul_mod(a: f64, b: f64, p: f64, p_inv: f64) -> f64 {
    let h = a * b;
    let l = a.mul_add(b, -h);
    // `h − q·p` is exact (|·| < 2^53), and adding `l` moves it by less than 2^50.
    let q = (h * p_inv).floor();
    let r = (-q).mul_add(p, h) + l;
    // `r` is below 2^53 but may still hold many multiples of a small `p`: reduce again.
    let q2 = (r * p_inv).floor();
    let r = (-q2).mul_add(p, r);
    let r = if r < 0.0 { r + p } else { r };
    if r >= p {
        r - p
    } else {
        r
    }
}

/// `y·w mod p` for any `y < 2^64` and `w < p < 2^51`, with `w_hi = 2^32·w mod p`: the two
/// halves of `y` are each below `2^51`, so `y·w = (y >> 32)·w_hi + (y mod 2^32)·w` needs two
/// exact products. The result is in `[0, p)`.
#[inline(always)]
fn mul_mod_wide(y: u64, w: f64, w_hi: f64, p: f64, p_inv: f64) -> f64 {
    let hi = mul_mod(to_f64(y >> 32), w_hi, p, p_inv);
    let lo = mul_mod(to_f64(y & 0xffff_ffff), w, p, p_inv);
    let s = hi + lo;
    if s >= p {
        s - p
    } else {
        s
    }
}

/// Computes `dst[k] = (Σ_i sources[i][k]·weights[i] − overflow[k]·overflow_weight) mod p`.
/// `p`, the weights and the overflow must be below `2^51`; sources below `2^51` unless `wide`,
/// in which case they may be any `u64`.
struct WeightedSum<'a> {
    dst: &'a mut [u64],
    sources: &'a [Vec<u64>],
    weights: &'a [u64],
    overflow: &'a [u64],
    overflow_weight: u64,
    p: u64,
    wide: bool,
}

impl pulp::WithSimd for WeightedSum<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let pf = self.p as f64;
        let p_inv = 1.0 / pf;
        let ow = self.overflow_weight as f64;
        // The running sums live in `dst` as `f64` bit patterns: no scratch allocation.
        for (d, &v) in self.dst.iter_mut().zip(self.overflow) {
            let r = mul_mod(to_f64(v), ow, pf, p_inv);
            *d = (if r > 0.0 { pf - r } else { 0.0 }).to_bits();
        }
        for (src, &w) in self.sources.iter().zip(self.weights) {
            let wf = w as f64;
            if self.wide {
                let w_hi = ((u128::from(w) << 32) % u128::from(self.p)) as f64;
                for (d, &y) in self.dst.iter_mut().zip(src.iter()) {
                    let s = f64::from_bits(*d) + mul_mod_wide(y, wf, w_hi, pf, p_inv);
                    *d = (if s >= pf { s - pf } else { s }).to_bits();
                }
            } else {
                for (d, &y) in self.dst.iter_mut().zip(src.iter()) {
                    let s = f64::from_bits(*d) + mul_mod(to_f64(y), wf, pf, p_inv);
                    *d = (if s >= pf { s - pf } else { s }).to_bits();
                }
            }
        }
        for d in self.dst.iter_mut() {
            *d = to_u64(f64::from_bits(*d));
        }
    }
}

/// `dst[k] = (Σ_i sources[i][k]·weights[i] − overflow[k]·overflow_weight) mod p`. `p`, the
/// weights and the overflow must be below `2^51`; the sources too, unless `wide` (then any
/// `u64`, at twice the cost).
pub fn weighted_sum_mod(
    dst: &mut [u64],
    sources: &[Vec<u64>],
    weights: &[u64],
    overflow: &[u64],
    overflow_weight: u64,
    p: u64,
    wide: bool,
) {
    pulp::Arch::new().dispatch(WeightedSum {
        dst,
        sources,
        weights,
        overflow,
        overflow_weight,
        p,
        wide,
    });
}

/// Computes `dst[k] = (dst[k] − sub[k])·w mod p` (`sub` may be empty: then `dst[k]·w mod p`).
/// Inputs reduced modulo `p < 2^51`.
struct SubScale<'a> {
    dst: &'a mut [u64],
    sub: &'a [u64],
    w: u64,
    p: u64,
}

impl pulp::WithSimd for SubScale<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let pf = self.p as f64;
        let p_inv = 1.0 / pf;
        let wf = self.w as f64;
        let p = self.p;
        if self.sub.is_empty() {
            for d in self.dst.iter_mut() {
                *d = to_u64(mul_mod(to_f64(*d), wf, pf, p_inv));
            }
            return;
        }
        for (d, &c) in self.dst.iter_mut().zip(self.sub) {
            // d − c + p in [1, 2p), then one conditional subtraction, branch-free.
            let t = *d + p - c;
            let t = t.min(t.wrapping_sub(p));
            *d = to_u64(mul_mod(to_f64(t), wf, pf, p_inv));
        }
    }
}

/// `dst[k] = (dst[k] − sub[k])·w mod p` for residues modulo `p < 2^51` (`sub` empty: `dst[k]·w`).
/// The last step of ModDown and rescaling, vectorised.
pub fn sub_scale_mod(dst: &mut [u64], sub: &[u64], w: u64, p: u64) {
    pulp::Arch::new().dispatch(SubScale { dst, sub, w, p });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::Modulus;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn mul_mod_matches_u128(a in 0u64..F64_PRIME_BOUND, b in 0u64..F64_PRIME_BOUND, bits in 20u32..=51) {
            // Any odd modulus of the given size exercises the reduction.
            let p = ((1u64 << (bits - 1)) | (a.rotate_left(17) & ((1u64 << (bits - 1)) - 1))) | 1;
            let (a, b) = (a % p, b % p);
            let expect = ((a as u128 * b as u128) % p as u128) as u64;
            let got = mul_mod(a as f64, b as f64, p as f64, 1.0 / p as f64) as u64;
            prop_assert_eq!(got, expect);
        }

        #[test]
        fn weighted_sum_matches_u128(
            ys in proptest::collection::vec(0u64..F64_PRIME_BOUND, 24),
            ws in proptest::collection::vec(0u64..F64_PRIME_BOUND, 3),
            v in proptest::collection::vec(0u64..4, 8),
            ow in 0u64..F64_PRIME_BOUND,
        ) {
            let p = 1_125_899_906_826_241u64; // a 50-bit prime
            let m = Modulus::new(p).unwrap();
            let sources: Vec<Vec<u64>> = ys.chunks(8).map(|c| c.iter().map(|&y| y % p).collect()).collect();
            let weights: Vec<u64> = ws.iter().map(|&w| w % p).collect();
            let mut dst = vec![0u64; 8];
            weighted_sum_mod(&mut dst, &sources, &weights, &v, ow % p, p, false);
            for k in 0..8 {
                let mut expect = 0u64;
                for (s, &w) in sources.iter().zip(&weights) {
                    expect = m.add(expect, m.mul(s[k], w));
                }
                expect = m.sub(expect, m.mul(v[k], ow % p));
                prop_assert_eq!(dst[k], expect);
            }
        }

        #[test]
        fn wide_weighted_sum_matches_u128(
            ys in proptest::collection::vec(any::<u64>(), 16),
            ws in proptest::collection::vec(0u64..F64_PRIME_BOUND, 2),
            v in proptest::collection::vec(0u64..4, 8),
            ow in 0u64..F64_PRIME_BOUND,
            small in any::<bool>(),
        ) {
            // A 50-bit prime, and a 24-bit one whose residues are far below the sources.
            let p = if small { 16_760_833u64 } else { 1_125_899_906_826_241u64 };
            let m = Modulus::new(p).unwrap();
            let sources: Vec<Vec<u64>> = ys.chunks(8).map(<[u64]>::to_vec).collect();
            let weights: Vec<u64> = ws.iter().map(|&w| w % p).collect();
            let mut dst = vec![0u64; 8];
            weighted_sum_mod(&mut dst, &sources, &weights, &v, ow % p, p, true);
            for k in 0..8 {
                let mut expect = 0u64;
                for (s, &w) in sources.iter().zip(&weights) {
                    expect = m.add(expect, m.mul(m.reduce(s[k]), w));
                }
                expect = m.sub(expect, m.mul(v[k], ow % p));
                prop_assert_eq!(dst[k], expect);
            }
        }

        #[test]
        fn sub_scale_matches_u128(
            xs in proptest::collection::vec(any::<u64>(), 16),
            w in any::<u64>(),
            small in any::<bool>(),
        ) {
            let p = if small { 16_760_833u64 } else { 1_125_899_906_826_241u64 };
            let m = Modulus::new(p).unwrap();
            let w = w % p;
            let a: Vec<u64> = xs[..8].iter().map(|&x| x % p).collect();
            let b: Vec<u64> = xs[8..].iter().map(|&x| x % p).collect();
            let mut dst = a.clone();
            sub_scale_mod(&mut dst, &b, w, p);
            let mut scaled = a.clone();
            sub_scale_mod(&mut scaled, &[], w, p);
            for k in 0..8 {
                prop_assert_eq!(dst[k], m.mul(m.sub(a[k], b[k]), w));
                prop_assert_eq!(scaled[k], m.mul(a[k], w));
            }
        }
    }
}
