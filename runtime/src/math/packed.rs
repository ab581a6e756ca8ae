//! RNS residues in 32-bit words: one word per coefficient for a prime below `2^32`, two for a
//! larger one.
//!
//! Plaintexts kept in memory for a whole run (the diagonals of linear transforms) are stored
//! this way. At the usual 30–32-bit scale primes they take half the memory of `u64` residues,
//! so twice as many fit in a server's plaintext budget, and a product reads half the bytes.

use std::ops::Range;

/// Where each limb of a chain of primes lies in a packed polynomial. A limb modulo a prime
/// below `2^32` takes `n` words; a larger one `2n` (the low halves, then the high halves).
/// Limbs `0..=l` of the chain are a prefix, so one layout serves every level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    n: usize,
    /// `offsets[i]`: the first word of limb `i`; `offsets[limbs]`: the words of all limbs.
    offsets: Vec<usize>,
}

impl PackedLayout {
    /// The layout of polynomials of degree `n` over `primes` (or any prefix of them).
    pub fn new(n: usize, primes: &[u64]) -> Self {
        let mut offsets = Vec::with_capacity(primes.len() + 1);
        let mut words = 0usize;
        offsets.push(0);
        for &q in primes {
            words += if q <= u64::from(u32::MAX) { n } else { 2 * n };
            offsets.push(words);
        }
        Self { n, offsets }
    }

    /// The ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Words of a polynomial with `limbs` limbs (`None` beyond the chain).
    pub fn words(&self, limbs: usize) -> Option<usize> {
        self.offsets.get(limbs).copied()
    }

    /// Whether limb `i` takes two words per coefficient.
    fn wide(&self, i: usize) -> bool {
        self.offsets[i + 1] - self.offsets[i] > self.n
    }

    /// Packs `residues` (limb-major, `n` per limb, each below its prime) into `dst`, which
    /// holds exactly [`PackedLayout::words`] of their limb count.
    ///
    /// # Panics
    /// If `dst` does not have that length (a caller bug).
    pub fn pack(&self, residues: &[u64], dst: &mut [u32]) {
        let limbs = residues.len() / self.n.max(1);
        assert_eq!(
            Some(dst.len()),
            self.words(limbs),
            "packed buffer of the wrong size"
        );
        for (i, limb) in residues.chunks_exact(self.n).enumerate() {
            let words = &mut dst[self.offsets[i]..self.offsets[i + 1]];
            let (low, high) = words.split_at_mut(self.n);
            for (w, &r) in low.iter_mut().zip(limb) {
                // Truncation intended: the low half; the high half follows for a wide limb.
                *w = r as u32;
            }
            if self.wide(i) {
                for (w, &r) in high.iter_mut().zip(limb) {
                    *w = (r >> 32) as u32;
                }
            }
        }
    }

    /// Writes coefficients `range` of limb `limb` of the packed polynomial `words` into `out`
    /// (of the range's length).
    ///
    /// # Panics
    /// If the limb, the range or `out` do not fit `words` (a caller bug).
    pub fn unpack(&self, words: &[u32], limb: usize, range: Range<usize>, out: &mut [u64]) {
        let start = self.offsets[limb];
        let low = &words[start + range.start..start + range.end];
        if self.wide(limb) {
            let high = &words[start + self.n + range.start..start + self.n + range.end];
            for ((o, &l), &h) in out.iter_mut().zip(low).zip(high) {
                *o = u64::from(l) | (u64::from(h) << 32);
            }
        } else {
            for (o, &l) in out.iter_mut().zip(low) {
                *o = u64::from(l);
            }
        }
    }

    /// The first `limbs` limbs of the packed polynomial `words`, as `u64` residues.
    pub fn unpack_all(&self, words: &[u32], limbs: usize) -> Vec<u64> {
        let mut out = vec![0u64; limbs * self.n];
        for (i, limb) in out.chunks_exact_mut(self.n).enumerate() {
            self.unpack(words, i, 0..self.n, limb);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Packing then unpacking gives the residues back, limb by limb and by ranges, for
        /// chains mixing primes below and above `2^32`.
        #[test]
        fn packing_round_trips(
            wide in proptest::collection::vec(any::<bool>(), 1..5),
            seed in any::<u64>(),
            cut in 0usize..16,
        ) {
            let n = 16;
            let primes: Vec<u64> = wide
                .iter()
                .map(|&w| if w { (1u64 << 38) - 45 } else { (1u64 << 31) - 1 })
                .collect();
            let layout = PackedLayout::new(n, &primes);
            let mut x = seed | 1;
            let residues: Vec<u64> = primes
                .iter()
                .flat_map(|&q| (0..n).map(move |k| (k as u64, q)))
                .map(|(_, q)| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % q
                })
                .collect();
            let words = layout.words(primes.len()).unwrap();
            let narrow = wide.iter().filter(|&&w| !w).count();
            prop_assert_eq!(words, n * (narrow + 2 * (primes.len() - narrow)));
            let mut packed = vec![0u32; words];
            layout.pack(&residues, &mut packed);
            prop_assert_eq!(layout.unpack_all(&packed, primes.len()), residues.clone());
            for (i, limb) in residues.chunks_exact(n).enumerate() {
                let mut part = vec![0u64; n - cut];
                layout.unpack(&packed, i, cut..n, &mut part);
                prop_assert_eq!(&part[..], &limb[cut..]);
            }
        }
    }

    #[test]
    fn narrow_primes_take_half_the_memory() {
        let layout = PackedLayout::new(1 << 16, &[(1 << 38) - 45, (1 << 31) - 1, (1 << 32) - 5]);
        assert_eq!(layout.words(1), Some(2 << 16));
        assert_eq!(layout.words(3), Some(4 << 16));
        assert_eq!(layout.words(4), None);
    }
}
