//! The HomomorphicEncryption.org security table: the largest `log2(QP)` per ring degree for a
//! ternary secret and error standard deviation 3.2, against classical attacks.
//!
//! Values for `N <= 2^15` are those of the Homomorphic Encryption Standard (Albrecht et al.,
//! 2018, table 1, "uSVP/dec/dual" minimum); `N = 2^16` uses the extension OpenFHE ships. The
//! special primes `P` of key switching count in `QP`.

use std::fmt;

/// Classical security level a parameter set is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SecurityLevel {
    /// 128-bit classical security (the default).
    #[default]
    Classical128,
    /// 192-bit classical security.
    Classical192,
    /// 256-bit classical security.
    Classical256,
}

impl SecurityLevel {
    /// The number of security bits.
    pub fn bits(self) -> u32 {
        match self {
            Self::Classical128 => 128,
            Self::Classical192 => 192,
            Self::Classical256 => 256,
        }
    }

    /// The level for a number of bits (128, 192 or 256).
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            128 => Some(Self::Classical128),
            192 => Some(Self::Classical192),
            256 => Some(Self::Classical256),
            _ => None,
        }
    }

    /// The largest admissible `log2(QP)` at ring degree `2^log_n`, or `None` outside
    /// `12 ..= 16`.
    pub fn max_log_qp(self, log_n: u32) -> Option<u32> {
        let table: [u32; 5] = match self {
            Self::Classical128 => [109, 218, 438, 881, 1772],
            Self::Classical192 => [75, 152, 305, 611, 1228],
            Self::Classical256 => [58, 118, 237, 476, 956],
        };
        log_n
            .checked_sub(12)
            .and_then(|i| table.get(i as usize))
            .copied()
    }
}

impl fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-bit classical", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_standard() {
        let l = SecurityLevel::Classical128;
        assert_eq!(l.max_log_qp(13), Some(218));
        assert_eq!(l.max_log_qp(14), Some(438));
        assert_eq!(l.max_log_qp(16), Some(1772));
        assert_eq!(l.max_log_qp(11), None);
        assert_eq!(l.max_log_qp(17), None);
    }
}
