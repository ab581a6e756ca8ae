//! Linear transforms by baby-step giant-step, in one level.
//!
//! With `k = g·n1 + b`, `Σ_k diag_k ⊙ rot(x, k) = Σ_g rot(Σ_b rot(diag_k, −g·n1) ⊙ rot(x, b),
//! g·n1)`: the baby rotations `rot(x_i, b)` of each input are computed once, hoisted (one
//! decomposition per input); each output block then needs one plaintext product per diagonal
//! and one giant rotation per `g ≠ 0`. The diagonals are encoded at `Δ_{l−1}·q_l/Δ_l`, so the
//! single rescale per output block lands on `Δ_{l−1}`; the bias is added after it at
//! `Δ_{l−1}`. Output blocks and giant steps run in parallel; sums are taken in a fixed order, so
//! results do not depend on scheduling.

use super::rules::{Leveled, Rules};
use super::Backend;
use crate::circuit::{ConstId, LinearTransform, SlotVector};
use crate::error::{Result, RuntimeError};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn bug(detail: String) -> RuntimeError {
    RuntimeError::InvalidCircuit { detail }
}

/// `transform(inputs)`, one value per output block, one level below the inputs.
pub(crate) fn evaluate<B: Backend>(
    rules: &Rules<'_, B>,
    t: &LinearTransform,
    constants: &[SlotVector],
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
        constants,
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
    constants: &'a [SlotVector],
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
                    .entry(k / n1)
                    .or_default()
                    .push((block.input as usize, (k % n1) as u32, c));
            }
        }
        let giants: Vec<_> = giants.into_iter().collect();
        let parts = giants
            .into_par_iter()
            .map(|(g, terms)| self.giant(g * n1 % self.slots, &terms))
            .collect::<Result<Vec<_>>>()?;
        let b = self.rules.backend;
        let mut parts = parts.into_iter();
        let mut acc = parts
            .next()
            .ok_or_else(|| bug(format!("output block {j} has no diagonals")))?;
        for p in parts {
            b.add_assign(&mut acc, &p)?;
        }
        let out = self.rules.rescale(&acc, self.level)?;
        match t.bias.get(j).copied().flatten() {
            Some(c) => self.rules.add_plain(&out, &self.dense(c, 0)?),
            None => Ok(out),
        }
    }

    /// `rot(Σ_b rot(diag, −shift) ⊙ rot(x_i, b), shift)` (not rescaled).
    fn giant(&self, shift: usize, terms: &[(usize, u32, ConstId)]) -> Result<B::Value> {
        let b = self.rules.backend;
        let mut inner: Option<B::Value> = None;
        for &(i, baby, c) in terms {
            let x = if baby == 0 {
                self.inputs.get(i).map(|v| &v.value)
            } else {
                self.rotated.get(i).and_then(|r| r.get(&baby))
            }
            .ok_or_else(|| bug(format!("rotation of input {i} by {baby} is missing")))?;
            let plain = b.encode(&self.dense(c, shift)?, self.level, self.plain_scale)?;
            let term = b.mul_plain(x, &plain)?;
            match &mut inner {
                None => inner = Some(term),
                Some(acc) => b.add_assign(acc, &term)?,
            }
        }
        let inner = inner.ok_or_else(|| bug("an empty giant step".into()))?;
        if shift == 0 {
            Ok(inner)
        } else {
            b.rotate(&inner, shift as u32)
        }
    }

    /// The constant as a dense vector rotated right by `shift` (`rot(c, −shift)`).
    fn dense(&self, c: ConstId, shift: usize) -> Result<Vec<f64>> {
        let mut v = self
            .constants
            .get(c.0 as usize)
            .ok_or_else(|| bug(format!("constant {c} does not exist")))?
            .to_dense(self.slots);
        v.rotate_right(shift % self.slots);
        Ok(v)
    }
}
