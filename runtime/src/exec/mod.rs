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
//! | ciphertext product | `mul_sum_rescale` of one pair (relinearized and rescaled) | `l − 1`, `Δ_l²/q_l = Δ_{l−1}` |
//! | plaintext / constant product | `encode` at `Δ_{l−1}·q_l/Δ_l` (or `mul_const` with that scale), `mul_plain`, `rescale` | `l − 1` |
//! | addition of a plaintext / constant | `encode` at `Δ_l`, `add_plain` (or `add_const`) | `l` |
//! | bring down to `l' < l` | `drop_to(l'+1)`, `mul_const(1, Δ_{l'}·q_{l'+1}/Δ_l)`, `rescale` | `l'` |
//! | `Σ c_i v_i + c` landing at `t` | each `v_i` dropped to `t+1`, `mul_const(c_i, Δ_t·q_{t+1}/Δ_{l_i})`, `add`, `add_const(c)`, one `rescale` | `t` |
//! | `Σ a_j ⊙ b_j + Σ c_i v_i + c` landing at `t` (polynomials) | every `a_j`, `b_j` at `t+1`; the `v_i` as above, not rescaled; one `mul_sum_rescale` | `t` |
//!
//! Operands of additions and products at different levels are first brought down to the lower
//! one. Linear transforms are evaluated by baby-step giant-step (`linear`), polynomials by the
//! plan of `circuit::chebyshev` (`poly`).
//!
//! Every plaintext operand is a circuit constant, rotated and encoded at a level and scale that
//! depend on the circuit only, never on the input: [`Executor::new`] lists them all
//! ([`PlainKey`]) and hands the list to [`Backend::prepare`], so a backend may encode each one
//! once and serve every run from memory ([`CkksBackend`] does, within a memory budget).

mod ckks;
mod cost;
mod key_levels;
mod linear;
mod noise;
mod poly;
mod rules;
mod slots;

pub use ckks::{CkksBackend, DEFAULT_PLAINTEXT_CACHE_BYTES};
pub use cost::{count, count_steps, CostBackend, Counts};
pub use key_levels::{key_levels, KeyLevels};
pub use noise::{Encryption, NoiseBackend, NoiseEstimate, NoiseEstimator, Noisy, NoisyPlain};
pub use slots::{simulate, Simulator, SlotBackend};

use crate::circuit::{Circuit, CircuitSummary, ConstId, Instr, SlotVector, Step, ValueId};
use crate::ckks::CkksParamsSpec;
use crate::error::{Result, RuntimeError};
use rules::{Leveled, Rules};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
    /// `a + a`. A backend that estimates errors must know that both terms are one value: its
    /// error doubles (variance ×4), where two independent errors add in variance (×2).
    fn double(&self, a: &Self::Value) -> Result<Self::Value> {
        self.add(a, a)
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
    /// `(Σ a_i ⊙ b_i + linear + constant) / q_level` over at least one product (every operand
    /// at one level, every product and `linear` at one scale, `constant` encoded at it):
    /// relinearized and rescaled. The products of a polynomial's giant steps that land at one
    /// level. The default relinearizes each product (what a sum of [`Backend::mul`]s costs); a
    /// backend may share one relinearization and fuse it with the rescale.
    fn mul_sum_rescale(
        &self,
        pairs: &[(&Self::Value, &Self::Value)],
        linear: Option<&Self::Value>,
        constant: f64,
    ) -> Result<Self::Value> {
        let mut acc: Option<Self::Value> = linear.cloned();
        for &(a, b) in pairs {
            let product = self.mul(a, b)?;
            match &mut acc {
                None => acc = Some(product),
                Some(acc) => self.add_assign(acc, &product)?,
            }
        }
        let mut acc = acc.ok_or_else(|| RuntimeError::InvalidCircuit {
            detail: "a sum of products without terms (executor bug)".into(),
        })?;
        if constant != 0.0 {
            acc = self.add_const(&acc, constant)?;
        }
        self.rescale(&acc)
    }

    /// Divides by `q_level`: the level drops by one, the scale is divided by `q_level`.
    fn rescale(&self, a: &Self::Value) -> Result<Self::Value>;
    /// Drops primes down to `level` (scale unchanged).
    fn drop_to(&self, a: &Self::Value, level: usize) -> Result<Self::Value>;
    /// `rot(a, step)[s] = a[(s + step) mod slots]` (slots move left).
    fn rotate(&self, a: &Self::Value, step: u32) -> Result<Self::Value>;
    /// Rotations of one value by several steps sharing one decomposition, in `steps` order.
    fn rotate_hoisted(&self, a: &Self::Value, steps: &[u32]) -> Result<Vec<Self::Value>>;

    /// `Σ a_i ⊙ p_i` over at least one term (same level; every product at the same scale), not
    /// rescaled: the inner sum of a baby-step giant-step transform. The default multiplies and
    /// adds term by term (`n` plaintext products, `n − 1` additions, which is what the counting
    /// backend reports); a backend may fuse it into one pass without temporaries.
    fn mul_plain_sum(&self, terms: &[(&Self::Value, &Self::Plain)]) -> Result<Self::Value> {
        let mut acc: Option<Self::Value> = None;
        for &(a, p) in terms {
            let term = self.mul_plain(a, p)?;
            match &mut acc {
                None => acc = Some(term),
                Some(acc) => self.add_assign(acc, &term)?,
            }
        }
        acc.ok_or_else(|| RuntimeError::InvalidCircuit {
            detail: "a plaintext product sum without terms (executor bug)".into(),
        })
    }

    /// `Σ_i rot(a_i, step_i)` over at least one term (same level and scale): the giant steps
    /// of a baby-step giant-step transform. The default rotates each term (no call for a step
    /// that is a multiple of the slot count) and adds in order, which is what the counting
    /// backend reports; a backend may share work between the rotations.
    fn rotate_sum(&self, terms: &[(&Self::Value, u32)]) -> Result<Self::Value> {
        let slots = self.slots();
        let mut acc: Option<Self::Value> = None;
        for &(a, step) in terms {
            let rotated = if slots == 0 || (step as usize).is_multiple_of(slots) {
                Cow::Borrowed(a)
            } else {
                Cow::Owned(self.rotate(a, step)?)
            };
            match &mut acc {
                None => acc = Some(rotated.into_owned()),
                Some(acc) => self.add_assign(acc, &rotated)?,
            }
        }
        acc.ok_or_else(|| RuntimeError::InvalidCircuit {
            detail: "a sum of rotations without terms (executor bug)".into(),
        })
    }

    /// Called once by [`Executor::new`] with every plaintext operand a run will ask for
    /// ([`Backend::plain`]), and `dense` to compute the slot vector of one, so that a backend
    /// may encode them ahead of the runs. The default keeps nothing.
    fn prepare(&mut self, keys: &[PlainKey], dense: &DenseFn<'_>) -> Result<()> {
        let _ = (keys, dense);
        Ok(())
    }

    /// The plaintext operand `key`, whose slot vector `dense` computes: one [`Backend::prepare`]
    /// kept, or a fresh [`Backend::encode`] (the default, and the only path of backends without
    /// a cache, so the counting backend counts one encoding per operand a run uses).
    fn plain(
        &self,
        key: &PlainKey,
        dense: &dyn Fn() -> Result<Vec<f64>>,
    ) -> Result<PlainRef<'_, Self::Plain>> {
        Ok(PlainRef::Fresh(self.encode(
            &dense()?,
            key.level,
            key.scale(),
        )?))
    }
}

/// Computes the slot vector of a plaintext operand (see [`Backend::prepare`]).
pub type DenseFn<'a> = dyn Fn(&PlainKey) -> Result<Vec<f64>> + Sync + 'a;

/// A plaintext operand of a circuit: constant `constant` rotated right by `shift` slots
/// (`rot(c, −shift)`, how baby-step giant-step pre-rotates diagonals), encoded at `level` and
/// `scale`. Everything in it depends on the circuit only, so it identifies the plaintext across
/// runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlainKey {
    /// The circuit constant.
    pub constant: ConstId,
    /// Right rotation of its slots.
    pub shift: u32,
    /// The level it is encoded at.
    pub level: usize,
    /// The bits of the `f64` scale (exact, so the key can be hashed).
    scale_bits: u64,
}

impl PlainKey {
    /// The operand `rot(constant, −shift)` at `level` and `scale`.
    pub fn new(constant: ConstId, shift: u32, level: usize, scale: f64) -> Self {
        Self {
            constant,
            shift,
            level,
            scale_bits: scale.to_bits(),
        }
    }

    /// The scale it is encoded at.
    pub fn scale(&self) -> f64 {
        f64::from_bits(self.scale_bits)
    }

    /// Its dense slot vector: the constant of `constants` rotated right by `shift`.
    pub fn dense(&self, constants: &[SlotVector], slots: usize) -> Result<Vec<f64>> {
        let mut v = constants
            .get(self.constant.0 as usize)
            .ok_or_else(|| RuntimeError::InvalidCircuit {
                detail: format!("constant {} does not exist", self.constant),
            })?
            .to_dense(slots);
        if slots > 0 {
            v.rotate_right(self.shift as usize % slots);
        }
        Ok(v)
    }
}

/// A plaintext operand: one a backend keeps ([`Backend::prepare`]) or one encoded for this use.
#[derive(Debug)]
pub enum PlainRef<'a, P> {
    /// Kept by the backend.
    Held(&'a P),
    /// Encoded for this use.
    Fresh(P),
}

impl<P> std::ops::Deref for PlainRef<'_, P> {
    type Target = P;

    fn deref(&self) -> &P {
        match self {
            PlainRef::Held(p) => p,
            PlainRef::Fresh(p) => p,
        }
    }
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
    circuit: Arc<Circuit>,
    backend: B,
    summary: CircuitSummary,
    /// Per step, the values whose last use it is (dropped after it).
    free_after: Arc<Vec<Vec<ValueId>>>,
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
        let mut backend = backend;
        let keys = plain_keys(circuit, &backend, summary.slots)?;
        let slots = summary.slots;
        backend.prepare(&keys, &|key: &PlainKey| {
            key.dense(&circuit.constants, slots)
        })?;
        Ok(Self {
            circuit: Arc::new(circuit.clone()),
            backend,
            summary,
            free_after: Arc::new(free_after),
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
        let plains = Plains {
            backend: &self.backend,
            constants: &self.circuit.constants,
            slots: self.summary.slots,
        };
        let plains_ref = &plains;
        let constant =
            |c: ConstId| move |level, scale| plains_ref.get(PlainKey::new(c, 0, level, scale));
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
                let out = linear::evaluate(rules, &plains, t, &inputs)?;
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
            Instr::Add { dst, a, b } if a == b => vec![(*dst, rules.double(get(a)?)?)],
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
                vec![(*dst, rules.mul_plain(get(src)?, constant(*c))?)]
            }
            Instr::AddPlain {
                dst,
                src,
                constant: c,
            } => {
                vec![(*dst, rules.add_plain(get(src)?, constant(*c))?)]
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

/// The plaintext operands of a run, from the backend (kept or freshly encoded).
pub(crate) struct Plains<'a, B: Backend> {
    backend: &'a B,
    constants: &'a [SlotVector],
    slots: usize,
}

impl<'a, B: Backend> Plains<'a, B> {
    /// The operand `key`.
    pub(crate) fn get(&self, key: PlainKey) -> Result<PlainRef<'a, B::Plain>> {
        let (constants, slots) = (self.constants, self.slots);
        self.backend.plain(&key, &|| key.dense(constants, slots))
    }
}

/// Every plaintext operand one run of `circuit` asks for, in step order, without repeats.
fn plain_keys<B: Backend>(circuit: &Circuit, backend: &B, slots: usize) -> Result<Vec<PlainKey>> {
    let rules = Rules::new(backend);
    let mut keys = Vec::new();
    for step in &circuit.steps {
        // Results of a product are one level below its operand; of an addition, at its level.
        let above = step.level + 1;
        match &step.instr {
            Instr::LinearTransform { transform, .. } => {
                let t = circuit.transforms.get(*transform as usize).ok_or_else(|| {
                    RuntimeError::InvalidCircuit {
                        detail: format!("transform {transform} does not exist"),
                    }
                })?;
                linear::plain_keys(&rules, t, above, slots, &mut keys)?;
            }
            Instr::MulPlain { constant, .. } => {
                let scale = rules.product_scale(above)?;
                keys.push(PlainKey::new(*constant, 0, above, scale));
            }
            Instr::AddPlain { constant, .. } => {
                let scale = backend.scale(step.level)?;
                keys.push(PlainKey::new(*constant, 0, step.level, scale));
            }
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(*k));
    Ok(keys)
}

fn missing(id: ValueId) -> RuntimeError {
    RuntimeError::InvalidCircuit {
        detail: format!("value {id} is not live (executor bug or unvalidated circuit)"),
    }
}
