//! The cost model of a diagonal linear transform evaluated by baby-step giant-step.
//!
//! Units are "one key switch at the transform's level". A hoisted baby-step rotation shares
//! the decomposition of its input, so it costs less than a standalone rotation; a plaintext
//! multiplication (with the encoding of its diagonal) costs a small fraction of a key switch;
//! every rotation step that needs a Galois key of its own adds key material the client must
//! generate and upload. The weights were measured with the runtime benchmarks at N = 2^14
//! (rotation ≈ 10 ms, hoisted rotation ≈ 6 ms, encode + plaintext product ≈ 0.5 ms).
//!
//! Two evaluations share the baby steps `b = k mod n1`: the classic one rotates each giant
//! sum by its own step `g·n1` (one key per giant step), the "Horner" one folds the giant sums
//! of an output block with repeated rotations by `n1` (and by `−n1` for negative offsets), so
//! that its giant steps need two keys whatever the offsets' spread, at the price of one
//! rotation per giant step in the spread rather than per giant step in use.
//!
//! A transform with few outputs from a spread-out input (a dense layer after convolutions)
//! can be *folded*: its outputs lie in the first `period` slots, each weight sits at a slot
//! congruent to its output modulo the period, so that at most `period` diagonals remain, and a
//! rotate-and-sum by `period, 2·period, …, slots/2` adds the copies onto the outputs
//! ([`fold_steps`]). The outputs then repeat with that period across all slots.

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
    /// Whether the giant steps are folded by repeated rotations by `±n1` (Horner).
    pub horner: bool,
    /// The period of a folded transform (its outputs repeat every `fold_period` slots after
    /// the rotate-and-sum); 0 when the transform is not folded.
    pub fold_period: usize,
    /// The rotations of the rotate-and-sum of a folded transform.
    pub fold_rotations: usize,
    /// The input copies made before a replicated transform (0 or 1: not replicated): copy `c`
    /// is the input shifted right by `c · replica_period` slots.
    pub replicas: usize,
    /// The slot distance between two copies of a replicated input.
    pub replica_period: usize,
    /// The rotations that make the copies.
    pub replica_rotations: usize,
    /// The weighted total.
    pub total: f64,
}

impl TransformCost {
    /// The period of the diagonals over `slots` slots: the fold period, or `slots` for a
    /// transform that is not folded.
    pub fn period(&self, slots: usize) -> usize {
        if self.fold_period == 0 {
            slots
        } else {
            self.fold_period
        }
    }
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
        horner: false,
        total,
        ..TransformCost::default()
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

/// The signed giant index and the baby step of offset `k` for `n1` baby steps over `slots`:
/// `k ≡ g·n1 + b (mod slots)` with `0 ≤ b < n1`, offsets past `slots / 2` read as negative.
pub fn split_signed(k: u32, n1: usize, slots: usize) -> (i64, u32) {
    let k = i64::from(k);
    let signed = if k >= (slots / 2) as i64 {
        k - slots as i64
    } else {
        k
    };
    let n1 = n1.max(1) as i64;
    (signed.div_euclid(n1), signed.rem_euclid(n1) as u32)
}

/// The rotation steps (Galois keys) evaluating `blocks` with `n1` baby steps needs, classic
/// or Horner.
pub fn keys(
    blocks: &[(u32, u32, Vec<u32>)],
    n1: usize,
    slots: usize,
    horner: bool,
) -> BTreeSet<u32> {
    let mut keys = BTreeSet::new();
    for (_, _, offsets) in blocks {
        for &k in offsets {
            if horner {
                let (g, b) = split_signed(k, n1, slots);
                if b != 0 {
                    keys.insert(b);
                }
                if g > 0 {
                    keys.insert((n1 % slots) as u32);
                } else if g < 0 {
                    keys.insert(((slots - n1 % slots) % slots) as u32);
                }
            } else {
                let b = k % n1 as u32;
                let g = (k as usize / n1 * n1) % slots;
                if b != 0 {
                    keys.insert(b);
                }
                if g != 0 {
                    keys.insert(g as u32);
                }
            }
        }
    }
    keys.remove(&0);
    keys
}

/// The cost of evaluating `blocks` with `n1` baby steps and Horner giant steps: per output
/// block, one rotation by `n1` per giant index between 0 and the largest, and one by `−n1`
/// per giant index between the smallest and 0.
pub fn evaluate_horner(blocks: &[(u32, u32, Vec<u32>)], n1: usize, slots: usize) -> TransformCost {
    let mut baby: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut span: std::collections::BTreeMap<u32, (i64, i64)> = Default::default();
    let mut diagonals = 0;
    for (out, inp, offsets) in blocks {
        diagonals += offsets.len();
        for &k in offsets {
            let (g, b) = split_signed(k, n1, slots);
            if b != 0 {
                baby.insert((*inp, b));
            }
            let e = span.entry(*out).or_insert((0, 0));
            e.0 = e.0.min(g);
            e.1 = e.1.max(g);
        }
    }
    let giant: i64 = span.values().map(|(lo, hi)| hi - lo).sum();
    let rotation_keys = keys(blocks, n1, slots, true).len();
    let total = GIANT_ROTATION * giant as f64
        + BABY_ROTATION * baby.len() as f64
        + DIAGONAL * diagonals as f64
        + ROTATION_KEY * rotation_keys as f64;
    TransformCost {
        n1,
        baby_rotations: baby.len(),
        giant_rotations: giant as usize,
        diagonals,
        rotation_keys,
        horner: true,
        total,
        ..TransformCost::default()
    }
}

/// The cheaper of the classic and the Horner evaluation with `n1` baby steps, where keys
/// already in `known` (generated for other transforms of the circuit) cost nothing more.
/// `total` counts only the new keys.
pub fn best_shared(
    blocks: &[(u32, u32, Vec<u32>)],
    n1: usize,
    slots: usize,
    known: &BTreeSet<u32>,
) -> TransformCost {
    let n1 = n1.clamp(1, slots.max(1));
    let mut best: Option<TransformCost> = None;
    for horner in [false, true] {
        let mut c = if horner {
            evaluate_horner(blocks, n1, slots)
        } else {
            evaluate(blocks, n1, slots)
        };
        let new = keys(blocks, n1, slots, horner).difference(known).count();
        c.total -= ROTATION_KEY * (c.rotation_keys as f64 - new as f64);
        if best.is_none_or(|b| c.total < b.total) {
            best = Some(c);
        }
    }
    best.unwrap_or_default()
}

/// The rotation steps of the rotate-and-sum that folds a transform of `period` over `slots`:
/// `period · 2^i` below `slots` (none when the period is the whole ciphertext).
pub fn fold_steps(period: usize, slots: usize) -> Vec<u32> {
    let mut steps = Vec::new();
    let mut step = period.max(1);
    while step < slots {
        steps.push(step as u32);
        step *= 2;
    }
    steps
}

/// The rotation steps that make `copies` (a power of two) copies of a ciphertext, `period`
/// slots apart, by doubling: right rotations by `period · 2^i`, written as left steps.
pub fn replication_steps(period: usize, copies: usize, slots: usize) -> Vec<u32> {
    let mut steps = Vec::new();
    let mut made = 1;
    while made < copies {
        steps.push((slots - (period * made) % slots) as u32);
        made *= 2;
    }
    steps
}

/// `cost` with the replication of its input into `copies` copies `period` slots apart added:
/// one rotation per doubling, and a key per step not in `known`.
pub fn with_replication(
    mut cost: TransformCost,
    period: usize,
    copies: usize,
    slots: usize,
    known: &BTreeSet<u32>,
) -> TransformCost {
    let steps = replication_steps(period, copies, slots);
    if steps.is_empty() {
        return cost;
    }
    let new_keys = steps.iter().filter(|s| !known.contains(s)).count();
    cost.replicas = copies;
    cost.replica_period = period;
    cost.replica_rotations = steps.len();
    cost.rotation_keys += new_keys;
    cost.total += GIANT_ROTATION * steps.len() as f64 + ROTATION_KEY * new_keys as f64;
    cost
}

/// `cost` with the rotate-and-sum of a transform folded to `period` added (unchanged for a
/// period of `slots`): one rotation per step, and a key per step not in `known`.
pub fn with_fold(
    mut cost: TransformCost,
    period: usize,
    slots: usize,
    known: &BTreeSet<u32>,
) -> TransformCost {
    let steps = fold_steps(period, slots);
    if steps.is_empty() {
        return cost;
    }
    let new_keys = steps.iter().filter(|s| !known.contains(s)).count();
    cost.fold_period = period;
    cost.fold_rotations = steps.len();
    cost.rotation_keys += new_keys;
    cost.total += GIANT_ROTATION * steps.len() as f64 + ROTATION_KEY * new_keys as f64;
    cost
}
