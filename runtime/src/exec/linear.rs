//! Linear transforms by baby-step giant-step, in one level.
//!
//! With `k = g·n1 + b`, `Σ_k diag_k ⊙ rot(x, k) = Σ_g rot(Σ_b rot(diag_k, −g·n1) ⊙ rot(x, b),
//! g·n1)`: the baby rotations `rot(x_i, b)` of each input are computed once, hoisted (one
//! decomposition per input); each output block then needs one plaintext product per diagonal
//! and one giant rotation per `g ≠ 0`. The diagonals are encoded at `Δ_{l−1}·q_l/Δ_l`, so the
//! single rescale per output block lands on `Δ_{l−1}`; the bias is added after it at
//! `Δ_{l−1}`. Output blocks and giant steps run in parallel; sums are taken in a fixed order, so
//! results do not depend on scheduling.
//!
//! The pre-rotated diagonals depend on the circuit only: [`plain_keys`] lists them for
//! [`super::Backend::prepare`]. Each giant step takes its inner sum in one
//! [`Backend::mul_plain_sum`], and each output block its giant rotations in one
//! [`Backend::rotate_sum`] (the CKKS backend then needs one ModDown per output block instead
//! of one per giant step).

use super::rules::{Leveled, Rules};
use super::{Backend, PlainKey, Plains};
use crate::circuit::{ConstId, LinearTransform};
use crate::error::{Result, RuntimeError};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Terms of one fused plaintext product sum (bounds the plaintexts alive at once when they are
/// not kept by the backend).
const TERMS_PER_SUM: usize = 32;

fn bug(detail: String) -> RuntimeError {
    RuntimeError::InvalidCircuit { detail }
}

/// The giant-step shift of diagonal offset `k`: `⌊k / n1⌋·n1 mod slots`.
fn giant_shift(k: u32, n1: usize, slots: usize) -> usize {
    (k as usize / n1) * n1 % slots
}

/// Appends the plaintext operands of `t` applied at `level` to `keys`: every diagonal
/// pre-rotated by its giant step at the product scale, and the biases one level below.
pub(crate) fn plain_keys<B: Backend>(
    rules: &Rules<'_, B>,
    t: &LinearTransform,
    level: usize,
    slots: usize,
    keys: &mut Vec<PlainKey>,
) -> Result<()> {
    if t.n1 == 0 || slots == 0 {
        return Err(bug(format!(
            "a transform with n1 = {} over {slots} slots",
            t.n1
        )));
    }
    let scale = rules.product_scale(level)?;
    for block in &t.blocks {
        for &(k, c) in &block.diagonals {
            let shift = giant_shift(k, t.n1, slots) as u32;
            keys.push(PlainKey::new(c, shift, level, scale));
        }
    }
    let bias_scale = rules.backend.scale(level - 1)?;
    for c in t.bias.iter().flatten() {
        keys.push(PlainKey::new(*c, 0, level - 1, bias_scale));
    }
    Ok(())
}

/// `transform(inputs)`, one value per output block, one level below the inputs.
pub(crate) fn evaluate<B: Backend>(
    rules: &Rules<'_, B>,
    plains: &Plains<'_, B>,
    t: &LinearTransform,
    inputs: &[&Leveled<B::Value>],
) -> Result<Vec<Leveled<B::Value>>> {
    let b = rules.backend;
    let slots = b.slots();
    if inputs.len() != t.inputs || t.n1 == 0 || slots == 0 {
        return Err(bug(format!(
            "a transform of {} inputs with n1 = {} applied to {} values",
            t.inputs,
            t.n1,
            inputs.len()
        )));
    }
    let level = inputs.first().map_or(0, |v| v.level);
    if let Some(other) = inputs.iter().find(|v| v.level != level) {
        return Err(RuntimeError::LevelMismatch {
            lhs: level,
            rhs: other.level,
        });
    }
    let n1 = t.n1;
    let mut babies = vec![BTreeSet::new(); t.inputs];
    for block in &t.blocks {
        let steps = babies
            .get_mut(block.input as usize)
            .ok_or_else(|| bug(format!("input block {} out of range", block.input)))?;
        steps.extend(
            block
                .diagonals
                .iter()
                .map(|&(k, _)| (k as usize % n1) as u32),
        );
    }
    let rotated: Vec<HashMap<u32, B::Value>> = inputs
        .par_iter()
        .zip(babies.par_iter())
        .map(|(x, steps)| {
            let nonzero: Vec<u32> = steps.iter().copied().filter(|&s| s != 0).collect();
            if nonzero.is_empty() {
                return Ok(HashMap::new());
            }
            let out = b.rotate_hoisted(&x.value, &nonzero)?;
            if out.len() != nonzero.len() {
                return Err(bug(format!(
                    "the backend returned {} hoisted rotations for {} steps",
                    out.len(),
                    nonzero.len()
                )));
            }
            Ok(nonzero.into_iter().zip(out).collect())
        })
        .collect::<Result<_>>()?;
    let plain_scale = rules.product_scale(level)?;
    let ctx = Ctx {
        rules,
        plains,
        inputs,
        rotated: &rotated,
        slots,
        level,
        plain_scale,
    };
    (0..t.outputs)
        .into_par_iter()
        .map(|j| ctx.output_block(t, j))
        .collect()
}

/// What every output block reads.
struct Ctx<'a, 'r, B: Backend> {
    rules: &'a Rules<'r, B>,
    plains: &'a Plains<'r, B>,
    inputs: &'a [&'a Leveled<B::Value>],
    rotated: &'a [HashMap<u32, B::Value>],
    slots: usize,
    level: usize,
    plain_scale: f64,
}

impl<B: Backend> Ctx<'_, '_, B> {
    fn output_block(&self, t: &LinearTransform, j: usize) -> Result<Leveled<B::Value>> {
        let n1 = t.n1;
        let mut giants: BTreeMap<usize, Vec<(usize, u32, ConstId)>> = BTreeMap::new();
        for block in t.blocks.iter().filter(|bl| bl.output as usize == j) {
            for &(k, c) in &block.diagonals {
                let k = k as usize;
                giants
                    .entry(giant_shift(k as u32, n1, self.slots))
                    .or_default()
                    .push((block.input as usize, (k % n1) as u32, c));
            }
        }
        let giants: Vec<_> = giants.into_iter().collect();
        let inner = giants
            .into_par_iter()
            .map(|(shift, terms)| Ok((self.inner(shift, &terms)?, shift as u32)))
            .collect::<Result<Vec<_>>>()?;
        if inner.is_empty() {
            return Err(bug(format!("output block {j} has no diagonals")));
        }
        let pairs: Vec<(&B::Value, u32)> = inner.iter().map(|(v, s)| (v, *s)).collect();
        let acc = self.rules.backend.rotate_sum(&pairs)?;
        let out = self.rules.rescale(&acc, self.level)?;
        match t.bias.get(j).copied().flatten() {
            Some(c) => self.rules.add_plain(&out, |level, scale| {
                self.plains.get(PlainKey::new(c, 0, level, scale))
            }),
            None => Ok(out),
        }
    }

    /// The inner sum of a giant step, `Σ_b rot(diag, −shift) ⊙ rot(x_i, b)` (not rescaled),
    /// taken [`TERMS_PER_SUM`] terms at a time so that plaintexts encoded for this use stay few
    /// in memory.
    fn inner(&self, shift: usize, terms: &[(usize, u32, ConstId)]) -> Result<B::Value> {
        let b = self.rules.backend;
        let mut inner: Option<B::Value> = None;
        for chunk in terms.chunks(TERMS_PER_SUM) {
            let mut operands = Vec::with_capacity(chunk.len());
            for &(i, baby, c) in chunk {
                let x = if baby == 0 {
                    self.inputs.get(i).map(|v| &v.value)
                } else {
                    self.rotated.get(i).and_then(|r| r.get(&baby))
                }
                .ok_or_else(|| bug(format!("rotation of input {i} by {baby} is missing")))?;
                let key = PlainKey::new(c, shift as u32, self.level, self.plain_scale);
                operands.push((x, self.plains.get(key)?));
            }
            let pairs: Vec<(&B::Value, &B::Plain)> =
                operands.iter().map(|(x, p)| (*x, &**p)).collect();
            let sum = b.mul_plain_sum(&pairs)?;
            match &mut inner {
                None => inner = Some(sum),
                Some(acc) => b.add_assign(acc, &sum)?,
            }
        }
        inner.ok_or_else(|| bug("an empty giant step".into()))
    }
}
