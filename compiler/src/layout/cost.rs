//! The cost model of a diagonal linear transform evaluated by baby-step giant-step.
//!
//! Units are "one key switch at the transform's level". A hoisted baby-step rotation shares
//! the decomposition of its input, so it costs less than a standalone rotation; a plaintext
//! multiplication (with the encoding of its diagonal) costs a small fraction of a key switch;
//! every rotation step that needs a Galois key of its own adds key material the client must
//! generate and upload. The weights were measured with the runtime benchmarks at N = 2^14
//! (rotation ≈ 10 ms, hoisted rotation ≈ 6 ms, encode + plaintext product ≈ 0.5 ms).

use std::collections::BTreeSet;

/// Relative cost of a giant-step (full) rotation.
pub const GIANT_ROTATION: f64 = 1.0;
/// Relative cost of a hoisted baby-step rotation.
pub const BABY_ROTATION: f64 = 0.6;
/// Relative cost of one diagonal (encode + plaintext multiplication + addition).
pub const DIAGONAL: f64 = 0.05;
/// Relative cost of one distinct rotation key (key generation, upload, memory).
pub const ROTATION_KEY: f64 = 0.5;

/// Operation counts of one transform for a given baby-step count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TransformCost {
    /// Baby-step count.
    pub n1: usize,
    /// Hoisted baby-step rotations (summed over input blocks).
    pub baby_rotations: usize,
    /// Giant-step rotations (summed over output blocks).
    pub giant_rotations: usize,
    /// Plaintext multiplications (= diagonals).
    pub diagonals: usize,
    /// Distinct rotation steps (= Galois keys needed).
    pub rotation_keys: usize,
    /// The weighted total.
    pub total: f64,
}

/// The cost of evaluating blocks `(output, input, offsets)` with `n1` baby steps over `slots`.
pub fn evaluate(blocks: &[(u32, u32, Vec<u32>)], n1: usize, slots: usize) -> TransformCost {
    let mut baby: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut giant: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut keys: BTreeSet<u32> = BTreeSet::new();
    let mut diagonals = 0;
    for (out, inp, offsets) in blocks {
        diagonals += offsets.len();
        for &k in offsets {
            let b = k % n1 as u32;
            let g = k / n1 as u32;
            if b != 0 {
                baby.insert((*inp, b));
                keys.insert(b);
            }
            if g != 0 {
                giant.insert((*out, g));
                keys.insert(((g as usize * n1) % slots) as u32);
            }
        }
    }
    let total = GIANT_ROTATION * giant.len() as f64
        + BABY_ROTATION * baby.len() as f64
        + DIAGONAL * diagonals as f64
        + ROTATION_KEY * keys.len() as f64;
    TransformCost {
        n1,
        baby_rotations: baby.len(),
        giant_rotations: giant.len(),
        diagonals,
        rotation_keys: keys.len(),
        total,
    }
}

/// The cheapest baby-step count (a power of two up to `slots`).
pub fn best_n1(blocks: &[(u32, u32, Vec<u32>)], slots: usize) -> TransformCost {
    let mut best: Option<TransformCost> = None;
    let mut n1 = 1;
    while n1 <= slots {
        let c = evaluate(blocks, n1, slots);
        if best.is_none_or(|b| c.total < b.total) {
            best = Some(c);
        }
        n1 *= 2;
    }
    best.unwrap_or_default()
}
