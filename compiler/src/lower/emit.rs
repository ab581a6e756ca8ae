//! The circuit under construction: value numbering, level bookkeeping and constant pools.

use crate::error::{CompileError, Result};
use crate::layout::diagonals::Planned;
use blindfold_runtime::circuit::{
    ChebyshevPoly, ConstId, DiagonalBlock, Instr, LayerInfo, LinearTransform, SlotVector, Step,
    ValueId,
};

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

    /// Emits a planned linear transform on `src` and returns its output values.
    pub fn linear_transform(
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
