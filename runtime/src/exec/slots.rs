//! The cleartext slot simulator: the executor over plain `f64` slot vectors. Scales, rescales and
//! level drops are identities, constants are exact, rotations are the cyclic shift of the CKKS
//! evaluator (`rot(x, k)[s] = x[(s + k) mod slots]`). It predicts what a circuit computes up to
//! the CKKS noise, and is fast enough to run over hundreds of calibration images in parallel.

use super::{Backend, Executor, StepView};
use crate::circuit::Circuit;
use crate::error::{Result, RuntimeError};

/// [`Backend`] over cleartext slot vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotBackend {
    slots: usize,
}

impl SlotBackend {
    /// A simulator of vectors of `slots` values.
    pub fn new(slots: usize) -> Self {
        Self { slots }
    }

    fn check(&self, v: &[f64]) -> Result<()> {
        if v.len() != self.slots {
            return Err(RuntimeError::ShapeMismatch {
                detail: format!(
                    "a slot vector of {} values where {} slots are expected",
                    v.len(),
                    self.slots
                ),
            });
        }
        Ok(())
    }

    fn zip(&self, a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Result<Vec<f64>> {
        self.check(a)?;
        self.check(b)?;
        Ok(a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect())
    }

    fn map(&self, a: &[f64], f: impl Fn(f64) -> f64) -> Result<Vec<f64>> {
        self.check(a)?;
        Ok(a.iter().map(|&x| f(x)).collect())
    }
}

impl Backend for SlotBackend {
    type Value = Vec<f64>;
    type Plain = Vec<f64>;

    fn slots(&self) -> usize {
        self.slots
    }

    fn scale(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn modulus(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn encode(&self, values: &[f64], _level: usize, _scale: f64) -> Result<Vec<f64>> {
        self.check(values)?;
        Ok(values.to_vec())
    }

    fn add(&self, a: &Vec<f64>, b: &Vec<f64>) -> Result<Vec<f64>> {
        self.zip(a, b, |x, y| x + y)
    }

    fn add_assign(&self, a: &mut Vec<f64>, b: &Vec<f64>) -> Result<()> {
        self.check(a)?;
        self.check(b)?;
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
        Ok(())
    }

    fn sub(&self, a: &Vec<f64>, b: &Vec<f64>) -> Result<Vec<f64>> {
        self.zip(a, b, |x, y| x - y)
    }

    fn neg(&self, a: &Vec<f64>) -> Result<Vec<f64>> {
        self.map(a, |x| -x)
    }

    fn mul_plain(&self, a: &Vec<f64>, p: &Vec<f64>) -> Result<Vec<f64>> {
        self.zip(a, p, |x, y| x * y)
    }

    fn add_plain(&self, a: &Vec<f64>, p: &Vec<f64>) -> Result<Vec<f64>> {
        self.zip(a, p, |x, y| x + y)
    }

    fn mul_const(&self, a: &Vec<f64>, c: f64, _const_scale: f64) -> Result<Vec<f64>> {
        self.map(a, |x| x * c)
    }

    fn add_const(&self, a: &Vec<f64>, c: f64) -> Result<Vec<f64>> {
        self.map(a, |x| x + c)
    }

    fn mul(&self, a: &Vec<f64>, b: &Vec<f64>) -> Result<Vec<f64>> {
        self.zip(a, b, |x, y| x * y)
    }

    fn rescale(&self, a: &Vec<f64>) -> Result<Vec<f64>> {
        self.map(a, |x| x)
    }

    fn drop_to(&self, a: &Vec<f64>, _level: usize) -> Result<Vec<f64>> {
        self.map(a, |x| x)
    }

    fn rotate(&self, a: &Vec<f64>, step: u32) -> Result<Vec<f64>> {
        self.check(a)?;
        let mut out = a.clone();
        if self.slots > 0 {
            out.rotate_left(step as usize % self.slots);
        }
        Ok(out)
    }

    fn rotate_hoisted(&self, a: &Vec<f64>, steps: &[u32]) -> Result<Vec<Vec<f64>>> {
        steps.iter().map(|&s| self.rotate(a, s)).collect()
    }
}

/// A circuit bound to the slot simulator, reused across many input tensors (`&self`, so
/// callers may run images in parallel).
#[derive(Debug)]
pub struct Simulator {
    executor: Executor<SlotBackend>,
}

impl Simulator {
    /// Validates the circuit and prepares the simulator.
    pub fn new(circuit: &Circuit) -> Result<Self> {
        let backend = SlotBackend::new(circuit.slots());
        Ok(Self {
            executor: Executor::new(circuit, backend)?,
        })
    }

    /// The executor (circuit, summary).
    pub fn executor(&self) -> &Executor<SlotBackend> {
        &self.executor
    }

    /// The flat output tensor of the circuit on the flat input tensor.
    pub fn run(&self, tensor: &[f64]) -> Result<Vec<f64>> {
        self.run_inspect(tensor, |_| {})
    }

    /// [`Self::run`], showing the slot vectors after each step to `on_step`.
    pub fn run_inspect(
        &self,
        tensor: &[f64],
        on_step: impl FnMut(&StepView<'_, SlotBackend>),
    ) -> Result<Vec<f64>> {
        let circuit = self.executor.circuit();
        let inputs = circuit.input.pack(tensor, circuit.slots())?;
        let outputs = self.executor.run_inspect(inputs, on_step)?;
        circuit.output.unpack(&outputs)
    }
}

/// Runs `circuit` on cleartext slots: packs `tensor`, executes, unpacks the output tensor.
pub fn simulate(circuit: &Circuit, tensor: &[f64]) -> Result<Vec<f64>> {
    Simulator::new(circuit)?.run(tensor)
}
