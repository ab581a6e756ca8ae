//! From a linear map and two layouts to the generalized diagonals of a slot transform.
//!
//! Output element `o` at `(ct_o, s_o)` depends on input element `i` at `(ct_i, s_i)` with
//! weight `w`: that is entry `s_o` of diagonal `k = (s_i − s_o) mod slots` of block
//! `(ct_o, ct_i)`, because `rot(x, k)[s_o] = x[s_o + k]`.

use super::cost::{best_n1, best_shared, TransformCost};
use super::{Layout, LinearMap};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One diagonal: `(slot, weight)` entries sorted by slot.
pub type Diagonal = Vec<(u32, f64)>;
/// The diagonals of every `(output block, input block)` pair, by offset.
pub type Blocks = BTreeMap<(u32, u32), BTreeMap<u32, Diagonal>>;

/// A planned transform: the chosen output layout, its diagonals and its cost.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The output layout.
    pub output: Layout,
    /// `(output block, input block) → offset → [(slot, weight)]`, slots sorted.
    pub blocks: Blocks,
    /// Per output block, the bias entries `(slot, value)` (sorted, non-zero).
    pub bias: Vec<Vec<(u32, f64)>>,
    /// The cost with the chosen baby-step count.
    pub cost: TransformCost,
}

/// The `(output block, input block, offsets)` sets of `map` between two layouts.
pub fn offsets(map: &LinearMap, input: &Layout, output: &Layout) -> Vec<(u32, u32, Vec<u32>)> {
    let slots = input.slots;
    let mut seen: HashSet<(u32, u32, u32)> = HashSet::new();
    for (o, row) in map.rows.iter().enumerate() {
        let (co, so) = output.locate(o);
        for &(i, _) in row {
            let (ci, si) = input.locate(i as usize);
            let k = (si + slots - so) % slots;
            seen.insert((co as u32, ci as u32, k as u32));
        }
    }
    let mut grouped: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for (co, ci, k) in seen {
        grouped.entry((co, ci)).or_default().push(k);
    }
    grouped
        .into_iter()
        .map(|((co, ci), mut ks)| {
            ks.sort_unstable();
            (co, ci, ks)
        })
        .collect()
}

/// Extracts the diagonals of `map` from `input` to `output`.
pub fn extract(map: &LinearMap, input: &Layout, output: Layout, cost: TransformCost) -> Planned {
    let slots = input.slots;
    let mut blocks: Blocks = BTreeMap::new();
    let mut bias = vec![Vec::new(); output.ciphertexts];
    for (o, row) in map.rows.iter().enumerate() {
        let (co, so) = output.locate(o);
        for &(i, w) in row {
            let (ci, si) = input.locate(i as usize);
            let k = (si + slots - so) % slots;
            blocks
                .entry((co as u32, ci as u32))
                .or_default()
                .entry(k as u32)
                .or_default()
                .push((so as u32, w));
        }
        if map.bias[o] != 0.0 {
            bias[co].push((so as u32, map.bias[o]));
        }
    }
    for diag in blocks.values_mut().flat_map(|b| b.values_mut()) {
        diag.sort_unstable_by_key(|e| e.0);
    }
    for b in &mut bias {
        b.sort_unstable_by_key(|e| e.0);
    }
    Planned {
        output,
        blocks,
        bias,
        cost,
    }
}

/// Picks the cheapest of `candidates` for `map` from `input` and extracts its diagonals.
/// Candidates whose transform would leave an output block without any diagonal are skipped
/// (such a block would be a constant, which the circuit cannot hold as a ciphertext).
pub fn plan(map: &LinearMap, input: &Layout, candidates: Vec<Layout>) -> Option<Planned> {
    plan_by(map, input, candidates, |offs| best_n1(offs, input.slots))
}

/// Like [`plan`], with the baby-step count `n1` shared by the whole circuit: each candidate
/// is costed with the cheaper of the classic and the Horner giant steps
/// ([`best_shared`]), the rotation keys in `known` counting as already generated.
pub fn plan_shared(
    map: &LinearMap,
    input: &Layout,
    candidates: Vec<Layout>,
    n1: usize,
    known: &BTreeSet<u32>,
) -> Option<Planned> {
    plan_by(map, input, candidates, |offs| {
        best_shared(offs, n1, input.slots, known)
    })
}

fn plan_by(
    map: &LinearMap,
    input: &Layout,
    candidates: Vec<Layout>,
    cost_of: impl Fn(&[(u32, u32, Vec<u32>)]) -> TransformCost,
) -> Option<Planned> {
    let mut best: Option<(Layout, TransformCost)> = None;
    for cand in candidates {
        // A packing that puts two elements in one slot is not a packing.
        if !cand.is_injective() {
            continue;
        }
        let offs = offsets(map, input, &cand);
        let covered: HashSet<u32> = offs.iter().map(|b| b.0).collect();
        if covered.len() != cand.ciphertexts {
            continue;
        }
        let cost = cost_of(&offs);
        if best.as_ref().is_none_or(|(_, c)| cost.total < c.total) {
            best = Some((cand, cost));
        }
    }
    best.map(|(layout, cost)| extract(map, input, layout, cost))
}
