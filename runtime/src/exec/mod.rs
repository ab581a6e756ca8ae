//! The circuit executor: one interpreter of [`Instr`] over any [`Backend`], so the cleartext
//! simulation ([`SlotBackend`]), the operation count ([`CostBackend`]) and real CKKS execution
//! can never drift apart.
//!
//! The backend only computes; the executor does every level and scale decision (the rules
//! below), tracking the level of each value. Invariant: a value at level `l` has the scale
//! `Δ_l` of the ladder ([`Backend::scale`], `Δ_{l−1} = Δ_l² / q_l`).
//!
//! | operation at level `l` | backend calls | result |
//! | --- | --- | --- |
//! | ciphertext product | `mul`, `rescale` | `l − 1`, `Δ_l²/q_l = Δ_{l−1}` |
//! | plaintext / constant product | `encode` at `Δ_{l−1}·q_l/Δ_l` (or `mul_const` with that scale), `mul_plain`, `rescale` | `l − 1` |
//! | addition of a plaintext / constant | `encode` at `Δ_l`, `add_plain` (or `add_const`) | `l` |
//! | bring down to `l' < l` | `drop_to(l'+1)`, `mul_const(1, Δ_{l'}·q_{l'+1}/Δ_l)`, `rescale` | `l'` |
//! | `Σ c_i v_i + c` landing at `t` | each `v_i` dropped to `t+1`, `mul_const(c_i, Δ_t·q_{t+1}/Δ_{l_i})`, `add`, `add_const(c)`, one `rescale` | `t` |
//!
//! Operands of additions and products at different levels are first brought down to the lower
//! one. Linear transforms are evaluated by baby-step giant-step (`linear`), polynomials by the
//! plan of `circuit::chebyshev` (`poly`).

mod ckks;
mod cost;
mod linear;
mod noise;
mod poly;
mod rules;
mod slots;

pub use ckks::CkksBackend;
pub use cost::{count, count_steps, CostBackend, Counts};
pub use noise::{Encryption, NoiseBackend, NoiseEstimate, NoiseEstimator, Noisy, NoisyPlain};
pub use slots::{simulate, Simulator, SlotBackend};

use crate::circuit::{Circuit, CircuitSummary, Instr, Step, ValueId};
use crate::ckks::CkksParamsSpec;
use crate::error::{Result, RuntimeError};
use rules::{Leveled, Rules};
use std::collections::{HashMap, HashSet};

/// The operations the executor needs from an engine: the CKKS evaluator, the cleartext slot
/// simulator or the operation counter. Levels and scales are decided by the executor; a backend
/// applies exactly what it is told.
pub trait Backend: Sync {
    /// A ciphertext (or what stands for one).
    type Value: Clone + Send + Sync;
    /// An encoded plaintext vector.
    type Plain: Send + Sync;

    /// Number of slots of a value.
    fn slots(&self) -> usize;
    /// The scale `Δ_level` of the ladder.
    fn scale(&self, level: usize) -> Result<f64>;
    /// The prime `q_level` a rescale at `level` divides by.
    fn modulus(&self, level: usize) -> Result<f64>;
    /// Encodes a dense slot vector at `level` and `scale`.
    fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Self::Plain>;
    /// `a + b` (same level and scale).
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// `a += b`; override to avoid a copy.
    fn add_assign(&self, a: &mut Self::Value, b: &Self::Value) -> Result<()> {
        *a = self.add(a, b)?;
        Ok(())
    }
    /// `a − b` (same level and scale).
    fn sub(&self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// `−a`.
    fn neg(&self, a: &Self::Value) -> Result<Self::Value>;
    /// `a ⊙ p`; the scale becomes the product of the scales (no rescale).
    fn mul_plain(&self, a: &Self::Value, p: &Self::Plain) -> Result<Self::Value>;
    /// `a + p` (`p` encoded at `a`'s scale).
    fn add_plain(&self, a: &Self::Value, p: &Self::Plain) -> Result<Self::Value>;
    /// `a · c` in every slot, `c` encoded as `round(c · const_scale)`: the scale is multiplied
    /// by `const_scale` (no rescale).
    fn mul_const(&self, a: &Self::Value, c: f64, const_scale: f64) -> Result<Self::Value>;
    /// `a + c` in every slot, at `a`'s scale.
    fn add_const(&self, a: &Self::Value, c: f64) -> Result<Self::Value>;
    /// `a ⊙ b`, relinearized, not rescaled.
    fn mul(&self, a: &Self::Value, b: &Self::Value) -> Result<Self::Value>;
    /// Divides by `q_level`: the level drops by one, the scale is divided by `q_level`.
    fn rescale(&self, a: &Self::Value) -> Result<Self::Value>;
    /// Drops primes down to `level` (scale unchanged).
    fn drop_to(&self, a: &Self::Value, level: usize) -> Result<Self::Value>;
    /// `rot(a, step)[s] = a[(s + step) mod slots]` (slots move left).
    fn rotate(&self, a: &Self::Value, step: u32) -> Result<Self::Value>;
    /// Rotations of one value by several steps sharing one decomposition, in `steps` order.
    fn rotate_hoisted(&self, a: &Self::Value, steps: &[u32]) -> Result<Vec<Self::Value>>;
}

/// The scale ladder of a parameter set for a circuit whose input is at `top`: entry `l` is
/// `Δ_l`, with `Δ_top = 2^log_scale` and `Δ_{l−1} = Δ_l² / q_l` (what a CKKS backend returns
/// from [`Backend::scale`]). Levels above `top` get `Δ_top`.
pub fn scale_ladder(params: &CkksParamsSpec, top: usize) -> Vec<f64> {
    let count = params.q.len().max(top + 1);
    let mut ladder = vec![f64::from(params.log_scale).exp2(); count];
    for l in (1..=top).rev() {
        let q = params.q.get(l).map_or(1.0, |&q| q as f64);
        ladder[l - 1] = ladder[l] * ladder[l] / q;
    }
    ladder
}

/// A read-only look at the executor's state after a step (see [`Executor::run_inspect`]).
pub struct StepView<'a, B: Backend> {
    /// Index of the step just executed.
    pub index: usize,
    /// The step.
    pub step: &'a Step,
    /// The backend (e.g. to snapshot counters).
    pub backend: &'a B,
    values: &'a HashMap<ValueId, Leveled<B::Value>>,
}

impl<'a, B: Backend> StepView<'a, B> {
    /// A live value: the step's operands and results, and every value used later.
    pub fn value(&self, id: ValueId) -> Option<&'a B::Value> {
        self.values.get(&id).map(|v| &v.value)
    }

    /// The level of a live value.
    pub fn level(&self, id: ValueId) -> Option<usize> {
        self.values.get(&id).map(|v| v.level)
    }
}

/// A validated circuit bound to a backend. Methods take `&self`, so one executor can run many
/// inputs in parallel.
pub struct Executor<B: Backend> {
    circuit: Circuit,
    backend: B,
    summary: CircuitSummary,
    /// Per step, the values whose last use it is (dropped after it).
    free_after: Vec<Vec<ValueId>>,
}

impl<B: Backend> std::fmt::Debug for Executor<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Executor<B> {
    /// Validates `circuit` ([`Circuit::validate`]) and binds it to `backend`, whose slot count
    /// must match.
    pub fn new(circuit: &Circuit, backend: B) -> Result<Self> {
        let summary = circuit.validate()?;
        if backend.slots() != summary.slots {
            return Err(RuntimeError::ShapeMismatch {
                detail: format!(
                    "the backend has {} slots but the circuit was compiled for {}",
                    backend.slots(),
                    summary.slots
                ),
            });
        }
        let outputs: HashSet<ValueId> = circuit.output.values.iter().copied().collect();
        let mut last: HashMap<ValueId, usize> = HashMap::new();
        for (i, step) in circuit.steps.iter().enumerate() {
            for v in step
                .instr
                .operands()
                .into_iter()
                .chain(step.instr.results())
            {
                last.insert(v, i);
            }
        }
        let mut free_after = vec![Vec::new(); circuit.steps.len()];
        for (v, i) in last {
            if !outputs.contains(&v) {
                free_after[i].push(v);
            }
        }
        Ok(Self {
            circuit: circuit.clone(),
            backend,
            summary,
            free_after,
        })
    }

    /// The circuit.
    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// What validation learnt.
    pub fn summary(&self) -> &CircuitSummary {
        &self.summary
    }

    /// Runs the program on the input values (in [`crate::circuit::InputSpec::values`] order, at
    /// the input level and scale `Δ_top`); returns the outputs in
    /// [`crate::circuit::OutputSpec::values`] order.
    pub fn run(&self, inputs: Vec<B::Value>) -> Result<Vec<B::Value>> {
        self.run_inspect(inputs, |_| {})
    }

    /// [`Self::run`], calling `on_step(index, backend)` after each step (e.g. to snapshot the
    /// counters of a [`CostBackend`]).
    pub fn run_traced(
        &self,
        inputs: Vec<B::Value>,
        mut on_step: impl FnMut(usize, &B),
    ) -> Result<Vec<B::Value>> {
        self.run_inspect(inputs, |view| on_step(view.index, view.backend))
    }

    /// [`Self::run`], showing the state after each step to `on_step` (e.g. the range of the
    /// values entering an activation).
    pub fn run_inspect(
        &self,
        inputs: Vec<B::Value>,
        mut on_step: impl FnMut(&StepView<'_, B>),
    ) -> Result<Vec<B::Value>> {
        let spec = &self.circuit.input;
        if inputs.len() != spec.values.len() {
            return Err(RuntimeError::ShapeMismatch {
                detail: format!(
                    "the circuit takes {} input ciphertexts, got {}",
                    spec.values.len(),
                    inputs.len()
                ),
            });
        }
        let mut values: HashMap<ValueId, Leveled<B::Value>> = spec
            .values
            .iter()
            .zip(inputs)
            .map(|(&id, value)| {
                let level = spec.level;
                (id, Leveled { value, level })
            })
            .collect();
        let rules = Rules::new(&self.backend);
        for (index, step) in self.circuit.steps.iter().enumerate() {
            self.execute(&rules, step, &mut values)
                .map_err(|e| RuntimeError::Step {
                    index,
                    op: step.instr.name(),
                    source: Box::new(e),
                })?;
            on_step(&StepView {
                index,
                step,
                backend: &self.backend,
                values: &values,
            });
            for v in &self.free_after[index] {
                values.remove(v);
            }
        }
        self.circuit
            .output
            .values
            .iter()
            .map(|id| {
                values
                    .get(id)
                    .map(|v| v.value.clone())
                    .ok_or_else(|| missing(*id))
            })
            .collect()
    }

    fn execute(
        &self,
        rules: &Rules<'_, B>,
        step: &Step,
        values: &mut HashMap<ValueId, Leveled<B::Value>>,
    ) -> Result<()> {
        let get = |id: &ValueId| values.get(id).ok_or_else(|| missing(*id));
        let constant = |c: crate::circuit::ConstId| {
            self.circuit
                .constants
                .get(c.0 as usize)
                .map(|c| c.to_dense(self.summary.slots))
                .ok_or_else(|| RuntimeError::InvalidCircuit {
                    detail: format!("constant {c} does not exist"),
                })
        };
        let results: Vec<(ValueId, Leveled<B::Value>)> = match &step.instr {
            Instr::LinearTransform {
                dst,
                src,
                transform,
            } => {
                let t = self
                    .circuit
                    .transforms
                    .get(*transform as usize)
                    .ok_or_else(|| RuntimeError::InvalidCircuit {
                        detail: format!("transform {transform} does not exist"),
                    })?;
                let inputs = src.iter().map(get).collect::<Result<Vec<_>>>()?;
                let out = linear::evaluate(rules, t, &self.circuit.constants, &inputs)?;
                dst.iter().copied().zip(out).collect()
            }
            Instr::Polynomial { dst, src, poly } => {
                let p = self
                    .circuit
                    .polynomials
                    .get(*poly as usize)
                    .ok_or_else(|| RuntimeError::InvalidCircuit {
                        detail: format!("polynomial {poly} does not exist"),
                    })?;
                vec![(*dst, poly::evaluate(rules, p, get(src)?)?)]
            }
            Instr::Add { dst, a, b } => vec![(*dst, rules.add(get(a)?, get(b)?)?)],
            Instr::Sub { dst, a, b } => vec![(*dst, rules.sub(get(a)?, get(b)?)?)],
            Instr::Mul { dst, a, b } => vec![(*dst, rules.mul(get(a)?, get(b)?)?)],
            Instr::MulConst { dst, src, c } => vec![(*dst, rules.mul_const(get(src)?, *c)?)],
            Instr::AddConst { dst, src, c } => vec![(*dst, rules.add_const(get(src)?, *c)?)],
            Instr::MulPlain {
                dst,
                src,
                constant: c,
            } => {
                vec![(*dst, rules.mul_plain(get(src)?, &constant(*c)?)?)]
            }
            Instr::AddPlain {
                dst,
                src,
                constant: c,
            } => {
                vec![(*dst, rules.add_plain(get(src)?, &constant(*c)?)?)]
            }
            Instr::Rotate { dst, src, step } => vec![(*dst, rules.rotate(get(src)?, *step)?)],
            Instr::LevelDown { dst, src, level } => {
                vec![(*dst, rules.level_down(get(src)?, *level)?)]
            }
        };
        for (id, v) in results {
            if v.level != step.level {
                return Err(RuntimeError::InvalidCircuit {
                    detail: format!(
                        "{id} landed at level {} instead of the annotated {} (executor bug)",
                        v.level, step.level
                    ),
                });
            }
            values.insert(id, v);
        }
        Ok(())
    }
}

fn missing(id: ValueId) -> RuntimeError {
    RuntimeError::InvalidCircuit {
        detail: format!("value {id} is not live (executor bug or unvalidated circuit)"),
    }
}
