//! NTT-friendly prime generation: primes `q ≡ 1 mod 2N` close to a power of two.

use super::modulus::{Modulus, MAX_MODULUS_BITS};

/// Deterministic Miller–Rabin for 64-bit integers (the first twelve primes are a complete
/// witness set below `2^64`).
pub fn is_prime(n: u64) -> bool {
    const WITNESSES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in WITNESSES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let d = (n - 1) >> (n - 1).trailing_zeros();
    let s = (n - 1).trailing_zeros();
    let mulmod = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    let powmod = |mut a: u64, mut e: u64| {
        let mut acc = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                acc = mulmod(acc, a);
            }
            a = mulmod(a, a);
            e >>= 1;
        }
        acc
    };
    'witness: for a in WITNESSES {
        let mut x = powmod(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mulmod(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Generates primes `≡ 1 mod 2n` of exactly `bits` bits, alternating just above and just below
/// `2^bits` (above only while it stays within `bits` bits) so that the product of consecutive
/// primes stays close to a power of two, and skipping any prime in `exclude`.
///
/// Alternation matters for CKKS: after each rescale the scale is multiplied by `2^bits / q_i`,
/// and alternating the sign of `q_i - 2^bits` keeps the accumulated drift small.
pub struct PrimeGenerator {
    two_n: u64,
    bits: u32,
    next_above: Option<u64>,
    next_below: Option<u64>,
    prefer_above: bool,
}

impl PrimeGenerator {
    /// Starts a generator for primes of `bits` bits that support a negacyclic NTT of size `n`.
    /// Returns `None` if `bits` is outside `[log2(2n) + 2, MAX_MODULUS_BITS]`.
    pub fn new(bits: u32, n: u64) -> Option<Self> {
        let two_n = 2 * n;
        if !n.is_power_of_two() || bits > MAX_MODULUS_BITS || bits < two_n.ilog2() + 2 {
            return None;
        }
        let center = 1u64 << bits;
        Some(Self {
            two_n,
            bits,
            // Candidates are 1 mod 2n; 2^bits is 0 mod 2n, so 2^bits + 1 is the first above.
            next_above: Some(center + 1),
            next_below: Some(center - two_n + 1),
            prefer_above: false,
        })
    }

    fn step_below(&mut self) -> Option<u64> {
        while let Some(c) = self.next_below {
            self.next_below = c
                .checked_sub(self.two_n)
                .filter(|&v| v >> (self.bits - 1) == 1);
            if is_prime(c) {
                return Some(c);
            }
        }
        None
    }

    fn step_above(&mut self) -> Option<u64> {
        // Primes above 2^bits have bits+1 bits; they are used only for the "close to 2^bits"
        // scale primes, never where a strict bit budget is requested.
        while let Some(c) = self.next_above {
            self.next_above = c
                .checked_add(self.two_n)
                .filter(|&v| v < (1u64 << self.bits) + (1u64 << (self.bits - 2)));
            if is_prime(c) {
                return Some(c);
            }
        }
        None
    }

    /// Next prime strictly below `2^bits` (so it has exactly `bits` bits).
    pub fn next_below(&mut self, exclude: &[u64]) -> Option<u64> {
        loop {
            let p = self.step_below()?;
            if !exclude.contains(&p) {
                return Some(p);
            }
        }
    }

    /// Next prime of the alternating sequence around `2^bits`.
    pub fn next_alternating(&mut self, exclude: &[u64]) -> Option<u64> {
        loop {
            let p = if self.prefer_above && self.bits < MAX_MODULUS_BITS {
                self.step_above().or_else(|| self.step_below())
            } else {
                self.step_below()
            }?;
            self.prefer_above = !self.prefer_above;
            if !exclude.contains(&p) {
                return Some(p);
            }
        }
    }
}

/// Checks that `q` can serve as an RNS prime for ring degree `n`: a prime, `≡ 1 mod 2n`, and
/// within the supported size.
pub fn is_ntt_prime(q: u64, n: u64) -> bool {
    Modulus::new(q).is_some() && q % (2 * n) == 1 && is_prime(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miller_rabin_agrees_with_trial_division() {
        let trial = |n: u64| {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        for n in 0..20_000u64 {
            assert_eq!(is_prime(n), trial(n), "n = {n}");
        }
        assert!(is_prime(0x1fff_ffff_ffe0_0001));
        assert!(!is_prime(0x1fff_ffff_ffe0_0001 * 3));
        // A strong pseudoprime to several small bases.
        assert!(!is_prime(3_215_031_751));
    }

    #[test]
    fn generated_primes_are_ntt_friendly_and_distinct() {
        let n = 1 << 14;
        let mut g = PrimeGenerator::new(40, n).unwrap();
        let mut seen = Vec::new();
        for _ in 0..12 {
            let p = g.next_alternating(&seen).unwrap();
            assert!(is_ntt_prime(p, n));
            assert!((p as f64).log2() > 39.99 && (p as f64).log2() < 40.01);
            seen.push(p);
        }
        let mut below = PrimeGenerator::new(50, n).unwrap();
        let p = below.next_below(&seen).unwrap();
        assert_eq!(64 - p.leading_zeros(), 50);
    }
}
