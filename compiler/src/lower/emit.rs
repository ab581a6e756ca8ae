//! The circuit under construction: value numbering, level bookkeeping and constant pools.

use crate::error::{CompileError, Result};
use crate::layout::cost::{fold_steps, replication_steps, split_signed, TransformCost};
use crate::layout::diagonals::{Blocks, Diagonal, Planned};
use crate::layout::Layout;
use blindfold_runtime::circuit::{
    ChebyshevPoly, ConstId, DiagonalBlock, Instr, LayerInfo, LinearTransform, SlotVector, Step,
    ValueId,
};
use std::collections::BTreeMap;

/// Accumulates steps, constants, transforms and layers; tracks every value's level with the
/// rules of [`Instr`].
pub(super) struct Emitter {
    slots: usize,
    levels: Vec<usize>,
    pub constants: Vec<SlotVector>,
    pub transforms: Vec<LinearTransform>,
    pub polynomials: Vec<ChebyshevPoly>,
    pub steps: Vec<Step>,
    pub layers: Vec<LayerInfo>,
}

impl Emitter {
    pub fn new(slots: usize) -> Self {
        Self {
            slots,
            levels: Vec::new(),
            constants: Vec::new(),
            transforms: Vec::new(),
            polynomials: Vec::new(),
            steps: Vec::new(),
            layers: Vec::new(),
        }
    }

    fn fresh(&mut self, level: usize) -> ValueId {
        self.levels.push(level);
        ValueId(self.levels.len() as u32 - 1)
    }

    fn level(&self, v: ValueId) -> usize {
        self.levels.get(v.0 as usize).copied().unwrap_or(0)
    }

    /// The lowest level any value reaches.
    pub fn min_level(&self) -> usize {
        self.levels.iter().copied().min().unwrap_or(0)
    }

    /// Defines the `count` input values at `level`.
    pub fn define_input(&mut self, count: usize, level: usize) -> Vec<ValueId> {
        (0..count).map(|_| self.fresh(level)).collect()
    }

    /// Registers a layer for reports and returns its index.
    pub fn layer(&mut self, info: LayerInfo) -> u32 {
        self.layers.push(info);
        self.layers.len() as u32 - 1
    }

    /// Adds a constant vector.
    pub fn constant(&mut self, entries: Vec<(u32, f64)>) -> ConstId {
        self.constants.push(SlotVector { entries });
        ConstId(self.constants.len() as u32 - 1)
    }

    /// Adds a polynomial and returns its index.
    pub fn polynomial(&mut self, poly: ChebyshevPoly) -> u32 {
        self.polynomials.push(poly);
        self.polynomials.len() as u32 - 1
    }

    fn out_level(&self, instr: &Instr) -> Result<usize> {
        let lvl = |v: &ValueId| self.level(*v);
        let down = |l: usize, by: usize| {
            l.checked_sub(by).ok_or_else(|| CompileError::Lower {
                node: "<circuit>".into(),
                op: "level".into(),
                reason: "level below zero while lowering".into(),
            })
        };
        match instr {
            Instr::LinearTransform { src, .. } => down(src.iter().map(lvl).min().unwrap_or(0), 1),
            Instr::Polynomial { src, poly, .. } => {
                let depth = self
                    .polynomials
                    .get(*poly as usize)
                    .map_or(0, ChebyshevPoly::depth);
                down(lvl(src), depth)
            }
            Instr::Add { a, b, .. } | Instr::Sub { a, b, .. } => Ok(lvl(a).min(lvl(b))),
            Instr::Mul { a, b, .. } => down(lvl(a).min(lvl(b)), 1),
            Instr::MulConst { src, .. } | Instr::MulPlain { src, .. } => down(lvl(src), 1),
            Instr::AddConst { src, .. }
            | Instr::AddPlain { src, .. }
            | Instr::Rotate { src, .. } => Ok(lvl(src)),
            Instr::LevelDown { level, .. } => Ok(*level),
        }
    }

    /// Emits a single-result instruction built by `make(dst)`.
    pub fn push(&mut self, layer: u32, make: impl FnOnce(ValueId) -> Instr) -> Result<ValueId> {
        let dst = ValueId(self.levels.len() as u32);
        let instr = make(dst);
        let level = self.out_level(&instr)?;
        let v = self.fresh(level);
        debug_assert_eq!(v, dst);
        self.steps.push(Step {
            instr,
            level,
            layer,
        });
        Ok(v)
    }

    /// Emits a planned linear transform on `src` and returns its output values: one
    /// `LinearTransform`, followed for Horner giant steps ([`Planned::cost`]`.horner`) by
    /// the rotations by `±n1` and additions that fold its giant sums, and for a folded
    /// transform (`fold_period`) by the rotate-and-sum that adds its copies.
    pub fn linear_transform(
        &mut self,
        layer: u32,
        src: &[ValueId],
        planned: &Planned,
    ) -> Result<Vec<ValueId>> {
        let replicated;
        let src = match (planned.cost.replicas, src) {
            (0 | 1, _) => src,
            (copies, &[v]) => {
                replicated = [self.replicate(layer, v, planned.cost.replica_period, copies)?];
                &replicated[..]
            }
            _ => {
                return Err(CompileError::Lower {
                    node: format!("layer {layer}"),
                    op: "linear transform".into(),
                    reason: "a replicated transform takes one input ciphertext (compiler bug)"
                        .into(),
                })
            }
        };
        let values = if planned.cost.horner {
            self.horner_transform(layer, src, planned)?
        } else {
            self.plain_transform(layer, src, planned)?
        };
        if planned.cost.fold_period == 0 {
            return Ok(values);
        }
        values
            .into_iter()
            .map(|v| self.rotate_and_sum(layer, v, planned.cost.fold_period))
            .collect()
    }

    /// `copies` copies of `v` (zero outside its first `period` slots), `period` slots apart:
    /// what a replicated transform reads.
    fn replicate(
        &mut self,
        layer: u32,
        v: ValueId,
        period: usize,
        copies: usize,
    ) -> Result<ValueId> {
        self.doubling_sum(layer, v, replication_steps(period, copies, self.slots))
    }

    /// `Σ_b rot(v, b·period)` over the whole ciphertext: the sum that completes a folded
    /// transform.
    fn rotate_and_sum(&mut self, layer: u32, v: ValueId, period: usize) -> Result<ValueId> {
        self.doubling_sum(layer, v, fold_steps(period, self.slots))
    }

    /// `acc = acc + rot(acc, step)` for each step in turn, from `acc = v`: with steps `d, 2d,
    /// 4d, …` the sum of `v` rotated by every multiple of `d` below their total.
    fn doubling_sum(&mut self, layer: u32, v: ValueId, steps: Vec<u32>) -> Result<ValueId> {
        let mut acc = v;
        for step in steps {
            let r = self.push(layer, |dst| Instr::Rotate {
                dst,
                src: acc,
                step,
            })?;
            acc = self.push(layer, |dst| Instr::Add { dst, a: acc, b: r })?;
        }
        Ok(acc)
    }

    /// A transform whose giant steps are folded by repeated rotations by `±n1`.
    fn horner_transform(
        &mut self,
        layer: u32,
        src: &[ValueId],
        planned: &Planned,
    ) -> Result<Vec<ValueId>> {
        let slots = self.slots;
        let n1 = planned.cost.n1.clamp(1, slots);
        // Inner output per (output block, giant index): the diagonals of offset g·n1 + b
        // become offset b, pre-rotated by g·n1, so that Σ_g rot(inner_g, g·n1) is the
        // transform.
        let mut inner: BTreeMap<(u32, i64), BTreeMap<u32, BTreeMap<u32, Diagonal>>> =
            BTreeMap::new();
        for (&(out, inp), diags) in &planned.blocks {
            for (&k, entries) in diags {
                let (g, b) = split_signed(k, n1, slots);
                let shift = (g.rem_euclid(slots as i64) as usize * n1) % slots;
                let mut moved: Diagonal = entries
                    .iter()
                    .map(|&(s, w)| (((s as usize + shift) % slots) as u32, w))
                    .collect();
                moved.sort_unstable_by_key(|e| e.0);
                inner
                    .entry((out, g))
                    .or_default()
                    .entry(inp)
                    .or_default()
                    .insert(b, moved);
            }
        }
        let keys: Vec<(u32, i64)> = inner.keys().copied().collect();
        let mut blocks: Blocks = BTreeMap::new();
        let mut bias = vec![Vec::new(); keys.len()];
        for (j, key) in keys.iter().enumerate() {
            for (inp, diags) in inner.remove(key).unwrap_or_default() {
                blocks.insert((j as u32, inp), diags);
            }
        }
        // The bias goes to the first inner output of its block, pre-rotated like a diagonal.
        for (out, entries) in planned.bias.iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            let Some(j) = keys.iter().position(|&(o, _)| o as usize == out) else {
                continue;
            };
            let g = keys[j].1;
            let shift = (g.rem_euclid(slots as i64) as usize * n1) % slots;
            let mut moved: Vec<(u32, f64)> = entries
                .iter()
                .map(|&(s, w)| (((s as usize + shift) % slots) as u32, w))
                .collect();
            moved.sort_unstable_by_key(|e| e.0);
            bias[j] = moved;
        }
        let inner_plan = Planned {
            output: Layout {
                ciphertexts: keys.len(),
                ..planned.output.clone()
            },
            blocks,
            bias,
            cost: TransformCost {
                n1,
                horner: false,
                ..planned.cost
            },
        };
        let values = self.plain_transform(layer, src, &inner_plan)?;
        let forward = (n1 % slots) as u32;
        let backward = ((slots - n1 % slots) % slots) as u32;
        let mut outs = Vec::with_capacity(planned.output.ciphertexts);
        for out in 0..planned.output.ciphertexts as u32 {
            let of: BTreeMap<i64, ValueId> = keys
                .iter()
                .zip(&values)
                .filter(|((o, _), _)| *o == out)
                .map(|((_, g), &v)| (*g, v))
                .collect();
            let mut total = of.get(&0).copied();
            let hi = of.keys().next_back().copied().unwrap_or(0);
            let lo = of.keys().next().copied().unwrap_or(0);
            for (range, step) in [
                ((1..=hi).rev().collect::<Vec<i64>>(), forward),
                ((lo..=-1).collect::<Vec<i64>>(), backward),
            ] {
                let mut acc: Option<ValueId> = None;
                for g in range {
                    if let Some(a) = acc {
                        acc = Some(self.push(layer, |dst| Instr::Rotate { dst, src: a, step })?);
                    }
                    if let Some(&v) = of.get(&g) {
                        acc = Some(match acc {
                            Some(a) => self.push(layer, |dst| Instr::Add { dst, a, b: v })?,
                            None => v,
                        });
                    }
                }
                if let Some(a) = acc {
                    let r = self.push(layer, |dst| Instr::Rotate { dst, src: a, step })?;
                    total = Some(match total {
                        Some(t) => self.push(layer, |dst| Instr::Add { dst, a: t, b: r })?,
                        None => r,
                    });
                }
            }
            outs.push(total.ok_or_else(|| CompileError::Lower {
                node: "<circuit>".into(),
                op: "linear transform".into(),
                reason: "an output block without diagonals".into(),
            })?);
        }
        Ok(outs)
    }

    fn plain_transform(
        &mut self,
        layer: u32,
        src: &[ValueId],
        planned: &Planned,
    ) -> Result<Vec<ValueId>> {
        let mut blocks = Vec::with_capacity(planned.blocks.len());
        for (&(out, inp), diags) in &planned.blocks {
            let diagonals = diags
                .iter()
                .map(|(&k, entries)| (k, self.constant(entries.clone())))
                .collect();
            blocks.push(DiagonalBlock {
                output: out,
                input: inp,
                diagonals,
            });
        }
        let bias = planned
            .bias
            .iter()
            .map(|b| (!b.is_empty()).then(|| self.constant(b.clone())))
            .collect();
        self.transforms.push(LinearTransform {
            inputs: src.len(),
            outputs: planned.output.ciphertexts,
            n1: planned.cost.n1.clamp(1, self.slots),
            blocks,
            bias,
        });
        let transform = self.transforms.len() as u32 - 1;
        let level = src
            .iter()
            .map(|v| self.level(*v))
            .min()
            .unwrap_or(0)
            .checked_sub(1)
            .ok_or_else(|| CompileError::Lower {
                node: "<circuit>".into(),
                op: "linear transform".into(),
                reason: "level below zero while lowering".into(),
            })?;
        let dst: Vec<ValueId> = (0..planned.output.ciphertexts)
            .map(|_| self.fresh(level))
            .collect();
        self.steps.push(Step {
            instr: Instr::LinearTransform {
                dst: dst.clone(),
                src: src.to_vec(),
                transform,
            },
            level,
            layer,
        });
        Ok(dst)
    }
}
