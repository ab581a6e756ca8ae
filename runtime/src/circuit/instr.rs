//! Small queries on instructions and circuits shared by validation, the format and the executor.

use super::{Circuit, Instr, ValueId};

impl Instr {
    /// Short lower-case name used in messages and reports (`linear_transform`, `mul`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LinearTransform { .. } => "linear_transform",
            Self::Polynomial { .. } => "polynomial",
            Self::Add { .. } => "add",
            Self::Sub { .. } => "sub",
            Self::Mul { .. } => "mul",
            Self::MulConst { .. } => "mul_const",
            Self::AddConst { .. } => "add_const",
            Self::MulPlain { .. } => "mul_plain",
            Self::AddPlain { .. } => "add_plain",
            Self::Rotate { .. } => "rotate",
            Self::LevelDown { .. } => "level_down",
        }
    }

    /// The values the instruction reads, in operand order (repeated if used twice).
    pub fn operands(&self) -> Vec<ValueId> {
        match self {
            Self::LinearTransform { src, .. } => src.clone(),
            Self::Add { a, b, .. } | Self::Sub { a, b, .. } | Self::Mul { a, b, .. } => {
                vec![*a, *b]
            }
            Self::Polynomial { src, .. }
            | Self::MulConst { src, .. }
            | Self::AddConst { src, .. }
            | Self::MulPlain { src, .. }
            | Self::AddPlain { src, .. }
            | Self::Rotate { src, .. }
            | Self::LevelDown { src, .. } => vec![*src],
        }
    }

    /// The values the instruction defines.
    pub fn results(&self) -> Vec<ValueId> {
        match self {
            Self::LinearTransform { dst, .. } => dst.clone(),
            Self::Polynomial { dst, .. }
            | Self::Add { dst, .. }
            | Self::Sub { dst, .. }
            | Self::Mul { dst, .. }
            | Self::MulConst { dst, .. }
            | Self::AddConst { dst, .. }
            | Self::MulPlain { dst, .. }
            | Self::AddPlain { dst, .. }
            | Self::Rotate { dst, .. }
            | Self::LevelDown { dst, .. } => vec![*dst],
        }
    }
}

impl Circuit {
    /// Number of slots of one ciphertext, `N/2 = 2^(log_n − 1)` (meaningful once the parameters
    /// are valid; `0` for an absurd `log_n`).
    pub fn slots(&self) -> usize {
        1usize
            .checked_shl(self.params.log_n.saturating_sub(1))
            .unwrap_or(0)
    }

    /// Whether the program multiplies two ciphertexts (a `Mul`, or a polynomial of degree at
    /// least 2), so its evaluation keys must include the relinearization key.
    pub fn needs_relinearization(&self) -> bool {
        self.steps.iter().any(|s| match &s.instr {
            Instr::Mul { .. } => true,
            Instr::Polynomial { poly, .. } => self
                .polynomials
                .get(*poly as usize)
                .is_none_or(|p| p.degree() >= 2),
            _ => false,
        })
    }
}

/// The number of elements of a tensor of `shape`, or `None` on overflow.
pub(crate) fn volume(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}
