//! Arithmetic modulo one word-sized prime: Barrett reduction for products of two variables,
//! Shoup multiplication for products by a fixed constant.

/// Largest modulus bit length supported. Products of two residues then fit in 124 bits, which
/// leaves room to add 16 of them in a `u128` before reducing (used by basis conversion).
pub const MAX_MODULUS_BITS: u32 = 61;

/// An odd modulus `q < 2^61` with its Barrett constant `floor(2^128 / q)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modulus {
    value: u64,
    ratio_hi: u64,
    ratio_lo: u64,
}

impl Modulus {
    /// Builds a modulus; `None` unless `q` is odd, at least 3 and below `2^MAX_MODULUS_BITS`.
    pub fn new(q: u64) -> Option<Self> {
        if q < 3 || q.is_multiple_of(2) || q >= 1 << MAX_MODULUS_BITS {
            return None;
        }
        // floor(2^128 / q) = floor((2^128 - 1) / q) because q is odd and so does not divide 2^128.
        let ratio = u128::MAX / q as u128;
        Some(Self {
            value: q,
            ratio_hi: (ratio >> 64) as u64,
            ratio_lo: ratio as u64,
        })
    }

    /// The modulus itself.
    #[inline]
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Number of bits of the modulus.
    pub fn bits(&self) -> u32 {
        64 - self.value.leading_zeros()
    }

    /// `a + b mod q` for reduced inputs.
    #[inline]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.value {
            s - self.value
        } else {
            s
        }
    }

    /// `a - b mod q` for reduced inputs.
    #[inline]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b {
            a - b
        } else {
            a + self.value - b
        }
    }

    /// `-a mod q` for a reduced input.
    #[inline]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 {
            0
        } else {
            self.value - a
        }
    }

    /// Reduces any 128-bit value below `2^128` modulo `q` (Barrett).
    #[inline]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let x_lo = x as u64;
        let x_hi = (x >> 64) as u64;
        // High 128 bits of x * ratio, dropping the lowest partial product's carry beyond one word.
        let lo_lo_hi = ((x_lo as u128 * self.ratio_lo as u128) >> 64) as u64;
        let mid1 = x_lo as u128 * self.ratio_hi as u128;
        let mid2 = x_hi as u128 * self.ratio_lo as u128;
        let mid = mid1 + (mid2 & u64::MAX as u128) + lo_lo_hi as u128;
        let carry = (mid >> 64) + (mid2 >> 64);
        let quotient = (x_hi as u128 * self.ratio_hi as u128 + carry) as u64;
        // The estimate is at most 2 below the true quotient, so r < 3q: two branch-free
        // conditional subtractions finish the reduction.
        let r = x_lo.wrapping_sub(quotient.wrapping_mul(self.value));
        let r = r.min(r.wrapping_sub(2 * self.value));
        r.min(r.wrapping_sub(self.value))
    }

    /// Reduces a 64-bit value modulo `q` (Barrett with one word: branch-free, on the hot
    /// path of encoding).
    #[inline]
    pub fn reduce(&self, x: u64) -> u64 {
        // `ratio_hi = floor(2^64 / q)`, so the estimate below is at most 2 under `floor(x / q)`
        // and r < 3q < 2^63: two branch-free conditional subtractions finish the reduction.
        let quotient = ((x as u128 * self.ratio_hi as u128) >> 64) as u64;
        let r = x.wrapping_sub(quotient.wrapping_mul(self.value));
        let r = r.min(r.wrapping_sub(2 * self.value));
        r.min(r.wrapping_sub(self.value))
    }

    /// Reduces a signed value modulo `q` into `[0, q)`.
    #[inline]
    pub fn reduce_i64(&self, x: i64) -> u64 {
        let r = self.reduce(x.unsigned_abs());
        if x < 0 {
            self.neg(r)
        } else {
            r
        }
    }

    /// `a * b mod q` for inputs below `2^64`.
    #[inline]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// The Shoup companion `floor(w * 2^64 / q)` of a reduced constant `w`, for [`Self::mul_shoup`].
    #[inline]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.value as u128) as u64
    }

    /// `a * w mod q` where `w_shoup = self.shoup(w)`; `a` may be any value below `2^64`.
    #[inline]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let q_est = ((a as u128 * w_shoup as u128) >> 64) as u64;
        let r = a
            .wrapping_mul(w)
            .wrapping_sub(q_est.wrapping_mul(self.value));
        if r >= self.value {
            r - self.value
        } else {
            r
        }
    }

    /// `a * w mod q` lazily reduced to `[0, 2q)`, with `w_shoup = self.shoup(w)`.
    #[inline]
    pub fn mul_shoup_lazy(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let q_est = ((a as u128 * w_shoup as u128) >> 64) as u64;
        a.wrapping_mul(w)
            .wrapping_sub(q_est.wrapping_mul(self.value))
    }

    /// `a^e mod q`.
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1 % self.value;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// Multiplicative inverse modulo a prime `q`; `None` for `a ≡ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = self.reduce(a);
        if a == 0 {
            None
        } else {
            Some(self.pow(a, self.value - 2))
        }
    }

    /// Maps a residue to its centred representative in `(-q/2, q/2]`.
    #[inline]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.value / 2 {
            -((self.value - a) as i64)
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PRIMES: [u64; 4] = [
        0x1fff_ffff_ffe0_0001,
        1_099_511_922_689,
        576_460_752_303_423_619,
        65_537,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn mul_matches_u128(a in any::<u64>(), b in any::<u64>(), idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            let q = PRIMES[idx] as u128;
            prop_assert_eq!(m.mul(a, b) as u128, (a as u128 * b as u128) % q);
        }

        #[test]
        fn reduce_u128_matches(x in any::<u128>(), idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            prop_assert_eq!(m.reduce_u128(x) as u128, x % PRIMES[idx] as u128);
        }

        #[test]
        fn reduce_and_reduce_i64_match(x in any::<u64>(), y in any::<i64>(), idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            let q = PRIMES[idx];
            prop_assert_eq!(m.reduce(x), x % q);
            prop_assert_eq!(m.reduce(x % q), x % q);
            prop_assert_eq!(m.reduce_i64(y), y.rem_euclid(q as i64) as u64);
        }

        #[test]
        fn shoup_matches_u128(a in any::<u64>(), w in any::<u64>(), idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            let w = m.reduce(w);
            let expect = (a as u128 * w as u128) % PRIMES[idx] as u128;
            prop_assert_eq!(m.mul_shoup(a, w, m.shoup(w)) as u128, expect);
        }

        #[test]
        fn add_sub_neg_agree(a in any::<u64>(), b in any::<u64>(), idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            let (a, b) = (m.reduce(a), m.reduce(b));
            prop_assert_eq!(m.sub(m.add(a, b), b), a);
            prop_assert_eq!(m.add(a, m.neg(a)), 0);
            let c = m.center(a);
            prop_assert_eq!(m.reduce_i64(c), a);
        }

        #[test]
        fn inverse_is_inverse(a in 1u64.., idx in 0usize..4) {
            let m = Modulus::new(PRIMES[idx]).unwrap();
            prop_assume!(m.reduce(a) != 0);
            prop_assert_eq!(m.mul(a, m.inv(a).unwrap()), 1);
        }
    }

    #[test]
    fn reduce_is_exact_at_the_edges() {
        for q in PRIMES {
            let m = Modulus::new(q).unwrap();
            for x in [
                0,
                1,
                q - 1,
                q,
                q + 1,
                2 * q,
                3 * q - 1,
                u64::MAX - 1,
                u64::MAX,
            ] {
                assert_eq!(m.reduce(x), x % q, "{x} mod {q}");
            }
            assert_eq!(m.reduce_i64(i64::MIN), i64::MIN.rem_euclid(q as i64) as u64);
        }
    }

    #[test]
    fn rejects_even_and_oversized_moduli() {
        assert!(Modulus::new(1 << 40).is_none());
        assert!(Modulus::new((1 << 61) + 1).is_none());
        assert!(Modulus::new(1).is_none());
    }
}
