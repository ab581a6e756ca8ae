//! The ring `Z[X]/(X^n + 1)` over a set of RNS primes: per-prime NTT plans and the index maps
//! that make automorphisms `X -> X^g` cheap in the evaluation domain.

use super::modulus::Modulus;
use super::ntt::NttPlan;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One RNS prime with its arithmetic and its NTT plan.
#[derive(Debug)]
pub struct Prime {
    modulus: Modulus,
    ntt: NttPlan,
}

impl Prime {
    /// The prime's modular arithmetic.
    #[inline]
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// The prime's NTT plan.
    #[inline]
    pub fn ntt(&self) -> &NttPlan {
        &self.ntt
    }

    /// The prime as an integer.
    #[inline]
    pub fn value(&self) -> u64 {
        self.modulus.value()
    }
}

/// Why a set of primes cannot form a ring context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The degree is not a power of two in the supported range.
    Degree(usize),
    /// A modulus is not a prime `≡ 1 mod 2n` below `2^61`.
    NotNttPrime(u64),
    /// The NTT order of this prime differs from the first prime's (never expected; checked).
    InconsistentNttOrder(u64),
}

/// Ring degree, primes and the evaluation-domain index maps shared by every polynomial.
pub struct RingContext {
    n: usize,
    primes: Vec<Prime>,
    /// `exponent[k]`: the odd `e` such that evaluation slot `k` holds `a(w^e)`.
    exponent: Vec<u32>,
    /// Inverse of `exponent`: slot index of the odd exponent `e`, stored at `(e - 1) / 2`.
    slot_of_exponent: Vec<u32>,
    galois_maps: Mutex<HashMap<u64, Arc<[u32]>>>,
}

impl std::fmt::Debug for RingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingContext")
            .field("n", &self.n)
            .field(
                "primes",
                &self.primes.iter().map(Prime::value).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RingContext {
    /// Builds the context for degree `n` (a power of two, `16 ≤ n ≤ 2^17`) and the given primes.
    pub fn new(n: usize, primes: &[u64]) -> Result<Self, RingError> {
        if !n.is_power_of_two() || !(16..=1 << 17).contains(&n) {
            return Err(RingError::Degree(n));
        }
        let mut built = Vec::with_capacity(primes.len());
        for &q in primes {
            if !super::primes::is_ntt_prime(q, n as u64) {
                return Err(RingError::NotNttPrime(q));
            }
            let modulus = Modulus::new(q).ok_or(RingError::NotNttPrime(q))?;
            let ntt = NttPlan::try_new(n, modulus).ok_or(RingError::NotNttPrime(q))?;
            built.push(Prime { modulus, ntt });
        }
        let (exponent, slot_of_exponent) = match built.first() {
            Some(first) => measure_ntt_order(n, first),
            None => (Vec::new(), Vec::new()),
        };
        for prime in built.iter().skip(1) {
            if !ntt_order_matches(n, prime, &exponent) {
                return Err(RingError::InconsistentNttOrder(prime.value()));
            }
        }
        Ok(Self {
            n,
            primes: built,
            exponent,
            slot_of_exponent,
            galois_maps: Mutex::new(HashMap::new()),
        })
    }

    /// The ring degree `n`.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// All primes, in the order given at construction.
    #[inline]
    pub fn primes(&self) -> &[Prime] {
        &self.primes
    }

    /// The evaluation-domain permutation of the automorphism `X -> X^g` (`g` odd, `< 2n`):
    /// `out[k] = in[map[k]]`. Cached per `g`.
    pub fn galois_map(&self, g: u64) -> Arc<[u32]> {
        let mut cache = match self.galois_maps.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache
            .entry(g)
            .or_insert_with(|| {
                let two_n = 2 * self.n as u64;
                self.exponent
                    .iter()
                    .map(|&e| {
                        let target = (e as u64 * g) % two_n;
                        self.slot_of_exponent[((target - 1) / 2) as usize]
                    })
                    .collect()
            })
            .clone()
    }
}

/// Evaluates `X` with the plan to learn which odd power of the root each slot holds.
fn measure_ntt_order(n: usize, prime: &Prime) -> (Vec<u32>, Vec<u32>) {
    let m = prime.modulus();
    let mut x = vec![0u64; n];
    x[1] = 1;
    prime.ntt().forward(&mut x);
    let w = x[0];
    let w2 = m.mul(w, w);
    let mut exponent_of: HashMap<u64, u32> = HashMap::with_capacity(n);
    let mut power = w;
    for k in 0..n as u32 {
        exponent_of.insert(power, 2 * k + 1);
        power = m.mul(power, w2);
    }
    let mut exponent = vec![0u32; n];
    let mut slot_of_exponent = vec![0u32; n];
    for (slot, value) in x.iter().enumerate() {
        // Every evaluation of X is a primitive 2n-th root, hence an odd power of w.
        let e = exponent_of.get(value).copied().unwrap_or(1);
        exponent[slot] = e;
        slot_of_exponent[((e - 1) / 2) as usize] = slot as u32;
    }
    (exponent, slot_of_exponent)
}

fn ntt_order_matches(n: usize, prime: &Prime, exponent: &[u32]) -> bool {
    let m = prime.modulus();
    let mut x = vec![0u64; n];
    x[1] = 1;
    prime.ntt().forward(&mut x);
    let w = x[0];
    let w2 = m.mul(w, w);
    let mut powers = Vec::with_capacity(n);
    let mut power = w;
    for _ in 0..n {
        powers.push(power);
        power = m.mul(power, w2);
    }
    x.iter()
        .zip(exponent)
        .all(|(&v, &e)| powers[((e - 1) / 2) as usize] == v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::primes::PrimeGenerator;

    #[test]
    fn measured_order_is_a_permutation_of_odd_exponents() {
        let n = 1 << 10;
        let mut g = PrimeGenerator::new(45, n as u64).unwrap();
        let primes: Vec<u64> = (0..3).map(|_| g.next_below(&[]).unwrap()).collect();
        let ring = RingContext::new(n, &primes).unwrap();
        let mut seen = ring.exponent.clone();
        seen.sort_unstable();
        let expect: Vec<u32> = (0..n as u32).map(|k| 2 * k + 1).collect();
        assert_eq!(seen, expect);
    }

    #[test]
    fn rejects_non_ntt_primes() {
        assert_eq!(
            RingContext::new(1 << 10, &[1_099_511_627_791]).err(),
            Some(RingError::NotNttPrime(1_099_511_627_791))
        );
        assert_eq!(
            RingContext::new(1000, &[]).err(),
            Some(RingError::Degree(1000))
        );
    }
}
