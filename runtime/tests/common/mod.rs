//! Hand-built circuits for the circuit tests: a builder that annotates levels by the rules
//! table of `Instr` (re-implemented here, independently of the validator), dense input and
//! output packings, and a deterministic random source.

#![allow(
    dead_code,
    reason = "each test crate uses a different subset of the helpers"
)]
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use blindfold_runtime::circuit::*;
use blindfold_runtime::ckks::{CkksParamsSpec, SecurityLevel};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::HashMap;

/// `N = 2^12`, three 25-bit scale levels (108 of 109 bits): 2048 slots, levels 0..=2.
pub fn small_spec() -> CkksParamsSpec {
    CkksParamsSpec::from_bits(12, &[30, 25, 25], &[28], 1, 25, SecurityLevel::Classical128).unwrap()
}

/// `N = 2^13`, levels 0..=6 at 25 bits (210 of 218 bits): 4096 slots.
pub fn deep_spec() -> CkksParamsSpec {
    CkksParamsSpec::from_bits(
        13,
        &[30, 25, 25, 25, 25, 25, 25],
        &[30],
        2,
        25,
        SecurityLevel::Classical128,
    )
    .unwrap()
}

/// Uniform values in `[-1, 1)`.
pub struct Rng(ChaCha20Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha20Rng::seed_from_u64(seed))
    }

    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    pub fn vector(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.uniform()).collect()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
}

/// Builds a circuit step by step, annotating levels by the table of [`Instr`].
pub struct Builder {
    pub circuit: Circuit,
    levels: HashMap<ValueId, usize>,
    next: u32,
}

impl Builder {
    /// A circuit whose input is `inputs` ciphertexts at `level`, packed densely: element
    /// `c·slots + s` in slot `s` of ciphertext `c` (shape `[inputs · slots]`).
    pub fn new(params: CkksParamsSpec, inputs: usize, level: usize) -> (Self, Vec<ValueId>) {
        let slots = 1usize << (params.log_n - 1);
        let values: Vec<ValueId> = (0..inputs as u32).map(ValueId).collect();
        let circuit = Circuit {
            params,
            input: InputSpec {
                shape: vec![inputs * slots],
                values: values.clone(),
                slots: (0..inputs)
                    .map(|c| {
                        (0..slots as u32)
                            .map(|s| (s, (c * slots) as u32 + s))
                            .collect()
                    })
                    .collect(),
                level,
                preprocess: Preprocess {
                    channels: 1,
                    height: 1,
                    width: inputs * slots,
                    pixel_scale: 1.0,
                    mean: vec![],
                    std: vec![],
                },
            },
            output: OutputSpec {
                shape: vec![],
                values: vec![],
                positions: vec![],
            },
            rotations: vec![],
            constants: vec![],
            transforms: vec![],
            polynomials: vec![],
            steps: vec![],
            layers: vec![LayerInfo {
                name: "/test".into(),
                kind: "hand-built".into(),
                input_shape: vec![inputs * slots],
                output_shape: vec![],
            }],
            meta: Metadata {
                model: "test".into(),
                ..Metadata::default()
            },
        };
        let levels = values.iter().map(|&v| (v, level)).collect();
        let builder = Self {
            circuit,
            levels,
            next: inputs as u32,
        };
        (builder, values)
    }

    pub fn slots(&self) -> usize {
        self.circuit.slots()
    }

    pub fn value(&mut self) -> ValueId {
        self.next += 1;
        ValueId(self.next - 1)
    }

    pub fn level(&self, v: ValueId) -> usize {
        self.levels[&v]
    }

    /// A constant from a dense vector (zeros left out).
    pub fn constant(&mut self, dense: &[f64]) -> ConstId {
        let entries = dense
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != 0.0)
            .map(|(s, &v)| (s as u32, v))
            .collect();
        self.circuit.constants.push(SlotVector { entries });
        ConstId(self.circuit.constants.len() as u32 - 1)
    }

    pub fn transform(&mut self, t: LinearTransform) -> u32 {
        self.circuit.transforms.push(t);
        self.circuit.transforms.len() as u32 - 1
    }

    pub fn polynomial(&mut self, coeffs: Vec<f64>) -> u32 {
        self.circuit.polynomials.push(ChebyshevPoly { coeffs });
        self.circuit.polynomials.len() as u32 - 1
    }

    /// Appends `instr` with the level of the rules table; returns that level.
    pub fn push(&mut self, instr: Instr) -> usize {
        let l = |v: &ValueId| self.levels[v];
        let level = match &instr {
            Instr::LinearTransform { src, .. } => l(&src[0]) - 1,
            Instr::Polynomial { src, poly, .. } => {
                l(src) - self.circuit.polynomials[*poly as usize].depth()
            }
            Instr::Add { a, b, .. } | Instr::Sub { a, b, .. } => l(a).min(l(b)),
            Instr::Mul { a, b, .. } => l(a).min(l(b)) - 1,
            Instr::MulConst { src, .. } | Instr::MulPlain { src, .. } => l(src) - 1,
            Instr::AddConst { src, .. }
            | Instr::AddPlain { src, .. }
            | Instr::Rotate { src, .. } => l(src),
            Instr::LevelDown { level, .. } => *level,
        };
        for v in instr.results() {
            self.levels.insert(v, level);
        }
        self.circuit.steps.push(Step {
            instr,
            level,
            layer: 0,
        });
        level
    }

    /// One-result helper: allocates the destination, pushes `make(dst)`, returns `dst`.
    pub fn op(&mut self, make: impl FnOnce(ValueId) -> Instr) -> ValueId {
        let dst = self.value();
        self.push(make(dst));
        dst
    }

    /// Finishes with `outputs` returned densely (shape `[outputs · slots]`) and the rotation list
    /// the program needs.
    pub fn finish(mut self, outputs: &[ValueId]) -> Circuit {
        let slots = self.slots();
        let c = &mut self.circuit;
        c.output = OutputSpec {
            shape: vec![outputs.len() * slots],
            values: outputs.to_vec(),
            positions: (0..outputs.len() as u32)
                .flat_map(|o| (0..slots as u32).map(move |s| (o, s)))
                .collect(),
        };
        c.layers[0].output_shape = c.output.shape.clone();
        c.rotations = c.required_rotations();
        self.circuit
    }
}

/// Two inputs at level `top ≥ 5` through every non-transform instruction, operands at mixed levels.
pub fn mixed_circuit(spec: CkksParamsSpec, top: usize) -> (Circuit, Vec<ValueId>) {
    let (mut b, x) = Builder::new(spec, 2, top);
    let slots = b.slots();
    let mask: Vec<f64> = (0..slots).map(|s| (s % 3) as f64 - 1.0).collect();
    let shift: Vec<f64> = (0..slots).map(|s| (s as f64 * 0.01).sin()).collect();
    let mask = b.constant(&mask);
    let shift = b.constant(&shift);
    let a = b.op(|dst| Instr::MulConst {
        dst,
        src: x[0],
        c: 0.75,
    });
    let m = b.op(|dst| Instr::Mul { dst, a, b: x[1] });
    let s = b.op(|dst| Instr::Add { dst, a: m, b: x[0] });
    let d = b.op(|dst| Instr::LevelDown {
        dst,
        src: s,
        level: 2,
    });
    let r = b.op(|dst| Instr::Rotate {
        dst,
        src: d,
        step: 5,
    });
    let pm = b.op(|dst| Instr::MulPlain {
        dst,
        src: x[1],
        constant: mask,
    });
    let ap = b.op(|dst| Instr::AddPlain {
        dst,
        src: pm,
        constant: shift,
    });
    let diff = b.op(|dst| Instr::Sub { dst, a: r, b: ap });
    let ac = b.op(|dst| Instr::AddConst {
        dst,
        src: diff,
        c: -0.25,
    });
    let sq = b.op(|dst| Instr::Mul { dst, a: ac, b: ac });
    let outputs = vec![ac, sq, ap];
    (b.finish(&outputs), outputs)
}

/// The f64 oracle of [`mixed_circuit`].
pub fn mixed_expected(input: &[f64], slots: usize) -> Vec<f64> {
    let (x0, x1) = input.split_at(slots);
    let s: Vec<f64> = (0..slots).map(|i| 0.75 * x0[i] * x1[i] + x0[i]).collect();
    let r = rot(&s, 5);
    let ap: Vec<f64> = (0..slots)
        .map(|i| x1[i] * ((i % 3) as f64 - 1.0) + (i as f64 * 0.01).sin())
        .collect();
    let ac: Vec<f64> = (0..slots).map(|i| r[i] - ap[i] - 0.25).collect();
    let sq: Vec<f64> = ac.iter().map(|v| v * v).collect();
    [ac, sq, ap].concat()
}

/// `rot(x, k)[s] = x[(s + k) mod n]`.
pub fn rot(x: &[f64], k: usize) -> Vec<f64> {
    let n = x.len();
    (0..n).map(|s| x[(s + k) % n]).collect()
}

/// Largest absolute difference.
pub fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}
