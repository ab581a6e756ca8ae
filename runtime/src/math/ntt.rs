//! Negacyclic number-theoretic transform modulo one prime, on top of `tfhe-ntt`.
//!
//! Ordering: [`NttPlan::forward`] takes coefficients in standard order and returns the
//! evaluations of the polynomial at the odd powers of a primitive `2n`-th root of unity in
//! bit-reversed order (the order `tfhe-ntt` produces). Which power sits at which index is
//! measured once per ring by [`super::ring::RingContext`], so automorphisms in the evaluation
//! domain never depend on an assumption about the library's internal order.

use super::modulus::Modulus;
use tfhe_ntt::prime64::Plan;

/// A precomputed NTT for ring degree `n` and one prime (twiddles, Shoup companions, `n^-1`).
pub struct NttPlan {
    plan: Plan,
    modulus: Modulus,
}

impl std::fmt::Debug for NttPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NttPlan")
            .field("n", &self.plan.ntt_size())
            .field("q", &self.modulus.value())
            .finish()
    }
}

impl NttPlan {
    /// Plans a transform of size `n` (a power of two, at least 16) modulo a prime
    /// `q ≡ 1 mod 2n`; `None` when no such transform exists.
    pub fn try_new(n: usize, modulus: Modulus) -> Option<Self> {
        let plan = Plan::try_new(n, modulus.value())?;
        Some(Self { plan, modulus })
    }

    /// The prime modulus.
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// The transform size.
    pub fn n(&self) -> usize {
        self.plan.ntt_size()
    }

    /// Coefficients (reduced, standard order) to evaluations (bit-reversed order), in place.
    pub fn forward(&self, values: &mut [u64]) {
        self.plan.fwd(values);
    }

    /// Evaluations back to reduced coefficients, in place, including the `1/n` factor.
    pub fn inverse(&self, values: &mut [u64]) {
        self.plan.inv(values);
        self.plan.normalize(values);
    }

    /// `acc[i] += a[i] * b[i] mod q` for reduced inputs.
    pub fn mul_accumulate(&self, acc: &mut [u64], a: &[u64], b: &[u64]) {
        self.plan.mul_accumulate(acc, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;
    use proptest::prelude::*;

    /// Schoolbook negacyclic product, the oracle for the transform.
    fn naive_negacyclic(m: &Modulus, a: &[u64], b: &[u64]) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u64; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let p = m.mul(ai, bj);
                let k = i + j;
                if k < n {
                    out[k] = m.add(out[k], p);
                } else {
                    out[k - n] = m.sub(out[k - n], p);
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn ntt_product_matches_schoolbook(
            seed_a in proptest::collection::vec(any::<u64>(), 64),
            seed_b in proptest::collection::vec(any::<u64>(), 64),
            bits in prop_oneof![Just(30u32), Just(40), Just(50), Just(60)],
        ) {
            let n = 64usize;
            let q = PrimeGenerator::new(bits, n as u64).unwrap().next_below(&[]).unwrap();
            let m = Modulus::new(q).unwrap();
            let plan = NttPlan::try_new(n, m).unwrap();
            let a: Vec<u64> = seed_a.iter().map(|&x| m.reduce(x)).collect();
            let b: Vec<u64> = seed_b.iter().map(|&x| m.reduce(x)).collect();
            let expect = naive_negacyclic(&m, &a, &b);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            plan.forward(&mut fa);
            plan.forward(&mut fb);
            let mut prod = vec![0u64; n];
            plan.mul_accumulate(&mut prod, &fa, &fb);
            plan.inverse(&mut prod);
            prop_assert_eq!(prod, expect);
            plan.inverse(&mut fa);
            prop_assert_eq!(fa, a);
        }
    }
}
