//! The client side of a circuit: a tensor into slot vectors ([`InputSpec::pack`]) and result
//! slot vectors back into a tensor ([`OutputSpec::unpack`]).

use super::instr::volume;
use super::{InputSpec, OutputSpec};
use crate::error::{Result, RuntimeError};

fn mismatch(detail: String) -> RuntimeError {
    RuntimeError::ShapeMismatch { detail }
}

impl InputSpec {
    /// One dense vector of `slots` values per input ciphertext (in [`InputSpec::values`] order),
    /// ready to encode and encrypt; unlisted slots are zero.
    pub fn pack(&self, tensor: &[f64], slots: usize) -> Result<Vec<Vec<f64>>> {
        let expected = volume(&self.shape).ok_or_else(|| {
            mismatch(format!(
                "input shape {:?} has more elements than fit in memory",
                self.shape
            ))
        })?;
        if tensor.len() != expected {
            return Err(mismatch(format!(
                "the circuit takes an input tensor of shape {:?} ({expected} values), got {} values",
                self.shape,
                tensor.len()
            )));
        }
        if self.slots.len() != self.values.len() {
            return Err(mismatch(format!(
                "the input lists slots for {} ciphertexts but defines {} values",
                self.slots.len(),
                self.values.len()
            )));
        }
        self.slots
            .iter()
            .enumerate()
            .map(|(ct, map)| {
                let mut out = vec![0.0; slots];
                for &(slot, element) in map {
                    let value = tensor.get(element as usize).ok_or_else(|| {
                        mismatch(format!(
                            "input ciphertext {ct} reads element {element} of a tensor of {} values",
                            tensor.len()
                        ))
                    })?;
                    let target = out.get_mut(slot as usize).ok_or_else(|| {
                        mismatch(format!(
                            "input ciphertext {ct} writes slot {slot}, but there are {slots} slots"
                        ))
                    })?;
                    *target = *value;
                }
                Ok(out)
            })
            .collect()
    }
}

impl OutputSpec {
    /// The flat output tensor read from the decoded result vectors (in [`OutputSpec::values`]
    /// order).
    pub fn unpack(&self, values: &[Vec<f64>]) -> Result<Vec<f64>> {
        if values.len() != self.values.len() {
            return Err(mismatch(format!(
                "the circuit returns {} ciphertexts, got {} slot vectors",
                self.values.len(),
                values.len()
            )));
        }
        let expected = volume(&self.shape);
        if expected != Some(self.positions.len()) {
            return Err(mismatch(format!(
                "the output shape {:?} does not match its {} listed positions",
                self.shape,
                self.positions.len()
            )));
        }
        self.positions
            .iter()
            .enumerate()
            .map(|(element, &(ct, slot))| {
                values
                    .get(ct as usize)
                    .and_then(|v| v.get(slot as usize))
                    .copied()
                    .ok_or_else(|| {
                        mismatch(format!(
                            "output element {element} lies in slot {slot} of result {ct}, which \
                             does not exist"
                        ))
                    })
            })
            .collect()
    }
}
