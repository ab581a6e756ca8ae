//! RNS basis operations: fast (approximate) basis conversion, the building block of ModUp and
//! ModDown in hybrid key switching, and exact division by the last prime with rounding
//! (CKKS rescaling).

use super::fma::{sub_scale_mod, to_u64, weighted_sum_mod, F64_PRIME_BOUND};
use super::modulus::Modulus;
use super::poly::{Coeff, Eval, RnsPoly};
use super::ring::Prime;
use rayon::prelude::*;

/// Converts residues from basis `{q_i}` (product `Q`) to basis `{p_j}`, exactly, returning the
/// centred representative `x ∈ [−Q/2, Q/2)`:
/// `y_i = [x_i · (Q/q_i)^-1]_{q_i}`, `v = round(Σ_i y_i / q_i)`,
/// `x mod p_j = Σ_i y_i · (Q/q_i) − v·Q mod p_j`.
///
/// The floating-point correction `v` (Halevi–Polyakov–Shoup) removes the `u·Q` overflow of the
/// plain fast conversion. That matters: in ModDown an overflow or a floor instead of a rounding
/// is a bias of about one half on every coefficient, which the decoder turns into an error of
/// `~N/π · |s|` on the slots next to `ζ^{±1}`, costing several bits of precision.
#[derive(Clone, Debug)]
pub struct BasisConverter {
    from: Vec<Modulus>,
    to: Vec<Modulus>,
    /// `(Q/q_i)^-1 mod q_i` and its Shoup companion.
    q_hat_inv: Vec<(u64, u64)>,
    /// `q_hat_mod_to[j][i] = (Q/q_i) mod p_j`.
    q_hat_mod_to: Vec<Vec<u64>>,
    /// `Q mod p_j`.
    q_mod_to: Vec<u64>,
    /// `1 / q_i` as `f64`.
    inv_from: Vec<f64>,
    /// Some source prime is at least [`F64_PRIME_BOUND`]: the vectorised `f64` kernel then
    /// splits each source residue in two halves (targets must still be below the bound).
    wide_sources: bool,
}

impl BasisConverter {
    /// Precomputes the conversion from `from` to `to` (disjoint sets of primes).
    pub fn new(from: &[&Prime], to: &[&Prime]) -> Self {
        let from_m: Vec<Modulus> = from.iter().map(|p| *p.modulus()).collect();
        let to_m: Vec<Modulus> = to.iter().map(|p| *p.modulus()).collect();
        let q_hat_inv = from_m
            .iter()
            .enumerate()
            .map(|(i, mi)| {
                let q_hat = from_m
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != i)
                    .fold(1u64, |acc, (_, mk)| mi.mul(acc, mi.reduce(mk.value())));
                // The primes are distinct, so Q/q_i is invertible modulo q_i.
                let inv = mi.inv(q_hat).unwrap_or(0);
                (inv, mi.shoup(inv))
            })
            .collect();
        let q_hat_mod_to = to_m
            .iter()
            .map(|pj| {
                (0..from_m.len())
                    .map(|i| {
                        from_m
                            .iter()
                            .enumerate()
                            .filter(|&(k, _)| k != i)
                            .fold(1u64, |acc, (_, mk)| pj.mul(acc, pj.reduce(mk.value())))
                    })
                    .collect()
            })
            .collect();
        let q_mod_to = to_m
            .iter()
            .map(|pj| {
                from_m
                    .iter()
                    .fold(1u64, |acc, mk| pj.mul(acc, pj.reduce(mk.value())))
            })
            .collect();
        let inv_from = from_m.iter().map(|m| 1.0 / m.value() as f64).collect();
        let wide_sources = from_m.iter().any(|m| m.value() >= F64_PRIME_BOUND);
        Self {
            from: from_m,
            to: to_m,
            q_hat_inv,
            q_hat_mod_to,
            q_mod_to,
            inv_from,
            wide_sources,
        }
    }

    /// Converts `input` (exactly `from.len()` limbs, coefficient domain) into `to.len()` new limbs.
    pub fn convert(&self, input: &RnsPoly<Coeff>) -> RnsPoly<Coeff> {
        let n = input.n();
        let mut out = RnsPoly::<Coeff>::zero(n, self.to.len());
        let sources: Vec<&[u64]> = input.limbs_iter().collect();
        self.convert_into(&sources, out.par_limbs_mut().collect());
        out
    }

    /// Converts the coefficient-domain limbs `sources` (one per prime of `from`) into the
    /// limbs `targets` (one per prime of `to`, overwritten), without allocating the result.
    pub fn convert_into(&self, sources: &[&[u64]], targets: Vec<&mut [u64]>) {
        debug_assert_eq!(sources.len(), self.from.len());
        debug_assert_eq!(targets.len(), self.to.len());
        let n = sources.first().map_or(0, |s| s.len());
        let scaled: Vec<Vec<u64>> = sources
            .par_iter()
            .zip(self.from.par_iter().zip(self.q_hat_inv.par_iter()))
            .map(|(src, (m, &(w, w_shoup)))| {
                let mut y = src.to_vec();
                if m.value() < F64_PRIME_BOUND {
                    sub_scale_mod(&mut y, &[], w, m.value());
                } else {
                    y.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, w_shoup));
                }
                y
            })
            .collect();
        // v = round(Σ_i y_i / q_i), limb by limb (vectorises; same summation order per k).
        let mut sums = vec![0.0f64; n];
        for (limb, inv) in scaled.iter().zip(&self.inv_from) {
            for (s, &y) in sums.iter_mut().zip(limb) {
                *s += y as f64 * inv;
            }
        }
        let overflow: Vec<u64> = sums.iter().map(|s| to_u64(s.round())).collect();
        targets
            .into_par_iter()
            .zip(self.to.par_iter().zip(self.q_hat_mod_to.par_iter()))
            .zip(self.q_mod_to.par_iter())
            .for_each(|((dst, (pj, weights)), &q_mod)| {
                if pj.value() < F64_PRIME_BOUND {
                    weighted_sum_mod(
                        dst,
                        &scaled,
                        weights,
                        &overflow,
                        q_mod,
                        pj.value(),
                        self.wide_sources,
                    );
                    return;
                }
                let q_mod_shoup = pj.shoup(q_mod);
                let p = pj.value();
                let two_p = 2 * p;
                // Lazy Shoup products in [0, 2p), kept in [0, 2p) by a branch-free conditional
                // subtraction after each addition; one limb at a time so that coefficients are
                // independent (instruction-level parallelism) and memory is read sequentially.
                for (d, &v) in dst.iter_mut().zip(&overflow) {
                    *d = two_p - pj.mul_shoup_lazy(v, q_mod, q_mod_shoup);
                }
                for (limb, &w) in scaled.iter().zip(weights) {
                    let w_shoup = pj.shoup(w);
                    for (d, &y) in dst.iter_mut().zip(limb.iter()) {
                        let acc = *d + pj.mul_shoup_lazy(y, w, w_shoup);
                        *d = acc.min(acc.wrapping_sub(two_p));
                    }
                }
                for d in dst.iter_mut() {
                    let acc = (*d).min(d.wrapping_sub(two_p));
                    *d = acc.min(acc.wrapping_sub(p));
                }
            });
    }
}

/// Divides a polynomial over `basis` (evaluation domain) by its last prime `q_l`, rounding to
/// the nearest integer, and returns it over `basis[..l]`.
///
/// For each remaining prime: `(x_i + h − [x_l + h]_{q_l}) · q_l^-1 mod q_i` with `h = ⌊q_l/2⌋`.
pub fn divide_round_by_last(mut poly: RnsPoly<Eval>, basis: &[&Prime]) -> RnsPoly<Eval> {
    let l = basis.len() - 1;
    let last = basis[l];
    let ql = last.modulus();
    let half = ql.value() / 2;
    let mut last_limb = poly.limb(l).to_vec();
    last.ntt().inverse(&mut last_limb);
    for x in last_limb.iter_mut() {
        *x = ql.add(*x, half);
    }
    poly.truncate(l);
    let n = poly.n();
    poly.par_limbs_mut()
        .zip(basis[..l].par_iter())
        .for_each_init(
            || vec![0u64; n],
            |t, (limb, p)| {
                let m = p.modulus();
                let q = m.value();
                // ([x_l + h]_{q_l} − h) mod q_i, so that x_i − t_i ≡ x + h − [x + h]_{q_l}.
                let h = m.reduce(half);
                if ql.value() <= 2 * q {
                    // Residues below q_l ≤ 2 q_i: conditional subtractions, branch-free (vectorises).
                    for (d, &x) in t.iter_mut().zip(&last_limb) {
                        let r = x.min(x.wrapping_sub(q));
                        let s = r + q - h;
                        *d = s.min(s.wrapping_sub(q));
                    }
                } else {
                    for (d, &x) in t.iter_mut().zip(&last_limb) {
                        *d = m.sub(m.reduce(x), h);
                    }
                }
                p.ntt().forward(t);
                let inv = m.inv(ql.value()).unwrap_or(0);
                if q < F64_PRIME_BOUND {
                    sub_scale_mod(limb, t, inv, q);
                    return;
                }
                let inv_shoup = m.shoup(inv);
                for (x, &ti) in limb.iter_mut().zip(t.iter()) {
                    *x = m.mul_shoup(m.sub(*x, ti), inv, inv_shoup);
                }
            },
        );
    poly
}

/// Reconstructs centred integers from residues with Garner's mixed-radix algorithm and returns
/// them as `f64` (exact up to `f64` rounding, for values far below the basis product).
///
/// Digits are chosen in `(−q_i/2, q_i/2]`, so `x = Σ d_i · q_0⋯q_{i−1}` is the centred
/// representative and the leading digits of a small value are zero: no big integers needed.
#[derive(Clone, Debug)]
pub struct CrtReconstructor {
    moduli: Vec<Modulus>,
    /// `inv_prefix[i] = (q_0 ⋯ q_{i−1})^-1 mod q_i`.
    inv_prefix: Vec<u64>,
    /// `prefix_mod[i][k] = (q_0 ⋯ q_{k−1}) mod q_i` for `k < i`.
    prefix_mod: Vec<Vec<u64>>,
    /// `q_0 ⋯ q_{i−1}` as `f64`.
    prefix_f64: Vec<f64>,
}

impl CrtReconstructor {
    /// Precomputes the mixed-radix constants of `basis`.
    pub fn new(basis: &[&Prime]) -> Self {
        let moduli: Vec<Modulus> = basis.iter().map(|p| *p.modulus()).collect();
        let mut inv_prefix = Vec::with_capacity(moduli.len());
        let mut prefix_mod = Vec::with_capacity(moduli.len());
        let mut prefix_f64 = Vec::with_capacity(moduli.len());
        let mut pf = 1.0f64;
        for (i, mi) in moduli.iter().enumerate() {
            let mut prefixes = Vec::with_capacity(i);
            let mut acc = 1u64;
            for mk in &moduli[..i] {
                prefixes.push(acc);
                acc = mi.mul(acc, mi.reduce(mk.value()));
            }
            inv_prefix.push(mi.inv(acc).unwrap_or(0));
            prefix_mod.push(prefixes);
            prefix_f64.push(pf);
            pf *= mi.value() as f64;
        }
        Self {
            moduli,
            inv_prefix,
            prefix_mod,
            prefix_f64,
        }
    }

    /// Centred value of coefficient `k` of `poly` (coefficient domain) as `f64`.
    pub fn centered_f64(&self, poly: &RnsPoly<Coeff>, k: usize) -> f64 {
        let limbs = self.moduli.len();
        let mut digits = [0i64; 64];
        let mut heap;
        let digits: &mut [i64] = if limbs <= 64 {
            &mut digits[..limbs]
        } else {
            heap = vec![0i64; limbs];
            &mut heap
        };
        let mut value = 0.0f64;
        for i in 0..limbs {
            let mi = &self.moduli[i];
            // x mod q_i minus the contribution of the digits already found.
            let mut partial = poly.limb(i)[k];
            for (kk, &d) in digits[..i].iter().enumerate() {
                let term = mi.mul(mi.reduce_i64(d), self.prefix_mod[i][kk]);
                partial = mi.sub(partial, term);
            }
            let d = mi.center(mi.mul(partial, self.inv_prefix[i]));
            digits[i] = d;
            value += d as f64 * self.prefix_f64[i];
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use crate::math::ring::RingContext;
    use proptest::prelude::*;

    fn ring(n: usize, bits: &[u32]) -> RingContext {
        let mut primes = Vec::new();
        for &b in bits {
            let mut g = PrimeGenerator::new(b, n as u64).unwrap();
            primes.push(g.next_below(&primes).unwrap());
        }
        RingContext::new(n, &primes).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn basis_conversion_is_exact_and_centered(
            values in proptest::collection::vec(-(1i64 << 62)..(1i64 << 62), 16),
        ) {
            let n = 16;
            let ring = ring(n, &[40, 45, 50, 55, 60]);
            let all: Vec<&Prime> = ring.primes().iter().collect();
            let (from, to) = all.split_at(2);
            let q: i128 = from.iter().map(|p| p.value() as i128).product();
            // Centred representatives in [-Q/2, Q/2).
            let xs: Vec<i128> = values
                .iter()
                .map(|&v| (v as i128 + q / 2).rem_euclid(q) - q / 2)
                .collect();
            let signed: Vec<i64> = xs.iter().map(|&x| x as i64).collect();
            let input = RnsPoly::<Coeff>::from_signed(n, &signed, from);
            let out = BasisConverter::new(from, to).convert(&input);
            for (j, p) in to.iter().enumerate() {
                for (k, &x) in xs.iter().enumerate() {
                    prop_assert_eq!(x.rem_euclid(p.value() as i128) as u64, out.limb(j)[k]);
                }
            }
        }

        #[test]
        fn basis_conversion_from_wide_primes_is_exact(
            values in proptest::collection::vec(-(1i64 << 62)..(1i64 << 62), 16),
        ) {
            // ModDown with 60-bit special primes: sources above 2^51 (split path of the `f64`
            // kernel) to small and large targets.
            let n = 16;
            let ring = ring(n, &[60, 59, 24, 40, 50, 61]);
            let all: Vec<&Prime> = ring.primes().iter().collect();
            let (from, to) = all.split_at(2);
            let q: i128 = from.iter().map(|p| p.value() as i128).product();
            let xs: Vec<i128> = values
                .iter()
                .map(|&v| (v as i128 * 12_345_678_901 + q / 3).rem_euclid(q) - q / 2)
                .collect();
            let residues: Vec<u64> = from
                .iter()
                .flat_map(|p| xs.iter().map(move |&x| x.rem_euclid(p.value() as i128) as u64))
                .collect();
            let input = RnsPoly::<Coeff>::from_raw(n, residues).unwrap();
            let out = BasisConverter::new(from, to).convert(&input);
            for (j, p) in to.iter().enumerate() {
                for (k, &x) in xs.iter().enumerate() {
                    prop_assert_eq!(x.rem_euclid(p.value() as i128) as u64, out.limb(j)[k]);
                }
            }
        }

        #[test]
        fn garner_reconstructs_centered_values(
            values in proptest::collection::vec(-(1i64 << 62)..(1i64 << 62), 16),
        ) {
            let n = 16;
            let ring = ring(n, &[30, 35, 40]);
            let basis: Vec<&Prime> = ring.primes().iter().collect();
            let poly = RnsPoly::<Coeff>::from_signed(n, &values, &basis);
            let crt = CrtReconstructor::new(&basis);
            for (k, &v) in values.iter().enumerate() {
                let got = crt.centered_f64(&poly, k);
                prop_assert!((got - v as f64).abs() <= (v as f64).abs() * 1e-15, "{} vs {}", got, v);
            }
        }
    }

    /// Last primes below, just above and far above the others (the reduction of the last
    /// residues takes a branch-free path when `q_l ≤ 2 q_i`, the general one otherwise).
    #[test]
    fn rescale_divides_with_rounding() {
        let n = 16;
        for bits in [[50u32, 40, 41], [30, 40, 31], [31, 30, 30], [30, 31, 50]] {
            let ring = ring(n, &bits);
            let basis: Vec<&Prime> = ring.primes().iter().collect();
            let ql = basis[2].value() as i64;
            let values: Vec<i64> = (0..n as i64)
                .map(|i| (i - 8) * ql + (i - 8) * (ql / 7) + (i % 3 - 1) * (ql / 2))
                .collect();
            let poly = RnsPoly::<Coeff>::from_signed(n, &values, &basis).into_eval(&basis);
            let out = divide_round_by_last(poly, &basis).into_coeff(&basis[..2]);
            let crt = CrtReconstructor::new(&basis[..2]);
            for (k, &v) in values.iter().enumerate() {
                let expect = (v as f64 / ql as f64).round();
                assert_eq!(crt.centered_f64(&out, k), expect, "{bits:?}, k = {k}");
            }
        }
    }
}
