//! From a linear map and two layouts to the generalized diagonals of a slot transform.
//!
//! Output element `o` at `(ct_o, s_o)` depends on input element `i` at `(ct_i, s_i)` with
//! weight `w`: that is entry `s_o` of diagonal `k = (s_i − s_o) mod slots` of block
//! `(ct_o, ct_i)`, because `rot(x, k)[s_o] = x[s_o + k]`.
//!
//! A folded transform of period `p` (one output ciphertext, outputs in its first `p` slots) puts that weight on diagonal `k = (s_i − s_o) mod p` at slot `s_i − k`, congruent
//! to `s_o` modulo `p`; the rotate-and-sum after it ([`super::cost::fold_steps`]) adds the
//! slots congruent to `s_o` together. A dense layer reading a spread-out input then needs at
//! most `p` diagonals instead of one per distinct slot distance.

use super::cost::{best_n1, best_shared, fold_steps, with_fold, with_replication, TransformCost};
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

/// The diagonal offset and the slot on that diagonal of a weight from input slot `si` to
/// output slot `so`, in a transform of `period` (a power of two dividing `slots`; `slots` for
/// an unfolded transform, where the slot is `so`).
fn place(si: usize, so: usize, slots: usize, period: usize) -> (u32, u32) {
    let k = (si + slots - so) % period;
    let t = (si + slots - k) % slots;
    (k as u32, t as u32)
}

/// The copies of a one-ciphertext input a replicated transform reads: copy `c` is the input
/// shifted right by `c · period` slots (made by [`super::cost::replication_steps`]).
///
/// - When the copies fill the ciphertext (`copies · period = slots`), the replicated input is
///   periodic: every slot `s` holds input slot `s mod period`, so a weight from input slot
///   `si` to output slot `so` can sit on diagonal `(si − so) mod period`. A convolution from
///   `C` channels packed in one period then needs one diagonal per (channel distance mod `C`,
///   kernel offset) whatever the number of output channels.
/// - Otherwise output slot `so` reads copy `min(so / period, copies − 1)`: when the output
///   channels are `period` slots apart, every channel then sees the input at the same distance,
///   and a convolution from one channel needs one diagonal per kernel offset instead of one per
///   (channel, offset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replication {
    /// Slots between two copies.
    pub period: usize,
    /// Number of copies (0 or 1: none).
    pub copies: usize,
}

impl Replication {
    /// The replication a planned transform uses.
    pub fn of(cost: &TransformCost) -> Self {
        Self {
            period: cost.replica_period,
            copies: cost.replicas,
        }
    }

    /// The shift (a multiple of `period`) of the copy through which output slot `so` reads
    /// input slot `si`.
    fn shift(&self, so: usize, si: usize, slots: usize) -> usize {
        if self.copies <= 1 || self.period == 0 {
            0
        } else if self.copies * self.period == slots {
            let k = (si + slots - so) % self.period;
            (so + k + slots - si) % slots
        } else {
            (so / self.period).min(self.copies - 1) * self.period
        }
    }
}

/// The replications worth trying for a transform from a clean one-ciphertext `input` (zero
/// outside its elements) to a one-ciphertext `output`:
/// - when the output channels are evenly `P ≥` (input extent) slots apart, one copy per channel
///   (rounded up to a power of two) `P` apart;
/// - copies of the input's extent (rounded up to a power of two) filling the ciphertext.
pub fn replications(input: &Layout, output: &Layout) -> Vec<Replication> {
    let slots = input.slots;
    let (1, 1) = (input.ciphertexts, output.ciphertexts) else {
        return Vec::new();
    };
    let extent = input.positions.iter().max().map_or(0, |m| m + 1);
    let mut out = Vec::new();
    let periodic = extent.next_power_of_two();
    if periodic < slots {
        out.push(Replication {
            period: periodic,
            copies: slots / periodic,
        });
    }
    let Some(grid) = &output.grid else {
        return out;
    };
    let bases = &grid.channel_base;
    if bases.len() < 2 || bases[0] != 0 {
        return out;
    }
    let period = bases[1];
    let even = bases.iter().enumerate().all(|(c, &b)| b == c * period);
    let copies = bases.len().next_power_of_two();
    if even
        && period >= extent
        && copies * period <= slots
        && !out.contains(&Replication { period, copies })
    {
        out.push(Replication { period, copies });
    }
    out
}

/// The periods worth trying for a transform from `input` to `output`: `slots` (no fold), and
/// when the output is one ciphertext, every power of two from the first one covering the
/// outputs up to `slots / 2`. The input may span several ciphertexts: each input block is
/// folded with the same period, and the rotate-and-sum follows their sum.
pub fn periods(input: &Layout, output: &Layout) -> Vec<usize> {
    let slots = input.slots;
    let mut out = vec![slots];
    if output.ciphertexts != 1 || output.slots != slots {
        return out;
    }
    let end = output.positions.iter().max().map_or(1, |m| m + 1);
    let mut p = end.next_power_of_two();
    while p < slots {
        out.push(p);
        p *= 2;
    }
    out
}

/// The `(output block, input block, offsets)` sets of `map` between two layouts, for a
/// transform of `period` (`slots` when not folded).
pub fn offsets(
    map: &LinearMap,
    input: &Layout,
    output: &Layout,
    period: usize,
) -> Vec<(u32, u32, Vec<u32>)> {
    replicated_offsets(map, input, output, period, Replication::default())
}

/// [`offsets`] for a transform reading the copies of `replication`.
pub fn replicated_offsets(
    map: &LinearMap,
    input: &Layout,
    output: &Layout,
    period: usize,
    replication: Replication,
) -> Vec<(u32, u32, Vec<u32>)> {
    let slots = input.slots;
    let mut seen: HashSet<(u32, u32, u32)> = HashSet::new();
    for (o, row) in map.rows.iter().enumerate() {
        let (co, so) = output.locate(o);
        for &(i, _) in row {
            let (ci, si) = input.locate(i as usize);
            let shift = replication.shift(so, si, slots);
            let (k, _) = place(si + shift, so, slots, period);
            seen.insert((co as u32, ci as u32, k));
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

/// Extracts the diagonals of `map` from `input` to `output` (folded when `cost` says so).
/// The bias sits at the output slots only, so the rotate-and-sum of a fold adds it once.
pub fn extract(map: &LinearMap, input: &Layout, output: Layout, cost: TransformCost) -> Planned {
    let slots = input.slots;
    let period = cost.period(slots);
    let replication = Replication::of(&cost);
    let mut blocks: Blocks = BTreeMap::new();
    let mut bias = vec![Vec::new(); output.ciphertexts];
    for (o, row) in map.rows.iter().enumerate() {
        let (co, so) = output.locate(o);
        for &(i, w) in row {
            let (ci, si) = input.locate(i as usize);
            let shift = replication.shift(so, si, slots);
            let (k, t) = place(si + shift, so, slots, period);
            blocks
                .entry((co as u32, ci as u32))
                .or_default()
                .entry(k)
                .or_default()
                .push((t, w));
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

/// Picks the cheapest of `candidates` for `map` from `input`, folded or not ([`periods`]),
/// and extracts its diagonals. Candidates whose transform would leave an output block
/// without any diagonal are skipped (such a block would be a constant, which the circuit
/// cannot hold as a ciphertext).
pub fn plan(map: &LinearMap, input: &Layout, candidates: Vec<Layout>) -> Option<Planned> {
    plan_clean(map, input, candidates, false)
}

/// [`plan`], also trying to replicate the input first ([`replications`]) when `clean`: the
/// input is zero in every slot that holds no element (a fresh encryption of the circuit's
/// input, not the output of an activation).
pub fn plan_clean(
    map: &LinearMap,
    input: &Layout,
    candidates: Vec<Layout>,
    clean: bool,
) -> Option<Planned> {
    plan_by(map, input, candidates, None, clean, |offs| {
        best_n1(offs, input.slots)
    })
}

/// Like [`plan`], with the baby-step count `n1` shared by the whole circuit: each candidate
/// is costed with the cheaper of the classic and the Horner giant steps
/// ([`best_shared`]), the rotation keys in `known` counting as already generated. A fold is
/// considered only when its rotate-and-sum needs no key outside `known`: this form is for
/// few keys.
pub fn plan_shared(
    map: &LinearMap,
    input: &Layout,
    candidates: Vec<Layout>,
    n1: usize,
    known: &BTreeSet<u32>,
) -> Option<Planned> {
    plan_by(map, input, candidates, Some(known), false, |offs| {
        best_shared(offs, n1, input.slots, known)
    })
}

fn plan_by(
    map: &LinearMap,
    input: &Layout,
    candidates: Vec<Layout>,
    known: Option<&BTreeSet<u32>>,
    clean: bool,
    cost_of: impl Fn(&[(u32, u32, Vec<u32>)]) -> TransformCost,
) -> Option<Planned> {
    let slots = input.slots;
    let none = BTreeSet::new();
    let mut best: Option<(Layout, TransformCost)> = None;
    for cand in candidates {
        // A packing that puts two elements in one slot is not a packing.
        if !cand.is_injective() {
            continue;
        }
        for period in periods(input, &cand) {
            if known.is_some_and(|k| fold_steps(period, slots).iter().any(|s| !k.contains(s))) {
                continue;
            }
            let offs = offsets(map, input, &cand, period);
            let covered: HashSet<u32> = offs.iter().map(|b| b.0).collect();
            if covered.len() != cand.ciphertexts {
                continue;
            }
            let cost = with_fold(cost_of(&offs), period, slots, known.unwrap_or(&none));
            if best.as_ref().is_none_or(|(_, c)| cost.total < c.total) {
                best = Some((cand.clone(), cost));
            }
        }
        let replications = if clean {
            replications(input, &cand)
        } else {
            Vec::new()
        };
        for rep in replications {
            let offs = replicated_offsets(map, input, &cand, slots, rep);
            let cost = with_replication(cost_of(&offs), rep.period, rep.copies, slots, &none);
            if best.as_ref().is_none_or(|(_, c)| cost.total < c.total) {
                best = Some((cand.clone(), cost));
            }
        }
    }
    best.map(|(layout, cost)| extract(map, input, layout, cost))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a planned transform with one output ciphertext to flat slot values `x`
    /// (`slots` per input ciphertext) in f64: the diagonals, then the rotate-and-sum of a
    /// fold, then the bias.
    fn apply(planned: &Planned, x: &[f64]) -> Vec<f64> {
        let slots = planned.output.slots;
        let copies = planned.cost.replicas.max(1);
        let period = planned.cost.replica_period;
        let replicated: Vec<f64>;
        let x = if copies > 1 {
            // The copies, as the rotate-and-sum before the transform makes them.
            replicated = (0..slots)
                .map(|s| {
                    (0..copies)
                        .map(|c| x[(s + slots - c * period) % slots])
                        .sum()
                })
                .collect();
            &replicated[..]
        } else {
            x
        };
        let mut z = vec![0.0; slots];
        for (&(_, ci), diags) in &planned.blocks {
            let block = &x[ci as usize * slots..(ci as usize + 1) * slots];
            for (&k, entries) in diags {
                for &(t, w) in entries {
                    z[t as usize] += w * block[(t as usize + k as usize) % slots];
                }
            }
        }
        let period = planned.cost.period(slots);
        let mut y: Vec<f64> = (0..slots)
            .map(|s| {
                (0..slots / period)
                    .map(|b| z[(s + b * period) % slots])
                    .sum()
            })
            .collect();
        for &(s, v) in planned.bias.iter().flatten() {
            y[s as usize] += v;
        }
        y
    }

    /// A dense layer with 10 outputs reading 200 values spread over 2048 slots (every 9th
    /// slot, as after strided convolutions).
    fn spread_dense() -> (LinearMap, Layout) {
        spread_dense_every(9)
    }

    /// The same with the inputs every `gap` slots (over several ciphertexts past 2048).
    fn spread_dense_every(gap: usize) -> (LinearMap, Layout) {
        let slots = 2048;
        let inputs = 200;
        let rows: Vec<Vec<(u32, f64)>> = (0..10)
            .map(|o| {
                (0..inputs as u32)
                    .map(|i| (i, ((o * 31 + i as usize * 7) % 13) as f64 - 6.0))
                    .collect()
            })
            .collect();
        let map = LinearMap {
            inputs,
            rows,
            bias: (0..10).map(|o| o as f64 * 0.5).collect(),
        };
        let positions: Vec<usize> = (0..inputs).map(|i| i * gap + 3).collect();
        let input = Layout {
            shape: vec![1, inputs],
            slots,
            ciphertexts: (positions[inputs - 1] + 1).div_ceil(slots),
            positions,
            grid: None,
            name: "spread".into(),
        };
        (map, input)
    }

    #[test]
    fn a_dense_layer_on_a_spread_input_is_folded_and_exact() {
        check_folded(spread_dense());
    }

    #[test]
    fn a_dense_layer_on_an_input_over_three_ciphertexts_is_folded_and_exact() {
        let (map, input) = spread_dense_every(29);
        assert_eq!(input.ciphertexts, 3);
        check_folded((map, input));
    }

    fn check_folded((map, input): (LinearMap, Layout)) {
        let output = Layout::compact(&[1, 10], input.slots);
        let planned = plan(&map, &input, vec![output.clone()]).unwrap();
        let unfolded: usize = offsets(&map, &input, &output, input.slots)
            .iter()
            .map(|b| b.2.len())
            .sum();
        assert!(
            planned.cost.fold_period > 0,
            "a fold should be cheapest: {:?}",
            planned.cost
        );
        assert!(planned.cost.diagonals <= planned.cost.fold_period * input.ciphertexts);
        assert!(
            planned.cost.diagonals * 4 < unfolded,
            "{} folded diagonals against {unfolded} unfolded",
            planned.cost.diagonals,
        );
        let values: Vec<f64> = (0..map.inputs).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut slots = vec![0.0; input.slots * input.ciphertexts];
        for (i, &p) in input.positions.iter().enumerate() {
            slots[p] = values[i];
        }
        // Unused input slots hold garbage, as after an activation: it must not leak.
        for (s, v) in slots.iter_mut().enumerate() {
            if !input.positions.contains(&s) {
                *v = 1e3 + s as f64;
            }
        }
        let got = apply(&planned, &slots);
        let want = map.apply(&values);
        for (o, w) in want.iter().enumerate() {
            let g = got[planned.output.positions[o]];
            assert!((g - w).abs() < 1e-9, "output {o}: {g} != {w}");
        }
    }

    /// A 3×3 "same" convolution from `cin` 8×8 channels to `cout`, compact, in 1024 slots.
    fn conv(cin: usize, cout: usize) -> (LinearMap, Layout, Layout) {
        let (h, w) = (8usize, 8usize);
        let mut rows = Vec::new();
        let mut bias = Vec::new();
        for c in 0..cout {
            for y in 0..h {
                for x in 0..w {
                    let mut row = Vec::new();
                    for ci in 0..cin {
                        for dy in -1i64..=1 {
                            for dx in -1i64..=1 {
                                let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                                if (0..h as i64).contains(&yy) && (0..w as i64).contains(&xx) {
                                    let weight = (c as f64 + 1.0) * 0.1
                                        + (dy * 3 + dx) as f64 * 0.03
                                        - ci as f64 * 0.07;
                                    let i = (ci * h + yy as usize) * w + xx as usize;
                                    row.push((i as u32, weight));
                                }
                            }
                        }
                    }
                    rows.push(row);
                    bias.push(c as f64 * 0.25);
                }
            }
        }
        let map = LinearMap {
            inputs: cin * h * w,
            rows,
            bias,
        };
        let input = Layout::compact(&[1, cin, h, w], 1024);
        let output = Layout::compact(&[1, cout, h, w], 1024);
        (map, input, output)
    }

    fn one_channel_conv() -> (LinearMap, Layout, Layout) {
        conv(1, 4)
    }

    /// Checks that `planned` computes `map` on a clean input.
    fn assert_exact(map: &LinearMap, input: &Layout, planned: &Planned) {
        let values: Vec<f64> = (0..map.inputs).map(|i| (i as f64 * 0.21).sin()).collect();
        let mut slots = vec![0.0; input.slots];
        for (i, &p) in input.positions.iter().enumerate() {
            slots[p] = values[i];
        }
        let want = map.apply(&values);
        let got = apply(planned, &slots);
        for (o, w) in want.iter().enumerate() {
            let g = got[planned.output.positions[o]];
            assert!((g - w).abs() < 1e-12, "output {o}: {g} != {w}");
        }
    }

    #[test]
    fn a_convolution_from_one_clean_channel_replicates_its_input_and_is_exact() {
        let (map, input, output) = one_channel_conv();
        let plain = plan_clean(&map, &input, vec![output.clone()], false).unwrap();
        let replicated = plan_clean(&map, &input, vec![output], true).unwrap();
        assert_eq!(plain.cost.replicas, 0);
        assert!(replicated.cost.replicas >= 4, "{:?}", replicated.cost);
        assert_eq!(replicated.cost.replica_period, 64);
        // One diagonal per kernel offset instead of one per (channel, offset).
        assert_eq!(replicated.cost.diagonals, 9);
        assert!(plain.cost.diagonals >= 4 * 9, "{:?}", plain.cost);
        assert!(replicated.cost.total < plain.cost.total);
        assert_exact(&map, &input, &plain);
        assert_exact(&map, &input, &replicated);
        // Both replications are exact.
        for rep in replications(&input, &plain.output) {
            let offs = replicated_offsets(&map, &input, &plain.output, input.slots, rep);
            let cost = with_replication(
                best_n1(&offs, input.slots),
                rep.period,
                rep.copies,
                input.slots,
                &BTreeSet::new(),
            );
            assert_exact(
                &map,
                &input,
                &extract(&map, &input, plain.output.clone(), cost),
            );
        }
    }

    #[test]
    fn a_convolution_from_several_clean_channels_reads_a_periodic_input_and_is_exact() {
        // 4 channels of 64 slots: copies of the 256 input slots fill the 1024 slots, and each
        // output channel finds every input channel at one of 4 distances.
        let (map, input, output) = conv(4, 8);
        let plain = plan_clean(&map, &input, vec![output.clone()], false).unwrap();
        let replicated = plan_clean(&map, &input, vec![output], true).unwrap();
        assert_eq!(
            (replicated.cost.replicas, replicated.cost.replica_period),
            (4, 256)
        );
        // 4 distances × 9 kernel offsets (without: 72 diagonals, folded to 512 slots).
        assert_eq!(replicated.cost.diagonals, 4 * 9);
        assert!(
            replicated.cost.total < plain.cost.total,
            "{:?} {:?}",
            replicated.cost,
            plain.cost
        );
        assert_exact(&map, &input, &plain);
        assert_exact(&map, &input, &replicated);
    }

    #[test]
    fn replications_fit_the_ciphertext() {
        let (map, input, output) = one_channel_conv();
        // One copy per output channel 64 slots apart, or 16 copies of the 64 input slots.
        assert_eq!(
            replications(&input, &output),
            vec![
                Replication {
                    period: 64,
                    copies: 16
                },
                Replication {
                    period: 64,
                    copies: 4
                }
            ]
        );
        // Four channels of 64 slots do not fit between two output channels: only the
        // periodic copies.
        let wide = Layout::compact(&[1, 4, 8, 8], 1024);
        assert_eq!(
            replications(&wide, &output),
            vec![Replication {
                period: 256,
                copies: 4
            }]
        );
        // An input filling more than half the ciphertext cannot be copied.
        let full = Layout::compact(&[1, 9, 8, 8], 1024);
        assert!(replications(&full, &output).is_empty());
        let planned = plan(&map, &input, vec![output]).unwrap();
        assert_eq!(planned.cost.replicas, 0);
    }

    #[test]
    fn every_period_gives_the_same_transform() {
        let (map, input) = spread_dense();
        let output = Layout::compact(&[1, 10], input.slots);
        let values: Vec<f64> = (0..map.inputs).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut slots = vec![0.0; input.slots];
        for (i, &p) in input.positions.iter().enumerate() {
            slots[p] = values[i];
        }
        let want = map.apply(&values);
        let periods = periods(&input, &output);
        assert_eq!(periods[0], input.slots);
        assert_eq!(periods[1], 16);
        for period in periods {
            let cost = TransformCost {
                fold_period: if period == input.slots { 0 } else { period },
                ..TransformCost::default()
            };
            let planned = extract(&map, &input, output.clone(), cost);
            let got = apply(&planned, &slots);
            for (o, w) in want.iter().enumerate() {
                assert!((got[o] - w).abs() < 1e-9, "period {period}, output {o}");
            }
        }
    }
}
